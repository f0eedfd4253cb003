"""How far a computed gradient may be from the true one: the dtype-aware relative tolerances,
and the two round-off backprops behind them, shared by the gradient comparison
(:mod:`mlp_parity.gradcheck`) and the debugger (:mod:`mlp_parity.debug`).

- :func:`magnitude_bounds`: per entry, the size of the terms a gradient entry sums (backprop on
  absolute values); errors relative to it are round-off-aware relative errors.
- :func:`roundoff_bounds`: per tensor, a first-order bound in units of eps on the round-off of
  any correct implementation; within :data:`ROUNDOFF_FACTOR` times it an error is accepted.

Every per-activation and per-loss term comes from the tables in :mod:`mlp_parity.spec`, the
conventions' (output activation, reduction, loss_scale) from :mod:`mlp_parity.spec.conventions`;
an L2 penalty adds ``|2 l2 W|`` to each weight's terms. Both take params in either layout
(pairs, or ``[W0, W1, ...]`` without biases).
"""

from __future__ import annotations

import numpy as np

from .params import Params, UserParams, cast_params
from .spec import ACTIVATIONS, MLPSpec
from .spec.conventions import data_loss_grad, data_loss_magnitude, data_loss_roundoff

#: Largest accepted error relative to the tensor's scale, by the dtype a gradient is given in.
RTOL = {np.dtype("float64"): 1e-9, np.dtype("float32"): 2e-4}
#: A tensor's scale is floored at this fraction of the network's largest gradient entry G:
#: round-off of a saturated activation's derivative (1 - tanh(z)^2 near 1) is absolute, about
#: eps * G times the input's magnitude, so a tensor whose true gradient is that small can only
#: be judged against G. In float64 this still resolves errors of 1e-12 G.
SCALE_FLOOR = {np.dtype("float64"): 1e-3, np.dtype("float32"): 1e-2}
#: The finite-difference oracle is an approximation (O(h^6), h = 1e-3): its own tolerance.
FD_RTOL = 1e-6
#: Besides the relative tolerance of its dtype, a tensor is accepted within this many times
#: (times sqrt of the widest sum) a first-order round-off bound of the problem: round-off near
#: saturation (sigmoid(z) - y with |z| ~ 20, p - y for a confident softmax) is absolute, so no
#: relative tolerance fits every problem.
ROUNDOFF_FACTOR = 4.0

__all__ = [
    "FD_RTOL",
    "ROUNDOFF_FACTOR",
    "RTOL",
    "SCALE_FLOOR",
    "eps",
    "magnitude_bounds",
    "roundoff_bounds",
    "rtol_for",
]


def rtol_for(dtype: object) -> float:
    """The relative tolerance of a gradient given in ``dtype`` (float32's for any other)."""
    return RTOL.get(np.dtype(dtype), 2e-4)  # type: ignore[arg-type]


def eps(dtype: np.dtype) -> float:
    """Machine epsilon of a float ``dtype``; float64's for any other kind."""
    return float(np.finfo(dtype).eps) if dtype.kind == "f" else float(np.finfo(np.float64).eps)


def _pairs(params: UserParams) -> Params:
    """Pairs from either layout, without validation (zero biases for plain weights)."""
    return [
        (layer, np.zeros(layer.shape[1], layer.dtype)) if isinstance(layer, np.ndarray) else layer
        for layer in params
    ]


def magnitude_bounds(spec: MLPSpec, params: UserParams, x: np.ndarray, y: np.ndarray) -> UserParams:
    """Per entry, the size of the terms that sum to each gradient entry: backprop run on
    absolute values, with every activation derivative replaced by its bound 1.

    A gradient entry is a sum of products; round-off is relative to those products, not to the
    (possibly tiny, cancelled or saturated) result. E.g. sigmoid(31) - 1 = -3.4e-14 comes with an
    absolute error of eps, and 1 - tanh(z)^2 near saturation likewise. Errors measured against
    these bounds are round-off-aware relative errors: 1e-9 of the bound is a million times
    float64 round-off, yet every real bug (a wrong factor, derivative, sign or term) shows up at
    order 1. The output delta's bound is the conventions' ``data_loss_magnitude`` (e.g.
    ``(|p| + |y|)`` scaled by the reduction's divisor and the loss_scale, through the output
    activation); an L2 penalty adds ``|2 l2 W|``. Returned in the params' layout (pairs, or
    ``[W0, W1, ...]`` for plain weights).
    """
    from .backends.numpy_backprop import forward

    p64 = _pairs(cast_params(params, "float64"))
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    inputs, zs = forward(spec, p64, x)
    d = data_loss_magnitude(spec, zs[-1], y)
    out: Params = []
    for layer in range(len(p64) - 1, -1, -1):
        W = p64[layer][0]
        bW = np.abs(inputs[layer]).T @ d
        if spec.l2:
            bW += np.abs(2.0 * spec.l2 * W)
        out.append((bW, d.sum(axis=0)))
        d = d @ np.abs(W).T
    out.reverse()
    if isinstance(params[0], np.ndarray):  # plain weights in, plain weights out
        return [bW for bW, _ in out]
    return out


def roundoff_bounds(spec: MLPSpec, params: UserParams, x: np.ndarray, y: np.ndarray) -> list[float]:
    """Per tensor of ``spec.tensor_names`` (``W0, b0, W1, ...``; ``W0, W1, ...`` without
    biases), a first-order bound (in units of eps) on the round-off of *any* correct
    implementation: backprop run on magnitudes, with the rounding of inputs, products, sums,
    activation derivatives (1 - s near saturation is absolute), the output activation, the
    cancellation in the output delta (p - y), and the L2 term's product and sum. Its max over
    each tensor scales the accepted absolute error; a non-finite bound is reported as 0."""
    from .backends import numpy_backprop

    params = _pairs(params)
    with np.errstate(all="ignore"):
        inputs, zs = numpy_backprop.forward(spec, params, x)
        acts = [ACTIVATIONS[a] for a in spec.hidden_activations]
        absW = [np.abs(W) for W, _ in params]
        # forward: e_a (error of each layer's input), e_z (of its pre-activation)
        e_a, e_z, derivs = [np.abs(x)], [], []
        for i, (_, b) in enumerate(params):
            mag = np.abs(inputs[i]) @ absW[i]
            e_z.append(e_a[i] @ absW[i] + 2 * mag + np.abs(b))
            if i < len(acts):
                f = acts[i]
                d, dd, c = f.grad(zs[i]), f.curvature(zs[i]), f.grad_roundoff
                derivs.append((d, dd, c))
                e_a.append(np.abs(d) * e_z[i] + np.abs(inputs[i + 1]) + c)
        z = zs[-1]
        e_delta = data_loss_roundoff(spec, z, y, e_z[-1])
        delta = data_loss_grad(spec, z, y)
        out: list[float] = []
        for i in range(spec.num_layers - 1, -1, -1):
            a, ad = np.abs(inputs[i]), np.abs(delta)
            e_W = e_a[i].T @ ad + a.T @ e_delta + a.T @ ad
            if spec.l2:  # 2 l2 W rounds twice, its sum with the data term once more
                pen = np.abs(2.0 * spec.l2 * params[i][0])
                e_W = e_W + 3.0 * pen + a.T @ ad
            e_b = e_delta.sum(axis=0) + ad.sum(axis=0)
            out += [float(e_b.max()), float(e_W.max())] if spec.use_bias else [float(e_W.max())]
            if i > 0:
                d, dd, c = derivs[i - 1]
                g = delta @ params[i][0].T
                e_g = e_delta @ absW[i].T + 2 * ad @ absW[i].T
                e_delta = e_g * np.abs(d) + np.abs(g) * (dd * e_z[i - 1] + c + np.abs(d))
                delta = g * d
    bound = out[::-1]  # W0, b0, W1, b1, ... (W0, W1, ... without biases)
    return [v if np.isfinite(v) else 0.0 for v in bound]
