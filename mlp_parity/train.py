"""Training: mini-batch SGD with classical momentum, one trajectory in numpy, JAX and Keras.

Every backend runs the same algorithm on the same batches, so their parameters stay equal to
round-off (float64: <= 1e-8 relative after several epochs):

* **Batches** — epoch ``e`` visits ``order[e]``: a permutation drawn from one
  ``np.random.default_rng(seed)``, advanced once per epoch (``shuffle=False``: the given
  order). Consecutive slices of ``batch_size`` rows; a last partial batch is used, its loss
  averaged over its own size.
* **Update** — per batch, ``v <- momentum * v - learning_rate * g`` then ``p <- p + v``
  (velocities start at zero; Keras 3's ``SGD(momentum=...)`` is exactly this).
* **Metrics** — the epoch's train loss and accuracy are the running means over its batches,
  weighted by batch size, each batch measured on the parameters *before* its update (what
  Keras reports); validation loss and accuracy are a full pass after the epoch, computed by
  one numpy function (:func:`evaluate`) for every backend. Accuracy compares the argmax of the
  logits with the argmax of the target row (one output: logit > 0 for
  ``sigmoid_cross_entropy``, > 0.5 for ``mse``, against target > 0.5).

Backends: ``numpy`` (the hand-written gradients with preallocated buffers and in-place updates,
or a user ``grad_fn``), ``jax`` (one jitted ``lax.scan`` per epoch, unrolled 8 steps on a GPU,
parameters and velocities on the device, buffers donated), ``keras`` (the Keras model and
``keras.optimizers.SGD`` in a custom training loop, an XLA-compiled ``tf.function`` over an
epoch's batches). Only numpy is imported here; frameworks load on first use.
"""

from __future__ import annotations

import functools
import logging
import math
import numbers
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .params import Params, check_batch, check_params, params_dtype
from .spec import LOSSES, MLPSpec, as_spec

__all__ = [
    "TRAIN_BACKENDS",
    "Progress",
    "TrainResult",
    "batch_order",
    "check_settings",
    "evaluate",
    "train",
]

TRAIN_BACKENDS = ("numpy", "jax", "keras")
#: Keras steps per compiled call when a progress callback wants to hear between calls (each call
#: costs a few milliseconds of launch); without one, a whole epoch is one call.
KERAS_STEPS_PER_EXECUTION = 128
#: A gradient function for ``train(..., grad_fn=)``: ``grad_fn(params, x, y) -> grads``, with
#: ``x`` (batch, in), ``y`` float targets (batch, out), grads shaped like ``params``.
GradFn = Callable[[Params, np.ndarray, np.ndarray], Params]


class Progress(NamedTuple):
    """What ``train(..., progress=callback)`` passes to the callback.

    ``epoch`` counts from 1 to ``epochs``; ``step`` batches of ``steps`` are done in it.
    ``record`` is ``None`` during the epoch and the epoch's metrics (``loss``, ``accuracy``,
    ``val_loss``, ``val_accuracy`` when validating, ``time``) in the call that ends it.
    The jax backend runs an epoch in one compiled call, so it reports only the epoch's end;
    keras, given a callback, runs ``KERAS_STEPS_PER_EXECUTION`` (128) steps per compiled call
    and reports after each call.
    """

    epoch: int
    epochs: int
    step: int
    steps: int
    record: dict[str, float] | None


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        spec: the network trained.
        params: final parameters ``[(W (fan_in, fan_out), b (fan_out,)), ...]``, numpy, in the
            dtype training used.
        history: per epoch, Keras-style ``{"loss": [...], "accuracy": [...], "val_loss": [...],
            "val_accuracy": [...], "time": [...]}`` (``val_*`` only with ``validation``);
            ``time`` is the wall seconds of the epoch's training steps (validation excluded).
        backend: ``numpy``, ``jax`` or ``keras``.
        settings: the hyperparameters, dtype and sample count used.
    """

    spec: MLPSpec
    params: Params
    history: dict[str, list[float]]
    backend: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        return len(self.history.get("loss", []))

    @property
    def train_time(self) -> float:
        """Seconds spent in training steps, all epochs."""
        return float(sum(self.history.get("time", [])))

    @property
    def samples_per_second(self) -> float:
        """Training throughput in steady state: samples over time, leaving out the first epoch
        (it includes JIT compilation / graph tracing) when there are at least two."""
        times = self.history.get("time", [])
        if not times:
            return math.nan
        steady = times[1:] if len(times) > 1 else times
        total = sum(steady)
        return self.settings.get("n_train", 0) * len(steady) / total if total > 0 else math.inf


# ----------------------------------------------------------------------------------------------
# Shared pieces: batch order, labels, accuracy, evaluation.


def batch_order(
    n: int, epochs: int, *, seed: int = 0, shuffle: bool = True
) -> Iterator[np.ndarray]:
    """Yield one index array (n,) per epoch: a permutation drawn from
    ``np.random.default_rng(seed)`` (advanced once per epoch), or ``arange(n)`` if not
    ``shuffle``. Every backend trains on exactly these orders."""
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        yield rng.permutation(n) if shuffle else np.arange(n)


def _class_labels(spec: MLPSpec, y: np.ndarray) -> np.ndarray:
    """The class index of each target row (batch,): argmax, or target > 0.5 for one output."""
    if spec.sizes[-1] == 1:
        return (y[:, 0] > 0.5).astype(np.int64)
    return y.argmax(axis=1)


def _single_output_threshold(spec: MLPSpec) -> float | None:
    """The logit above which a one-output network predicts class 1 (``None``: argmax)."""
    if spec.sizes[-1] != 1:
        return None
    return 0.0 if spec.loss == "sigmoid_cross_entropy" else 0.5


def _predicted(spec: MLPSpec, z: np.ndarray) -> np.ndarray:
    threshold = _single_output_threshold(spec)
    if threshold is not None:
        return (z[:, 0] > threshold).astype(np.int64)
    return z.argmax(axis=1)


def evaluate(
    spec: MLPSpec, params: Params, x: np.ndarray, y: np.ndarray, *, chunk: int = 4096
) -> tuple[float, float]:
    """``(loss, accuracy)`` of ``params`` on all of ``x`` (n, in), ``y`` (n,) labels or (n, out)
    targets: the per-sample mean loss (as the spec defines it) and the fraction classified
    correctly. Numpy, in the params' dtype, ``chunk`` rows at a time."""
    from .backends.numpy_backprop import logits

    spec = as_spec(spec)
    params = check_params(spec, params)
    xa, ya = check_batch(spec, x, y, params_dtype(params))
    assert ya is not None
    labels = _class_labels(spec, ya)
    loss_sum, correct = 0.0, 0
    for start in range(0, xa.shape[0], chunk):
        z = logits(spec, params, xa[start : start + chunk])
        yb = ya[start : start + chunk]
        loss_sum += LOSSES[spec.loss].value(z, yb) * z.shape[0]
        correct += int((_predicted(spec, z) == labels[start : start + chunk]).sum())
    n = xa.shape[0]
    return loss_sum / n, correct / n


# ----------------------------------------------------------------------------------------------
# Argument checks.


def _positive_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _real(name: str, value: object) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value}")
    return v


def _check_data(spec: MLPSpec, x: object, y: object, dtype: np.dtype, what: str):
    """Validated ``(x (n, in), y (n, out) float)``; errors name ``what`` (e.g. ``validation``)."""
    try:
        xa, ya = check_batch(spec, x, y, dtype)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{what}: {e}" if what else str(e)) from None
    if ya is None:
        raise TypeError(f"{what or 'y'}: targets are required")
    return np.ascontiguousarray(xa), np.ascontiguousarray(ya)


def check_settings(
    *, backend: str, epochs: int, batch_size: int, learning_rate: float, momentum: float, seed: int
) -> tuple[int, int, float, float, int]:
    """Validate training settings; return ``(epochs, batch_size, learning_rate, momentum,
    seed)`` as plain Python numbers. Raises ``ValueError``/``TypeError`` naming the argument."""
    if not isinstance(backend, str) or backend not in TRAIN_BACKENDS:
        raise ValueError(f"backend must be one of {list(TRAIN_BACKENDS)}, got {backend!r}")
    epochs = _positive_int("epochs", epochs, 0)
    batch_size = _positive_int("batch_size", batch_size, 1)
    seed = _positive_int("seed", seed, 0)
    lr = _real("learning_rate", learning_rate)
    if lr <= 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    mom = _real("momentum", momentum)
    if not 0 <= mom < 1:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
    return epochs, batch_size, lr, mom, seed


# ----------------------------------------------------------------------------------------------
# The public entry point.


def train(
    spec: MLPSpec,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    *,
    backend: str,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    momentum: float = 0.0,
    shuffle: bool = True,
    seed: int = 0,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    grad_fn: GradFn | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> TrainResult:
    """Train ``params`` by mini-batch SGD with classical momentum; return a :class:`TrainResult`.

    Args:
        spec: the network (or a sizes tuple).
        params: initial ``[(W, b), ...]``, all float32 or all float64; training runs in their
            dtype. They are not modified.
        x: inputs (n, in).
        y: integer labels (n,) in ``[0, out)``, or targets (n, out) (one-hot or float).
        backend: ``numpy``, ``jax`` or ``keras``.
        epochs: passes over the data (0 returns ``params`` unchanged, with an empty history).
        batch_size: rows per step; the last batch of an epoch may be smaller.
        learning_rate: ``lr`` in ``v <- momentum * v - lr * g; p <- p + v``.
        momentum: in ``[0, 1)``; 0 is plain SGD.
        shuffle: a fresh permutation per epoch from ``seed`` (else the given order).
        seed: seeds the permutations (the same for every backend).
        validation: ``(x_val, y_val)`` evaluated after every epoch.
        grad_fn: numpy only: ``grad_fn(params, x, y) -> grads`` replaces the hand-written
            gradient (``y`` float (batch, out)); it must not modify ``params``.
        progress: called with a :class:`Progress` after batches and at each epoch's end.

    Raises ``ValueError``/``TypeError`` naming the argument for bad data (labels out of range,
    length mismatch, NaN/inf) or hyperparameters, ``ImportError`` if the backend's framework is
    missing, and ``ValueError`` if the loss becomes NaN/inf (lower ``learning_rate``).
    """
    spec = as_spec(spec)
    epochs, batch_size, lr, mom, seed = check_settings(
        backend=backend,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        momentum=momentum,
        seed=seed,
    )
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
    if grad_fn is not None and not callable(grad_fn):
        raise TypeError(f"grad_fn must be callable grad_fn(params, x, y), got {grad_fn!r}")
    if grad_fn is not None and backend != "numpy":
        raise ValueError(f"grad_fn works with backend='numpy' only, not {backend!r}")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable taking a Progress, got {progress!r}")

    params = check_params(spec, params)
    dtype = params_dtype(params)
    xa, ya = _check_data(spec, x, y, dtype, "")
    val = None
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            raise TypeError("validation must be a pair (x_val, y_val)")
        val = _check_data(spec, validation[0], validation[1], dtype, "validation")

    n = xa.shape[0]
    settings = {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": lr,
        "momentum": mom,
        "shuffle": bool(shuffle),
        "seed": seed,
        "dtype": str(dtype),
        "n_train": n,
        "n_val": 0 if val is None else val[0].shape[0],
        "grad_fn": None if grad_fn is None else getattr(grad_fn, "__qualname__", repr(grad_fn)),
    }
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "time": []}
    if val is not None:
        history["val_loss"], history["val_accuracy"] = [], []
    result = TrainResult(
        spec, [(W.copy(), b.copy()) for W, b in params], history, backend, settings
    )
    if epochs == 0:
        return result

    if backend == "numpy":
        runner: _Runner = _NumpyRunner(spec, params, xa, ya, batch_size, lr, mom, grad_fn)
    elif backend == "jax":
        runner = _JaxRunner(spec, params, xa, ya, batch_size, lr, mom)
    else:
        runner = _KerasRunner(spec, params, xa, ya, batch_size, lr, mom)

    steps = -(-n // batch_size)
    for epoch, order in enumerate(batch_order(n, epochs, seed=seed, shuffle=bool(shuffle)), 1):
        on_step = None
        if progress is not None:

            def on_step(step: int, epoch: int = epoch) -> None:
                progress(Progress(epoch, epochs, min(step, steps), steps, None))

        start = time.perf_counter()
        loss_sum, correct = runner.epoch(order, on_step)
        elapsed = time.perf_counter() - start
        loss = loss_sum / n
        if not math.isfinite(loss):
            raise ValueError(
                f"training diverged in epoch {epoch} (train loss {loss}); lower learning_rate "
                f"(now {lr}) or momentum (now {mom})"
            )
        record = {"loss": loss, "accuracy": correct / n}
        if val is not None:
            record["val_loss"], record["val_accuracy"] = evaluate(spec, runner.params(), *val)
        record["time"] = elapsed
        for k, v in record.items():
            history[k].append(v)
        if progress is not None:
            progress(Progress(epoch, epochs, steps, steps, dict(record)))
    result.params = runner.params()
    return result


class _Runner:
    """One backend's training state: ``epoch(order, on_step) -> (sum of per-sample losses,
    correct count)`` runs one epoch in place; ``params()`` returns numpy parameters."""

    def epoch(
        self, order: np.ndarray, on_step: Callable[[int], None] | None
    ) -> tuple[float, int]:  # pragma: no cover - interface
        raise NotImplementedError

    def params(self) -> Params:  # pragma: no cover - interface
        raise NotImplementedError


# ----------------------------------------------------------------------------------------------
# numpy: hand-written backprop on preallocated buffers, updates in place.


class _NumpyRunner(_Runner):
    """All parameters, velocities and gradients live in three flat buffers (``W`` and ``b`` are
    views into them), so the momentum update is three whole-vector operations per step rather
    than three per tensor; small numpy calls cost microseconds each, a sizeable share of a
    batch-128 step."""

    def __init__(
        self,
        spec: MLPSpec,
        params: Params,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        lr: float,
        momentum: float,
        grad_fn: GradFn | None,
    ) -> None:
        self.spec, self.x, self.y = spec, x, y
        self.labels = _class_labels(spec, y)
        self.lr, self.momentum, self.grad_fn = lr, momentum, grad_fn
        dt = x.dtype
        total = sum(W.size + b.size for W, b in params)
        self.p, self.v, self.g = (np.zeros(total, dt) for _ in range(3))
        self.W, self.b = _flat_views(self.p, spec.sizes)
        self.gW, self.gb = _flat_views(self.g, spec.sizes)
        for (W, b), W_flat, b_flat in zip(params, self.W, self.b):
            W_flat[...] = W
            b_flat[...] = b
        B = min(batch_size, x.shape[0])
        self.batch_size = batch_size
        self.xb = np.empty((B, x.shape[1]), dt)
        self.yb = np.empty((B, y.shape[1]), dt)
        self.ones = np.ones((1, B), dt)  # ones @ delta: the bias gradient as a (fast) matmul
        widths = spec.sizes[1:]
        self.z = [np.empty((B, w), dt) for w in widths]  # pre-activations
        self.a = [np.empty((B, w), dt) for w in widths[:-1]]  # hidden activations
        self.delta = [np.empty((B, w), dt) for w in widths]
        self.tmp = [np.empty((B, w), dt) for w in widths[:-1]]
        self.logp = np.empty((B, widths[-1]), dt)  # the loss's work buffers
        self.row = np.empty((B, 1), dt)
        self.row2 = np.empty((B, 1), dt)
        # Targets whose rows sum to 1 (one-hot, probabilities) let the fused softmax gradient
        # skip a multiply by that sum.
        self.rows_sum_to_one = bool(np.all(y.sum(axis=1) == 1))
        self.acts = spec.hidden_activations

    def params(self) -> Params:
        return [(W.copy(), b.copy()) for W, b in zip(self.W, self.b)]

    def epoch(self, order: np.ndarray, on_step: Callable[[int], None] | None) -> tuple[float, int]:
        n, B = order.shape[0], self.batch_size
        loss_sum = 0.0
        predicted = np.empty(n, np.intp)  # compared with the labels once, after the epoch
        for step, start in enumerate(range(0, n, B), 1):
            idx = order[start : start + B]
            m = idx.shape[0]
            xb, yb = self.xb[:m], self.yb[:m]
            np.take(self.x, idx, axis=0, out=xb, mode="clip")  # indices are valid: no buffering
            np.take(self.y, idx, axis=0, out=yb, mode="clip")
            if self.grad_fn is None:
                loss, z = self._step(xb, yb)
            else:
                loss, z = self._grad_fn_step(xb, yb)
            loss_sum += loss * m
            if z.shape[1] > 1:
                np.argmax(z, axis=1, out=predicted[start : start + m])
            else:
                predicted[start : start + m] = _predicted(self.spec, z)
            if on_step is not None:
                on_step(step)
        return loss_sum, int(np.count_nonzero(predicted == self.labels[order]))

    def _forward(self, xb: np.ndarray) -> np.ndarray:
        """Fill the buffers for a batch; return the logits (a view)."""
        from .spec import ACTIVATIONS

        m = xb.shape[0]
        a = xb
        last = len(self.W) - 1
        for i, (W, b) in enumerate(zip(self.W, self.b)):
            z = self.z[i][:m]
            np.matmul(a, W, out=z)
            z += b
            if i == last:
                return z
            act, out = self.acts[i], self.a[i][:m]
            # In place, the same operations (same rounding) as spec.ACTIVATIONS.
            if act == "relu":
                # z * [z > 0]: max(z, 0) for every finite z and NaN (-inf, a diverged run, gives
                # NaN), in two fast passes where np.maximum takes three times as long; the mask
                # is relu'(z) (relu'(0) = 0), kept for the backward pass.
                mask = self.tmp[i][:m]
                np.greater(z, 0.0, out=mask)
                np.multiply(z, mask, out=out)
            elif act == "sigmoid":
                np.multiply(z, 0.5, out=out)
                np.tanh(out, out=out)
                out += 1.0
                out *= 0.5
            elif act == "tanh":
                np.tanh(z, out=out)
            elif act == "identity":
                out[...] = z
            else:  # pragma: no cover - MLPSpec admits only the four above
                out[...] = ACTIVATIONS[act].value(z)
            a = out
        raise AssertionError("unreachable")  # pragma: no cover

    def _step(self, xb: np.ndarray, yb: np.ndarray) -> tuple[float, np.ndarray]:
        """One SGD step in place. The output delta is scaled by ``-lr`` before backprop, so the
        weight and bias "gradients" come out as ``-lr * g`` (backprop is linear in the output
        delta) and the momentum update makes one pass fewer over the parameters."""
        m = xb.shape[0]
        z = self._forward(xb)
        delta = self.delta[-1][:m]
        loss = self._loss_and_scaled_delta(z, yb, delta)
        ones = self.ones[:, :m]
        for i in range(len(self.W) - 1, -1, -1):
            a_in = xb if i == 0 else self.a[i - 1][:m]
            np.matmul(a_in.T, delta, out=self.gW[i])
            np.matmul(ones, delta, out=self.gb[i][None])  # column sums
            if i > 0:
                prev = self.delta[i - 1][:m]
                np.matmul(delta, self.W[i].T, out=prev)
                self._times_activation_grad(prev, i - 1, m)
                delta = prev
        self._apply_scaled_gradients()
        return loss, z  # the logits buffer is untouched by the backward pass

    def _loss_and_scaled_delta(self, z: np.ndarray, y: np.ndarray, delta: np.ndarray) -> float:
        """The batch loss; ``delta <- -lr * dloss/dz``. Softmax cross-entropy is fused in place
        (one log-softmax serves the value and the gradient); other losses use ``LOSSES``."""
        m = z.shape[0]
        if self.spec.loss != "softmax_cross_entropy":
            loss_def = LOSSES[self.spec.loss]
            np.multiply(loss_def.grad(z, y), -self.lr, out=delta)  # (m, out): small
            return loss_def.value(z, y)
        logp, mx, s = self.logp[:m], self.row[:m], self.row2[:m]
        scale = -self.lr / m
        np.maximum.reduce(z, axis=1, keepdims=True, out=mx)
        np.subtract(z, mx, out=logp)  # shifted logits: exp cannot overflow
        np.exp(logp, out=delta)
        np.add.reduce(delta, axis=1, keepdims=True, out=s)
        np.divide(scale, s, out=mx)  # -lr / (m s): softmax and scale in one multiply below
        np.log(s, out=s)
        logp -= s  # log-softmax
        loss = -float(np.vdot(y, logp)) / m
        # d/dz of -sum_k y_k log p_k is p * sum_k y_k - y.
        delta *= mx  # -lr/m * p
        if not self.rows_sum_to_one:
            np.add.reduce(y, axis=1, keepdims=True, out=s)
            delta *= s
        np.multiply(y, scale, out=logp)  # logp is spent: reuse it
        delta -= logp
        return loss

    def _times_activation_grad(self, d: np.ndarray, layer: int, m: int) -> None:
        """``d *= f'(z)`` for hidden layer ``layer``, from its stored activation ``a = f(z)``."""
        act, a, tmp = self.acts[layer], self.a[layer][:m], self.tmp[layer][:m]
        if act == "relu":  # the forward pass left relu'(z) = [z > 0] in tmp
            d *= tmp
        elif act == "sigmoid":  # s (1 - s)
            np.subtract(1.0, a, out=tmp)
            tmp *= a
            d *= tmp
        elif act == "tanh":  # 1 - t^2
            np.multiply(a, a, out=tmp)
            np.subtract(1.0, tmp, out=tmp)
            d *= tmp
        # identity: f' = 1

    def _grad_fn_step(self, xb: np.ndarray, yb: np.ndarray) -> tuple[float, np.ndarray]:
        z = self._forward(xb)
        loss = LOSSES[self.spec.loss].value(z, yb)
        grads = self.grad_fn(list(zip(self.W, self.b)), xb, yb)  # type: ignore[misc]
        try:
            grads = check_params(self.spec, grads, name="grad_fn's result")
        except (TypeError, ValueError) as e:
            raise type(e)(f"{e} (grad_fn must return grads shaped like params)") from None
        for i, (gW, gb) in enumerate(grads):
            self.gW[i][...] = gW
            self.gb[i][...] = gb
        self.g *= -self.lr
        self._apply_scaled_gradients()
        return loss, z

    def _apply_scaled_gradients(self) -> None:
        """``v <- momentum v + g; p <- p + v`` over all parameters at once, ``g`` already
        holding ``-lr`` times the gradient."""
        self.v *= self.momentum
        self.v += self.g
        self.p += self.v


def _flat_views(flat: np.ndarray, sizes: tuple[int, ...]) -> tuple[list, list]:
    """``W`` (fan_in, fan_out) and ``b`` (fan_out,) views, layer by layer, into one flat buffer."""
    Ws, bs, offset = [], [], 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        Ws.append(flat[offset : offset + fan_in * fan_out].reshape(fan_in, fan_out))
        offset += fan_in * fan_out
        bs.append(flat[offset : offset + fan_out])
        offset += fan_out
    return Ws, bs


# ----------------------------------------------------------------------------------------------
# jax: one jitted epoch (lax.scan over the full batches, one more step for a partial batch).

#: Steps per iteration of the jax epoch's ``lax.scan`` (its ``unroll``); ``None`` picks by
#: device (:func:`_jax_scan_unroll`). Measured (BENCHMARKS.md, benchmarks/scan_unroll.py): on an
#: H200, where a batch-128 epoch is bound by per-step latency, 8 trains 1.20x faster than 1
#: (neutral at batch 1024); on the 2-core CPU, 2-8 are within noise and cost compile time.
JAX_SCAN_UNROLL: int | None = None


def _jax_scan_unroll() -> int:
    """``JAX_SCAN_UNROLL``, or by default 8 on an accelerator and 1 on the CPU."""
    if JAX_SCAN_UNROLL is not None:
        return _positive_int("JAX_SCAN_UNROLL", JAX_SCAN_UNROLL, 1)
    import jax

    return 1 if jax.default_backend() == "cpu" else 8


@functools.lru_cache(maxsize=16)
def _jax_epoch_fn(
    activations: tuple[str, ...],
    loss: str,
    n: int,
    batch_size: int,
    lr: float,
    momentum: float,
    single_output_threshold: float | None,
    unroll: int,
):
    import jax
    import jax.numpy as jnp

    from .backends import get_backend

    ja = get_backend("jax")  # x64 on, highest matmul precision

    def objective(params, xb, yb):
        z = ja.apply(params, xb, activations)
        return ja.LOSSES[loss](z, yb), z

    value_and_grad = jax.value_and_grad(objective, has_aux=True)

    def step(carry, idx, x, y, labels):
        params, vel, loss_sum, correct = carry
        (value, z), grads = value_and_grad(params, x[idx], y[idx])
        vel = jax.tree.map(lambda v, g: momentum * v - lr * g, vel, grads)
        params = jax.tree.map(lambda p, v: p + v, params, vel)
        if single_output_threshold is None:
            pred = jnp.argmax(z, axis=1)
        else:
            pred = (z[:, 0] > single_output_threshold).astype(labels.dtype)
        loss_sum = loss_sum + value.astype(jnp.float64) * idx.shape[0]
        correct = correct + jnp.sum(pred == labels[idx])
        return params, vel, loss_sum, correct

    full = n // batch_size

    def epoch(params, vel, x, y, labels, order):
        carry = (params, vel, jnp.zeros((), jnp.float64), jnp.zeros((), jnp.int64))
        if full:
            batches = order[: full * batch_size].reshape(full, batch_size)
            carry, _ = jax.lax.scan(
                lambda c, idx: (step(c, idx, x, y, labels), None), carry, batches, unroll=unroll
            )
        if n % batch_size:
            carry = step(carry, order[full * batch_size :], x, y, labels)
        return carry

    return jax.jit(epoch, donate_argnums=(0, 1))


class _JaxRunner(_Runner):
    def __init__(
        self,
        spec: MLPSpec,
        params: Params,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        lr: float,
        momentum: float,
    ) -> None:
        from .backends import get_backend

        get_backend("jax")  # actionable ImportError; turns on x64
        import jax

        self.jax = jax
        put = jax.device_put
        # Copies on the device (never aliases of the caller's arrays: they are donated).
        self.p = [(put(np.array(W)), put(np.array(b))) for W, b in params]
        self.v = [(put(np.zeros_like(W)), put(np.zeros_like(b))) for W, b in params]
        self.x, self.y = put(x), put(y)
        self.labels = put(_class_labels(spec, y))
        self.n = x.shape[0]
        self.fn = _jax_epoch_fn(
            spec.hidden_activations,
            spec.loss,
            self.n,
            batch_size,
            lr,
            momentum,
            _single_output_threshold(spec),
            _jax_scan_unroll(),
        )

    def epoch(self, order: np.ndarray, on_step: Callable[[int], None] | None) -> tuple[float, int]:
        order_dev = self.jax.device_put(order.astype(np.int32 if self.n < 2**31 else np.int64))
        self.p, self.v, loss_sum, correct = self.fn(
            self.p, self.v, self.x, self.y, self.labels, order_dev
        )
        return float(loss_sum), int(correct)  # waits for the epoch: one transfer per epoch

    def params(self) -> Params:
        return [(np.array(W), np.array(b)) for W, b in self.jax.device_get(self.p)]


# ----------------------------------------------------------------------------------------------
# keras: the Keras model and keras.optimizers.SGD(momentum=...) in a custom training loop: one
# XLA-compiled tf.function (jit_compile=True) runs a whole epoch's full batches per call (or
# KERAS_STEPS_PER_EXECUTION of them, to report progress), gathering them from the data.
# model.fit runs the same step (tape gradient of the compiled loss, optimizer.apply) but spends
# most of a small step in its per-step machinery and input pipeline (0.2 of the matmul peak on
# the dev machine); the same loop in TensorFlow's graph executor reached 0.31-0.42, each of its
# ~150 small ops a step paying dispatch; compiled, XLA fuses them (BENCHMARKS.md).

#: Compile the Keras training loop with XLA. Falls back (with a warning) to TensorFlow's graph
#: executor where this TensorFlow build has no XLA for the device.
KERAS_JIT_COMPILE = True


class _ExpectedRetracing(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning for the loops made by
    :func:`_tf_loop` (their qualified names in ``loops``). Each ``train`` call (or ceiling
    measurement) traces its own model's loop, once per batch shape, by design; TensorFlow counts
    the traces of every closure of one function together, so a learning-rate sweep would warn
    of "excessive" retracing that is not happening."""

    def __init__(self) -> None:
        super().__init__()
        self.loops: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "retracing" not in message or not any(loop in message for loop in self.loops)


def _tf_loop(tf, fn: Callable):
    """``(compiled, plain)`` tf.functions of the loop ``fn``: XLA-compiled where
    ``KERAS_JIT_COMPILE`` (else the plain one twice), and the graph executor's, for
    :func:`_xla_or_graph` to fall back to. ``fn``'s retracing warnings are silenced."""
    logger = tf.get_logger()
    quiet = next((f for f in logger.filters if isinstance(f, _ExpectedRetracing)), None)
    if quiet is None:
        quiet = _ExpectedRetracing()
        logger.addFilter(quiet)
    quiet.loops.add(fn.__qualname__)
    plain = tf.function(fn)
    return (tf.function(fn, jit_compile=True) if KERAS_JIT_COMPILE else plain), plain


def _xla_or_graph(tf, compiled, plain, args: tuple, what: str):
    """``(compiled(*args), compiled)``; where this TensorFlow build has no XLA for the device,
    a ``RuntimeWarning`` and ``(plain(*args), plain)``, so that callers keep the one that ran.
    Any other error propagates."""
    if compiled is plain:
        return plain(*args), plain
    try:
        return compiled(*args), compiled
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as e:
        if "xla" not in str(e).lower() or "compil" not in str(e).lower():
            raise
        warnings.warn(
            f"{what}: XLA is unavailable here ({str(e).splitlines()[0]}); running in "
            "TensorFlow's graph executor instead (slower)",
            RuntimeWarning,
            stacklevel=4,
        )
        return plain(*args), plain


class _KerasRunner(_Runner):
    def __init__(
        self,
        spec: MLPSpec,
        params: Params,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        lr: float,
        momentum: float,
    ) -> None:
        from .backends import get_backend

        kt = get_backend("keras")
        import keras
        import tensorflow as tf

        self.tf = tf
        dtype = str(x.dtype)
        self.batch_size = batch_size
        self.model = model = kt.to_keras(spec, params, compile=False)
        variables = model.trainable_variables
        # Keras' SGD is exactly v <- momentum v - lr g; p <- p + v, but rounds both scalars to
        # float32 (float64 parity needs them exact): a float learning rate lives in a floatx
        # variable (0.1 -> 0.10000000149), and tf.cast(0.9, float64) goes through float32. A
        # callable returning a float64 constant, and a np.float64 momentum (a float subclass
        # that tf.cast converts exactly), keep them exact; in float32 they round as numpy does.
        lr_const = tf.constant(lr, dtype=tf.float64)
        optimizer = keras.optimizers.SGD(
            learning_rate=lambda: lr_const, momentum=np.float64(momentum)
        )
        optimizer.build(variables)
        loss_fn = kt.keras_loss(spec, dtype)
        # Arguments, not captured constants: XLA would otherwise fold the data into the program.
        self.data = (tf.constant(x), tf.constant(y), tf.constant(_class_labels(spec, y)))
        threshold = _single_output_threshold(spec)

        def run(X, Y, labels, batches):
            """SGD steps on ``batches`` (k, m), rows of indices into the data: the sums of the
            batch losses times their sizes and of the correct predictions. XLA compiles once
            per shape of ``batches`` (the trip count is a compile-time constant to it)."""
            loss_sum = tf.constant(0.0, tf.float64)
            correct = tf.constant(0, tf.int64)
            m = tf.cast(tf.shape(batches)[1], tf.float64)
            for i in tf.range(tf.shape(batches)[0]):
                idx = batches[i]
                xb, yb = tf.gather(X, idx), tf.gather(Y, idx)
                with tf.GradientTape() as tape:
                    z = model(xb, training=True)
                    value = loss_fn(yb, z)
                optimizer.apply(tape.gradient(value, variables), variables)
                loss_sum += tf.cast(value, tf.float64) * m
                if threshold is not None:
                    pred = tf.cast(z[:, 0] > threshold, tf.int64)
                else:
                    pred = tf.argmax(z, axis=1)
                correct += tf.reduce_sum(tf.cast(pred == tf.gather(labels, idx), tf.int64))
            return loss_sum, correct

        self.run, self._plain = _tf_loop(tf, run)

    def _call(self, batches: np.ndarray):
        args = (*self.data, self.tf.constant(batches))
        result, self.run = _xla_or_graph(
            self.tf, self.run, self._plain, args, "keras backend: training"
        )
        return result

    def epoch(self, order: np.ndarray, on_step: Callable[[int], None] | None) -> tuple[float, int]:
        n, B = order.shape[0], self.batch_size
        order = order.astype(np.int64, copy=False)
        full = n // B
        # One call per epoch (one compilation), or chunks of K steps to report progress (one
        # more compilation for a shorter last chunk); a partial last batch is one more shape.
        K = KERAS_STEPS_PER_EXECUTION if on_step is not None else max(full, 1)
        chunks = [order[f * B : min(f + K, full) * B].reshape(-1, B) for f in range(0, full, K)]
        if n % B:
            chunks.append(order[full * B :].reshape(1, -1))
        loss_sum, correct, steps = 0.0, 0, 0
        for batches in chunks:
            ls, c = self._call(batches)
            loss_sum, correct, steps = loss_sum + float(ls), correct + int(c), steps + len(batches)
            if on_step is not None:
                on_step(steps)
        return loss_sum, correct

    def params(self) -> Params:
        w = [np.array(v.value.numpy()) for v in self.model.weights]  # kernel, bias per layer
        return [(w[2 * i], w[2 * i + 1]) for i in range(len(w) // 2)]
