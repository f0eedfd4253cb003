"""Course assignment style: an L-layer network, column-major, dict parameters, caches.

X is (n_x, m), one example per column; parameters = {"W1": (n_1, n_0), "b1": (n_1, 1), ...};
[LINEAR -> RELU] * (L - 1) -> LINEAR -> SIGMOID; the cost is
-1/m * np.sum(Y * log(AL) + (1 - Y) * log(1 - AL)): summed over the n_y outputs (multi-label
tags here) and averaged over the m examples. Correct.
"""

# ruff: noqa: E741  (the layer index l, as the original writes it)

import numpy as np


def sigmoid(Z):
    A = 1 / (1 + np.exp(-Z))
    return A, Z


def relu(Z):
    A = np.maximum(0, Z)
    return A, Z


def relu_backward(dA, cache):
    Z = cache
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ


def linear_activation_forward(A_prev, W, b, activation):
    Z = np.dot(W, A_prev) + b
    linear_cache = (A_prev, W, b)
    if activation == "sigmoid":
        A, activation_cache = sigmoid(Z)
    elif activation == "relu":
        A, activation_cache = relu(Z)
    return A, (linear_cache, activation_cache)


def L_model_forward(X, parameters):
    caches = []
    A = X
    L = len(parameters) // 2
    for l in range(1, L):
        A_prev = A
        A, cache = linear_activation_forward(
            A_prev, parameters["W" + str(l)], parameters["b" + str(l)], "relu"
        )
        caches.append(cache)
    AL, cache = linear_activation_forward(
        A, parameters["W" + str(L)], parameters["b" + str(L)], "sigmoid"
    )
    caches.append(cache)
    return AL, caches


def linear_backward(dZ, cache):
    A_prev, W, b = cache
    m = A_prev.shape[1]
    dW = 1 / m * np.dot(dZ, A_prev.T)
    db = 1 / m * np.sum(dZ, axis=1, keepdims=True)
    dA_prev = np.dot(W.T, dZ)
    return dA_prev, dW, db


def L_model_backward(AL, Y, caches):
    grads = {}
    L = len(caches)
    Y = Y.reshape(AL.shape)
    # sigmoid + cross-entropy: dL/dZ is simply AL - Y (no division by AL)
    dZL = AL - Y
    linear_cache, _ = caches[L - 1]
    dA_prev, grads["dW" + str(L)], grads["db" + str(L)] = linear_backward(dZL, linear_cache)
    for l in reversed(range(L - 1)):
        linear_cache, activation_cache = caches[l]
        dZ = relu_backward(dA_prev, activation_cache)
        dA_prev, dW_temp, db_temp = linear_backward(dZ, linear_cache)
        grads["dW" + str(l + 1)] = dW_temp
        grads["db" + str(l + 1)] = db_temp
    return grads


def grad_fn(parameters, X, Y):
    AL, caches = L_model_forward(X, parameters)
    return L_model_backward(AL, Y, caches)


CHECK = dict(
    activation="relu",
    loss="sigmoid_cross_entropy",
    reduction="batch_mean",
    layout="columns",
    params="dict",
    output_width=3,
)
BUGGY_TENSORS = None
DISCOVERY = {"reduction": "batch_mean"}
