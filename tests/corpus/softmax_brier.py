"""Softmax outputs trained on the squared error (the Brier score): row-major [(W, b), ...],
sigmoid hidden layers, loss = mean over the batch of sum_k (p_k - y_k)^2 with p = softmax(z).
The backward pass goes through the full softmax Jacobian: dz = p * (dp - sum(dp * p)). Any depth.

Correct: output activation softmax, squared error summed over outputs and averaged over the
batch.
"""

import numpy as np


def sigmoid(z):
    return 0.5 * (1 + np.tanh(z / 2))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def grad_fn(params, x, y):
    acts = [x]
    for W, b in params[:-1]:
        acts.append(sigmoid(acts[-1] @ W + b))
    W, b = params[-1]
    p = softmax(acts[-1] @ W + b)
    n = x.shape[0]

    dp = 2 * (p - y) / n
    dz = p * (dp - np.sum(dp * p, axis=1, keepdims=True))  # softmax Jacobian-vector product

    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        grads[i] = (acts[i].T @ dz, dz.sum(axis=0))
        if i > 0:
            dz = (dz @ params[i][0].T) * acts[i] * (1 - acts[i])
    return grads


CHECK = dict(
    activation="sigmoid",
    loss="mse",
    output_activation="softmax",
    reduction="batch_mean",
    layout="rows",
    params="list",
    output_width=3,
)
BUGGY_TENSORS = None
DISCOVERY = {"output_activation": "softmax", "reduction": "batch_mean"}
