"""The hand-written engine: forward and backward passes in numpy, vectorised over the batch.

Backprop, layer by layer as a textbook writes it, for ``z_l = a_l @ W_l + b_l`` and
``a_{l+1} = f_l(z_l)`` (the last layer linear, the loss applied to its logits):

    delta_L   = dLoss/dz_L                      (the loss's own gradient, spec.LOSSES)
    dW_l      = a_l.T @ delta_l                 (fan_in, fan_out)
    db_l      = delta_l.sum(axis=0)             (fan_out,)
    delta_l-1 = (delta_l @ W_l.T) * f'(z_l-1)   (batch, fan_in of layer l)

The loss gradients already divide by the batch (and by the outputs for the per-element means),
so the sums above need no further scaling.
"""

from __future__ import annotations

import numpy as np

from ..params import Params
from ..spec import ACTIVATIONS, LOSSES, MLPSpec

NAME = "numpy"


def forward(
    spec: MLPSpec, params: Params, x: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return ``(inputs, pre_activations)``: ``inputs[l]`` is the input to layer ``l``
    (``inputs[0] = x``), ``pre_activations[l]`` its ``z_l``; the last ``z`` is the logits."""
    inputs = [x]
    zs = []
    acts = spec.hidden_activations
    for i, (W, b) in enumerate(params):
        z = inputs[-1] @ W + b
        zs.append(z)
        if i < len(acts):
            inputs.append(ACTIVATIONS[acts[i]].value(z))
    return inputs, zs


def logits(spec: MLPSpec, params: Params, x: np.ndarray) -> np.ndarray:
    """Logits (batch, out) of the linear last layer."""
    a = x
    acts = spec.hidden_activations
    for i, (W, b) in enumerate(params):
        a = a @ W + b
        if i < len(acts):
            a = ACTIVATIONS[acts[i]].value(a)
    return a


def loss_and_grad(
    spec: MLPSpec, params: Params, x: np.ndarray, y: np.ndarray
) -> tuple[float, Params]:
    """Loss (float) and gradients in the params' layout and dtype."""
    inputs, zs = forward(spec, params, x)
    loss = LOSSES[spec.loss]
    value = loss.value(zs[-1], y)
    delta = loss.grad(zs[-1], y)
    acts = spec.hidden_activations
    grads: Params = []
    for layer in range(len(params) - 1, -1, -1):
        W, _ = params[layer]
        grads.append((inputs[layer].T @ delta, delta.sum(axis=0)))
        if layer > 0:
            delta = (delta @ W.T) * ACTIVATIONS[acts[layer - 1]].grad(zs[layer - 1])
    grads.reverse()
    return value, grads
