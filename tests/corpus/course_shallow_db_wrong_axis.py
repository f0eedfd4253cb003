"""Course assignment style, one tanh hidden layer, one sigmoid output unit, column-major, dict
parameters. The hidden bias gradient sums over axis 0 (the units) instead of axis 1 (the
examples): db1 comes out (1, m) instead of (n_h, 1), which the update b1 - lr * db1 silently
broadcasts.

Buggy: b1 (wrong shape, and wrong values).
"""

import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def grad_fn(parameters, X, Y):
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    m = X.shape[1]

    Z1 = W1 @ X + b1
    A1 = np.tanh(Z1)
    Z2 = W2 @ A1 + b2
    A2 = sigmoid(Z2)

    dZ2 = A2 - Y
    dW2 = dZ2 @ A1.T / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = (W2.T @ dZ2) * (1 - A1**2)
    dW1 = dZ1 @ X.T / m
    db1 = np.sum(dZ1, axis=0, keepdims=True) / m  # BUG: axis=1
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


CHECK = dict(
    activation="tanh",
    loss="sigmoid_cross_entropy",
    layout="columns",
    params="dict",
    min_depth=2,
    max_depth=2,
    output_width=1,
)
BUGGY_TENSORS = frozenset({"b1"})
DISCOVERY = None
