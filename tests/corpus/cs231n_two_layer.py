"""Assignment style (cs231n's TwoLayerNet.loss): row-major, params = {"W1": (D, H), "b1": (H,),
"W2": (H, C), "b2": (C,)}, ReLU hidden layer, softmax classifier with the mean cross-entropy
over the batch plus reg * (sum(W1**2) + sum(W2**2)). Labels come one-hot and are turned back
into class indices. grads are keyed like params. Only works for exactly one hidden layer.

Correct: l2 = reg = 0.05 (the gradient gets 2 * reg * W).
"""

import numpy as np

REG = 0.05


def loss(params, X, y, reg=REG):
    W1, b1 = params["W1"], params["b1"]
    W2, b2 = params["W2"], params["b2"]
    N, D = X.shape

    hidden_layer = np.maximum(0, X.dot(W1) + b1)
    scores = hidden_layer.dot(W2) + b2

    scores -= np.max(scores, axis=1, keepdims=True)
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        data_loss = -np.sum(np.log(probs[np.arange(N), y])) / N
    reg_loss = reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    loss = data_loss + reg_loss

    grads = {}
    dscores = probs
    dscores[np.arange(N), y] -= 1
    dscores /= N
    grads["W2"] = np.dot(hidden_layer.T, dscores)
    grads["b2"] = np.sum(dscores, axis=0)
    dhidden = np.dot(dscores, W2.T)
    dhidden[hidden_layer <= 0] = 0
    grads["W1"] = np.dot(X.T, dhidden)
    grads["b1"] = np.sum(dhidden, axis=0)

    grads["W2"] += 2 * reg * W2
    grads["W1"] += 2 * reg * W1
    return loss, grads


def grad_fn(params, X, Y):
    _, grads = loss(params, X, np.argmax(Y, axis=1))
    return grads


CHECK = dict(
    activation="relu",
    loss="softmax_cross_entropy",
    l2=REG,
    layout="rows",
    params="dict",
    min_depth=2,
    max_depth=2,
)
BUGGY_TENSORS = None
DISCOVERY = {"l2": REG}
