"""Textbook style (Nielsen's network.py): weights (out, in), biases (out, 1), sigmoid on every
layer including the output, quadratic cost C = 1/2 ||a - y||^2, backprop one example at a time.
grad_fn is the sum update_mini_batch accumulates, before its eta / len(mini_batch).

Correct: sigmoid output, 1/2 squared error summed over the batch.
"""

# ruff: noqa: E741  (the layer index l, as the original writes it)

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def cost_derivative(output_activations, y):
    return output_activations - y


def backprop(biases, weights, x, y):
    nabla_b = [np.zeros(b.shape) for b in biases]
    nabla_w = [np.zeros(w.shape) for w in weights]
    # feedforward
    activation = x
    activations = [x]
    zs = []
    for b, w in zip(biases, weights):
        z = np.dot(w, activation) + b
        zs.append(z)
        activation = sigmoid(z)
        activations.append(activation)
    # backward pass
    delta = cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])
    nabla_b[-1] = delta
    nabla_w[-1] = np.dot(delta, activations[-2].transpose())
    num_layers = len(weights) + 1
    for l in range(2, num_layers):
        z = zs[-l]
        sp = sigmoid_prime(z)
        delta = np.dot(weights[-l + 1].transpose(), delta) * sp
        nabla_b[-l] = delta
        nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
    return (nabla_b, nabla_w)


def grad_fn(params, X, Y):
    biases = [b for w, b in params]
    weights = [w for w, b in params]
    nabla_b = [np.zeros(b.shape) for b in biases]
    nabla_w = [np.zeros(w.shape) for w in weights]
    for x, y in zip(X.T, Y.T):
        delta_nabla_b, delta_nabla_w = backprop(biases, weights, x.reshape(-1, 1), y.reshape(-1, 1))
        nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
        nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
    return list(zip(nabla_w, nabla_b))


CHECK = dict(
    activation="sigmoid",
    loss="mse",
    output_activation="sigmoid",
    reduction="sum",
    loss_scale=0.5,
    layout="columns",
    params="list",
)
BUGGY_TENSORS = None
DISCOVERY = {"output_activation": "sigmoid", "reduction": "sum", "loss_scale": 0.5}
