"""Backprop fused with the SGD update: a training step that walks the layers backwards,
computes each layer's gradient, passes the error on through the layer's weights and only then
updates them in place (W -= lr * dW), returning the gradients for logging. Row-major
[(W, b), ...], tanh hidden layers, mean squared error. Any depth.

Correct (the default conventions), and usable as grad_fn: the update lands in the caller's
arrays, the returned gradients are those of the parameters it was given.
"""

import numpy as np

LEARNING_RATE = 0.1


def train_step(params, x, y, lr=LEARNING_RATE):
    layer_inputs = [x]
    for W, b in params[:-1]:
        layer_inputs.append(np.tanh(layer_inputs[-1] @ W + b))
    W_out, b_out = params[-1]
    out = layer_inputs[-1] @ W_out + b_out
    err = 2 * (out - y) / out.size  # d mean((out - y)^2) / d out

    grads = [None] * len(params)
    for i in range(len(params) - 1, -1, -1):
        W, b = params[i]
        dW = layer_inputs[i].T @ err
        db = err.sum(axis=0)
        if i > 0:
            err = (err @ W.T) * (1 - layer_inputs[i] ** 2)  # through W before W moves
        W -= lr * dW
        b -= lr * db
        grads[i] = (dW, db)
    return grads


grad_fn = train_step

CHECK = dict(activation="tanh", loss="mse", layout="rows", params="list")
BUGGY_TENSORS = None
DISCOVERY = None
