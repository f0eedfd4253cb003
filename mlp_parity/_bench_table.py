"""The plain-text table of :func:`mlp_parity.bench.run`'s result."""

from __future__ import annotations

from typing import Any

from ._limit import limit_lines

_CEILING_NOTES = {
    "matmuls only": "   (a step's matmuls at this batch size, numpy)",
    "matmuls in XLA": "   (the same in a jitted lax.scan: jax's ceiling)",
    "matmuls in TF": "   (the same in a tf.function loop: keras' ceiling)",
}


def format_table(r: dict[str, Any]) -> str:
    """The result of :func:`mlp_parity.bench.run` as a plain-text table: "of limit" against
    the machine's limit (when measured), "of peak" against numpy's bracketing peaks, "of best"
    against numpy's best peak of the run."""
    lines = [
        f"network {'-'.join(map(str, r['sizes']))} ({r['parameters']:,} parameters), float32, "
        f"batch {r['batch_size']}, {r['samples_per_epoch']:,} samples/epoch",
        f"float32 matmul peak {r['matmul_peak_gflops']:.1f} GFLOP/s -> "
        f"peak {r['peak_samples_per_s']:,.0f} samples/s (6 FLOPs/parameter/sample)",
        f"JAX device: {r['jax_device']}"
        + (f", epoch scan unroll {r['jax_scan_unroll']}" if r.get("jax_scan_unroll") else ""),
    ]
    if r.get("machine_limit"):
        lines += limit_lines(r["machine_limit"], r["limit_samples_per_s_by_dtype"])
    if r.get("jax_device_peak_gflops"):
        lines.append(
            f"JAX device float32 matmul peak {r['jax_device_peak_gflops']:,.0f} GFLOP/s -> "
            f"{r['jax_devicepeak_samples_per_s']:,.0f} samples/s (jax's 'of device' column)"
        )
    if r.get("unreliable"):
        lines.append(f"WARNING: {r['unreliable_reason']}")
    with_limit = "limit_samples_per_s" in r
    limit_head = f"{'of limit':>10}" if with_limit else ""
    lines += ["", f"{'backend':<16}{'samples/s':>12}{limit_head}{'of peak':>10}{'of best':>10}"]
    rows = [("matmuls only", r["matmul_ceiling"])]
    if "jax_matmul_ceiling" in r:
        rows.append(("matmuls in XLA", r["jax_matmul_ceiling"]))
    if "keras_matmul_ceiling" in r:
        rows.append(("matmuls in TF", r["keras_matmul_ceiling"]))
    for name, v in rows + list(r["training"].items()):
        of_limit = f"{v['fraction_of_limit']:>10.2f}" if with_limit else ""
        line = (
            f"{name:<16}{v['samples_per_s']:>12,.0f}{of_limit}{v['fraction_of_peak']:>10.2f}"
            f"{v.get('fraction_of_best_peak', v['fraction_of_peak']):>10.2f}"
        ) + _CEILING_NOTES.get(name, "")
        if "fraction_of_device_peak" in v:
            line += f"   ({v['fraction_of_device_peak']:.3f} of device peak)"
        lines.append(line)
    t = r["tutorial_loop"]
    of_limit = f"{t['fraction_of_limit']:>10.3f}" if with_limit else ""
    lines.append(
        f"{'tutorial loop':<16}{t['samples_per_s']:>12,.0f}{of_limit}{'':>10}"
        f"{t['fraction_of_peak']:>10.3f}"
        + ("   (float64: of the float64 limit)" if with_limit else "")
    )
    rounds = r.get("repeats", 1)
    lines.append(
        ("of limit: against the machine's float32 limit; " if with_limit else "")
        + "of peak: against numpy's peak measured just before and after"
        + (f" (median of {rounds} rounds)" if rounds > 1 else "")
        + "; of best: against numpy's best peak of the run"
    )
    lines += _scaling_lines(r)
    rate = r.get("check_backprop_examples_per_s")
    if rate is not None:
        lines += ["", f"check_backprop on a correct backprop: {rate:,.0f} examples/s"]
    return "\n".join(lines)


def _scaling_lines(r: dict[str, Any]) -> list[str]:
    table = r.get("batch_scaling_of_limit") or r.get("batch_scaling")
    if not table or not any(table.values()):
        return []
    against = "the machine limit" if r.get("batch_scaling_of_limit") else "the best peak"
    sizes = list(next(iter(table.values())))
    lines = [
        "",
        f"fraction of {against} by batch size",
        f"{'backend':<16}" + "".join(f"{s:>8}" for s in sizes),
    ]
    for b, row in table.items():
        line = f"{b:<16}" + "".join(f"{row[s]:>8.2f}" for s in sizes)
        if r.get("batch_scaling_peak", {}).get(b) == "jax device":
            line += "   (of the JAX device's peak)"
        lines.append(line)
    return lines
