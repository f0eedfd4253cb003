"""The Portuguese MNIST tutorial this project grew out of, and its two backprop bugs.

The tutorial trains a 784-128-128-10 sigmoid MLP (binary cross-entropy of sigmoid outputs,
averaged over the 10 outputs) in numpy with a per-sample loop, then in Keras. Its backprop:
(1) uses ``sigmoid(z)`` as the hidden-layer derivative instead of ``sigmoid(z) * (1 - sigmoid(z))``;
(2) takes the output delta ``a - y``, the gradient of the SUM over outputs, while the loss is their
MEAN, so every gradient is 10x too big (the output layer's is exactly 10x the truth).
"""

from __future__ import annotations

import numpy as np

Params = list[tuple[np.ndarray, np.ndarray]]

SIZES: tuple[int, ...] = (784, 128, 128, 10)
ACTIVATION = "sigmoid"
LOSS = "sigmoid_cross_entropy"

# Training setup. EPOCHS and TRAIN_FRACTION come from the tutorial; the tutorial's source could not
# be located, so LEARNING_RATE, MOMENTUM and BATCH_SIZE are ASSUMPTIONS (plain SGD with momentum,
# common defaults), not the published values.
LEARNING_RATE = 0.01
MOMENTUM = 0.9
BATCH_SIZE = 128
EPOCHS = 100
TRAIN_FRACTION = 0.25  # a quarter of MNIST's training set

PUBLISHED = {"keras_train_accuracy": 0.9006, "keras_val_accuracy": 0.8648, "epochs": 100}


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function without overflow for large ``|z|``; any shape."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _zeros_like(params: Params) -> list[list[np.ndarray]]:
    return [[np.zeros_like(w), np.zeros_like(b)] for w, b in params]


def _per_sample(params: Params, x: np.ndarray, y: np.ndarray, *, fixed: bool) -> Params:
    """Tutorial-style backprop: loop over samples, forward storing activations, then backward."""
    x = np.asarray(x, params[0][0].dtype)
    y = np.asarray(y, params[0][0].dtype)
    n_samples, n_layers = x.shape[0], len(params)
    grads = _zeros_like(params)
    for i in range(n_samples):
        # forward: keep every pre-activation z and activation a (a[0] is the input)
        activations, zs = [x[i]], []
        for w, b in params:
            z = activations[-1] @ w + b
            zs.append(z)
            activations.append(sigmoid(z))
        # backward, output layer first
        delta = activations[-1] - y[i]  # gradient of the SUM of the per-output losses
        if fixed:
            delta = delta / y.shape[1]  # the loss is their MEAN
        grads[-1][0] += np.outer(activations[-2], delta)
        grads[-1][1] += delta
        for layer in range(n_layers - 2, -1, -1):
            s = sigmoid(zs[layer])
            derivative = s * (1 - s) if fixed else s  # the tutorial wrote sigmoid(z)
            delta = (params[layer + 1][0] @ delta) * derivative
            grads[layer][0] += np.outer(activations[layer], delta)
            grads[layer][1] += delta
    return [(gw / n_samples, gb / n_samples) for gw, gb in grads]


def original_backprop(params: Params, x: np.ndarray, y: np.ndarray) -> Params:
    """The tutorial's gradient, both bugs kept; x (batch, in), y (batch, out), any depth.

    Returns ``[(dW, db), ...]`` shaped like ``params``: the batch mean of per-sample gradients.
    The output layer's is exactly ``out`` times the true one, the hidden layers' are wrong.
    """
    return _per_sample(params, x, y, fixed=False)


def corrected_backprop(params: Params, x: np.ndarray, y: np.ndarray) -> Params:
    """The tutorial's per-sample backprop with both bugs fixed; x (batch, in), y (batch, out).

    Gradient of the batch- and output-mean sigmoid cross-entropy, shaped like ``params``.
    """
    return _per_sample(params, x, y, fixed=True)


def corrected_backprop_vectorized(params: Params, x: np.ndarray, y: np.ndarray) -> Params:
    """Same gradient as :func:`corrected_backprop` without the per-sample loop.

    x (batch, in), y (batch, out); returns ``[(dW (fan_in, fan_out), db (fan_out,)), ...]``.
    """
    dtype = params[0][0].dtype
    x = np.asarray(x, dtype)
    y = np.asarray(y, dtype)
    activations, zs = [x], []
    for w, b in params:
        zs.append(activations[-1] @ w + b)
        activations.append(sigmoid(zs[-1]))
    delta = (activations[-1] - y) / y.size  # mean over batch and outputs
    grads = []
    for layer in range(len(params) - 1, -1, -1):
        grads.append((activations[layer].T @ delta, delta.sum(axis=0)))
        if layer > 0:
            s = sigmoid(zs[layer - 1])
            delta = (delta @ params[layer][0].T) * s * (1 - s)
    return grads[::-1]


def original_backprop_vectorized(params: Params, x: np.ndarray, y: np.ndarray) -> Params:
    """Same gradient as :func:`original_backprop` (both bugs kept) without the per-sample loop.

    x (batch, in), y (batch, out); returns ``[(dW (fan_in, fan_out), db (fan_out,)), ...]``,
    the batch mean of the tutorial's per-sample gradients.
    """
    dtype = params[0][0].dtype
    x = np.asarray(x, dtype)
    y = np.asarray(y, dtype)
    activations, zs = [x], []
    for w, b in params:
        zs.append(activations[-1] @ w + b)
        activations.append(sigmoid(zs[-1]))
    delta = (activations[-1] - y) / x.shape[0]  # bug 2: the gradient of the SUM over outputs
    grads = []
    for layer in range(len(params) - 1, -1, -1):
        grads.append((activations[layer].T @ delta, delta.sum(axis=0)))
        if layer > 0:
            delta = (delta @ params[layer][0].T) * sigmoid(zs[layer - 1])  # bug 1: s, not s(1-s)
    return grads[::-1]
