"""Training: mini-batch SGD with classical momentum, one trajectory in numpy, JAX and Keras.

Every backend runs the same algorithm on the same batches, so their parameters stay equal to
round-off (float64: <= 1e-8 relative after several epochs):

* **Batches** — epoch ``e`` visits ``order[e]``: a permutation drawn from one
  ``np.random.default_rng(seed)``, advanced once per epoch (``shuffle=False``: the given
  order). Consecutive slices of ``batch_size`` rows; a last partial batch is used, its loss
  averaged over its own size.
* **Update** — :class:`SGD`: per batch, ``v <- momentum * v - learning_rate * g`` then
  ``p <- p + v`` (velocities start at zero; Keras 3's ``SGD(momentum=...)`` is exactly this).
* **Objective** — the spec's whole loss, its conventions included (output activation,
  reduction, ``loss_scale``, the L2 penalty ``l2 * sum W^2``; no biases to train with
  ``use_bias=False``), the same formulas in every backend (:mod:`mlp_parity.spec.conventions`).
* **Metrics** — the epoch's train loss and accuracy are the running means over its batches,
  weighted by batch size, each batch measured on the parameters *before* its update (what
  Keras reports; the loss includes the penalty, as a regularised Keras model's does);
  validation loss and accuracy are a full pass after the epoch (its loss measured as the
  train loss is, on batches of ``batch_size``: only the ``sum`` reduction depends on them),
  computed by one numpy function (:func:`evaluate`) for every backend (:mod:`.metrics`).
  Accuracy compares the argmax of the logits (that of the network's output) with the argmax
  of the target row (one output: logit above the spec's one-output threshold, against
  target > 0.5).

One module per backend's loop: :mod:`.numpy_loop` (the hand-written gradients with preallocated
buffers and in-place updates, or a user ``grad_fn``), :mod:`.jax_loop` (one jitted ``lax.scan``
per epoch), :mod:`.keras_loop` (the Keras model and ``keras.optimizers.SGD`` in an XLA-compiled
``tf.function`` over an epoch's batches). Only numpy is imported here; frameworks load on first
use.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..params import (
    Params,
    as_pairs,
    check_batch,
    check_fits,
    from_pairs,
    params_dtype,
    training_bytes,
)
from ..spec import MLPSpec, as_spec
from ._common import Loop, positive_int
from .jax_loop import JaxLoop
from .keras_loop import KERAS_STEPS_PER_EXECUTION, KerasLoop
from .metrics import evaluate, evaluate_pairs
from .numpy_loop import GradFn, NumpyLoop
from .optim import SGD
from .sharded import check_devices
from .sharded import loop_for as jax_loop_for
from .sweep import train_many as train_many
from .trajectories import compare_backends, param_divergence

__all__ = [
    "KERAS_STEPS_PER_EXECUTION",
    "SGD",
    "TRAIN_BACKENDS",
    "GradFn",
    "Progress",
    "TrainResult",
    "batch_order",
    "check_settings",
    "compare_backends",
    "evaluate",
    "param_divergence",
    "train",
]

TRAIN_BACKENDS = ("numpy", "jax", "keras")
#: Each backend's training loop; its ``options`` are what ``train(engine_options=...)`` takes.
LOOPS: dict[str, type[Loop]] = {"numpy": NumpyLoop, "jax": JaxLoop, "keras": KerasLoop}


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
        params: final parameters in the spec's layout, ``[(W (fan_in, fan_out), b (fan_out,)),
            ...]`` or ``[W, ...]`` with ``use_bias=False``, numpy, in the dtype training used.
        history: per epoch, Keras-style ``{"loss": [...], "accuracy": [...], "val_loss": [...],
            "val_accuracy": [...], "time": [...]}`` (``val_*`` only with ``validation``);
            losses are the spec's whole loss, penalty included (:mod:`.metrics`); ``time`` is
            the wall seconds of the epoch's training steps (validation excluded).
        backend: ``numpy``, ``jax`` or ``keras``.
        settings: the hyperparameters, engine options, dtype and sample count used.
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
# Batch order, shared by every backend (evaluation: .metrics).


def batch_order(
    n: int, epochs: int, *, seed: int = 0, shuffle: bool = True
) -> Iterator[np.ndarray]:
    """Yield one index array (n,) per epoch: a permutation drawn from
    ``np.random.default_rng(seed)`` (advanced once per epoch), or ``arange(n)`` if not
    ``shuffle``. Every backend trains on exactly these orders."""
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        yield rng.permutation(n) if shuffle else np.arange(n)


# ----------------------------------------------------------------------------------------------
# Argument checks.


def check_settings(
    *, backend: str, epochs: int, batch_size: int, learning_rate: float, momentum: float, seed: int
) -> tuple[int, int, float, float, int]:
    """Validate training settings; return ``(epochs, batch_size, learning_rate, momentum,
    seed)`` as plain Python numbers. Raises ``ValueError``/``TypeError`` naming the argument."""
    if not isinstance(backend, str) or backend not in TRAIN_BACKENDS:
        raise ValueError(f"backend must be one of {list(TRAIN_BACKENDS)}, got {backend!r}")
    epochs = positive_int("epochs", epochs, 0)
    batch_size = positive_int("batch_size", batch_size, 1)
    seed = positive_int("seed", seed, 0)
    sgd = SGD(learning_rate, momentum)
    return epochs, batch_size, sgd.learning_rate, sgd.momentum, seed


def _optimizer(learning_rate: object, momentum: object, optimizer: object) -> SGD:
    """The :class:`SGD` from ``train``'s ``learning_rate``/``momentum`` or its ``optimizer``."""
    if optimizer is None:
        if learning_rate is None:
            raise TypeError("train() needs learning_rate= (or optimizer=SGD(learning_rate, ...))")
        return SGD(learning_rate, 0.0 if momentum is None else momentum)  # type: ignore[arg-type]
    if not isinstance(optimizer, SGD):
        raise TypeError(f"optimizer must be an SGD(learning_rate, momentum), got {optimizer!r}")
    if learning_rate is not None or momentum is not None:
        raise ValueError("give either optimizer or learning_rate/momentum, not both")
    return optimizer


def _engine_options(backend: str, options: object) -> dict[str, Any]:
    """``options`` checked against the options of ``backend``'s loop (``LOOPS``)."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise TypeError(f"engine_options must be a dict of option: value, got {options!r}")
    loop = LOOPS[backend]
    unknown = [k for k in options if k not in loop.options]
    if unknown:
        takes = ", ".join(repr(o) for o in loop.options) or "none"
        raise ValueError(
            f"engine_options: {unknown[0]!r} is not an option of backend {backend!r} "
            f"(its options: {takes})"
        )
    return loop.check_options(options)


def _check_data(spec: MLPSpec, x: object, y: object, dtype: np.dtype, what: str):
    """Validated ``(x (n, in), y (n, out) float)``; errors name ``what`` (e.g. ``validation``)."""
    try:
        xa, ya = check_batch(spec, x, y, dtype)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{what}: {e}" if what else str(e)) from None
    if ya is None:
        raise TypeError(f"{what or 'y'}: targets are required")
    return np.ascontiguousarray(xa), np.ascontiguousarray(ya)


def _check_callbacks(backend: str, shuffle: object, grad_fn: object, progress: object) -> None:
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
    if grad_fn is not None and not callable(grad_fn):
        raise TypeError(f"grad_fn must be callable grad_fn(params, x, y), got {grad_fn!r}")
    if grad_fn is not None and backend != "numpy":
        raise ValueError(f"grad_fn works with backend='numpy' only, not {backend!r}")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable taking a Progress, got {progress!r}")


def _check_validation(spec: MLPSpec, validation: object, dtype: np.dtype):
    if validation is None:
        return None
    if not isinstance(validation, (tuple, list)) or len(validation) != 2:
        raise TypeError("validation must be a pair (x_val, y_val)")
    return _check_data(spec, validation[0], validation[1], dtype, "validation")


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
    learning_rate: float | None = None,
    momentum: float | None = None,
    shuffle: bool = True,
    seed: int = 0,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    grad_fn: GradFn | None = None,
    progress: Callable[[Progress], None] | None = None,
    optimizer: SGD | None = None,
    engine_options: Mapping[str, Any] | None = None,
    devices: int | str | Sequence[Any] = 1,
) -> TrainResult:
    """Train ``params`` by mini-batch SGD with classical momentum; return a :class:`TrainResult`.

    Args:
        spec: the network (or a sizes tuple).
        params: initial parameters in the spec's layout (``[(W, b), ...]``, or ``[W, ...]`` with
            ``use_bias=False``), all float32 or all float64; training runs in their dtype.
            They are not modified.
        x: inputs (n, in).
        y: integer labels (n,) in ``[0, out)``, or targets (n, out) (one-hot or float).
        backend: ``numpy``, ``jax`` or ``keras``.
        epochs: passes over the data (0 returns ``params`` unchanged, with an empty history).
        batch_size: rows per step; the last batch of an epoch may be smaller.
        learning_rate: ``lr`` in ``v <- momentum * v - lr * g; p <- p + v`` (required unless
            ``optimizer`` is given).
        momentum: in ``[0, 1)``; 0 (the default) is plain SGD.
        shuffle: a fresh permutation per epoch from ``seed`` (else the given order).
        seed: seeds the permutations (the same for every backend).
        validation: ``(x_val, y_val)`` evaluated after every epoch.
        grad_fn: numpy only: ``grad_fn(params, x, y) -> grads`` replaces the hand-written
            gradient of the spec's whole loss (penalty included); params and grads in the
            spec's layout, ``y`` float (batch, out); it gets copies, so writing into its inputs
            cannot change the model.
        progress: called with a :class:`Progress` after batches and at each epoch's end.
        optimizer: an :class:`SGD` instead of ``learning_rate`` and ``momentum``.
        engine_options: options of the backend's loop, which change speed, not the trajectory:
            jax ``{"scan_unroll": k}`` (steps per iteration of the epoch's ``lax.scan``;
            default 8 on an accelerator, 1 on the CPU), keras ``{"jit_compile": False}`` (run
            in TensorFlow's graph executor instead of XLA); numpy takes none.
        devices: jax only: data-parallel over a 1-D mesh of this many devices (an int, ``"all"``
            or a list of ``jax.Device``; 1, the default, is one device): the same trajectory
            (:mod:`mlp_parity.train.sharded`).

    Raises ``ValueError``/``TypeError`` naming the argument for bad data (labels out of range,
    length mismatch, NaN/inf), hyperparameters or engine options, ``ImportError`` if the
    backend's framework is missing, and ``ValueError`` if the loss becomes NaN/inf (lower
    ``learning_rate``).

    Long because of its documented signature; the body only validates, builds the backend's
    loop and hands it to :func:`_run_epochs`.
    """
    spec = as_spec(spec)
    sgd = _optimizer(learning_rate, momentum, optimizer)
    epochs, batch_size, _, _, seed = check_settings(
        backend=backend,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=sgd.learning_rate,
        momentum=sgd.momentum,
        seed=seed,
    )
    _check_callbacks(backend, shuffle, grad_fn, progress)
    options = _engine_options(backend, engine_options)
    devices = check_devices(backend, devices)
    params = as_pairs(spec, params)  # internally pairs; zero biases without biases
    dtype = params_dtype(params)
    if epochs:  # refuse a network whose training would not fit, before allocating buffers
        need = training_bytes(spec, dtype, batch_size)
        check_fits(spec, dtype, need, "parameters, velocities, gradients and batch buffers")
    xa, ya = _check_data(spec, x, y, dtype, "")
    val = _check_validation(spec, validation, dtype)

    settings = {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": sgd.learning_rate,
        "momentum": sgd.momentum,
        "shuffle": bool(shuffle),
        "seed": seed,
        "dtype": str(dtype),
        "n_train": xa.shape[0],
        "n_val": 0 if val is None else val[0].shape[0],
        "grad_fn": None if grad_fn is None else getattr(grad_fn, "__qualname__", repr(grad_fn)),
        "engine_options": dict(options),
        "devices": devices if isinstance(devices, (int, str)) else len(devices),
    }
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "time": []}
    if val is not None:
        history["val_loss"], history["val_accuracy"] = [], []
    result = TrainResult(
        spec,
        from_pairs(spec, [(W.copy(), b.copy()) for W, b in params]),
        history,
        backend,
        settings,
    )
    if epochs == 0:
        return result
    if grad_fn is not None:  # numpy only (checked above)
        options = {**options, "grad_fn": grad_fn}
    if backend == "jax":  # one device, or data-parallel over several
        loop = jax_loop_for(spec, params, xa, ya, batch_size, sgd, devices, options)
    else:
        loop = LOOPS[backend](spec, params, xa, ya, batch_size, sgd, **options)
    orders = batch_order(xa.shape[0], epochs, seed=seed, shuffle=bool(shuffle))
    _run_epochs(loop, result, orders, val, progress)
    return result


def _run_epochs(
    loop: Loop,
    result: TrainResult,
    orders: Iterator[np.ndarray],
    validation: tuple[np.ndarray, np.ndarray] | None,
    progress: Callable[[Progress], None] | None,
) -> None:
    """Run ``loop`` over the epochs' ``orders``, appending each epoch's metrics to
    ``result.history``; leave the final parameters in ``result.params``."""
    s = result.settings
    n, epochs = s["n_train"], s["epochs"]
    steps = -(-n // s["batch_size"])
    for epoch, order in enumerate(orders, 1):
        on_step = None
        if progress is not None:

            def on_step(step: int, epoch: int = epoch) -> None:
                progress(Progress(epoch, epochs, min(step, steps), steps, None))

        start = time.perf_counter()
        loss_sum, correct = loop.epoch(order, on_step)
        elapsed = time.perf_counter() - start
        loss = loss_sum / n
        if not math.isfinite(loss):
            raise ValueError(
                f"training diverged in epoch {epoch} (train loss {loss}); lower learning_rate "
                f"(now {s['learning_rate']}) or momentum (now {s['momentum']})"
            )
        record = {"loss": loss, "accuracy": correct / n}
        if validation is not None:
            record["val_loss"], record["val_accuracy"] = evaluate_pairs(
                result.spec, loop.params(), *validation, batch_size=s["batch_size"]
            )
        record["time"] = elapsed
        for k, v in record.items():
            result.history[k].append(v)
        if progress is not None:
            progress(Progress(epoch, epochs, steps, steps, dict(record)))
    result.params = from_pairs(result.spec, loop.params())
