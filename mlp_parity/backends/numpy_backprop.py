"""The hand-written engine: forward and backward passes in numpy, vectorised over the batch.

Backprop, layer by layer as a textbook writes it, for ``z_l = a_l @ W_l + b_l`` and
``a_{l+1} = f_l(z_l)`` (the last layer's ``z`` goes through the spec's output activation into
the loss):

    delta_L   = dLoss/dz_L                      (spec.conventions.data_loss_grad)
    dW_l      = a_l.T @ delta_l + 2 l2 W_l      (fan_in, fan_out; the L2 term when l2 > 0)
    db_l      = delta_l.sum(axis=0)             (fan_out,)
    delta_l-1 = (delta_l @ W_l.T) * f'(z_l-1)   (batch, fan_in of layer l)

``delta_L`` already holds the reduction's divisor and the loss_scale, so the sums above need no
further scaling. Parameters and gradients are the engines' pairs ``[(W, b), ...]``; without
``use_bias`` the biases are zero and their gradients are dropped at the boundary
(:func:`mlp_parity.params.from_pairs`).
"""

from __future__ import annotations

import numpy as np

from ..params import Params
from ..spec import ACTIVATIONS, MLPSpec
from ..spec.conventions import data_loss_grad, penalty_grad, total_loss

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
    """Loss (float) and gradients of ``[(W, b), ...]`` pairs, in their dtype: the data loss
    of the spec's output activation, loss, reduction and loss_scale, plus its L2 penalty."""
    inputs, zs = forward(spec, params, x)
    value = total_loss(spec, zs[-1], y, (W for W, _ in params))
    delta = data_loss_grad(spec, zs[-1], y)
    acts = spec.hidden_activations
    grads: Params = []
    for layer in range(len(params) - 1, -1, -1):
        W, _ = params[layer]
        gW = inputs[layer].T @ delta
        if spec.l2:
            gW += penalty_grad(spec, W)
        grads.append((gW, delta.sum(axis=0)))
        if layer > 0:
            delta = (delta @ W.T) * ACTIVATIONS[acts[layer - 1]].grad(zs[layer - 1])
    grads.reverse()
    return value, grads
