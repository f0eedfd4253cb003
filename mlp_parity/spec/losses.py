"""Every fact about each loss, one table row each: its value beside its gradient with respect to
the logits z (batch, out), the output nonlinearity it applies, the valid targets, and the bounds
the round-off-aware tolerances need. Targets y are float arrays (batch, out); integer labels are
turned into one-hot rows earlier. Adding a loss means a row here and its form in the JAX and
Keras engines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .activations import sigmoid as _sigmoid


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
