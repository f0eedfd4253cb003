"""Course assignment style, L-layer, column-major, dict parameters: the bias gradient forgets
the 1/m that the weight gradient has (every b is m times too large; invisible at m = 1).

Buggy: every db. The layers are fixed and wide so that no ReLU layer is dead for a whole batch.
"""

# ruff: noqa: E741  (the layer index l, as the original writes it)

import numpy as np


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def relu(Z):
    return np.maximum(0, Z)


def forward(X, parameters):
    L = len(parameters) // 2
    caches = []
    A = X
    for l in range(1, L + 1):
        W, b = parameters[f"W{l}"], parameters[f"b{l}"]
        Z = np.dot(W, A) + b
        caches.append((A, W, Z))
        A = sigmoid(Z) if l == L else relu(Z)
    return A, caches


def backward(AL, Y, caches):
    grads = {}
    L = len(caches)
    m = AL.shape[1]
    dZ = AL - Y
    for l in reversed(range(1, L + 1)):
        A_prev, W, Z = caches[l - 1]
        grads[f"dW{l}"] = np.dot(dZ, A_prev.T) / m
        grads[f"db{l}"] = np.sum(dZ, axis=1, keepdims=True)  # BUG: no / m
        if l > 1:
            _, _, Z_prev = caches[l - 2]
            dZ = np.dot(W.T, dZ) * (Z_prev > 0)
    return grads


def grad_fn(parameters, X, Y):
    AL, caches = forward(X, parameters)
    return backward(AL, Y, caches)


CHECK = dict(
    activation="relu",
    loss="sigmoid_cross_entropy",
    reduction="batch_mean",
    layout="columns",
    params="dict",
    sizes=(5, 8, 8, 3),
)
BUGGY_TENSORS = frozenset({"b1", "b2", "b3"})
DISCOVERY = None
