"""Reference gradients for variants of a spec that no engine computes directly: a kinked
activation (ReLU) with derivative 1 rather than 0 at exactly 0, the other valid subgradient;
and a known slip, the delta sent back through a square W instead of W.T.
The loss's gradient with respect to the logits still comes from the float64 reference (as the
weight gradient of a one-layer network fed the identity); only the hidden layers are run back
here, in float64."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..params import Params
from ..spec import ACTIVATIONS, MLPSpec

#: Where a kinked activation's derivative is taken at exactly 0: just to the right.
RIGHT_OF_ZERO = float(np.finfo(np.float64).tiny)


def _forward(spec: MLPSpec, params: Params, x: np.ndarray):
    """Each layer's input and the hidden pre-activations, in float64."""
    a = np.asarray(x, np.float64)
    inputs, zs = [a], []
    with np.errstate(all="ignore"):
        for (W, b), name in zip(params[:-1], spec.hidden_activations):
            z = a @ W + b
            zs.append(z)
            a = ACTIVATIONS[name].value(z)
            inputs.append(a)
        W, b = params[-1]
        logits = a @ W + b
    return inputs, zs, logits


def kink_at_zero(spec: MLPSpec, params: Params, x: np.ndarray) -> bool:
    """True when a kinked hidden activation meets a pre-activation of exactly 0."""
    kinked = [ACTIVATIONS[a].has_kink for a in spec.hidden_activations]
    if not any(kinked):
        return False
    _, zs, _ = _forward(spec, params, x)
    return any(k and bool(np.any(z == 0)) for k, z in zip(kinked, zs))


def _replace(spec: MLPSpec, **changes) -> MLPSpec:
    changes = {k: v for k, v in changes.items() if hasattr(spec, k)}
    return dataclasses.replace(spec, **changes)


def output_delta(reference, spec: MLPSpec, logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dL/dz of the data loss (no L2) from the reference: the weight gradient of a one-layer
    network whose input is the identity and whose weights are the logits."""
    n, k = logits.shape
    one = _replace(spec, sizes=(n, k), activation="identity", l2=0.0)
    pairs = [(np.array(logits, np.float64), np.zeros(k))]
    (gW, _), *_ = reference.grads(one, pairs, np.eye(n), np.asarray(y, np.float64))
    return gW


def right_kink_grads(
    reference, spec: MLPSpec, params: Params, x: np.ndarray, y: np.ndarray
) -> Params:
    """The gradients with every kinked activation's derivative at exactly 0 taken from the
    right (relu'(0) = 1)."""
    return backward_grads(reference, spec, params, x, y, right_kink=True)


def backward_grads(
    reference,
    spec: MLPSpec,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    *,
    right_kink: bool = False,
    untransposed: tuple[int, ...] = (),
) -> Params:
    """The gradients run back by hand from the reference's output delta: with
    ``right_kink``, a kinked activation's derivative at exactly 0 is 1; for each ``j`` in
    ``untransposed`` (W_j square), the delta goes back through ``W_j`` instead of ``W_j.T``
    (the missing-transpose slip, which square layers let through)."""
    inputs, zs, logits = _forward(spec, params, x)
    d = output_delta(reference, spec, logits, y)
    l2 = float(getattr(spec, "l2", 0.0))
    out: Params = []
    with np.errstate(all="ignore"):
        for layer in range(len(params) - 1, -1, -1):
            W, _ = params[layer]
            out.append((inputs[layer].T @ d + 2.0 * l2 * W, d.sum(axis=0)))
            if layer:
                f = ACTIVATIONS[spec.hidden_activations[layer - 1]]
                z = zs[layer - 1]
                kinked = right_kink and f.has_kink
                deriv = f.grad(np.where(z == 0, RIGHT_OF_ZERO, z)) if kinked else f.grad(z)
                d = (d @ (W if layer in untransposed else W.T)) * deriv
    out.reverse()
    return out
