"""A multi-label tagger written from scratch: row-major layers [(W, b), ...], tanh hidden
layers, one sigmoid per tag, and the binary cross-entropy SUMMED over tags and examples
(loss = -np.sum(Y * np.log(P) + (1 - Y) * np.log(1 - P))). Any depth.

Correct: reduction "sum".
"""

import numpy as np


class MultiLabelNet:
    def __init__(self, layers):
        self.layers = layers  # [(W, b), ...], W (fan_in, fan_out)

    def forward(self, X):
        self.inputs = []
        out = X
        for k, (W, b) in enumerate(self.layers):
            self.inputs.append(out)
            out = out @ W + b
            if k < len(self.layers) - 1:
                out = np.tanh(out)
        self.probs = 0.5 * (1.0 + np.tanh(0.5 * out))  # sigmoid, without overflow
        return self.probs

    def backward(self, Y):
        grad_out = self.probs - Y  # d loss / d logits for sigmoid + summed BCE
        grads = []
        for k in range(len(self.layers) - 1, -1, -1):
            W, _ = self.layers[k]
            a = self.inputs[k]
            grads.append((a.T @ grad_out, grad_out.sum(axis=0)))
            if k > 0:
                grad_out = (grad_out @ W.T) * (1.0 - a**2)  # a = tanh(z) of layer k - 1
        return grads[::-1]


def grad_fn(params, X, Y):
    net = MultiLabelNet(params)
    net.forward(X)
    return net.backward(Y)


CHECK = dict(
    activation="tanh",
    loss="sigmoid_cross_entropy",
    reduction="sum",
    layout="rows",
    params="list",
)
BUGGY_TENSORS = None
DISCOVERY = {"reduction": "sum"}
