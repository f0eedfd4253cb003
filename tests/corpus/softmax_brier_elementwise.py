"""Softmax outputs with the squared error (mean over the batch of the sum over classes),
row-major, one sigmoid hidden layer, where the softmax derivative is taken elementwise,
p * (1 - p), as for a sigmoid, instead of its Jacobian.

Buggy: every tensor.
"""

import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def grad_fn(params, X, Y):
    (W1, b1), (W2, b2) = params
    m = X.shape[0]
    h = sigmoid(X @ W1 + b1)
    z = h @ W2 + b2
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    p = e / np.sum(e, axis=1, keepdims=True)

    dp = 2 * (p - Y) / m
    dz = dp * p * (1 - p)  # BUG: softmax'(z) is a Jacobian, not p * (1 - p)
    dW2 = h.T @ dz
    db2 = np.sum(dz, axis=0)
    dh = dz @ W2.T * h * (1 - h)
    dW1 = X.T @ dh
    db1 = np.sum(dh, axis=0)
    return [(dW1, db1), (dW2, db2)]


CHECK = dict(
    activation="sigmoid",
    loss="mse",
    output_activation="softmax",
    reduction="batch_mean",
    layout="rows",
    params="list",
    min_depth=2,
    max_depth=2,
    output_width=3,
)
BUGGY_TENSORS = frozenset({"W0", "b0", "W1", "b1"})
DISCOVERY = None
