"""Assignment style (cs231n's TwoLayerNet.loss), row-major dict params, ReLU hidden layer,
softmax cross-entropy + reg * sum(W**2), where the gradient adds reg * W: the 1/2 of the other
convention, 0.5 * reg * sum(W**2), kept in the gradient but not in the loss.

Buggy: W1 and W2 (each off by reg * W); the biases are right.
"""

import numpy as np

REG = 0.05


def grad_fn(params, X, Y, reg=REG):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    y = np.argmax(Y, axis=1)
    N = X.shape[0]

    h = np.maximum(0, X @ W1 + b1)
    scores = h @ W2 + b2
    scores = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(axis=1, keepdims=True)
    # loss = -np.log(p[range(N), y]).mean() + reg * (np.sum(W1 * W1) + np.sum(W2 * W2))

    dscores = p.copy()
    dscores[range(N), y] -= 1
    dscores /= N
    dW2 = h.T @ dscores + reg * W2  # BUG: 2 * reg * W2
    db2 = dscores.sum(axis=0)
    dh = dscores @ W2.T
    dh[h <= 0] = 0
    dW1 = X.T @ dh + reg * W1  # BUG: 2 * reg * W1
    db1 = dh.sum(axis=0)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


CHECK = dict(
    activation="relu",
    loss="softmax_cross_entropy",
    l2=REG,
    layout="rows",
    params="dict",
    min_depth=2,
    max_depth=2,
)
BUGGY_TENSORS = frozenset({"W1", "W2"})
DISCOVERY = None
