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
    "matmul_ceiling",
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
    machine. Unknown backends, or none installed: ``ValueError`` before measuring."""
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

    headline = (backends, sizes, batch_size, repeats, peak_n)
    peaks, rounds = _headline_rounds(*headline, lambda b: throughput(b, batch_size, n, epochs), log)
    log("tutorial per-sample loop ...")
    tutorial = tutorial_loop_throughput()
    scaling = {}
    for b in backends:
        log(f"batch scaling: {b} ...")
        scaling[b] = {str(bs): throughput(b, bs, scaling_n, 2) for bs in batch_sizes}
    peaks.append(matmul_peak("float32", n=peak_n))
    _summarize(out, spec, peaks, rounds, tutorial, scaling, device_peak_sps)
    if check_examples:
        out["check_backprop_examples_per_s"] = _check_rate_or_none(check_examples, log)
    return out


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


def _headline_rounds(backends, sizes, batch_size, repeats, peak_n, throughput, log):
    """``(peaks, rounds)``: the matmul ceilings and ``throughput(backend)`` of each backend,
    ``repeats`` rounds, each measurement bracketed by peak measurements (this machine's speed
    drifts within minutes: BENCHMARKS.md); ``rounds[name]`` lists ``(samples/s, the better of
    its two brackets)``."""
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
    return peaks, rounds


def _summarize(out, spec, peaks, rounds, tutorial, scaling, device_peak_sps) -> None:
    """Fill ``out`` with the peaks and each measurement's ratios to them."""
    peak = max(peaks)
    peak_sps = peak_samples_per_s(peak, spec)
    out["matmul_peak_gflops"] = peak
    out["matmul_peak_gflops_measurements"] = peaks
    out["peak_samples_per_s"] = peak_sps
    out.update(reliability(peaks))

    def summary(name: str) -> dict[str, Any]:
        fractions = [sps / peak_samples_per_s(p, spec) for sps, p in rounds[name]]
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


_CEILING_NOTES = {
    "matmuls only": "   (a step's matmuls at this batch size, numpy)",
    "matmuls in XLA": "   (the same in a jitted lax.scan: jax's ceiling)",
    "matmuls in TF": "   (the same in a tf.function loop: keras' ceiling)",
}


def format_table(r: dict[str, Any]) -> str:
    """The result of :func:`run` as a plain-text table."""
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
            f"{r['jax_devicepeak_samples_per_s']:,.0f} samples/s (jax's 'of device' column)"
        )
    if r.get("unreliable"):
        lines.append(f"WARNING: {r['unreliable_reason']}")
    lines += ["", f"{'backend':<16}{'samples/s':>12}{'of peak':>10}{'of best':>10}"]
    rows = [("matmuls only", r["matmul_ceiling"])]
    if "jax_matmul_ceiling" in r:
        rows.append(("matmuls in XLA", r["jax_matmul_ceiling"]))
    if "keras_matmul_ceiling" in r:
        rows.append(("matmuls in TF", r["keras_matmul_ceiling"]))
    for name, v in rows + list(r["training"].items()):
        line = (
            f"{name:<16}{v['samples_per_s']:>12,.0f}{v['fraction_of_peak']:>10.2f}"
            f"{v.get('fraction_of_best_peak', v['fraction_of_peak']):>10.2f}"
        ) + _CEILING_NOTES.get(name, "")
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
    lines += _scaling_lines(r)
    rate = r.get("check_backprop_examples_per_s")
    if rate is not None:
        lines += ["", f"check_backprop on a correct backprop: {rate:,.0f} examples/s"]
    return "\n".join(lines)


def _scaling_lines(r: dict[str, Any]) -> list[str]:
    if not r.get("batch_scaling"):
        return []
    sizes = list(next(iter(r["batch_scaling"].values())))
    lines = [
        "",
        "fraction of the best peak by batch size",
        f"{'backend':<16}" + "".join(f"{s:>8}" for s in sizes),
    ]
    for b, row in r["batch_scaling"].items():
        line = f"{b:<16}" + "".join(f"{row[s]:>8.2f}" for s in sizes)
        if r.get("batch_scaling_peak", {}).get(b) == "jax device":
            line += "   (of the JAX device's peak)"
        lines.append(line)
    return lines
