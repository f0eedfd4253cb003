"""The one source of truth: an MLP's architecture and, for the numpy engine, each activation
and loss written as its value beside its derivative.

Every backend builds the same network from an :class:`MLPSpec`. Hidden layers apply the spec's
activation; the last layer is linear (logits) and the loss applies the output nonlinearity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

# ----------------------------------------------------------------------------------------------
# Activations: value and derivative (with respect to the pre-activation z) side by side.


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # 0.5 * (1 + tanh(z/2)) equals 1/(1+exp(-z)) and never overflows.
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _sigmoid_grad(z: np.ndarray) -> np.ndarray:
    s = _sigmoid(z)
    return s * (1.0 - s)


def _tanh_grad(z: np.ndarray) -> np.ndarray:
    t = np.tanh(z)
    return 1.0 - t * t


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def _relu_grad(z: np.ndarray) -> np.ndarray:
    # The convention of every framework here: relu'(0) = 0.
    return (z > 0).astype(z.dtype)


class Activation(NamedTuple):
    """An activation's value ``f(z)`` and derivative ``f'(z)``, both elementwise in ``z``."""

    value: Callable[[np.ndarray], np.ndarray]
    grad: Callable[[np.ndarray], np.ndarray]


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation(_sigmoid, _sigmoid_grad),
    "tanh": Activation(np.tanh, _tanh_grad),
    "relu": Activation(_relu, _relu_grad),
    "identity": Activation(lambda z: z, np.ones_like),
}

# ----------------------------------------------------------------------------------------------
# Losses: value and gradient with respect to the logits z (batch, out), side by side.
# Targets y are float arrays (batch, out); integer labels are turned into one-hot rows earlier.


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _softmax_ce(z: np.ndarray, y: np.ndarray) -> float:
    return float(-(y * _log_softmax(z)).sum() / z.shape[0])


def _softmax_ce_grad(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    # d/dz of -sum_k y_k log softmax(z)_k is softmax(z) * sum_k y_k - y (= p - y for one-hot y).
    p = np.exp(_log_softmax(z))
    return (p * y.sum(axis=1, keepdims=True) - y) / z.shape[0]


def _sigmoid_ce(z: np.ndarray, y: np.ndarray) -> float:
    # -y log s(z) - (1-y) log(1-s(z)) = max(z,0) - z*y + log(1+exp(-|z|)), stable for any z.
    return float((np.maximum(z, 0) - z * y + np.logaddexp(0, -np.abs(z))).mean())


def _sigmoid_ce_grad(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    # sigmoid(z) - y, written as (1-y) sigmoid(z) - y sigmoid(-z): no cancellation when the
    # output saturates (sigmoid(31) - 1 would keep only two digits).
    return ((1.0 - y) * _sigmoid(z) - y * _sigmoid(-z)) / z.size


def _mse(z: np.ndarray, y: np.ndarray) -> float:
    return float(((z - y) ** 2).mean())


def _mse_grad(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 2.0 * (z - y) / z.size


class Loss(NamedTuple):
    """A loss's value ``L(z, y)`` (a float) and its gradient ``dL/dz`` (batch, out)."""

    value: Callable[[np.ndarray, np.ndarray], float]
    grad: Callable[[np.ndarray, np.ndarray], np.ndarray]
    description: str


LOSSES: dict[str, Loss] = {
    "softmax_cross_entropy": Loss(
        _softmax_ce, _softmax_ce_grad, "mean over the batch of -sum_k y_k log softmax(z)_k"
    ),
    "sigmoid_cross_entropy": Loss(
        _sigmoid_ce, _sigmoid_ce_grad, "mean over batch and outputs of BCE(sigmoid(z), y)"
    ),
    "mse": Loss(_mse, _mse_grad, "mean over batch and outputs of (z - y)^2"),
}


# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MLPSpec:
    """Architecture of a multilayer perceptron.

    Args:
        sizes: layer widths from input to output; ``(784, 128, 128, 10)`` has two hidden layers,
            ``(5, 3)`` none. Every width is a positive int.
        activation: hidden activation, one of ``ACTIVATIONS``, or a tuple with one per hidden
            layer.
        loss: one of ``LOSSES``; it applies the output nonlinearity to the linear last layer.
    """

    sizes: tuple[int, ...]
    activation: str | tuple[str, ...] = "sigmoid"
    loss: str = "softmax_cross_entropy"

    def __post_init__(self) -> None:
        sizes = self.sizes
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
            raise TypeError(
                f"sizes must be a sequence of ints like (784, 128, 10), got {type(sizes).__name__}"
            )
        if len(sizes) < 2:
            raise ValueError(
                f"sizes needs at least an input and an output width, e.g. (5, 3); got {sizes!r}"
            )
        clean = []
        for s in sizes:
            if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)):
                raise TypeError(f"sizes must hold ints, got {s!r} in {tuple(sizes)!r}")
            if s < 1:
                raise ValueError(f"every width in sizes must be >= 1, got {tuple(sizes)!r}")
            clean.append(int(s))
        object.__setattr__(self, "sizes", tuple(clean))

        act = self.activation
        if isinstance(act, str):
            _check_activation(act)
        elif isinstance(act, Sequence):
            act = tuple(act)
            if len(act) != self.num_hidden:
                raise ValueError(
                    f"activation tuple needs one name per hidden layer ({self.num_hidden} for "
                    f"sizes {self.sizes}), got {len(act)}: {act!r}"
                )
            for a in act:
                _check_activation(a)
            object.__setattr__(self, "activation", act)
        else:
            raise TypeError(f"activation must be a str or tuple of str, got {act!r}")

        if not isinstance(self.loss, str) or self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; expected one of {sorted(LOSSES)}")

    @property
    def num_layers(self) -> int:
        """Number of weight layers (Dense layers)."""
        return len(self.sizes) - 1

    @property
    def num_hidden(self) -> int:
        return len(self.sizes) - 2

    @property
    def num_params(self) -> int:
        return sum((a + 1) * b for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True))

    @property
    def hidden_activations(self) -> tuple[str, ...]:
        """One activation name per hidden layer."""
        if isinstance(self.activation, str):
            return (self.activation,) * self.num_hidden
        return self.activation

    @property
    def tensor_names(self) -> list[str]:
        """``["W0", "b0", "W1", "b1", ...]`` from input to output."""
        return [f"{k}{i}" for i in range(self.num_layers) for k in ("W", "b")]

    def shapes(self) -> list[tuple[tuple[int, int], tuple[int]]]:
        """Expected ``[((fan_in, fan_out), (fan_out,)), ...]``."""
        return [((a, b), (b,)) for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True)]

    def to_dict(self) -> dict:
        """``{"sizes": [...], "activation": ..., "loss": ...}``, ready for JSON."""
        return {"sizes": list(self.sizes), "activation": self.activation, "loss": self.loss}

    def __str__(self) -> str:
        act = self.activation if isinstance(self.activation, str) else ",".join(self.activation)
        return f"{'-'.join(map(str, self.sizes))} {act} {self.loss}"


def _check_activation(name: object) -> None:
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")


def as_spec(spec: MLPSpec | Sequence[int]) -> MLPSpec:
    """Accept an MLPSpec or a bare sizes tuple (defaults for the rest)."""
    if isinstance(spec, MLPSpec):
        return spec
    if isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)):
        return MLPSpec(tuple(spec))
    raise TypeError(f"spec must be an MLPSpec, got {type(spec).__name__}")
