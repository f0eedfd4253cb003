"""The numpy warm-up of "Learning PyTorch with examples": a two-layer ReLU network without
biases, x (N, D_in), w1 (D_in, H), w2 (H, D_out), loss = np.square(y_pred - y).sum(), and
grad_h[h < 0] = 0, so ReLU'(0) = 1. Params and gradients are the plain list [w1, w2].

Correct: squared error summed over batch and outputs; only works for exactly two layers.
"""

import numpy as np


def grad_fn(weights, x, y):
    w1, w2 = weights

    # Forward pass: compute predicted y
    h = x.dot(w1)
    h_relu = np.maximum(h, 0)
    y_pred = h_relu.dot(w2)

    # Backprop to compute gradients of w1 and w2 with respect to loss
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h_relu.T.dot(grad_y_pred)
    grad_h_relu = grad_y_pred.dot(w2.T)
    grad_h = grad_h_relu.copy()
    grad_h[h < 0] = 0
    grad_w1 = x.T.dot(grad_h)
    return [grad_w1, grad_w2]


CHECK = dict(
    activation="relu",
    loss="mse",
    reduction="sum",
    use_bias=False,
    layout="rows",
    params="list",
    min_depth=2,
    max_depth=2,
)
BUGGY_TENSORS = None
DISCOVERY = {"reduction": "sum"}
