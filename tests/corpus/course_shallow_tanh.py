"""Course assignment style ("planar data classification with one hidden layer"): column-major,
dict parameters, a tanh hidden layer and one sigmoid output unit, cost
-1/m * np.sum(Y * log(A2) + (1 - Y) * log(1 - A2)). Only works for exactly one hidden layer.

Correct, with the default conventions (mean over the batch of one output).
"""

import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def forward_propagation(X, parameters):
    W1 = parameters["W1"]
    b1 = parameters["b1"]
    W2 = parameters["W2"]
    b2 = parameters["b2"]
    Z1 = np.dot(W1, X) + b1
    A1 = np.tanh(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = sigmoid(Z2)
    cache = {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}
    return A2, cache


def backward_propagation(parameters, cache, X, Y):
    m = X.shape[1]
    W2 = parameters["W2"]
    A1 = cache["A1"]
    A2 = cache["A2"]
    dZ2 = A2 - Y
    dW2 = (1 / m) * np.dot(dZ2, A1.T)
    db2 = (1 / m) * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = np.multiply(np.dot(W2.T, dZ2), 1 - np.power(A1, 2))
    dW1 = (1 / m) * np.dot(dZ1, X.T)
    db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)
    grads = {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}
    return grads


def grad_fn(parameters, X, Y):
    A2, cache = forward_propagation(X, parameters)
    return backward_propagation(parameters, cache, X, Y)


CHECK = dict(
    activation="tanh",
    loss="sigmoid_cross_entropy",
    layout="columns",
    params="dict",
    min_depth=2,
    max_depth=2,
    output_width=1,
)
BUGGY_TENSORS = None
DISCOVERY = None
