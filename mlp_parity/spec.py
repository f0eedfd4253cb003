"""The one source of truth: an MLP's architecture and every fact about each activation and loss
(value beside derivative, output nonlinearity, valid targets, round-off terms).

Every backend builds the same network from an :class:`MLPSpec`. Hidden layers apply the spec's
activation; the last layer is linear (logits) and the loss applies the output nonlinearity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

# ----------------------------------------------------------------------------------------------
# Activations. Each is one table row: its value beside its derivative (from z, and from the
# output a = f(z), which backprop already holds), the same two written in place for the
# training loop's preallocated buffers, and the facts the tolerances, the initialiser and the
# debugger need. Adding an activation means adding a row here and its op in the JAX and Keras
# engines; nothing else branches on its name.


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # 0.5 * (1 + tanh(z/2)) equals 1/(1+exp(-z)) and never overflows.
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _sigmoid_into(z: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> None:
    np.multiply(z, 0.5, out=out)  # the same operations (same rounding) as _sigmoid
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5


def _sigmoid_grad_into(d: np.ndarray, a: np.ndarray, scratch: np.ndarray) -> None:
    np.subtract(1.0, a, out=scratch)  # s (1 - s)
    scratch *= a
    d *= scratch


def _tanh_into(z: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> None:
    np.tanh(z, out=out)


def _tanh_grad_into(d: np.ndarray, a: np.ndarray, scratch: np.ndarray) -> None:
    np.multiply(a, a, out=scratch)  # 1 - t^2
    np.subtract(1.0, scratch, out=scratch)
    d *= scratch


def _relu_into(z: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> None:
    # z * [z > 0]: max(z, 0) for every finite z (a NaN stays NaN, -inf gives NaN: a diverged run
    # is noticed), in two fast passes where np.maximum takes three times as long. The mask is
    # relu'(z), kept in scratch for the backward pass.
    np.greater(z, 0.0, out=scratch)
    np.multiply(z, scratch, out=out)


def _relu_grad_into(d: np.ndarray, a: np.ndarray, scratch: np.ndarray) -> None:
    d *= scratch  # the forward pass left [z > 0] there


def _identity_into(z: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> None:
    out[...] = z


def _no_op(d: np.ndarray, a: np.ndarray, scratch: np.ndarray) -> None:
    pass


def _zero_curvature(z: np.ndarray) -> np.ndarray:
    return np.zeros_like(z)


@dataclass(frozen=True)
class Activation:
    """Every fact about one hidden activation, elementwise.

    Attributes:
        name: its spec name.
        value: ``f(z)``.
        grad: ``f'(z)`` (relu'(0) = 0, the convention of every engine here).
        grad_from_output: ``f'(z)`` computed from ``a = f(z)`` (cheaper: backprop holds ``a``).
        value_into: ``(z, out, scratch)``: ``out <- f(z)`` in place, the same rounding as
            ``value``; may leave in ``scratch`` what ``grad_into`` needs.
        grad_into: ``(d, a, scratch)``: ``d *= f'(z)`` in place, from ``a`` and ``scratch``.
        curvature: ``|f''(z)|``, for the round-off bound of a derivative evaluated at a
            rounded ``z``.
        grad_roundoff: the absolute round-off of ``f'`` in units of eps (``1 - s`` near
            saturation is absolute, not relative).
        init: ``"he"`` (He-uniform, keeps a rectifier's variance) or ``"glorot"``.
        has_kink: ``f'`` jumps somewhere (finite differences and ``z >= 0`` vs ``z > 0`` bugs).
    """

    name: str
    value: Callable[[np.ndarray], np.ndarray]
    grad: Callable[[np.ndarray], np.ndarray]
    grad_from_output: Callable[[np.ndarray], np.ndarray]
    value_into: Callable[[np.ndarray, np.ndarray, np.ndarray], None]
    grad_into: Callable[[np.ndarray, np.ndarray, np.ndarray], None]
    curvature: Callable[[np.ndarray], np.ndarray] = _zero_curvature
    grad_roundoff: float = 0.0
    init: str = "glorot"
    has_kink: bool = False


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation(
            "sigmoid",
            _sigmoid,
            lambda z: _sigmoid(z) * (1.0 - _sigmoid(z)),
            lambda a: a * (1.0 - a),
            _sigmoid_into,
            _sigmoid_grad_into,
            curvature=lambda z: np.abs(_sigmoid(z) * (1 - _sigmoid(z)) * (1 - 2 * _sigmoid(z))),
            grad_roundoff=1.0,
        ),
        Activation(
            "tanh",
            np.tanh,
            lambda z: 1.0 - np.tanh(z) ** 2,
            lambda a: 1.0 - a * a,
            _tanh_into,
            _tanh_grad_into,
            curvature=lambda z: np.abs(2 * np.tanh(z) * (1 - np.tanh(z) ** 2)),
            grad_roundoff=1.0,
        ),
        Activation(
            "relu",
            lambda z: np.maximum(z, 0.0),
            lambda z: (z > 0).astype(z.dtype),
            lambda a: (a > 0).astype(a.dtype),
            _relu_into,
            _relu_grad_into,
            init="he",
            has_kink=True,
        ),
        Activation(
            "identity",
            lambda z: z,
            np.ones_like,
            np.ones_like,
            _identity_into,
            _no_op,
        ),
    )
}

# ----------------------------------------------------------------------------------------------
# Losses. Each is one table row: its value beside its gradient with respect to the logits z
# (batch, out), the output nonlinearity it applies, the valid targets, and the bounds the
# round-off-aware tolerances need. Targets y are float arrays (batch, out); integer labels are
# turned into one-hot rows earlier.


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _softmax_ce(z: np.ndarray, y: np.ndarray) -> float:
    return float(-(y * _log_softmax(z)).sum() / z.shape[0])


def _softmax_ce_grad(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    # d/dz of -sum_k y_k log softmax(z)_k is softmax(z) * sum_k y_k - y (= p - y for one-hot y).
    p = np.exp(_log_softmax(z))
    return (p * y.sum(axis=1, keepdims=True) - y) / z.shape[0]


def _softmax_ce_into(
    z: np.ndarray, y: np.ndarray, out: np.ndarray, scale: float, work: np.ndarray
) -> float:
    """Fused: one log-softmax serves the value and the gradient, in place. ``work`` is a
    scratch buffer shaped like ``z`` with two more columns."""
    m, k = z.shape
    logp, mx, s = work[:, :k], work[:, k : k + 1], work[:, k + 1 : k + 2]
    np.maximum.reduce(z, axis=1, keepdims=True, out=mx)
    np.subtract(z, mx, out=logp)  # shifted logits: exp cannot overflow
    np.exp(logp, out=out)
    np.add.reduce(out, axis=1, keepdims=True, out=s)
    np.divide(scale / m, s, out=mx)  # scale / (m s): softmax and scale in one multiply below
    np.log(s, out=s)
    logp -= s  # log-softmax
    value = -float(np.vdot(y, logp)) / m
    out *= mx  # scale/m * p
    np.add.reduce(y, axis=1, keepdims=True, out=s)  # * sum_k y_k (exactly 1 for one-hot rows)
    out *= s
    np.multiply(y, scale / m, out=logp)  # logp is spent: reuse it
    out -= logp
    return value


def _softmax_ce_magnitude(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (_softmax(z) * np.abs(y.sum(axis=1, keepdims=True)) + np.abs(y)) / z.shape[0]


def _softmax_ce_roundoff(z: np.ndarray, y: np.ndarray, e_z: np.ndarray) -> np.ndarray:
    p, sy = _softmax(z), np.abs(y.sum(axis=1, keepdims=True))
    return (p * sy * (e_z + e_z.max(axis=1, keepdims=True) + 1) + np.abs(y)) / z.shape[0]


def _sigmoid_ce(z: np.ndarray, y: np.ndarray) -> float:
    # -y log s(z) - (1-y) log(1-s(z)) = max(z,0) - z*y + log(1+exp(-|z|)), stable for any z.
    return float((np.maximum(z, 0) - z * y + np.logaddexp(0, -np.abs(z))).mean())


def _sigmoid_ce_grad(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    # sigmoid(z) - y, written as (1-y) sigmoid(z) - y sigmoid(-z): no cancellation when the
    # output saturates (sigmoid(31) - 1 would keep only two digits).
    return ((1.0 - y) * _sigmoid(z) - y * _sigmoid(-z)) / z.size


def _sigmoid_ce_roundoff(z: np.ndarray, y: np.ndarray, e_z: np.ndarray) -> np.ndarray:
    s = _sigmoid(z)
    return (s * (1 - s) * e_z + s + np.abs(y) + 1) / z.size


def _mse(z: np.ndarray, y: np.ndarray) -> float:
    return float(((z - y) ** 2).mean())


def _mse_grad(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 2.0 * (z - y) / z.size


def _generic_into(grad: Callable) -> Callable:
    def into(z: np.ndarray, y: np.ndarray, out: np.ndarray, scale: float, work: np.ndarray):
        np.multiply(grad(z, y), scale, out=out)  # (batch, out): small next to the matmuls
        return None

    return into


def _one_hot_targets(rng: np.random.Generator, batch: int, n: int, variant: int) -> np.ndarray:
    return np.eye(n)[rng.integers(0, n, batch)]


def _probability_targets(rng: np.random.Generator, batch: int, n: int, variant: int):
    # variant 0: hard 0/1 labels; 1: soft targets in [0, 1)
    return rng.integers(0, 2, (batch, n)) if variant == 0 else rng.random((batch, n))


def _real_targets(rng: np.random.Generator, batch: int, n: int, variant: int) -> np.ndarray:
    return (1.0, 10.0, 0.0)[variant] * rng.standard_normal((batch, n))


@dataclass(frozen=True)
class Loss:
    """Every fact about one loss on the logits ``z`` (batch, out) and targets ``y`` (batch, out).

    Attributes:
        name, description: its spec name and what it computes.
        value: ``L(z, y)``, a float.
        grad: ``dL/dz`` (batch, out), already divided as the loss averages.
        output: the output nonlinearity (``predict``): softmax, sigmoid or identity.
        value_and_grad_into: ``(z, y, out, scale, work) -> value | None``: ``out <- scale *
            dL/dz`` in place; returns the value when computed on the way (else None).
            ``work`` is scratch shaped (batch, out + 2).
        magnitude: per entry of ``dL/dz``, the size of the terms it is made of (backprop on
            absolute values: the round-off-aware scale of the gradient check).
        roundoff: ``(z, y, e_z)``: a first-order bound, in eps, on the round-off of ``dL/dz``
            given the round-off ``e_z`` of the logits (the debugger's tolerance).
        targets: ``(rng, batch, out, variant)``: valid float targets; ``target_variants`` kinds.
        target_range: ``(low, high)`` every target must lie in.
        takes_labels: integer class labels are the natural targets (one-hot rows).
        averages_outputs: the loss is a mean over the outputs too, not only the batch.
        one_output_threshold: the logit above which one output unit predicts class 1.
        scale_hints: extra ``(factor, name, why)`` explanations of a gradient off by a factor.
        overflow_advice: what to say when the logits are large enough to overflow a naive form.
        one_output_note: why the true gradient is 0 with a single output unit, if it is.
    """

    name: str
    description: str
    value: Callable[[np.ndarray, np.ndarray], float]
    grad: Callable[[np.ndarray, np.ndarray], np.ndarray]
    output: Callable[[np.ndarray], np.ndarray]
    value_and_grad_into: Callable[..., float | None]
    magnitude: Callable[[np.ndarray, np.ndarray], np.ndarray]
    roundoff: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    targets: Callable[[np.random.Generator, int, int, int], np.ndarray]
    target_variants: int = 1
    target_range: tuple[float, float] = (-np.inf, np.inf)
    takes_labels: bool = True
    averages_outputs: bool = False
    one_output_threshold: float = 0.5
    scale_hints: tuple[tuple[float, str, str], ...] = ()
    overflow_advice: str = "an exp overflows? use a stable form"
    one_output_note: str = ""


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss(
            "softmax_cross_entropy",
            "mean over the batch of -sum_k y_k log softmax(z)_k",
            _softmax_ce,
            _softmax_ce_grad,
            _softmax,
            _softmax_ce_into,
            _softmax_ce_magnitude,
            _softmax_ce_roundoff,
            _one_hot_targets,
            target_range=(0.0, np.inf),
            overflow_advice=(
                "exp(z) overflows above ~709 in float64, ~88 in float32;"
                " subtract the row max before exp"
            ),
            one_output_note="softmax over one output is constant: its true gradient is 0",
        ),
        Loss(
            "sigmoid_cross_entropy",
            "mean over batch and outputs of BCE(sigmoid(z), y)",
            _sigmoid_ce,
            _sigmoid_ce_grad,
            _sigmoid,
            _generic_into(_sigmoid_ce_grad),
            lambda z, y: (_sigmoid(z) + np.abs(y)) / z.size,
            _sigmoid_ce_roundoff,
            _probability_targets,
            target_variants=2,
            target_range=(0.0, 1.0),
            averages_outputs=True,
            one_output_threshold=0.0,
        ),
        Loss(
            "mse",
            "mean over batch and outputs of (z - y)^2",
            _mse,
            _mse_grad,
            lambda z: z,
            _generic_into(_mse_grad),
            lambda z, y: 2.0 * (np.abs(z) + np.abs(y)) / z.size,
            lambda z, y, e_z: 2 * (e_z + np.abs(z) + np.abs(y)) / z.size,
            _real_targets,
            target_variants=3,
            takes_labels=False,
            averages_outputs=True,
            scale_hints=(
                (2.0, "2", "squared-error factor: the 2 of d(z-y)^2/dz = 2(z-y) counted twice"),
                (0.5, "1/2", "squared-error factor: the 2 of d(z-y)^2/dz = 2(z-y) is missing"),
            ),
        ),
    )
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
