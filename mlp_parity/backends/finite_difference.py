"""An oracle with no autodiff at all: central finite differences of the numpy loss value.

Each entry's derivative is a two-level Romberg extrapolation of central differences,
``D(h) = (L(p+h) - L(p-h)) / 2h``: ``R(h) = (4 D(h/2) - D(h)) / 3`` cancels the h^2 error term
and ``(16 R(h/2) - R(h)) / 15`` the h^4 one, so the error is O(h^6): one level was not enough
for steep networks, whose later layers amplify a first-layer step (BENCHMARKS.md). Always
computed in float64. Slow by design (six forward passes per entry, reusing the unperturbed
layers below the perturbed one), meant for small networks; ``entries`` restricts it to a
sample.

Not meaningful at a ReLU kink (a pre-activation within ``h`` of 0): there the difference
quotient averages the two one-sided slopes while the convention is relu'(0) = 0; nor at the
clip of categorical cross-entropy (a probability within a step of 1e-7 or 1 - 1e-7).

The loss is the spec's whole loss (:mod:`mlp_parity.spec.conventions`): output activation,
reduction, loss_scale and the L2 penalty. Perturbing ``W_l`` changes the penalty only through
``l2 * sum(W_l ** 2)``, so only that term enters its differences. Without ``use_bias`` the
biases are not differentiated (their gradients are zeros, dropped at the boundary).
"""

from __future__ import annotations

import numpy as np

from ..params import Params
from ..spec import ACTIVATIONS, MLPSpec
from ..spec.conventions import data_loss, penalty, total_loss

NAME = "finite_difference"
STEP = 1e-3


def logits(spec: MLPSpec, params: Params, x: np.ndarray) -> np.ndarray:
    from .numpy_backprop import logits as np_logits

    return np_logits(
        spec,
        [(W.astype(np.float64, order="C"), b.astype(np.float64)) for W, b in params],
        x.astype(np.float64),
    )


def _loss_from(spec: MLPSpec, params: Params, layer: int, a: np.ndarray, y: np.ndarray) -> float:
    """Data loss of the network's layers ``layer..`` applied to input ``a``, plus the L2
    penalty of layer ``layer``'s weights (the other layers' is constant here)."""
    acts = spec.hidden_activations
    for i in range(layer, len(params)):
        W, b = params[i]
        a = a @ W + b
        if i < len(acts):
            a = ACTIVATIONS[acts[i]].value(a)
    return data_loss(spec, a, y) + penalty(spec, [params[layer][0]])


def _last(spec: MLPSpec, params: Params, a: np.ndarray) -> np.ndarray:
    """The logits from the last layer's input ``a``."""
    W, b = params[-1]
    return a @ W + b


def loss_and_grad(
    spec: MLPSpec,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    entries: dict[str, np.ndarray] | None = None,
) -> tuple[float, Params]:
    """Loss and central-difference gradients, float64, of ``[(W, b), ...]`` pairs.

    ``entries`` maps a tensor name (``"W0"``, ``"b1"``) to the flat indices to differentiate;
    entries left out are NaN. ``None`` differentiates every entry.
    """
    p64 = [(W.astype(np.float64, order="C"), b.astype(np.float64)) for W, b in params]
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    # Inputs to each layer from the unperturbed network: perturbing layer l leaves them intact.
    acts = spec.hidden_activations
    inputs = [x]
    for i, (W, b) in enumerate(p64[:-1]):
        inputs.append(ACTIVATIONS[acts[i]].value(inputs[-1] @ W + b))
    value = total_loss(spec, _last(spec, p64, inputs[-1]), y, (W for W, _ in p64))

    grads: Params = []
    for layer, (W, b) in enumerate(p64):
        pair = []
        for kind, t in (("W", W), ("b", b)):
            if kind == "b" and not spec.use_bias:
                pair.append(np.zeros(t.shape))
                continue
            g = np.full(t.shape, np.nan) if entries is not None else np.empty(t.shape)
            idx = np.arange(t.size) if entries is None else entries.get(f"{kind}{layer}", [])
            flat = t.reshape(-1)
            # W[i, j] enters the loss through a[:, i] * W[i, j]: scale its step down by the
            # size of that input, so that the step moves the pre-activation by about STEP.
            reach = np.abs(inputs[layer]).max(axis=0) if kind == "W" else None
            for k in idx:
                orig = flat[k]
                h = STEP * max(1.0, abs(orig))
                if reach is not None:
                    h /= max(1.0, reach[k // t.shape[1]])

                def diff(step: float, flat=flat, k=k, orig=orig, layer=layer) -> float:
                    flat[k] = orig + step
                    up = _loss_from(spec, p64, layer, inputs[layer], y)
                    flat[k] = orig - step
                    down = _loss_from(spec, p64, layer, inputs[layer], y)
                    flat[k] = orig
                    return (up - down) / (2 * step)

                d1, d2, d4 = diff(h), diff(h / 2), diff(h / 4)
                r1, r2 = (4 * d2 - d1) / 3, (4 * d4 - d2) / 3  # O(h^4), O((h/2)^4)
                g.reshape(-1)[k] = (16 * r2 - r1) / 15  # O(h^6)
            pair.append(g)
        grads.append((pair[0], pair[1]))
    return value, grads
