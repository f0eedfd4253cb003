"""Throughput against this machine's own peak, measured in one process.

Peak: float32 matrix multiply GFLOP/s of the BLAS numpy uses (2048-square matmuls, best of 10,
measured before and after the rest, the higher kept). A training step costs about 6 FLOPs per
parameter per sample (forward 2, backward 4), so
``peak samples/s = GFLOP/s * 1e9 / (6 * parameters)``, and each backend's training throughput
is reported as a fraction of that. On an accelerator, JAX is also reported against the
device's own float32 matmul peak. Also measured: the tutorial's per-sample loop (the baseline),
``check_backprop`` examples/s on a correct implementation, and throughput against batch size.
Speed is reported, never asserted.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .spec import MLPSpec

DEFAULT_SIZES = (784, 128, 128, 10)


def _peak_samples_per_s(gflops: float, spec: MLPSpec) -> float:
    """Samples/s a step would run at ``gflops`` by issue 5's yardstick: 6 FLOPs per parameter
    per sample (forward 2, backward 4)."""
    return gflops * 1e9 / (6 * spec.num_params)


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


def jax_matmul_ceiling(
    sizes: Sequence[int] = DEFAULT_SIZES, batch_size: int = 128, steps: int = 469
) -> float:
    """:func:`matmul_ceiling` for XLA: samples/s of the same matmuls (and a weight update, so
    that nothing is hoisted out of the loop) in one jitted ``lax.scan``, float32, on JAX's
    default device. What the jax backend could reach if everything but the matmuls were free."""
    from .backends import get_backend

    get_backend("jax")  # highest matmul precision
    import jax
    import jax.numpy as jnp

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

    run = jax.jit(lambda Ws, xs: jax.lax.scan(step, Ws, xs)[0])
    jax.block_until_ready(run(Ws, xs))  # compile
    return steps * batch_size / _best_seconds(lambda: jax.block_until_ready(run(Ws, xs)), 3)


def tf_matmul_ceiling(
    sizes: Sequence[int] = DEFAULT_SIZES, batch_size: int = 128, steps: int = 469
) -> float:
    """:func:`matmul_ceiling` for TensorFlow, the kernels Keras runs on (with the keras
    backend's settings): the same matmuls and a weight update in an XLA-compiled
    ``tf.function`` loop, as the keras backend trains (``train.KERAS_JIT_COMPILE``; the graph
    executor, with a warning, where XLA is unavailable), float32. What the keras backend could
    reach if everything but the matmuls were free."""
    from .backends import get_backend

    get_backend("keras")  # its TensorFlow settings (TF32 off, oneDNN off unless set)
    import tensorflow as tf

    rng = np.random.default_rng(0)
    Ws = [tf.Variable(rng.random((a, b), dtype=np.float32)) for a, b in zip(sizes[:-1], sizes[1:])]
    xs = tf.constant(rng.random((steps, batch_size, sizes[0]), dtype=np.float32))

    from .train import _tf_loop, _xla_or_graph

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
    return steps * batch_size / _best_seconds(lambda: fn(xs).numpy(), 3)


def _data(n: int, spec: MLPSpec, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows of real digits (the shipped sample, tiled) when the input is 784 wide."""
    if spec.sizes[0] == 784 and spec.sizes[-1] == 10:
        from .data import load_dataset

        ds = load_dataset("mnist-sample", dtype=dtype, progress=False)
        reps = -(-n // len(ds.x_train))
        return np.tile(ds.x_train, (reps, 1))[:n], np.tile(ds.y_train, reps)[:n]
    rng = np.random.default_rng(0)
    return rng.random((n, spec.sizes[0])).astype(dtype), rng.integers(0, spec.sizes[-1], n)


def training_throughput(
    backend: str,
    *,
    sizes: Sequence[int] = DEFAULT_SIZES,
    batch_size: int = 128,
    n: int = 60_000,
    epochs: int = 2,
    dtype: str = "float32",
) -> float:
    """Steady-state samples/s of :func:`mlp_parity.train.train` (the first epoch, which
    compiles or traces, is left out when ``epochs >= 2``)."""
    from .params import init_params
    from .train import train

    spec = MLPSpec(tuple(sizes), "relu", "softmax_cross_entropy")
    x, y = _data(n, spec, dtype)
    result = train(
        spec,
        init_params(spec, dtype=dtype),
        x,
        y,
        backend=backend,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=0.01,
        momentum=0.9,
    )
    return result.samples_per_second


def tutorial_loop_throughput(n: int = 2000, batch_size: int = 128) -> float:
    """Samples/s of the tutorial's own per-sample backprop loop (with SGD updates), the
    baseline this project started from."""
    from .examples import tutorial
    from .params import init_params

    spec = MLPSpec(tutorial.SIZES, tutorial.ACTIVATION, tutorial.LOSS)
    params = init_params(spec, dtype="float64")
    x, y = _data(n, spec, "float64")
    onehot = np.eye(10)[y]
    t = time.perf_counter()
    for i in range(0, n, batch_size):
        grads = tutorial.original_backprop(
            params, x[i : i + batch_size], onehot[i : i + batch_size]
        )
        params = [(W - 0.01 * gW, b - 0.01 * gb) for (W, b), (gW, gb) in zip(params, grads)]
    return n / (time.perf_counter() - t)


def check_rate(max_examples: int = 200) -> float:
    """``check_backprop`` examples/s on a correct implementation (after one warm-up run that
    fills the compile caches)."""
    from .debug import check_backprop
    from .examples.tutorial import corrected_backprop_vectorized as fn

    kw = dict(activation="sigmoid", loss="sigmoid_cross_entropy", seed=0)
    check_backprop(fn, max_examples=max_examples, **kw)
    t = time.perf_counter()
    report = check_backprop(fn, max_examples=max_examples, **kw)
    if not report.ok:  # pragma: no cover - would be a bug in the checker
        raise RuntimeError(f"check_backprop flagged a correct implementation:\n{report}")
    return report.examples_run / (time.perf_counter() - t)


def jax_device() -> str:
    try:
        from .backends import get_backend

        return get_backend("jax").device()
    except ImportError:
        return "not installed"


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


def run(
    backends: Sequence[str] = ("numpy", "jax", "keras"),
    *,
    sizes: Sequence[int] = DEFAULT_SIZES,
    batch_size: int = 128,
    n: int = 60_000,
    epochs: int = 2,
    batch_sizes: Sequence[int] = (16, 32, 64, 128, 256, 512),
    scaling_n: int = 20_000,
    check_examples: int = 200,
    repeats: int = 1,
    peak_n: int = 2048,
    log=print,
) -> dict[str, Any]:
    """Every measurement; returns a JSON-ready dict. ``log`` receives progress lines.

    Headline ratios (matmul ceiling, training at ``batch_size``) divide each throughput by the
    peak measured just before and after it (the higher), the median of ``repeats`` rounds;
    ``fraction_of_best_peak`` divides by the best peak of the whole run instead. The tutorial
    loop and the batch-scaling table use the best peak. ``peak_n`` sizes the square matmuls
    that measure the peak (smaller is quicker, and reads lower)."""
    from .backends import available_backends

    spec = MLPSpec(tuple(sizes), "relu", "softmax_cross_entropy")
    installed = available_backends()
    backends = [b for b in backends if b in installed]
    out: dict[str, Any] = {
        "sizes": list(spec.sizes),
        "parameters": spec.num_params,
        "dtype": "float32",
        "batch_size": batch_size,
        "samples_per_epoch": n,
        "epochs": epochs,
        "repeats": repeats,
        "jax_device": jax_device(),
        "training": {},
        "batch_scaling": {},
        "batch_scaling_peak": {},
    }
    if "jax" in backends:
        from .train import _jax_scan_unroll

        out["jax_scan_unroll"] = _jax_scan_unroll()  # steps per iteration of jax's epoch scan
    device_peak_sps = None
    if "jax" in backends and not out["jax_device"].startswith("cpu"):
        log(f"measuring float32 matmul peak of JAX on {out['jax_device']} ...")
        out["jax_device_peak_gflops"] = jax_matmul_peak()
        device_peak_sps = _peak_samples_per_s(out["jax_device_peak_gflops"], spec)
        out["jax_device_peak_samples_per_s"] = device_peak_sps
    # This machine's speed drifts (the dev host's peak read 99-176 GFLOP/s within minutes), so
    # every headline measurement is bracketed by peak measurements and divided by the better of
    # its two brackets, taken seconds apart; ``repeats`` rounds, the median reported.
    log("measuring float32 matmul peak ...")
    peaks = [matmul_peak("float32", n=peak_n)]
    rounds: dict[str, list[tuple[float, float]]] = {}  # name -> [(samples/s, local peak)]

    def bracketed(name: str, measure) -> None:
        sps = measure()
        peaks.append(matmul_peak("float32", n=peak_n))
        rounds.setdefault(name, []).append((sps, max(peaks[-2], peaks[-1])))

    for r in range(repeats):
        suffix = f" (round {r + 1} of {repeats})" if repeats > 1 else ""
        log(f"matmul ceiling{suffix} ...")
        bracketed("ceiling", lambda: matmul_ceiling(sizes, batch_size))
        if "jax" in backends:
            bracketed("jax_ceiling", lambda: jax_matmul_ceiling(sizes, batch_size))
        if "keras" in backends:
            bracketed("tf_ceiling", lambda: tf_matmul_ceiling(sizes, batch_size))
        for b in backends:
            log(f"training throughput: {b}{suffix} ...")
            bracketed(
                b,
                lambda b=b: training_throughput(
                    b, sizes=sizes, batch_size=batch_size, n=n, epochs=epochs
                ),
            )
    log("tutorial per-sample loop ...")
    tutorial = tutorial_loop_throughput()
    scaling = {}
    for b in backends:
        log(f"batch scaling: {b} ...")
        scaling[b] = {
            str(bs): training_throughput(b, sizes=sizes, batch_size=bs, n=scaling_n, epochs=2)
            for bs in batch_sizes
        }
    peaks.append(matmul_peak("float32", n=peak_n))
    peak = max(peaks)
    peak_sps = _peak_samples_per_s(peak, spec)
    out["matmul_peak_gflops"] = peak
    out["matmul_peak_gflops_measurements"] = peaks
    out["peak_samples_per_s"] = peak_sps

    def summary(name: str) -> dict[str, Any]:
        fractions = [sps / _peak_samples_per_s(p, spec) for sps, p in rounds[name]]
        median_sps = float(np.median([sps for sps, _ in rounds[name]]))
        return {
            "samples_per_s": median_sps,
            "fraction_of_peak": float(np.median(fractions)),
            "fraction_of_best_peak": median_sps / peak_sps,
            "rounds": [
                {"samples_per_s": sps, "local_peak_gflops": p, "fraction_of_peak": f}
                for (sps, p), f in zip(rounds[name], fractions)
            ],
        }

    out["matmul_ceiling"] = summary("ceiling")
    if "jax_ceiling" in rounds:
        out["jax_matmul_ceiling"] = summary("jax_ceiling")
        if device_peak_sps:
            sps = out["jax_matmul_ceiling"]["samples_per_s"]
            out["jax_matmul_ceiling"]["fraction_of_device_peak"] = sps / device_peak_sps
    if "tf_ceiling" in rounds:
        out["keras_matmul_ceiling"] = summary("tf_ceiling")
    for b in backends:
        out["training"][b] = summary(b)
        if b == "jax" and device_peak_sps:
            sps = out["training"][b]["samples_per_s"]
            out["training"][b]["fraction_of_device_peak"] = sps / device_peak_sps
    out["tutorial_loop"] = {"samples_per_s": tutorial, "fraction_of_peak": tutorial / peak_sps}
    for b, row in scaling.items():
        on_device = b == "jax" and device_peak_sps is not None
        ref = device_peak_sps if on_device else peak_sps
        out["batch_scaling"][b] = {bs: sps / ref for bs, sps in row.items()}
        out["batch_scaling_peak"][b] = "jax device" if on_device else "cpu matmul"
    if check_examples:
        log("check_backprop rate ...")
        try:
            out["check_backprop_examples_per_s"] = check_rate(check_examples)
        except ImportError as e:
            out["check_backprop_examples_per_s"] = None
            log(f"  skipped: {e}")
    return out


def format_table(r: dict[str, Any]) -> str:
    lines = [
        f"network {'-'.join(map(str, r['sizes']))} ({r['parameters']:,} parameters), float32, "
        f"batch {r['batch_size']}, {r['samples_per_epoch']:,} samples/epoch",
        f"float32 matmul peak {r['matmul_peak_gflops']:.1f} GFLOP/s -> "
        f"peak {r['peak_samples_per_s']:,.0f} samples/s (6 FLOPs/parameter/sample)",
        f"JAX device: {r['jax_device']}"
        + (f", epoch scan unroll {r['jax_scan_unroll']}" if r.get("jax_scan_unroll") else ""),
    ]
    if r.get("jax_device_peak_gflops"):
        lines.append(
            f"JAX device float32 matmul peak {r['jax_device_peak_gflops']:,.0f} GFLOP/s -> "
            f"{r['jax_device_peak_samples_per_s']:,.0f} samples/s (jax's 'of device' column)"
        )
    lines += [
        "",
        f"{'backend':<16}{'samples/s':>12}{'of peak':>10}{'of best':>10}",
    ]
    rows = [("matmuls only", r["matmul_ceiling"])]
    if "jax_matmul_ceiling" in r:
        rows.append(("matmuls in XLA", r["jax_matmul_ceiling"]))
    if "keras_matmul_ceiling" in r:
        rows.append(("matmuls in TF", r["keras_matmul_ceiling"]))
    rows += list(r["training"].items())
    for name, v in rows:
        line = (
            f"{name:<16}{v['samples_per_s']:>12,.0f}{v['fraction_of_peak']:>10.2f}"
            f"{v.get('fraction_of_best_peak', v['fraction_of_peak']):>10.2f}"
        )
        if name == "matmuls only":
            line += "   (a step's matmuls at this batch size, numpy)"
        elif name == "matmuls in XLA":
            line += "   (the same in a jitted lax.scan: jax's ceiling)"
        elif name == "matmuls in TF":
            line += "   (the same in a tf.function loop: keras' ceiling)"
        if "fraction_of_device_peak" in v:
            line += f"   ({v['fraction_of_device_peak']:.3f} of device peak)"
        lines.append(line)
    t = r["tutorial_loop"]
    lines.append(
        f"{'tutorial loop':<16}{t['samples_per_s']:>12,.0f}{'':>10}{t['fraction_of_peak']:>10.3f}"
    )
    rounds = r.get("repeats", 1)
    lines.append(
        "of peak: against the peak measured just before and after"
        + (f" (median of {rounds} rounds)" if rounds > 1 else "")
        + "; of best: against the run's best peak"
    )
    if r.get("batch_scaling"):
        sizes = list(next(iter(r["batch_scaling"].values())))
        lines += [
            "",
            "fraction of the best peak by batch size",
            f"{'backend':<16}" + "".join(f"{s:>8}" for s in sizes),
        ]
        for b, row in r["batch_scaling"].items():
            line = f"{b:<16}" + "".join(f"{row[s]:>8.2f}" for s in sizes)
            if r.get("batch_scaling_peak", {}).get(b) == "jax device":
                line += "   (of the JAX device's peak)"
            lines.append(line)
    rate = r.get("check_backprop_examples_per_s")
    if rate is not None:
        lines += ["", f"check_backprop on a correct backprop: {rate:,.0f} examples/s"]
    return "\n".join(lines)
