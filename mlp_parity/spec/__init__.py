"""The one source of truth: an MLP's architecture (:class:`MLPSpec`) and, in
:mod:`.activations` and :mod:`.losses`, every fact about each activation and loss (value beside
derivative, output nonlinearity, valid targets, round-off terms). Outside this package only the
two autodiff engines spell out an activation or loss, in their own framework's ops.

Every backend builds the same network from an :class:`MLPSpec`. Hidden layers apply the spec's
activation; the last layer is linear (logits) and the loss applies the output nonlinearity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .activations import ACTIVATIONS, Activation
from .losses import LOSSES, Loss

__all__ = ["ACTIVATIONS", "LOSSES", "Activation", "Loss", "MLPSpec", "as_spec"]


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
