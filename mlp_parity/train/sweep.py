"""Sweeps: K networks of one spec trained at once in one compiled JAX program.

:func:`train_many` stacks the K models' parameters along a leading axis and ``vmap``\\ s the
jax loop's step over them, the learning rate passed as data (one per model), every model on
the same batches. So one compiled epoch serves any learning rates, and a batch's K small
matmuls become one batched matmul that fills the hardware where a single batch-128 step
cannot. Each model's trajectory is its own ``train(backend="jax")`` run's (float64: equal to
round-off, tested at 1e-12).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..params import Params, as_pairs, from_pairs, params_dtype
from ..spec import MLPSpec, as_spec
from .metrics import class_labels, evaluate_pairs, one_output_threshold
from .optim import SGD

__all__ = ["train_many"]


def _objective(spec: MLPSpec):
    """``f(trainable, x, y) -> (L, logits)`` of one model in the spec's layout: the jax loop's
    own objective, so that a sweep's models follow ``train``'s trajectories."""
    from .jax_loop import objective_with_logits

    return objective_with_logits(spec)


@functools.lru_cache(maxsize=8)
def _epoch_fn(spec: MLPSpec, n: int, batch_size: int, momentum: float, threshold: float | None):
    """The jitted ``epoch(params, vel, lrs, x, y, labels, order) -> (params, vel, loss_sums,
    corrects)`` over K stacked models (``lrs`` (K,)), cached on its compile-time constants."""
    import jax
    import jax.numpy as jnp

    value_and_grad = jax.vmap(
        jax.value_and_grad(_objective(spec), has_aux=True), in_axes=(0, None, None)
    )

    def step(carry, idx, lrs, x, y, labels):
        params, vel, loss_sum, correct = carry
        (value, z), grads = value_and_grad(params, x[idx], y[idx])

        def update(p, v, g):  # SGD.update, the learning rate one per model
            lr = lrs.reshape((-1,) + (1,) * (g.ndim - 1)).astype(g.dtype)
            v = momentum * v - lr * g
            return p + v, v

        leaves, tree = jax.tree.flatten(params)
        pv = [
            update(p, v, g) for p, v, g in zip(leaves, jax.tree.leaves(vel), jax.tree.leaves(grads))
        ]
        params = jax.tree.unflatten(tree, [p for p, _ in pv])
        vel = jax.tree.unflatten(tree, [v for _, v in pv])
        if threshold is None:
            pred = jnp.argmax(z, axis=2)
        else:
            pred = (z[:, :, 0] > threshold).astype(labels.dtype)
        loss_sum = loss_sum + value.astype(jnp.float64) * idx.shape[0]
        correct = correct + jnp.sum(pred == labels[idx][None, :], axis=1)
        return params, vel, loss_sum, correct

    full = n // batch_size

    def epoch(params, vel, lrs, x, y, labels, order):
        k = lrs.shape[0]
        carry = (params, vel, jnp.zeros((k,), jnp.float64), jnp.zeros((k,), jnp.int64))
        if full:
            batches = order[: full * batch_size].reshape(full, batch_size)
            carry, _ = jax.lax.scan(
                lambda c, idx: (step(c, idx, lrs, x, y, labels), None), carry, batches
            )
        if n % batch_size:
            carry = step(carry, order[full * batch_size :], lrs, x, y, labels)
        return carry

    from .jax_loop import compiler_options  # the jax loop's CPU options: the same kernels

    return jax.jit(epoch, donate_argnums=(0, 1), compiler_options=compiler_options())


def _check_models(spec: MLPSpec, params_list: object, learning_rates: object, momentum: float):
    """``(pairs per model, dtype, learning rates)`` checked: one learning rate per model, every
    model in one dtype. Errors name the argument (and the model)."""
    if isinstance(params_list, (str, bytes)) or not isinstance(params_list, Sequence):
        raise TypeError("params_list must be a list of parameter sets, one per model")
    if not params_list:
        raise ValueError("params_list is empty: give at least one model")
    if isinstance(learning_rates, (str, bytes)) or not isinstance(learning_rates, Sequence):
        raise TypeError("learning_rates must be a list of numbers, one per model")
    if len(learning_rates) != len(params_list):
        raise ValueError(
            f"learning_rates has {len(learning_rates)} values for {len(params_list)} models "
            "in params_list; give one per model"
        )
    lrs = [SGD(lr, momentum).learning_rate for lr in learning_rates]
    pairs = []
    for i, p in enumerate(params_list):
        try:
            pairs.append(as_pairs(spec, p))
        except (TypeError, ValueError) as e:
            raise type(e)(f"params_list[{i}]: {e}") from None
    dtypes = {str(params_dtype(p)) for p in pairs}
    if len(dtypes) > 1:
        raise ValueError(f"params_list mixes dtypes {sorted(dtypes)}; use one for every model")
    return pairs, params_dtype(pairs[0]), lrs


def train_many(
    spec: MLPSpec,
    params_list: Sequence[Params],
    x: np.ndarray,
    y: np.ndarray,
    *,
    learning_rates: Sequence[float],
    epochs: int,
    batch_size: int,
    momentum: float = 0.0,
    shuffle: bool = True,
    seed: int = 0,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[Any]:
    """Train K models of ``spec`` at once, model ``i`` from ``params_list[i]`` with
    ``learning_rates[i]``, in one compiled JAX program; return K :class:`TrainResult`\\ s, each
    as ``train(spec, params_list[i], x, y, backend="jax", learning_rate=learning_rates[i],
    ...)`` returns it (the same trajectory, history and settings, plus ``settings["sweep"] =
    K``). Every model sees the same batches (``seed``, ``shuffle``); an epoch's ``time`` is
    that of all K together. Raises as ``train`` does, naming the model that diverged.

    Long because of its documented signature and the per-model results it assembles."""
    from . import TrainResult, _check_data, _check_validation, batch_order, check_settings

    spec = as_spec(spec)
    epochs, batch_size, _, momentum, seed = check_settings(
        backend="jax",
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=1.0,
        momentum=momentum,
        seed=seed,
    )
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
    pairs, dtype, lrs = _check_models(spec, params_list, learning_rates, momentum)
    xa, ya = _check_data(spec, x, y, dtype, "")
    val = _check_validation(spec, validation, dtype)
    n, k = xa.shape[0], len(pairs)
    base = {
        "epochs": epochs,
        "batch_size": batch_size,
        "momentum": momentum,
        "shuffle": bool(shuffle),
        "seed": seed,
        "dtype": str(dtype),
        "n_train": n,
        "n_val": 0 if val is None else val[0].shape[0],
        "grad_fn": None,
        "engine_options": {},
        "devices": 1,
        "sweep": k,
    }
    results = []
    for i, p in enumerate(pairs):
        history: dict[str, list[float]] = {"loss": [], "accuracy": [], "time": []}
        if val is not None:
            history["val_loss"], history["val_accuracy"] = [], []
        settings = {**base, "learning_rate": lrs[i]}
        results.append(TrainResult(spec, from_pairs(spec, p), history, "jax", settings))
    if epochs == 0:
        return results
    state = _Stacked(spec, pairs, lrs, xa, ya, batch_size, momentum)
    for epoch, order in enumerate(batch_order(n, epochs, seed=seed, shuffle=bool(shuffle)), 1):
        start = time.perf_counter()
        loss_sums, corrects = state.epoch(order)
        elapsed = time.perf_counter() - start
        models = state.params() if val is not None else None
        for i, r in enumerate(results):
            loss = float(loss_sums[i]) / n
            if not math.isfinite(loss):
                raise ValueError(
                    f"model {i} (learning_rate {lrs[i]}) diverged in epoch {epoch} (train loss "
                    f"{loss}); lower its learning rate or the momentum (now {momentum})"
                )
            record = {"loss": loss, "accuracy": int(corrects[i]) / n}
            if models is not None:
                record["val_loss"], record["val_accuracy"] = evaluate_pairs(
                    spec, models[i], *val, batch_size=batch_size
                )
            record["time"] = elapsed
            for key, v in record.items():
                r.history[key].append(v)
    for r, p in zip(results, state.params()):
        r.params = from_pairs(spec, p)
    return results


class _Stacked:
    """K models' parameters and velocities stacked on the JAX device, and the epoch that
    trains them."""

    def __init__(self, spec, pairs, lrs, x, y, batch_size, momentum) -> None:
        from ..backends import get_backend

        get_backend("jax")  # actionable ImportError; x64 on
        import jax
        import jax.numpy as jnp

        self.jax, self.spec, self.n = jax, spec, x.shape[0]
        models = [from_pairs(spec, p) for p in pairs]
        self.p = jax.tree.map(lambda *a: jnp.stack([np.array(t) for t in a]), *models)
        self.v = jax.tree.map(jnp.zeros_like, self.p)
        self.lrs = jnp.asarray(np.array(lrs, dtype=np.float64))
        self.x, self.y = jax.device_put(x), jax.device_put(y)
        self.labels = jax.device_put(class_labels(spec, y))
        self.fn = _epoch_fn(spec, self.n, batch_size, momentum, one_output_threshold(spec))

    def epoch(self, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        order_dev = self.jax.device_put(order.astype(np.int32 if self.n < 2**31 else np.int64))
        self.p, self.v, loss_sums, corrects = self.fn(
            self.p, self.v, self.lrs, self.x, self.y, self.labels, order_dev
        )
        return np.asarray(loss_sums), np.asarray(corrects)

    def params(self) -> list[Params]:
        """Each model's parameters as numpy ``[(W, b), ...]`` pairs."""
        host = self.jax.device_get(self.p)
        k = int(self.lrs.shape[0])
        models = [self.jax.tree.map(lambda a, i=i: np.array(a[i]), host) for i in range(k)]
        return [as_pairs(self.spec, m) for m in models]
