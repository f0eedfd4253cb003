"""Every fact about each loss, one table row each: its per-element terms beside their gradient
with respect to the loss's input ``u`` (batch, out) -- the logits ``z`` for the losses with a
built-in nonlinearity, else the output activation's values ``O(z)`` (:mod:`.outputs`) -- the
output nonlinearity it applies, the valid targets, and the bounds the round-off-aware tolerances
need; the reductions, loss_scale and L2 of a spec combine them in :mod:`.conventions`. Targets y
are float arrays (batch, out); integer labels are turned into one-hot rows earlier. Adding a loss
means a row here and its form in the JAX and Keras engines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .activations import sigmoid_relative as _sigmoid


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


def _softmax_ce_terms_magnitude(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _softmax(z) * np.abs(y.sum(axis=1, keepdims=True)) + np.abs(y)


def _softmax_ce_terms_roundoff(z: np.ndarray, y: np.ndarray, e_z: np.ndarray) -> np.ndarray:
    p, sy = _softmax(z), np.abs(y.sum(axis=1, keepdims=True))
    return p * sy * (e_z + e_z.max(axis=1, keepdims=True) + 1) + np.abs(y)


def _sigmoid_ce(z: np.ndarray, y: np.ndarray) -> float:
    # -y log s(z) - (1-y) log(1-s(z)) = max(z,0) - z*y + log(1+exp(-|z|)), stable for any z.
    return float((np.maximum(z, 0) - z * y + np.logaddexp(0, -np.abs(z))).mean())


def _sigmoid_ce_grad(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    # sigmoid(z) - y, written as (1-y) sigmoid(z) - y sigmoid(-z): no cancellation when the
    # output saturates (sigmoid(31) - 1 would keep only two digits).
    return ((1.0 - y) * _sigmoid(z) - y * _sigmoid(-z)) / z.size


def _sigmoid_ce_terms_roundoff(z: np.ndarray, y: np.ndarray, e_z: np.ndarray) -> np.ndarray:
    s = _sigmoid(z)
    return s * (1 - s) * e_z + s + np.abs(y) + 1


def _mean_over_batch(terms: Callable) -> Callable:
    """The bound of the mean over the batch from that of the terms' sum."""
    return lambda *args: terms(*args) / args[0].shape[0]


def _mean_over_all(terms: Callable) -> Callable:
    """The bound of the mean over batch and outputs from that of the terms' sum."""
    return lambda *args: terms(*args) / args[0].size


def _mse_terms_magnitude(u: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 2.0 * (np.abs(u) + np.abs(y))


def _mse_terms_roundoff(u: np.ndarray, y: np.ndarray, e_u: np.ndarray) -> np.ndarray:
    return 2 * (e_u + np.abs(u) + np.abs(y))


def _mse(z: np.ndarray, y: np.ndarray) -> float:
    return float(((z - y) ** 2).mean())


def _mse_grad(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 2.0 * (z - y) / z.size


# Per-element terms e (batch, out), whose sum is the unnormalised loss, and d sum(e) / du.


def _softmax_ce_terms(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return -(y * _log_softmax(z))


def _softmax_ce_terms_grad(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.exp(_log_softmax(z)) * y.sum(axis=1, keepdims=True) - y


def _sigmoid_ce_terms(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0) - z * y + np.logaddexp(0, -np.abs(z))


def _sigmoid_ce_terms_grad(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (1.0 - y) * _sigmoid(z) - y * _sigmoid(-z)


def _sigmoid_ce_terms_magnitude(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _sigmoid(z) + np.abs(y)


#: Keras' ``backend.epsilon()``: ``categorical_crossentropy`` clips probabilities to
#: [EPSILON, 1 - EPSILON] before the log.
EPSILON = 1e-7


def _cce_parts(a: np.ndarray, y: np.ndarray):
    """``(s, p, pc, inside)``: row sums of ``a``, the renormalised ``p = a / s``, ``p`` clipped
    as Keras clips it (in ``a``'s dtype), and where the clip passes the gradient through."""
    s = a.sum(axis=1, keepdims=True)
    p = a / s
    lo, hi = np.asarray(EPSILON, a.dtype), 1 - np.asarray(EPSILON, a.dtype)
    pc = np.clip(p, lo, hi)
    return s, p, pc, (p >= lo) & (p <= hi)


def _cce_terms(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    return -(y * np.log(_cce_parts(a, y)[2]))


def _cce_terms_grad(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    # p = a / s: dp_j/da_i = (delta_ij - p_j) / s, so da_i = (g_i - sum_j g_j p_j) / s with
    # g = d/dp of -sum y log(clip(p)) = -y / p inside the clip, 0 outside.
    s, p, pc, inside = _cce_parts(a, y)
    g = np.where(inside, -y / pc, 0.0)
    return (g - (g * p).sum(axis=1, keepdims=True)) / s


def _cce(a: np.ndarray, y: np.ndarray) -> float:
    return float(_cce_terms(a, y).sum() / a.shape[0])


def _cce_grad(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _cce_terms_grad(a, y) / a.shape[0]


def _cce_terms_magnitude(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    s, p, pc, inside = _cce_parts(a, y)
    g = np.where(inside, np.abs(y) / pc, 0.0)
    return (g + (g * np.abs(p)).sum(axis=1, keepdims=True)) / np.abs(s)


def _cce_terms_roundoff(a: np.ndarray, y: np.ndarray, e_a: np.ndarray) -> np.ndarray:
    """First order, in eps, through s = sum a, p = a / s, g = -y / p, the dot product
    sum g p, the subtraction and the division by s (each rounding once per operation)."""
    s, p, pc, inside = _cce_parts(a, y)
    k = a.shape[1]
    s, p, pc = np.abs(s), np.abs(p), np.abs(pc)
    e_s = e_a.sum(axis=1, keepdims=True) + k * s
    e_p = e_a / s + p * e_s / s + p
    g = np.where(inside, np.abs(y) / pc, 0.0)
    e_g = np.where(inside, g * (e_p / pc + 1.0), 0.0)
    dot = (g * p).sum(axis=1, keepdims=True)
    e_dot = (e_g * p + g * e_p).sum(axis=1, keepdims=True) + k * dot
    inner = g + dot
    e_inner = e_g + e_dot + inner
    return (e_inner + inner * (e_s / s + 1.0)) / s


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
    """Every fact about one loss on its input ``u`` (batch, out) and targets ``y`` (batch, out).
    ``u`` is the logits ``z`` for the losses with a built-in nonlinearity (which accept only the
    ``"identity"`` output activation), else the output activation's values ``O(z)``. ``value``,
    ``grad``, ``value_and_grad_into``, ``magnitude`` and ``roundoff`` are the loss under the
    default conventions (``reduction="mean"``, ``loss_scale=1``); the ``terms*`` facts are the
    unreduced ones that :mod:`.conventions` scales for any spec.

    Attributes:
        name, description: its spec name and what it computes.
        value: ``L(u, y)``, a float (the mean reduction).
        grad: ``dL/du`` (batch, out), already divided as the loss averages.
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
        terms: ``(u, y) -> e`` (batch, out), the per-element terms whose sum is the
            unnormalised loss.
        terms_grad: ``d sum(e) / du`` (batch, out).
        terms_magnitude: per entry of ``terms_grad``, the size of the terms it is made of.
        terms_roundoff: ``(u, y, e_u)``: a first-order bound, in eps, on the round-off of
            ``terms_grad`` given the round-off ``e_u`` of its input.
        output_activations: the output activations (``spec.outputs``) it accepts, the first
            its default.
        on_probabilities: its input must be probabilities (an output activation whose
            ``probabilities`` fact holds).
        delta_of: the output activation ``O`` for which this loss's gradient on the logits is
            ``O(z) - y`` for any targets (times the reduction), if one: what a backprop that
            uses that output delta with another loss is right for.
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
    terms: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    terms_grad: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    terms_magnitude: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    terms_roundoff: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None
    output_activations: tuple[str, ...] = ("identity",)
    on_probabilities: bool = False
    delta_of: str | None = None


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
            _mean_over_batch(_softmax_ce_terms_magnitude),
            _mean_over_batch(_softmax_ce_terms_roundoff),
            _one_hot_targets,
            target_range=(0.0, np.inf),
            overflow_advice=(
                "exp(z) overflows above ~709 in float64, ~88 in float32;"
                " subtract the row max before exp"
            ),
            one_output_note="softmax over one output is constant: its true gradient is 0",
            terms=_softmax_ce_terms,
            terms_grad=_softmax_ce_terms_grad,
            terms_magnitude=_softmax_ce_terms_magnitude,
            terms_roundoff=_softmax_ce_terms_roundoff,
        ),
        Loss(
            "sigmoid_cross_entropy",
            "mean over batch and outputs of BCE(sigmoid(z), y)",
            _sigmoid_ce,
            _sigmoid_ce_grad,
            _sigmoid,
            _generic_into(_sigmoid_ce_grad),
            _mean_over_all(_sigmoid_ce_terms_magnitude),
            _mean_over_all(_sigmoid_ce_terms_roundoff),
            _probability_targets,
            target_variants=2,
            target_range=(0.0, 1.0),
            averages_outputs=True,
            one_output_threshold=0.0,
            terms=_sigmoid_ce_terms,
            terms_grad=_sigmoid_ce_terms_grad,
            terms_magnitude=_sigmoid_ce_terms_magnitude,
            terms_roundoff=_sigmoid_ce_terms_roundoff,
            delta_of="sigmoid",  # softmax CE's is softmax(z) sum(y) - y: not for any targets
        ),
        Loss(
            "mse",
            "mean over batch and outputs of (z - y)^2",
            _mse,
            _mse_grad,
            lambda z: z,
            _generic_into(_mse_grad),
            _mean_over_all(_mse_terms_magnitude),
            _mean_over_all(_mse_terms_roundoff),
            _real_targets,
            target_variants=3,
            takes_labels=False,
            averages_outputs=True,
            scale_hints=(
                (2.0, "2", "squared-error factor: the 2 of d(z-y)^2/dz = 2(z-y) counted twice"),
                (0.5, "1/2", "squared-error factor: the 2 of d(z-y)^2/dz = 2(z-y) is missing"),
            ),
            terms=lambda u, y: (u - y) ** 2,
            terms_grad=lambda u, y: 2.0 * (u - y),
            terms_magnitude=_mse_terms_magnitude,
            terms_roundoff=_mse_terms_roundoff,
            output_activations=("identity", "sigmoid", "softmax"),
        ),
        Loss(
            "categorical_cross_entropy",
            "Keras' categorical_crossentropy on the output activation's values: mean over the"
            " batch of -sum_k y_k log clip(a_k / sum_j a_j, 1e-7, 1 - 1e-7)",
            _cce,
            _cce_grad,
            lambda a: a,
            _generic_into(_cce_grad),
            _mean_over_batch(_cce_terms_magnitude),
            _mean_over_batch(_cce_terms_roundoff),
            _one_hot_targets,
            target_range=(0.0, np.inf),
            # one output unit: a / sum(a) = 1 whatever z
            one_output_note="renormalised over one output the probability is 1: its true"
            " gradient is 0",
            terms=_cce_terms,
            terms_grad=_cce_terms_grad,
            terms_magnitude=_cce_terms_magnitude,
            terms_roundoff=_cce_terms_roundoff,
            output_activations=("sigmoid", "softmax"),
            on_probabilities=True,
        ),
    )
}
