"""Every fact about each output activation ``O`` (the nonlinearity a spec applies to the last
layer's pre-activation ``z`` before the loss), one table row each: its value, its
vector-Jacobian product (a loss gradient with respect to ``a = O(z)`` taken back to ``z``), and
what the tolerances, predictions and the debugger need. The losses that keep a built-in
nonlinearity (softmax and sigmoid cross-entropy) take only ``"identity"``; each loss row says
which output activations it accepts (``Loss.output_activations``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax along the outputs (axis 1), shifted by the row max: exp cannot overflow."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _identity_vjp(z: np.ndarray, a: np.ndarray, g: np.ndarray) -> np.ndarray:
    return g


def _sigmoid_vjp(z: np.ndarray, a: np.ndarray, g: np.ndarray) -> np.ndarray:
    # a (1 - a) as in backprop; (1 - a) loses digits near a = 1, which the round-off bound
    # (grad_roundoff) allows for.
    return g * (a * (1.0 - a))


def _softmax_vjp(z: np.ndarray, a: np.ndarray, g: np.ndarray) -> np.ndarray:
    # J = diag(a) - a a^T: dz_i = a_i (g_i - sum_j a_j g_j)
    return a * (g - (g * a).sum(axis=1, keepdims=True))


def _identity_magnitude(a: np.ndarray, gm: np.ndarray) -> np.ndarray:
    return gm


def _sigmoid_magnitude(a: np.ndarray, gm: np.ndarray) -> np.ndarray:
    # the derivative bounded by 1, as the hidden activations' in tolerance.magnitude_bounds
    return gm


def _softmax_magnitude(a: np.ndarray, gm: np.ndarray) -> np.ndarray:
    # the terms |a_i g_i| and a_i sum_j |a_j g_j|
    aa = np.abs(a)
    return aa * (gm + (gm * aa).sum(axis=1, keepdims=True))


def _identity_value_roundoff(z: np.ndarray, a: np.ndarray, e_z: np.ndarray) -> np.ndarray:
    return e_z


def _sigmoid_value_roundoff(z: np.ndarray, a: np.ndarray, e_z: np.ndarray) -> np.ndarray:
    # the rounded z moves a by a (1 - a) e_z; exp, 1 + and the division round relative to a,
    # and an implementation through tanh, 0.5 (1 + tanh(z / 2)), is off by an absolute eps.
    return a * (1.0 - a) * e_z + 3.0 * a + 1.0


def _softmax_value_roundoff(z: np.ndarray, a: np.ndarray, e_z: np.ndarray) -> np.ndarray:
    # a change of z_j by e_z_j moves a_i by at most a_i (e_z_i + max_j e_z_j); exp, the row sum
    # and the division round relative to a (the sum by up to the row's width).
    return a * (e_z + e_z.max(axis=1, keepdims=True) + a.shape[1] + 2.0)


def _identity_roundoff(a: np.ndarray, g: np.ndarray, e_g: np.ndarray, e_a: np.ndarray):
    return e_g


def _sigmoid_roundoff(a: np.ndarray, g: np.ndarray, e_g: np.ndarray, e_a: np.ndarray):
    # g a (1 - a): the error of g times the derivative, plus |g| times the derivative's own
    # error (|1 - 2a| e_a from a, an absolute eps from 1 - a, and the two products' rounding).
    d = a * (1.0 - a)
    return e_g * d + np.abs(g) * (np.abs(1.0 - 2.0 * a) * e_a + 1.0 + 2.0 * d)


def _softmax_roundoff(a: np.ndarray, g: np.ndarray, e_g: np.ndarray, e_a: np.ndarray):
    # a (g - s), s = sum_j a_j g_j: the errors of a and g through the dot product, the
    # subtraction and the product, each operation rounding once (the dot product per term).
    k = a.shape[1]
    ag = np.abs(g)
    s = (a * ag).sum(axis=1, keepdims=True)
    e_s = (e_a * ag + a * e_g).sum(axis=1, keepdims=True) + k * s
    inner = ag + s
    e_inner = e_g + e_s + inner
    return e_a * inner + a * e_inner + a * inner


def _stable_sigmoid(z: np.ndarray) -> np.ndarray:
    # exp of -|z| only: no overflow, and relative accuracy down to the smallest outputs, which
    # the renormalisation of categorical cross-entropy divides by.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@dataclass(frozen=True)
class OutputActivation:
    """Every fact about one output activation ``a = O(z)`` on the last layer's ``z`` (batch, out).

    Attributes:
        name, description: its spec name and what it computes.
        label: how ``str(spec)`` names it when it is not the default (``"out=sigmoid"``).
        value: ``O(z)``.
        vjp: ``(z, a, g) -> dL/dz`` given ``g = dL/da`` (``a = O(z)``, which backprop holds).
        magnitude: ``(a, |terms of g|) -> |terms of dL/dz|`` (backprop on absolute values, a
            derivative bounded by 1: the round-off-aware scale of the gradient check).
        value_roundoff: ``(z, a, e_z) -> e_a``: a first-order bound, in eps, on the round-off
            of ``a`` given the round-off ``e_z`` of ``z``.
        roundoff: ``(a, g, e_g, e_a) -> e_dz``: a first-order bound, in eps, on the round-off
            of ``dL/dz`` given the round-off ``e_g`` of ``g`` and ``e_a`` of ``a``.
        probabilities: its values lie in [0, 1] (what the cross-entropy on probabilities needs).
        one_output_threshold: the logit above which a single output unit predicts class 1, or
            ``None`` when the loss decides (``Loss.one_output_threshold``).
        one_output_note: why the true gradient is 0 with a single output unit, if it is.
        couples_outputs: each output depends on every logit of its row (softmax).
        is_identity: ``a = z``: the loss sees the logits themselves.
    """

    name: str
    description: str
    label: str
    value: Callable[[np.ndarray], np.ndarray]
    vjp: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    magnitude: Callable[[np.ndarray, np.ndarray], np.ndarray]
    value_roundoff: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    roundoff: Callable[..., np.ndarray]
    probabilities: bool = False
    one_output_threshold: float | None = None
    one_output_note: str = ""
    couples_outputs: bool = False
    is_identity: bool = False


OUTPUT_ACTIVATIONS: dict[str, OutputActivation] = {
    o.name: o
    for o in (
        OutputActivation(
            "identity",
            "no output activation: the loss sees the logits z",
            "",
            lambda z: z,
            _identity_vjp,
            _identity_magnitude,
            _identity_value_roundoff,
            _identity_roundoff,
            is_identity=True,
        ),
        OutputActivation(
            "sigmoid",
            "a = sigmoid(z), elementwise",
            "out=sigmoid",
            _stable_sigmoid,
            _sigmoid_vjp,
            _sigmoid_magnitude,
            _sigmoid_value_roundoff,
            _sigmoid_roundoff,
            probabilities=True,
            one_output_threshold=0.0,  # sigmoid(z) > 0.5 exactly when z > 0
        ),
        OutputActivation(
            "softmax",
            "a = softmax(z) along the outputs",
            "out=softmax",
            softmax,
            _softmax_vjp,
            _softmax_magnitude,
            _softmax_value_roundoff,
            _softmax_roundoff,
            probabilities=True,
            # softmax over one output is 1 whatever z: the unit always says class 1
            one_output_threshold=-np.inf,
            one_output_note="softmax over one output is constant: its true gradient is 0",
            couples_outputs=True,
        ),
    )
}
