"""The Portuguese MNIST tutorial this project grew out of: its facts, and its two backprop bugs.

The tutorial (``shared/reference/`` beside this repository, "Redes Neurais Artificiais,
Tensorflow e Keras") has two halves; every constant below is cited to it.

* **numpy half** — a 784-128-128-10 network, sigmoid on every layer including the output; the
  per-example loss is the binary cross-entropy of the 10 outputs *averaged* over them; weights
  drawn with ``np.random.normal`` (standard deviation 1, although its comment says 0.1) after
  ``np.random.seed(42)`` (which draws these were depends on TensorFlow's reader: :data:`INITS`),
  biases zero. It trains per example: 100 "epochs" (we say *rounds*),
  each one ``next_batch(128)`` of training digits and one of validation digits; for each
  example the *previous* update is applied first, then ``upd = 0.0005 * grad + 0.9 * upd``
  is computed, and ``upd`` restarts at zero every round (:mod:`.tutorial_loop`).
* **Keras half** — a different network: 784-128-10, sigmoid hidden *and* output layers,
  ``categorical_crossentropy``, optimizer ``'sgd'`` (Keras 2's defaults: learning rate 0.01,
  no momentum), batch 128, 100 epochs on ``mnist.train.images[::4]``, validated on
  ``mnist.validation.images[::4]`` (:mod:`.tutorial_keras`).

Its backprop: (1) uses ``sigmoid(z)`` as the hidden-layer derivative instead of
``sigmoid(z) * (1 - sigmoid(z))``; (2) takes the output delta ``a - y``, the gradient of the SUM
over outputs, while the loss is their MEAN, so every gradient is 10x too big (the output
layer's is exactly 10x the truth). The published figures are in :mod:`.tutorial_published`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .tutorial_published import KERAS as _PUBLISHED_KERAS
from .tutorial_published import N_TRAIN as N_READER_TRAIN

Params = list[tuple[np.ndarray, np.ndarray]]

# numpy half
SIZES: tuple[int, ...] = (784, 128, 128, 10)
ACTIVATION = "sigmoid"
LOSS = "sigmoid_cross_entropy"  # sigmoid outputs, cross-entropy averaged over the outputs
SEED = 42  # np.random.seed(42) before the weights are drawn
LEARNING_RATE = 0.0005
MOMENTUM = 0.9
BATCH_SIZE = 128  # examples per round, one update each
EPOCHS = 100  # rounds of BATCH_SIZE examples (the tutorial calls them epochs)
LOGGED_ROUNDS: tuple[int, ...] = (1, 21, 41, 61, 81)  # printed when (round - 1) % 20 == 0

# Keras half
KERAS_SIZES: tuple[int, ...] = (784, 128, 10)
KERAS_LOSS = "categorical_cross_entropy"
KERAS_OUTPUT_ACTIVATION = "sigmoid"
KERAS_LEARNING_RATE = 0.01  # Keras 2's SGD() defaults: lr 0.01, momentum 0
KERAS_MOMENTUM = 0.0
KERAS_BATCH_SIZE = 128
KERAS_EPOCHS = 100
TRAIN_FRACTION = 0.25  # the [::4] subsets
SUBSET_STEP = 4
VALIDATION_SIZE = 5000  # TensorFlow's reader: the first 5,000 training digits validate

PUBLISHED = {
    "keras_train_accuracy": _PUBLISHED_KERAS["train_accuracy"],
    "keras_val_accuracy": _PUBLISHED_KERAS["val_accuracy"],
    "epochs": KERAS_EPOCHS,
}


def numpy_spec() -> Any:
    """The numpy half's network as an :class:`~mlp_parity.MLPSpec` (loss: mean over outputs)."""
    from ..spec import MLPSpec

    return MLPSpec(SIZES, ACTIVATION, LOSS)


def keras_spec() -> Any:
    """The Keras half's network: 784-128-10, sigmoid output, Keras' categorical cross-entropy."""
    from ..spec import MLPSpec

    return MLPSpec(
        KERAS_SIZES,
        ACTIVATION,
        KERAS_LOSS,
        output_activation=KERAS_OUTPUT_ACTIVATION,
    )


def tutorial_init(
    seed: int = SEED, sizes: tuple[int, ...] = SIZES, *, shuffled_rows: int | None = None
) -> Params:
    """Standard normal weights ``[(U, bu), (V, bv), (W, bw)]``, float64, zero biases.

    Drawn in the order U, V, W from numpy's legacy generator seeded with ``seed`` (what
    ``np.random.seed(seed)`` then ``np.random.normal(size=...)`` gives), without touching
    numpy's global state. ``shuffled_rows=N`` first replays a shuffle of ``N`` rows with that
    generator (TensorFlow 1.1's reader on the first ``next_batch``). Which of these the
    tutorial's run drew is :data:`INITS`' question.
    """
    rng = np.random.RandomState(seed)
    if shuffled_rows:
        rng.shuffle(np.arange(shuffled_rows))
    weights = [rng.normal(size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    return [(w, np.zeros(w.shape[1])) for w in weights]


#: Run ``s`` of the ``per-run`` initialisation draws from ``RandomState(INIT_SEED_OFFSET + s)``.
INIT_SEED_OFFSET = 2000

#: The tutorial's weights, by the TensorFlow version its reader came from. Between
#: ``np.random.seed(42)`` and the weight draws the tutorial calls ``read_data_sets`` and
#: ``mnist.train.next_batch(1)``; what they do to numpy's global generator changed:
#:
#: * ``seed42`` (TensorFlow 1.0): nothing; the weights are seed 42's first draws.
#: * ``seed42-shuffled`` (1.1, tensorflow/tensorflow#7071): the first ``next_batch`` shuffles
#:   the 55,000 training rows with the global generator, then the weights are drawn.
#: * ``per-run`` (1.2 on, tensorflow/tensorflow#8548): every reader ``DataSet`` calls
#:   ``numpy.random.seed(None)`` (no graph seed set), reseeding from the OS, so each run of the
#:   notebook drew other weights (and another data order), not reproducible from 42. Here run
#:   ``s`` draws from ``RandomState(INIT_SEED_OFFSET + s)``.
#:
#: The tutorial names no version. Its published round-1 train loss (0.665; it is set mostly by
#: the weights) points to ``per-run``: over 20 runs on mnist-sample, ``seed42`` gives
#: 0.766 +- 0.029, ``seed42-shuffled`` 0.773 +- 0.022, ``per-run`` 0.695 +- 0.088
#: (``benchmarks/tutorial_inits.py``, BENCHMARKS.md).
INITS: dict[str, str] = {  # each choice and what it draws (``tutorial.json``'s ``init_note``)
    "per-run": f"standard normal weights, run s from numpy RandomState({INIT_SEED_OFFSET} + s) "
    "(TensorFlow >= 1.2's reader reseeded numpy from the OS, so every run of the tutorial drew "
    "its own), zero biases",
    "seed42": f"standard normal weights, numpy RandomState({SEED})'s first draws in every run "
    "(TensorFlow 1.0's reader), zero biases",
    "seed42-shuffled": f"standard normal weights from numpy RandomState({SEED}) after a shuffle "
    "of 55,000 rows (TensorFlow 1.1's reader), zero biases",
}
DEFAULT_INIT = "per-run"


def check_init(init: str) -> str:
    """``init`` if it is one of :data:`INITS`, else a ``ValueError`` naming the choices."""
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}; got {init!r}")
    return init


def initial_params(
    init: str = DEFAULT_INIT, run: int = 0, sizes: tuple[int, ...] = SIZES
) -> Params:
    """The numpy half's initial parameters for run ``run`` under ``init`` (one of :data:`INITS`).

    ``ValueError`` names the choices for an unknown ``init``.
    """
    if check_init(init) == "per-run":
        return tutorial_init(INIT_SEED_OFFSET + run, sizes)
    shuffled = N_READER_TRAIN if init == "seed42-shuffled" else None
    return tutorial_init(SEED, sizes, shuffled_rows=shuffled)


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
