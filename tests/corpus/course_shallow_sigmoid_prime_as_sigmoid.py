"""Course assignment style, one sigmoid hidden layer and one sigmoid output unit, column-major,
dict parameters. The hidden layer's derivative is written sigmoid(Z1) (= A1) instead of
A1 * (1 - A1).

Buggy: W1 and b1.
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def forward(parameters, X):
    Z1 = np.dot(parameters["W1"], X) + parameters["b1"]
    A1 = sigmoid(Z1)
    Z2 = np.dot(parameters["W2"], A1) + parameters["b2"]
    A2 = sigmoid(Z2)
    return {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def backward(parameters, cache, X, Y):
    m = X.shape[1]
    dZ2 = cache["A2"] - Y
    dW2 = np.dot(dZ2, cache["A1"].T) / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dA1 = np.dot(parameters["W2"].T, dZ2)
    dZ1 = dA1 * sigmoid(cache["Z1"])  # BUG: sigmoid'(Z1) = A1 * (1 - A1)
    dW1 = np.dot(dZ1, X.T) / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def grad_fn(parameters, X, Y):
    return backward(parameters, forward(parameters, X), X, Y)


CHECK = dict(
    activation="sigmoid",
    loss="sigmoid_cross_entropy",
    layout="columns",
    params="dict",
    min_depth=2,
    max_depth=2,
    output_width=1,
)
BUGGY_TENSORS = frozenset({"W1", "b1"})
DISCOVERY = None
