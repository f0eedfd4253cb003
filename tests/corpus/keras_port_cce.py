"""A hand port of a Keras model (Dense sigmoid layers, a sigmoid output layer, loss
"categorical_crossentropy", as in the tutorial's Keras network): row-major [(W, b), ...], and
the loss done as Keras does it on probabilities: renormalise each row to sum 1, clip to
[1e-7, 1 - 1e-7], mean over the batch of -sum(y * log(p)). The clip passes no gradient
where it clips. Any depth.

Correct: output activation sigmoid, categorical cross-entropy.
"""

import numpy as np

EPSILON = 1e-7


def sigmoid(z):
    # 1 / (1 + exp(-z)) without the overflow: keeps exp(z) where it underflows (z < -709)
    return np.exp(-np.logaddexp(0.0, -z))


def grad_fn(params, x, y):
    outs = [x]
    for W, b in params:
        outs.append(sigmoid(outs[-1] @ W + b))
    p = outs[-1]
    total = p.sum(axis=1, keepdims=True)
    q = p / total
    q_clipped = np.clip(q, EPSILON, 1 - EPSILON)
    batch = x.shape[0]

    dq = -y / q_clipped / batch
    dq[(q < EPSILON) | (q > 1 - EPSILON)] = 0.0
    dp = (dq - np.sum(dq * q, axis=1, keepdims=True)) / total  # through p / sum(p)

    grads = []
    delta = dp * p * (1 - p)
    for i in reversed(range(len(params))):
        grads.append((outs[i].T @ delta, delta.sum(axis=0)))
        if i > 0:
            delta = (delta @ params[i][0].T) * outs[i] * (1 - outs[i])
    grads.reverse()
    return grads


CHECK = dict(
    activation="sigmoid",
    loss="categorical_cross_entropy",
    output_activation="sigmoid",
    layout="rows",
    params="list",
)
BUGGY_TENSORS = None
DISCOVERY = {"output_activation": "sigmoid"}
#: categorical_cross_entropy takes no identity output (the contract): "the defaults" here
#: declare the other valid output activation.
DISCOVERY_CHECK = {"output_activation": "softmax"}
