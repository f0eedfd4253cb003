"""The numpy half's training loop, one example at a time, as the tutorial wrote it.

Per round (the tutorial's "epoch"): take ``batch_size`` training examples and as many
validation examples from two :class:`~.tutorial_data.BatchStream`; set every update ``u`` to
zero; then for each training example, in order:

1. forward and backward on the current parameters: output ``y_hat``, loss, gradient ``g``;
2. apply the *previous* example's update: ``p <- p - u``;
3. ``u <- learning_rate * g + momentum * u``.

So example ``i``'s gradient is taken before example ``i - 1``'s update lands, and the round's
last update is dropped by the reset: ``batch_size - 1`` updates per round. The round's train
loss and accuracy are the means over its examples, as measured in step 1; then the
validation examples are predicted with the round's final parameters (loss and accuracy: means
over them). The loss is the binary cross-entropy averaged over the outputs.

The gradient is the tutorial's with each bug switchable (:class:`Gradient`): its output delta
``y_hat - t`` is the gradient of the *sum* over outputs (``mean_over_outputs`` divides it by
their number), and its hidden derivative is ``sigmoid(z)`` (``true_derivative`` uses
``sigmoid(z) (1 - sigmoid(z))``). Works for any depth of sigmoid layers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .tutorial import BATCH_SIZE, EPOCHS, LEARNING_RATE, MOMENTUM, Params
from .tutorial_data import BatchStream

LOG_KEYS = ("train_loss", "train_accuracy", "eval_loss", "eval_accuracy")


@dataclass(frozen=True)
class Gradient:
    """Which of the tutorial's two bugs the per-example gradient keeps."""

    mean_over_outputs: bool = False  # False: the tutorial's 10x (gradient of the sum)
    true_derivative: bool = False  # False: the tutorial's sigmoid(z) for sigmoid'(z)


ORIGINAL = Gradient(False, False)
CORRECTED = Gradient(True, True)
SCALE_BUG_ONLY = Gradient(False, True)
DERIVATIVE_BUG_ONLY = Gradient(True, False)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp overflow gives 1 / inf = 0, the right limit
        return 1.0 / (1.0 + np.exp(-z))


def _bce_mean(z: np.ndarray, t: np.ndarray) -> float:
    """Binary cross-entropy of ``sigmoid(z)`` against ``t``, mean over the last axis's entries
    (and rows): the tutorial's ``-mean(t log y + (1 - t) log(1 - y))`` without its overflow."""
    return float(np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))))


def _forward_backward(
    params: Params, x: np.ndarray, t: np.ndarray, gradient: Gradient
) -> tuple[np.ndarray, float, list[np.ndarray], list[np.ndarray]]:
    """``(y_hat, loss, activations, deltas)``: layer ``l``'s gradient is
    ``outer(activations[l], deltas[l])`` for its weights and ``deltas[l]`` for its bias."""
    acts, zs = [x], []
    for w, b in params:
        zs.append(acts[-1] @ w + b)
        acts.append(_sigmoid(zs[-1]))
    delta = acts[-1] - t
    if gradient.mean_over_outputs:
        delta = delta / t.size
    deltas = [delta]
    for layer in range(len(params) - 1, 0, -1):
        s = acts[layer]
        slope = s * (1.0 - s) if gradient.true_derivative else s
        deltas.insert(0, slope * (params[layer][0] @ deltas[0]))
    return acts[-1], _bce_mean(zs[-1], t), acts, deltas


def example_gradient(
    params: Params, x: np.ndarray, t: np.ndarray, gradient: Gradient = ORIGINAL
) -> tuple[np.ndarray, float, list[np.ndarray]]:
    """One example ``x (in,)``, one-hot ``t (out,)``: ``(y_hat, loss, grads)``, where ``grads``
    is ``[dW0, db0, dW1, db1, ...]`` (the tutorial's outer products and deltas)."""
    y_hat, loss, acts, deltas = _forward_backward(params, x, t, gradient)
    grads: list[np.ndarray] = []
    for a, d in zip(acts, deltas):
        grads += [np.outer(a, d), d]
    return y_hat, loss, grads


def evaluate_examples(params: Params, x: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """``(mean loss, accuracy)`` of the network on rows ``x`` with one-hot ``t``."""
    a = x
    for w, b in params[:-1]:
        a = _sigmoid(a @ w + b)
    z = a @ params[-1][0] + params[-1][1]
    return _bce_mean(z, t), float(np.mean(z.argmax(axis=1) == t.argmax(axis=1)))


def run_round(
    params: list[np.ndarray],
    x: np.ndarray,
    t: np.ndarray,
    *,
    learning_rate: float,
    momentum: float,
    gradient: Gradient,
) -> tuple[float, float]:
    """One round on examples ``x``, ``t``; ``params`` is the flat list ``[W0, b0, ...]``, updated
    in place. Returns the round's ``(mean train loss, train accuracy)``."""
    pairs = list(zip(params[0::2], params[1::2]))
    upd = [np.zeros_like(p) for p in params]
    losses, correct = [], 0
    for i in range(len(x)):
        y_hat, loss, acts, deltas = _forward_backward(pairs, x[i], t[i], gradient)
        for layer, (a, d) in enumerate(zip(acts, deltas)):
            w, b, uw, ub = (
                params[2 * layer],
                params[2 * layer + 1],
                upd[2 * layer],
                upd[2 * layer + 1],
            )
            w -= uw  # the previous example's update
            b -= ub
            uw *= momentum
            ub *= momentum
            # rows of a zero input (most pixels) have a zero gradient: skip them
            rows = np.flatnonzero(a) if layer == 0 else slice(None)
            uw[rows] += learning_rate * np.outer(a[rows], d)
            ub += learning_rate * d
        losses.append(loss)
        correct += int(np.argmax(t[i]) == np.argmax(y_hat))
    return float(np.mean(losses)), correct / len(x)


def train_per_example(
    params: Params,
    train_stream: BatchStream,
    eval_stream: BatchStream,
    *,
    rounds: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    learning_rate: float = LEARNING_RATE,
    momentum: float = MOMENTUM,
    gradient: Gradient = ORIGINAL,
    progress: Callable[[int, dict[str, float]], None] | None = None,
) -> tuple[Params, dict[str, list[float]]]:
    """The tutorial's loop (see the module docstring) from a copy of ``params`` (float64).

    Returns ``(final params, log)``; ``log`` holds one value per round under ``train_loss``,
    ``train_accuracy``, ``eval_loss``, ``eval_accuracy``. ``progress(round, record)`` is called
    after each round (rounds count from 1). A loss that turns NaN raises ``ValueError``.
    """
    flat = [np.array(a, dtype=np.float64) for pair in params for a in pair]
    log: dict[str, list[float]] = {k: [] for k in LOG_KEYS}
    for r in range(1, rounds + 1):
        x, t = train_stream.next_batch(batch_size)
        xe, te = eval_stream.next_batch(batch_size)
        loss, acc = run_round(
            flat,
            np.asarray(x, np.float64),
            t,
            learning_rate=learning_rate,
            momentum=momentum,
            gradient=gradient,
        )
        pairs = list(zip(flat[0::2], flat[1::2]))
        eval_loss, eval_acc = evaluate_examples(pairs, np.asarray(xe, np.float64), te)
        record = dict(zip(LOG_KEYS, (loss, acc, eval_loss, eval_acc)))
        if not np.isfinite(loss):
            raise ValueError(f"training diverged at round {r}: lower learning_rate")
        for k, v in record.items():
            log[k].append(v)
        if progress is not None:
            progress(r, record)
    return [(w.copy(), b.copy()) for w, b in zip(flat[0::2], flat[1::2])], log
