"""Throughput against this machine's limit, measured in one process.

**Limit** (the yardstick): the float32 (and float64) matrix-multiply GFLOP/s of the machine,
the best of XLA's matmul on the CPU, OpenBLAS's own kernel (a subprocess with the environment's
kernel pinning unset) and numpy's (pinned) matmul, measured before and after the rest, the
higher kept (:mod:`mlp_parity._limit`). **Peak**: numpy's own float32 matmul GFLOP/s
(2048-square matmuls, best of 10), measured before and after each figure: with a pinned
OpenBLAS kernel it reads below the machine's limit; it is kept beside it ("of peak"). A
training step costs about 6 FLOPs per parameter per sample (forward 2, backward 4), so
``samples/s = GFLOP/s * 1e9 / (6 * parameters)``, and each throughput is reported as a
fraction of both. On an accelerator, JAX is also reported against the device's own float32
matmul peak. Also measured: each engine's step-matmul ceiling, the tutorial's per-sample loop
(the baseline), ``check_backprop`` examples/s on a correct implementation, and throughput
against batch size. Speed is reported, never asserted.

JSON keys of :func:`run` (besides the settings echoed back):

* ``machine_limit``: ``{"float32": row, "float64": row}``, each row ``gflops`` (the limit),
  ``source`` (``xla``, ``openblas`` or ``numpy``), ``xla_gflops``, ``openblas_gflops``,
  ``openblas_architecture`` (the kernel OpenBLAS chose, threadpoolctl's name),
  ``numpy_gflops``, ``numpy_architecture`` (the pinned kernel), ``pinned`` (the variables
  unset for the subprocess), ``measurements`` (the limit at the start and the end), ``notes``;
* ``limit_gflops``, ``limit_samples_per_s``: the float32 limit; ``limit_samples_per_s_by_dtype``;
* ``matmul_peak_gflops`` (numpy's best), ``matmul_peak_gflops_measurements``,
  ``peak_samples_per_s``, ``unreliable``, ``peak_spread`` (``unreliable_reason``);
* ``matmul_ceiling``, ``jax_matmul_ceiling``, ``keras_matmul_ceiling`` and ``training[backend]``:
  ``samples_per_s`` (median of the rounds), ``fraction_of_limit``, ``fraction_of_peak``
  (against numpy's bracketing peaks), ``fraction_of_best_peak``, ``rounds``;
  ``fraction_of_device_peak`` for jax on an accelerator;
* ``numpy_own_kernel`` (numpy among the backends): numpy again under OpenBLAS's own kernel, a
  subprocess without the pinning (:func:`_limit.numpy_own_kernel`): ``training``,
  ``matmul_ceiling`` (rows as above; a round's local peak is its pinned neighbour's),
  ``architecture`` (the kernel that ran), ``pinned`` (the variables left out), ``notes``;
* ``tutorial_loop``: ``samples_per_s``, ``fraction_of_peak``, ``fraction_of_limit`` (it runs in
  float64: against the float64 limit);
* ``batch_scaling[backend][batch]`` (of numpy's best peak), ``batch_scaling_of_limit`` (of the
  float32 limit; jax on an accelerator: of the device's peak in both), ``batch_scaling_peak``;
* ``check_backprop_examples_per_s``, ``jax_device``, ``jax_scan_unroll``,
  ``jax_device_peak_gflops``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._bench_table import format_table
from ._limit import machine_limit, merge_limits, numpy_own_kernel
from ._peaks import (
    DEFAULT_SIZES,
    jax_matmul_ceiling,
    jax_matmul_peak,
    matmul_ceiling,
    matmul_peak,
    peak_samples_per_s,
    reliability,
    tf_matmul_ceiling,
)
from .backends import available_backends
from .spec import MLPSpec

__all__ = [
    "DEFAULT_SIZES",
    "check_rate",
    "format_table",
    "jax_device",
    "jax_matmul_ceiling",
    "jax_matmul_peak",
    "machine_limit",
    "matmul_ceiling",
    "numpy_own_kernel",
    "matmul_peak",
    "reliability",
    "run",
    "tf_matmul_ceiling",
    "training_throughput",
    "tutorial_loop_throughput",
]


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
    engine_options: dict[str, Any] | None = None,
) -> float:
    """Steady-state samples/s of :func:`mlp_parity.train.train` (the first epoch, which
    compiles or traces, is left out when ``epochs >= 2``); ``engine_options`` go to ``train``
    (e.g. jax's ``{"scan_unroll": 8}``)."""
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
        engine_options=engine_options,
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
    jax_scan_unroll: int | None = None,
    limit_repeats: int = 10,
    log=print,
) -> dict[str, Any]:
    """Every measurement; returns a JSON-ready dict. ``log`` receives progress lines.

    Headline ratios (matmul ceiling, training at ``batch_size``) divide each throughput by the
    peak measured just before and after it (the higher), the median of ``repeats`` rounds;
    ``fraction_of_best_peak`` divides by the best peak of the whole run instead. The tutorial
    loop and the batch-scaling table use the best peak. ``peak_n`` sizes the square matmuls
    that measure the peak (smaller is quicker, and reads lower). ``jax_scan_unroll``: the jax
    loop's ``scan_unroll`` engine option (``None``: by device), reported in the result.
    ``out["unreliable"]`` (with a reason) when the peaks disagree by over 20 %: a busy
    machine. The machine limit (module docstring: at the start and the end, ``peak_n``-square
    matmuls, best of ``limit_repeats``) gives every ``fraction_of_limit``. Unknown backends,
    or none installed: ``ValueError`` before measuring.

    Long because every knob of the measurements is a documented keyword argument; the work is
    in the helpers it calls in order."""
    spec = MLPSpec(tuple(sizes), "relu", "softmax_cross_entropy")
    backends = _installed(backends)
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
    options = _engine_options(out, backends, jax_scan_unroll)
    device_peak_sps = _device_peak(out, spec, log) if "jax" in backends else None

    def throughput(b: str, bs: int, samples: int, epochs: int) -> float:
        kw = dict(sizes=sizes, batch_size=bs, n=samples, epochs=epochs)
        return training_throughput(b, engine_options=options[b], **kw)

    limits = [_limit(peak_n, limit_repeats, log)]
    headline = (backends, sizes, batch_size, repeats, peak_n)
    own: dict[str, Any] = {"notes": []}

    def own_kernel() -> dict[str, Any] | None:  # numpy again, OpenBLAS choosing its kernel
        log("numpy under OpenBLAS's own kernel (a subprocess) ...")
        try:
            got = numpy_own_kernel(sizes, batch_size, n, epochs)
        except (RuntimeError, OSError, ValueError) as e:
            own["notes"].append(str(e))
            return None
        own.update(architecture=got.get("architecture"), pinned=got.get("pinned", {}))
        return got

    measure = lambda b: throughput(b, batch_size, n, epochs)  # noqa: E731
    peaks, rounds = _headline_rounds(*headline, measure, log, own_kernel)
    log("tutorial per-sample loop ...")
    tutorial = tutorial_loop_throughput()
    scaling = {}
    for b in backends:
        log(f"batch scaling: {b} ...")
        scaling[b] = {str(bs): throughput(b, bs, scaling_n, 2) for bs in batch_sizes}
    peaks.append(matmul_peak("float32", n=peak_n))
    limits.append(_limit(peak_n, limit_repeats, log))
    _summarize(out, spec, peaks, rounds, tutorial, scaling, device_peak_sps)
    if "numpy" in backends:
        _own_kernel_rows(out, spec, peaks, rounds, own)
    _against_limit(out, spec, merge_limits(*limits), scaling, device_peak_sps)
    if check_examples:
        out["check_backprop_examples_per_s"] = _check_rate_or_none(check_examples, log)
    return out


def _limit(n: int, repeats: int, log) -> dict[str, Any]:
    log("measuring the machine limit (XLA, OpenBLAS's own kernel, numpy) ...")
    return machine_limit(n=n, repeats=repeats, use_jax="jax" in available_backends())


def _installed(backends: Sequence[str]) -> list[str]:
    """The installed ones of ``backends``; ``ValueError`` on an unknown name or when none is
    installed."""
    from .train import TRAIN_BACKENDS

    if isinstance(backends, str):
        backends = [backends]
    unknown = [b for b in backends if b not in TRAIN_BACKENDS]
    if unknown:
        raise ValueError(f"unknown backend {unknown[0]!r} in backends; expected {TRAIN_BACKENDS}")
    installed = available_backends()
    kept = [b for b in dict.fromkeys(backends) if b in installed]
    if not kept:
        raise ValueError(f"backends: none of {list(backends)} is installed; nothing to measure")
    return kept


def _engine_options(out: dict[str, Any], backends: list[str], jax_scan_unroll) -> dict:
    """Each backend's ``train(engine_options=...)``; jax's scan unroll, resolved, into ``out``."""
    options: dict[str, dict[str, Any]] = {b: {} for b in backends}
    if "jax" in backends:
        from .train.jax_loop import resolve_scan_unroll

        out["jax_scan_unroll"] = resolve_scan_unroll(jax_scan_unroll)
        options["jax"] = {"scan_unroll": out["jax_scan_unroll"]}
    return options


def _check_rate_or_none(check_examples: int, log) -> float | None:
    log("check_backprop rate ...")
    try:
        return check_rate(check_examples)
    except ImportError as e:
        log(f"  skipped: {e}")
        return None


def _device_peak(out: dict[str, Any], spec: MLPSpec, log) -> float | None:
    """On an accelerator, JAX's own float32 matmul peak (into ``out``) in samples/s."""
    if out["jax_device"].startswith("cpu"):
        return None
    log(f"measuring float32 matmul peak of JAX on {out['jax_device']} ...")
    out["jax_device_peak_gflops"] = jax_matmul_peak()
    out["jax_devicepeak_samples_per_s"] = peak_samples_per_s(out["jax_device_peak_gflops"], spec)
    return out["jax_devicepeak_samples_per_s"]


def _headline_rounds(backends, sizes, batch_size, repeats, peak_n, throughput, log, own_kernel):
    """``(peaks, rounds)``: the matmul ceilings and ``throughput(backend)`` of each backend,
    ``repeats`` rounds, each measurement bracketed by peak measurements (this machine's speed
    drifts within minutes: BENCHMARKS.md); ``rounds[name]`` lists ``(samples/s, the better of
    its two brackets)``. Right after numpy's, ``own_kernel()`` (``None`` when it failed) gives
    ``numpy_own``/``ceiling_own``, with numpy's brackets."""
    log("measuring float32 matmul peak ...")
    peaks = [matmul_peak("float32", n=peak_n)]
    rounds: dict[str, list[tuple[float, float]]] = {}

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
            bracketed(b, lambda b=b: throughput(b))
            got = own_kernel() if b == "numpy" else None
            if got:
                local_peak = rounds[b][-1][1]
                rounds.setdefault("numpy_own", []).append((got["training"], local_peak))
                rounds.setdefault("ceiling_own", []).append((got["ceiling"], local_peak))
    return peaks, rounds


def _summarize(out, spec, peaks, rounds, tutorial, scaling, device_peak_sps) -> None:
    """Fill ``out`` with the peaks and each measurement's ratios to them."""
    peak = max(peaks)
    peak_sps = peak_samples_per_s(peak, spec)
    out["matmul_peak_gflops"] = peak
    out["matmul_peak_gflops_measurements"] = peaks
    out["peak_samples_per_s"] = peak_sps
    out.update(reliability(peaks))
    summary = lambda name: _summary(rounds[name], spec, peak_sps)  # noqa: E731

    out["matmul_ceiling"] = summary("ceiling")
    for name, key in (
        ("jax_ceiling", "jax_matmul_ceiling"),
        ("tf_ceiling", "keras_matmul_ceiling"),
    ):
        if name in rounds:
            out[key] = summary(name)
    for b in scaling:
        out["training"][b] = summary(b)
    for row in (out.get("jax_matmul_ceiling"), out["training"].get("jax")):
        if row and device_peak_sps:
            row["fraction_of_device_peak"] = row["samples_per_s"] / device_peak_sps
    out["tutorial_loop"] = {"samples_per_s": tutorial, "fraction_of_peak": tutorial / peak_sps}
    for b, row in scaling.items():
        on_device = b == "jax" and device_peak_sps is not None
        ref = device_peak_sps if on_device else peak_sps
        out["batch_scaling"][b] = {bs: sps / ref for bs, sps in row.items()}
        out["batch_scaling_peak"][b] = "jax device" if on_device else "cpu matmul"


def _summary(rounds: list[tuple[float, float]], spec: MLPSpec, peak_sps: float) -> dict[str, Any]:
    """One measurement's row from its rounds ``(samples/s, local peak GFLOP/s)``: the median
    samples/s and its fractions of the local and the best peaks."""
    fractions = [sps / peak_samples_per_s(p, spec) for sps, p in rounds]
    median_sps = float(np.median([sps for sps, _ in rounds]))
    return {
        "samples_per_s": median_sps,
        "fraction_of_peak": float(np.median(fractions)),
        "fraction_of_best_peak": median_sps / peak_sps,
        "rounds": [
            {"samples_per_s": sps, "local_peak_gflops": p, "fraction_of_peak": f}
            for (sps, p), f in zip(rounds, fractions)
        ],
    }


def _own_kernel_rows(out, spec, peaks, rounds, own) -> None:
    """``out["numpy_own_kernel"]`` (module docstring) from the own-kernel rounds."""
    row: dict[str, Any] = {"architecture": None, "pinned": {}, **own}
    peak_sps = peak_samples_per_s(max(peaks), spec)
    for name, key in (("numpy_own", "training"), ("ceiling_own", "matmul_ceiling")):
        if rounds.get(name):
            row[key] = _summary(rounds[name], spec, peak_sps)
    out["numpy_own_kernel"] = row


def _against_limit(out, spec, limits, scaling, device_peak_sps) -> None:
    """Add the machine limit and every ratio against it to ``out`` (after :func:`_summarize`)."""
    by_dtype = {d: peak_samples_per_s(r["gflops"], spec) for d, r in limits.items()}
    limit_sps = by_dtype["float32"]
    out["machine_limit"] = limits
    out["limit_gflops"] = limits["float32"]["gflops"]
    out["limit_samples_per_s"] = limit_sps
    out["limit_samples_per_s_by_dtype"] = by_dtype
    rows = [out.get(k) for k in ("matmul_ceiling", "jax_matmul_ceiling", "keras_matmul_ceiling")]
    own = out.get("numpy_own_kernel", {})
    rows += [own.get("training"), own.get("matmul_ceiling")]
    for row in rows + list(out["training"].values()):
        if row:
            row["fraction_of_limit"] = row["samples_per_s"] / limit_sps
    tutorial = out["tutorial_loop"]
    tutorial["fraction_of_limit"] = tutorial["samples_per_s"] / by_dtype.get("float64", limit_sps)
    out["batch_scaling_of_limit"] = {}
    for b, row in scaling.items():
        on_device = b == "jax" and device_peak_sps is not None
        ref = device_peak_sps if on_device else limit_sps
        out["batch_scaling_of_limit"][b] = {bs: sps / ref for bs, sps in row.items()}
