"""Course assignment style, hard-coded three-layer model (LINEAR->RELU->LINEAR->RELU->
LINEAR->SIGMOID), column-major, dict parameters. One line of the hand-unrolled backward pass
reads np.dot(W2, dZ2) for np.dot(W2.T, dZ2); W2 is square in this network, so the shapes agree.

Buggy: W1 and b1 (everything below the typo). Only works for exactly three layers.
"""

import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def relu(x):
    return np.maximum(0, x)


def forward_propagation(X, parameters):
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    W3, b3 = parameters["W3"], parameters["b3"]
    Z1 = np.dot(W1, X) + b1
    A1 = relu(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = relu(Z2)
    Z3 = np.dot(W3, A2) + b3
    A3 = sigmoid(Z3)
    cache = (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)
    return A3, cache


def backward_propagation(X, Y, cache):
    m = X.shape[1]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = 1.0 / m * np.dot(dZ3, A2.T)
    db3 = 1.0 / m * np.sum(dZ3, axis=1, keepdims=True)
    dA2 = np.dot(W3.T, dZ3)
    dZ2 = np.multiply(dA2, np.int64(A2 > 0))
    dW2 = 1.0 / m * np.dot(dZ2, A1.T)
    db2 = 1.0 / m * np.sum(dZ2, axis=1, keepdims=True)
    dA1 = np.dot(W2, dZ2)  # BUG: W2.T
    dZ1 = np.multiply(dA1, np.int64(A1 > 0))
    dW1 = 1.0 / m * np.dot(dZ1, X.T)
    db1 = 1.0 / m * np.sum(dZ1, axis=1, keepdims=True)
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2, "dW3": dW3, "db3": db3}


def grad_fn(parameters, X, Y):
    a3, cache = forward_propagation(X, parameters)
    return backward_propagation(X, Y, cache)


CHECK = dict(
    activation="relu",
    loss="sigmoid_cross_entropy",
    layout="columns",
    params="dict",
    sizes=(4, 8, 8, 1),
)
BUGGY_TENSORS = frozenset({"W1", "b1"})
DISCOVERY = None
