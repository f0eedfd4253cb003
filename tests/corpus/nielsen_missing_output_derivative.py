"""Textbook style (Nielsen's network.py), per-example loop, weights (out, in), biases (out, 1),
sigmoid output and 1/2 squared error summed over the batch, where the output delta forgets its
sigmoid'(z): delta = a - y (the cross-entropy delta, kept after switching the cost back).

Buggy: every tensor.
"""

# ruff: noqa: E741  (the layer index l, as the original writes it)

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def backprop(biases, weights, x, y):
    activation = x
    activations = [x]
    zs = []
    for b, w in zip(biases, weights):
        z = np.dot(w, activation) + b
        zs.append(z)
        activation = sigmoid(z)
        activations.append(activation)
    nabla_b = [None] * len(biases)
    nabla_w = [None] * len(weights)
    delta = activations[-1] - y  # BUG: * sigmoid_prime(zs[-1])
    nabla_b[-1] = delta
    nabla_w[-1] = np.dot(delta, activations[-2].T)
    for l in range(2, len(weights) + 1):
        delta = np.dot(weights[-l + 1].T, delta) * sigmoid_prime(zs[-l])
        nabla_b[-l] = delta
        nabla_w[-l] = np.dot(delta, activations[-l - 1].T)
    return nabla_b, nabla_w


def grad_fn(params, X, Y):
    biases = [b for _, b in params]
    weights = [w for w, _ in params]
    nabla_b = [np.zeros(b.shape) for b in biases]
    nabla_w = [np.zeros(w.shape) for w in weights]
    for i in range(X.shape[1]):
        dnb, dnw = backprop(biases, weights, X[:, [i]], Y[:, [i]])
        nabla_b = [nb + d for nb, d in zip(nabla_b, dnb)]
        nabla_w = [nw + d for nw, d in zip(nabla_w, dnw)]
    return [(nw, nb) for nw, nb in zip(nabla_w, nabla_b)]


CHECK = dict(
    activation="sigmoid",
    loss="mse",
    output_activation="sigmoid",
    reduction="sum",
    loss_scale=0.5,
    layout="columns",
    params="list",
    min_depth=2,
    max_depth=2,
)
BUGGY_TENSORS = frozenset({"W0", "b0", "W1", "b1"})
DISCOVERY = None
