"""Textbook style, the "fully matrix-based" backprop of Nielsen's chapter 2 exercise: the whole
mini-batch at once as columns of X, weights (out, in), biases (out, 1), sigmoid output, cost
C = 1/(2n) sum_x ||y(x) - a(x)||^2 (1/2 squared error summed over the outputs, averaged over the
examples). Any depth.

Correct.
"""

# ruff: noqa: E741  (the layer index l, as the original writes it)

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    s = sigmoid(z)
    return s * (1 - s)


def grad_fn(params, X, Y):
    weights = [w for w, _ in params]
    biases = [b for _, b in params]
    n = X.shape[1]
    A = X
    activations = [X]
    zs = []
    for w, b in zip(weights, biases):
        Z = w @ A + b  # b (out, 1) broadcasts over the columns
        zs.append(Z)
        A = sigmoid(Z)
        activations.append(A)
    delta = (activations[-1] - Y) * sigmoid_prime(zs[-1])
    nabla_w = [None] * len(weights)
    nabla_b = [None] * len(biases)
    nabla_w[-1] = delta @ activations[-2].T
    nabla_b[-1] = delta.sum(axis=1, keepdims=True)
    for l in range(2, len(weights) + 1):
        delta = (weights[-l + 1].T @ delta) * sigmoid_prime(zs[-l])
        nabla_w[-l] = delta @ activations[-l - 1].T
        nabla_b[-l] = delta.sum(axis=1, keepdims=True)
    return [(nw / n, nb / n) for nw, nb in zip(nabla_w, nabla_b)]


CHECK = dict(
    activation="sigmoid",
    loss="mse",
    output_activation="sigmoid",
    reduction="batch_mean",
    loss_scale=0.5,
    layout="columns",
    params="list",
    output_width=3,
)
BUGGY_TENSORS = None
DISCOVERY = {"output_activation": "sigmoid", "reduction": "batch_mean", "loss_scale": 0.5}
