"""Backprop fused with the SGD update, in the wrong order: each layer's weights are updated in
place (W -= lr * dW) BEFORE the error is passed back through them, so the layer below gets the
gradient through the already-updated weights. Row-major [(W, b), ...], tanh hidden layer, mean
squared error.

Buggy: W0 and b0 (the layer below the first update).
"""

import numpy as np

LEARNING_RATE = 0.1


def train_step(params, x, y, lr=LEARNING_RATE):
    layer_inputs = [x]
    for W, b in params[:-1]:
        layer_inputs.append(np.tanh(layer_inputs[-1] @ W + b))
    W_out, b_out = params[-1]
    out = layer_inputs[-1] @ W_out + b_out
    err = 2 * (out - y) / out.size

    grads = []
    for i in reversed(range(len(params))):
        W, b = params[i]
        dW = layer_inputs[i].T @ err
        db = err.sum(axis=0)
        W -= lr * dW
        b -= lr * db
        grads.insert(0, (dW, db))
        if i > 0:
            err = (err @ W.T) * (1 - layer_inputs[i] ** 2)  # BUG: W is already updated
    return grads


grad_fn = train_step

CHECK = dict(activation="tanh", loss="mse", layout="rows", params="list", min_depth=2, max_depth=2)
BUGGY_TENSORS = frozenset({"W0", "b0"})
DISCOVERY = None
