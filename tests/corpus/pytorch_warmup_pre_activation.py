"""The numpy warm-up of "Learning PyTorch with examples" (two bias-free layers, summed squared
error, ReLU'(0) = 1), with the output weight gradient taken from the hidden PRE-activation h
instead of h_relu: same shape, so nothing complains.

Buggy: w2 only (reported W1, the second tensor of the list).
"""

import numpy as np


def grad_fn(weights, x, y):
    w1, w2 = weights
    h = x.dot(w1)
    h_relu = np.maximum(h, 0)
    y_pred = h_relu.dot(w2)

    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h.T.dot(grad_y_pred)  # BUG: h_relu.T
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
BUGGY_TENSORS = frozenset({"W1"})
DISCOVERY = None
