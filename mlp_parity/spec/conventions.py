"""The loss conventions of a spec in one place: the reference numpy formulas every numpy-side
consumer (the hand-written engine, finite differences, tolerances, training, the debugger)
computes the loss from, and the :data:`REDUCTIONS` table.

For the last layer's pre-activation ``z`` (batch n, outputs k), the output activation
``a = O(z)`` (:mod:`.outputs`; the losses with a built-in nonlinearity see ``a = z``), the
loss's per-element terms ``e = terms(a, y)`` (:mod:`.losses`) and the reduction's divisor ``D``:

    L = loss_scale * sum(e) / D + l2 * sum_l sum(W_l ** 2)      (weights only, never biases)

Dividing by ``D / loss_scale`` (rather than multiplying by its inverse) keeps the default
conventions bit for bit the loss rows' own ``value`` and ``grad``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .losses import LOSSES, Loss
from .outputs import OUTPUT_ACTIVATIONS

if TYPE_CHECKING:  # the spec imports this module to validate its reduction
    from . import MLPSpec

__all__ = [
    "REDUCTIONS",
    "Reduction",
    "data_loss",
    "data_loss_and_grad_into",
    "data_loss_grad",
    "data_loss_magnitude",
    "data_loss_roundoff",
    "divisor",
    "loss_input",
    "network_output",
    "one_output_threshold",
    "penalty",
    "penalty_grad",
    "total_loss",
]


def _natural_mean(loss: Loss, n: int, k: int) -> float:
    return float(n * k if loss.averages_outputs else n)


@dataclass(frozen=True)
class Reduction:
    """How the per-element terms ``e`` (n, k) are reduced: ``L_data = loss_scale * sum(e) / D``.

    Attributes:
        name, description: its spec name and what it computes.
        label: how ``str(spec)`` names it when it is not the default.
        divisor: ``(loss, n, k) -> D``.
    """

    name: str
    description: str
    label: str
    divisor: Callable[[Loss, int, int], float]


REDUCTIONS: dict[str, Reduction] = {
    r.name: r
    for r in (
        Reduction(
            "mean",
            "the loss's natural mean: over batch and outputs for mse and sigmoid cross-entropy, "
            "over the batch of a per-row sum for softmax and categorical cross-entropy",
            "",
            _natural_mean,
        ),
        Reduction("sum", "summed over batch and outputs", "sum", lambda loss, n, k: 1.0),
        Reduction(
            "batch_mean",
            "summed over the outputs, averaged over the batch",
            "batch_mean",
            lambda loss, n, k: float(n),
        ),
    )
}


def divisor(spec: MLPSpec, n: int, k: int) -> float:
    """``D``: the reduction's divisor of ``sum(e)`` for a batch of ``n`` rows of ``k`` outputs."""
    return REDUCTIONS[spec.reduction].divisor(LOSSES[spec.loss], n, k)


def _factor(spec: MLPSpec, z: np.ndarray) -> float:
    # what sum(e) is divided by: D / loss_scale (D itself when loss_scale = 1)
    return divisor(spec, *z.shape) / spec.loss_scale


def loss_input(spec: MLPSpec, z: np.ndarray) -> np.ndarray:
    """``a = O(z)``: what the loss's terms see (``z`` itself for the identity output)."""
    return OUTPUT_ACTIVATIONS[spec.output_activation].value(z)


def data_loss(spec: MLPSpec, z: np.ndarray, y: np.ndarray) -> float:
    """``loss_scale * sum(e) / D`` for logits ``z`` and float targets ``y`` (n, k)."""
    e = LOSSES[spec.loss].terms(loss_input(spec, z), y)
    return float(e.sum() / _factor(spec, z))


def data_loss_grad(spec: MLPSpec, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``d data_loss / dz`` (n, k): the terms' gradient, scaled, then back through ``O``."""
    out = OUTPUT_ACTIVATIONS[spec.output_activation]
    a = out.value(z)
    g = LOSSES[spec.loss].terms_grad(a, y) / _factor(spec, z)
    return out.vjp(z, a, g)


def data_loss_magnitude(spec: MLPSpec, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per entry of :func:`data_loss_grad`, the size of the terms it is made of (backprop on
    absolute values; the round-off-aware scale of the gradient check)."""
    out = OUTPUT_ACTIVATIONS[spec.output_activation]
    a = out.value(z)
    return out.magnitude(a, LOSSES[spec.loss].terms_magnitude(a, y) / _factor(spec, z))


def data_loss_roundoff(spec: MLPSpec, z: np.ndarray, y: np.ndarray, e_z: np.ndarray):
    """A first-order bound, in eps, on the round-off of :func:`data_loss_grad` given the
    round-off ``e_z`` of the logits: through ``O``'s value, the loss's terms and ``O``'s vjp."""
    out = OUTPUT_ACTIVATIONS[spec.output_activation]
    a = out.value(z)
    e_a = out.value_roundoff(z, a, e_z)
    loss, factor = LOSSES[spec.loss], _factor(spec, z)
    g = loss.terms_grad(a, y) / factor
    e_g = loss.terms_roundoff(a, y, e_a) / factor
    return out.roundoff(a, g, e_g, e_a)


def penalty(spec: MLPSpec, weights: Iterable[np.ndarray]) -> float:
    """``l2 * sum_l sum(W_l ** 2)`` over the weight matrices (0.0 when ``l2`` is 0)."""
    if spec.l2 == 0.0:
        return 0.0
    return spec.l2 * sum(float(np.vdot(W, W)) for W in weights)


def penalty_grad(spec: MLPSpec, W: np.ndarray) -> np.ndarray:
    """``d penalty / dW = 2 * l2 * W`` (zeros when ``l2`` is 0)."""
    return (2.0 * spec.l2) * W


def total_loss(spec: MLPSpec, z: np.ndarray, y: np.ndarray, weights: Iterable[np.ndarray]):
    """The whole loss: :func:`data_loss` plus :func:`penalty`."""
    return data_loss(spec, z, y) + penalty(spec, weights)


def network_output(spec: MLPSpec, z: np.ndarray) -> np.ndarray:
    """What ``predict`` returns for logits ``z``: ``O(z)``, or the built-in softmax/sigmoid of
    softmax/sigmoid cross-entropy (their output activation is the identity)."""
    return LOSSES[spec.loss].output(loss_input(spec, z))


def one_output_threshold(spec: MLPSpec) -> float | None:
    """The logit above which a one-output network predicts class 1 (``None`` with more than
    one output: argmax): the output activation's fact, else the loss's."""
    if spec.sizes[-1] != 1:
        return None
    threshold = OUTPUT_ACTIVATIONS[spec.output_activation].one_output_threshold
    return LOSSES[spec.loss].one_output_threshold if threshold is None else threshold


def data_loss_and_grad_into(
    spec: MLPSpec, z: np.ndarray, y: np.ndarray, out: np.ndarray, scale: float, work: np.ndarray
) -> float | None:
    """``out <- scale * data_loss_grad(spec, z, y)`` in place (the training loop's buffers);
    returns the data loss when computed on the way, else None. With the identity output it is
    the loss row's fused ``value_and_grad_into`` (``work``: scratch (n, k + 2)), rescaled from the
    natural mean to the spec's reduction and loss_scale (exactly so for the defaults)."""
    n, k = z.shape
    loss = LOSSES[spec.loss]
    if OUTPUT_ACTIVATIONS[spec.output_activation].is_identity:
        ratio = _natural_mean(loss, n, k) / _factor(spec, z)
        value = loss.value_and_grad_into(z, y, out, scale * ratio, work)
        return None if value is None else value * ratio
    np.multiply(data_loss_grad(spec, z, y), scale, out=out)
    return data_loss(spec, z, y)
