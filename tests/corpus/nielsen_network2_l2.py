"""Textbook style (Nielsen's network2.py): sigmoid layers, weights (out, in), biases (out, 1),
cross-entropy cost summed over the outputs and averaged over the mini-batch, plus L2
regularisation lmbda / (2 n) * sum w^2 where n is the size of the TRAINING SET (a constant,
not the mini-batch). Per-example backprop; the gradient is what update_mini_batch applies:
nabla_w / len(mini_batch) + (lmbda / n) * w.

Correct: l2 = lmbda / (2 n) = 0.0025.
"""

# ruff: noqa: E741  (the layer index l, as the original writes it)

import numpy as np

LMBDA = 5.0
N_TRAIN = 1000  # len(training_data)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


class CrossEntropyCost:
    @staticmethod
    def fn(a, y):
        return np.sum(np.nan_to_num(-y * np.log(a) - (1 - y) * np.log(1 - a)))

    @staticmethod
    def delta(z, a, y):
        return a - y


def backprop(biases, weights, x, y, cost=CrossEntropyCost):
    nabla_b = [np.zeros(b.shape) for b in biases]
    nabla_w = [np.zeros(w.shape) for w in weights]
    activation = x
    activations = [x]
    zs = []
    for b, w in zip(biases, weights):
        z = np.dot(w, activation) + b
        zs.append(z)
        activation = sigmoid(z)
        activations.append(activation)
    delta = cost.delta(zs[-1], activations[-1], y)
    nabla_b[-1] = delta
    nabla_w[-1] = np.dot(delta, activations[-2].transpose())
    for l in range(2, len(weights) + 1):
        z = zs[-l]
        sp = sigmoid_prime(z)
        delta = np.dot(weights[-l + 1].transpose(), delta) * sp
        nabla_b[-l] = delta
        nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
    return (nabla_b, nabla_w)


def grad_fn(params, X, Y, lmbda=LMBDA, n=N_TRAIN):
    biases = [b for w, b in params]
    weights = [w for w, b in params]
    mini_batch = [(X[:, [i]], Y[:, [i]]) for i in range(X.shape[1])]
    nabla_b = [np.zeros(b.shape) for b in biases]
    nabla_w = [np.zeros(w.shape) for w in weights]
    for x, y in mini_batch:
        delta_nabla_b, delta_nabla_w = backprop(biases, weights, x, y)
        nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
        nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
    grad_w = [nw / len(mini_batch) + (lmbda / n) * w for w, nw in zip(weights, nabla_w)]
    grad_b = [nb / len(mini_batch) for nb in nabla_b]
    return list(zip(grad_w, grad_b))


CHECK = dict(
    activation="sigmoid",
    loss="sigmoid_cross_entropy",
    reduction="batch_mean",
    l2=LMBDA / (2 * N_TRAIN),
    layout="columns",
    params="list",
    output_width=3,
)
BUGGY_TENSORS = None
DISCOVERY = {"reduction": "batch_mean", "l2": LMBDA / (2 * N_TRAIN)}
