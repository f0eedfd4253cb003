"""A bias-free ReLU network in the course's column-major dict style: parameters hold only
weights {"W1": (n_1, n_0), "W2": ..., ...}, a linear output, mean squared error
np.mean((AL - Y) ** 2) over outputs and examples, ReLU'(Z) = (Z > 0) (0 at the kink).
Any depth.

Correct, with the default loss conventions.
"""

# ruff: noqa: E741  (the layer index l, as the original writes it)

import numpy as np


def model_forward(X, parameters):
    L = len(parameters)
    A = X
    caches = []
    for l in range(1, L + 1):
        Z = parameters[f"W{l}"] @ A
        caches.append((A, Z))
        A = np.maximum(Z, 0) if l < L else Z
    return A, caches


def model_backward(AL, Y, parameters, caches):
    L = len(caches)
    grads = {}
    dZ = 2 * (AL - Y) / AL.size
    for l in range(L, 0, -1):
        A_prev, _ = caches[l - 1]
        grads[f"dW{l}"] = dZ @ A_prev.T
        if l > 1:
            _, Z_prev = caches[l - 2]
            dZ = (parameters[f"W{l}"].T @ dZ) * (Z_prev > 0)
    return grads


def grad_fn(parameters, X, Y):
    AL, caches = model_forward(X, parameters)
    return model_backward(AL, Y, parameters, caches)


CHECK = dict(
    activation="relu",
    loss="mse",
    use_bias=False,
    layout="columns",
    params="dict",
)
BUGGY_TENSORS = None
DISCOVERY = None
