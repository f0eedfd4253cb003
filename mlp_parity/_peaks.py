"""The hardware's side of the benchmark: float32 matmul peaks, and the ceilings a training
step's matmuls alone reach in numpy, XLA and TensorFlow (what a backend could reach if
everything but the matmuls were free). :mod:`mlp_parity.bench` reports training against these.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .spec import MLPSpec

DEFAULT_SIZES = (784, 128, 128, 10)


def peak_samples_per_s(gflops: float, spec: MLPSpec) -> float:
    """Samples/s a step would run at ``gflops`` by issue 5's yardstick: 6 FLOPs per parameter
    per sample (forward 2, backward 4)."""
    return gflops * 1e9 / (6 * spec.num_params)


def peak_spread(peaks: Sequence[float]) -> float:
    """How far apart repeated peak measurements are: ``(max - min) / max`` (0 when they
    agree, or when there are fewer than two)."""
    if len(peaks) < 2 or max(peaks) <= 0:
        return 0.0
    return float((max(peaks) - min(peaks)) / max(peaks))


#: Peak measurements further apart than this (relative to the highest) make the figures
#: unreliable: the machine's speed changed during the run.
UNRELIABLE_SPREAD = 0.2


def reliability(peaks: Sequence[float]) -> dict[str, Any]:
    """``{"unreliable": bool, "peak_spread": float}`` of a run's peak measurements, with an
    ``"unreliable_reason"`` when they disagree by more than :data:`UNRELIABLE_SPREAD`."""
    spread = peak_spread(peaks)
    out: dict[str, Any] = {"unreliable": spread > UNRELIABLE_SPREAD, "peak_spread": spread}
    if out["unreliable"]:
        out["unreliable_reason"] = (
            f"the matmul peak measured {min(peaks):.1f} to {max(peaks):.1f} GFLOP/s during the "
            f"run ({spread:.0%} apart, over {UNRELIABLE_SPREAD:.0%}): the machine was busy, so "
            "these figures are unreliable; rerun on an idle machine"
        )
    return out


def _best_seconds(fn, repeats: int) -> float:
    """The shortest wall time of ``repeats`` calls of ``fn`` (which must wait for its result)."""
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def matmul_peak(dtype: str = "float32", n: int = 2048, repeats: int = 10) -> float:
    """Best GFLOP/s of an ``n x n @ n x n`` matmul in numpy (its BLAS, all cores)."""
    rng = np.random.default_rng(0)
    a = rng.random((n, n)).astype(dtype)
    b = rng.random((n, n)).astype(dtype)
    a @ b  # warm up threads and caches
    return 2 * n**3 / _best_seconds(lambda: a @ b, repeats) / 1e9


def matmul_ceiling(
    sizes: Sequence[int] = DEFAULT_SIZES, batch_size: int = 128, steps: int = 300
) -> float:
    """Samples/s of a training step's matmuls alone (forward, weight gradients, deltas) at this
    batch size in numpy float32: what any backend could reach if everything but the matmuls
    were free. Small matmuls run below the big-matmul peak; this says by how much."""
    rng = np.random.default_rng(0)
    Ws = [rng.random((a, b), dtype=np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    acts = [rng.random((batch_size, w), dtype=np.float32) for w in sizes]
    gWs = [np.empty_like(W) for W in Ws]

    def step() -> None:
        for i, W in enumerate(Ws):
            np.matmul(acts[i], W, out=acts[i + 1])
        for i in range(len(Ws) - 1, -1, -1):
            np.matmul(acts[i].T, acts[i + 1], out=gWs[i])
            if i > 0:
                np.matmul(acts[i + 1], Ws[i].T, out=acts[i])

    for _ in range(20):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch_size / (time.perf_counter() - t)


_LOOP_OPTIONS = object()  # jax_ceiling_loop's default: compile as the jax training loop does


def jax_ceiling_loop(
    sizes: Sequence[int] = DEFAULT_SIZES,
    batch_size: int = 128,
    steps: int = 469,
    options: Any = _LOOP_OPTIONS,
) -> Callable[[], Any]:
    """``run()``: one pass of :func:`jax_matmul_ceiling`'s jitted scan (``steps`` steps of the
    matmuls and weight updates, float32), compiled by its first call here with XLA
    ``options`` (by default the jax loop's: YNNPACK off on the CPU; ``None``: XLA's
    defaults); for callers that time it their own way (``benchmarks/levers.py``)."""
    from .backends import get_backend

    get_backend("jax")  # highest matmul precision
    import jax
    import jax.numpy as jnp

    from .train.jax_loop import compiler_options

    rng = np.random.default_rng(0)
    Ws = [jnp.asarray(rng.random((a, b), dtype=np.float32)) for a, b in zip(sizes[:-1], sizes[1:])]
    xs = jnp.asarray(rng.random((steps, batch_size, sizes[0]), dtype=np.float32))

    def step(Ws, x):
        acts = [x]
        for W in Ws:
            acts.append(acts[-1] @ W)
        d, grads = acts[-1], []
        for i in range(len(Ws) - 1, -1, -1):
            grads.append(acts[i].T @ d)
            if i > 0:
                d = d @ Ws[i].T
        return [W - 1e-9 * g for W, g in zip(Ws, grads[::-1])], None

    opts = compiler_options() if options is _LOOP_OPTIONS else options
    fn = jax.jit(lambda Ws, xs: jax.lax.scan(step, Ws, xs)[0], compiler_options=opts)
    jax.block_until_ready(fn(Ws, xs))  # compile
    return lambda: jax.block_until_ready(fn(Ws, xs))


def jax_matmul_ceiling(
    sizes: Sequence[int] = DEFAULT_SIZES, batch_size: int = 128, steps: int = 469
) -> float:
    """:func:`matmul_ceiling` for XLA: samples/s of the same matmuls (and a weight update, so
    that nothing is hoisted out of the loop) in one jitted ``lax.scan``, float32, on JAX's
    default device, compiled as the jax loop's epoch is (YNNPACK off on the CPU). What the jax
    backend could reach if everything but the matmuls were free."""
    run = jax_ceiling_loop(sizes, batch_size, steps)
    return steps * batch_size / _best_seconds(run, 3)


def tf_ceiling_loop(
    sizes: Sequence[int] = DEFAULT_SIZES, batch_size: int = 128, steps: int = 469
) -> Callable[[], Any]:
    """``run()``: one pass of :func:`tf_matmul_ceiling`'s loop (``steps`` steps of the matmuls
    and weight updates, float32), compiled by its first call here; for callers that time it
    their own way (``benchmarks/levers.py``)."""
    from .backends import get_backend

    get_backend("keras")  # its TensorFlow settings (TF32 off, oneDNN off unless set)
    import tensorflow as tf

    rng = np.random.default_rng(0)
    Ws = [tf.Variable(rng.random((a, b), dtype=np.float32)) for a, b in zip(sizes[:-1], sizes[1:])]
    xs = tf.constant(rng.random((steps, batch_size, sizes[0]), dtype=np.float32))

    from .train.keras_loop import _tf_loop, _xla_or_graph

    def run(xs):  # an argument: XLA would fold a captured constant into the program
        for s in tf.range(steps):
            acts = [xs[s]]
            for W in Ws:
                acts.append(tf.matmul(acts[-1], W))
            d, grads = acts[-1], []
            for i in range(len(Ws) - 1, -1, -1):
                grads.append(tf.matmul(acts[i], d, transpose_a=True))
                if i > 0:
                    d = tf.matmul(d, Ws[i], transpose_b=True)
            for W, g in zip(Ws, grads[::-1]):
                W.assign_sub(1e-9 * g)
        return tf.constant(0)

    fn, plain = _tf_loop(tf, run)
    _, fn = _xla_or_graph(tf, fn, plain, (xs,), "tf_matmul_ceiling")  # compile (or fall back)
    return lambda: fn(xs).numpy()


def tf_matmul_ceiling(
    sizes: Sequence[int] = DEFAULT_SIZES, batch_size: int = 128, steps: int = 469
) -> float:
    """:func:`matmul_ceiling` for TensorFlow, the kernels Keras runs on (with the keras
    backend's settings): the same matmuls and a weight update in an XLA-compiled
    ``tf.function`` loop, as the keras backend trains by default (``jit_compile``; the graph
    executor, with a warning, where XLA is unavailable), float32. What the keras backend could
    reach if everything but the matmuls were free."""
    run = tf_ceiling_loop(sizes, batch_size, steps)
    return steps * batch_size / _best_seconds(run, 3)


def jax_matmul_peak(n: int = 8192, repeats: int = 10) -> float:
    """Best float32 GFLOP/s of an ``n x n @ n x n`` matmul in JAX on its default device, at the
    precision parity uses (``highest``: no TF32 on GPUs). The peak for a JAX on an
    accelerator, where numpy's CPU peak says nothing."""
    from .backends import get_backend

    get_backend("jax")  # x64, highest matmul precision
    import jax
    import jax.numpy as jnp

    key_a, key_b = jax.random.split(jax.random.key(0))
    a = jax.random.uniform(key_a, (n, n), jnp.float32)
    b = jax.random.uniform(key_b, (n, n), jnp.float32)
    mm = jax.jit(lambda a, b: a @ b)
    mm(a, b).block_until_ready()  # compile, warm up
    return 2 * n**3 / _best_seconds(lambda: mm(a, b).block_until_ready(), repeats) / 1e9
