"""The one source of truth: an MLP's architecture (:class:`MLPSpec`) and, in
:mod:`.activations` and :mod:`.losses`, every fact about each activation and loss (value beside
derivative, output nonlinearity, valid targets, round-off terms). Outside this package only the
two autodiff engines spell out an activation or loss, in their own framework's ops.

Every backend builds the same network from an :class:`MLPSpec`. Hidden layers apply the spec's
activation; the last layer is linear (logits) and the loss applies the output nonlinearity.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .activations import ACTIVATIONS, Activation
from .conventions import REDUCTIONS, Reduction
from .losses import LOSSES, Loss
from .outputs import OUTPUT_ACTIVATIONS, OutputActivation

__all__ = [
    "ACTIVATIONS",
    "CONVENTION_DEFAULTS",
    "LOSSES",
    "OUTPUT_ACTIVATIONS",
    "REDUCTIONS",
    "Activation",
    "Loss",
    "MLPSpec",
    "OutputActivation",
    "Reduction",
    "as_spec",
]


@dataclass(frozen=True)
class MLPSpec:
    """Architecture of a multilayer perceptron.

    Args:
        sizes: layer widths from input to output; ``(784, 128, 128, 10)`` has two hidden layers,
            ``(5, 3)`` none. Every width is a positive int.
        activation: hidden activation, one of ``ACTIVATIONS``, or a tuple with one per hidden
            layer.
        loss: one of ``LOSSES``; it applies the output nonlinearity to the linear last layer.
        output_activation: one of ``OUTPUT_ACTIVATIONS`` (``"identity"``, ``"sigmoid"``,
            ``"softmax"``), applied to the last layer before the loss; the loss's
            ``output_activations`` fact lists the ones it accepts (the cross-entropies with a
            built-in nonlinearity take only ``"identity"``).
        reduction: one of ``REDUCTIONS``: ``"mean"`` (the loss's natural mean), ``"sum"``,
            ``"batch_mean"`` (sum over the outputs, mean over the batch).
        loss_scale: a positive factor on the data loss (0.5 for 1/2 ||a - y||^2).
        l2: ``>= 0``; adds ``l2 * sum of W**2`` over every weight matrix (not the biases).
        use_bias: ``False``: no biases; params and gradients are a plain list ``[W0, W1, ...]``.
    """

    sizes: tuple[int, ...]
    activation: str | tuple[str, ...] = "sigmoid"
    loss: str = "softmax_cross_entropy"
    output_activation: str = "identity"
    reduction: str = "mean"
    loss_scale: float = 1.0
    l2: float = 0.0
    use_bias: bool = True

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
        self._check_conventions()

    def _check_conventions(self) -> None:
        out = self.output_activation
        if not isinstance(out, str) or out not in OUTPUT_ACTIVATIONS:
            raise ValueError(
                f"unknown output_activation {out!r}; expected one of {sorted(OUTPUT_ACTIVATIONS)}"
            )
        accepted = LOSSES[self.loss].output_activations
        if out not in accepted:
            raise ValueError(
                f"output_activation={out!r} does not go with loss={self.loss!r}: that loss takes "
                f"output_activation {' or '.join(map(repr, accepted))}"
            )
        if not isinstance(self.reduction, str) or self.reduction not in REDUCTIONS:
            raise ValueError(
                f"unknown reduction {self.reduction!r}; expected one of {list(REDUCTIONS)}"
            )
        object.__setattr__(self, "loss_scale", _real("loss_scale", self.loss_scale, positive=True))
        object.__setattr__(self, "l2", _real("l2", self.l2, positive=False))
        if not isinstance(self.use_bias, (bool, np.bool_)):
            raise TypeError(f"use_bias must be True or False, got {self.use_bias!r}")
        object.__setattr__(self, "use_bias", bool(self.use_bias))

    @property
    def num_layers(self) -> int:
        """Number of weight layers (Dense layers)."""
        return len(self.sizes) - 1

    @property
    def num_hidden(self) -> int:
        return len(self.sizes) - 2

    @property
    def num_params(self) -> int:
        bias = 1 if self.use_bias else 0
        return sum((a + bias) * b for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True))

    @property
    def hidden_activations(self) -> tuple[str, ...]:
        """One activation name per hidden layer."""
        if isinstance(self.activation, str):
            return (self.activation,) * self.num_hidden
        return self.activation

    @property
    def tensor_names(self) -> list[str]:
        """``["W0", "b0", "W1", "b1", ...]`` from input to output (``["W0", "W1", ...]``
        without biases)."""
        kinds = ("W", "b") if self.use_bias else ("W",)
        return [f"{k}{i}" for i in range(self.num_layers) for k in kinds]

    @property
    def conventions(self) -> dict:
        """The loss conventions: ``{"output_activation", "reduction", "loss_scale", "l2",
        "use_bias"}``."""
        return {k: getattr(self, k) for k in CONVENTION_DEFAULTS}

    @property
    def non_default_conventions(self) -> dict:
        """The conventions that differ from the defaults (``{}`` for today's networks)."""
        return {k: v for k, v in self.conventions.items() if v != CONVENTION_DEFAULTS[k]}

    def shapes(self) -> list[tuple[tuple[int, int], tuple[int]]]:
        """Expected ``[((fan_in, fan_out), (fan_out,)), ...]`` (the bias shape even when
        ``use_bias`` is False: the engines' internal pairs keep zero biases)."""
        return [((a, b), (b,)) for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True)]

    def to_dict(self) -> dict:
        """``{"sizes": [...], "activation": ..., "loss": ..., "output_activation": ...,
        "reduction": ..., "loss_scale": ..., "l2": ..., "use_bias": ...}``, ready for JSON."""
        return {
            "sizes": list(self.sizes),
            "activation": self.activation,
            "loss": self.loss,
            **self.conventions,
        }

    def __str__(self) -> str:
        """``784-30-10 sigmoid mse`` then the non-default conventions, e.g. ``out=sigmoid sum
        x0.5 l2=0.001 no-bias``."""
        act = self.activation if isinstance(self.activation, str) else ",".join(self.activation)
        words = [f"{'-'.join(map(str, self.sizes))} {act} {self.loss}"]
        if self.output_activation != CONVENTION_DEFAULTS["output_activation"]:
            words.append(OUTPUT_ACTIVATIONS[self.output_activation].label)
        if self.reduction != CONVENTION_DEFAULTS["reduction"]:
            words.append(REDUCTIONS[self.reduction].label)
        if self.loss_scale != 1.0:
            words.append(f"x{self.loss_scale:g}")
        if self.l2 != 0.0:
            words.append(f"l2={self.l2:g}")
        if not self.use_bias:
            words.append("no-bias")
        return " ".join(words)

    def replace(self, **changes) -> MLPSpec:
        """A copy with ``changes`` (validated like a new spec)."""
        return dataclasses.replace(self, **changes)


#: The conventions' defaults: today's meaning of a spec that names none.
CONVENTION_DEFAULTS: dict = {
    "output_activation": "identity",
    "reduction": "mean",
    "loss_scale": 1.0,
    "l2": 0.0,
    "use_bias": True,
}


def _real(name: str, value: object, *, positive: bool) -> float:
    """A finite float, > 0 (``positive``) or >= 0; TypeError/ValueError naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a float, got {value!r}")
    v = float(value)
    if not np.isfinite(v) or (v <= 0 if positive else v < 0):
        raise ValueError(f"{name} must be a finite float {'> 0' if positive else '>= 0'}, got {v}")
    return v


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
