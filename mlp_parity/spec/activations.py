"""Every fact about each hidden activation, one table row each: its value beside its derivative
(from z, and from the output a = f(z), which backprop already holds), the same two written in
place for the training loop's preallocated buffers, and what the tolerances, the initialiser and
the debugger need. Adding an activation means a row here and its op in the JAX and Keras
engines; nothing else branches on its name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    # 0.5 * (1 + tanh(z/2)) equals 1/(1+exp(-z)) and never overflows.
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def sigmoid_relative(z: np.ndarray) -> np.ndarray:
    """The sigmoid to a small *relative* error in both tails, for a loss's gradient: the tanh
    form rounds to 0 below z = -37 and keeps few digits below -20, which is harmless inside a
    network but not when sigmoid(z) - y is all a gradient holds. Never overflows."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0, e) / (1.0 + e)


def _sigmoid_into(z: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> None:
    np.multiply(z, 0.5, out=out)  # the same operations (same rounding) as sigmoid
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
            sigmoid,
            lambda z: sigmoid(z) * (1.0 - sigmoid(z)),
            lambda a: a * (1.0 - a),
            _sigmoid_into,
            _sigmoid_grad_into,
            curvature=lambda z: np.abs(sigmoid(z) * (1 - sigmoid(z)) * (1 - 2 * sigmoid(z))),
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
