"""The plain-text table of :func:`mlp_parity.bench.run`'s result."""

from __future__ import annotations

from typing import Any

from ._limit import limit_lines

_CEILING_NOTES = {
    "matmuls only": "   (a step's matmuls at this batch size, numpy)",
    "matmuls in XLA": "   (the same in a jitted lax.scan: jax's ceiling)",
    "matmuls in TF": "   (the same in a tf.function loop: keras' ceiling)",
}


#: Width of the name column.
W = 29
OWN = "numpy (OpenBLAS own kernel)"


def _rows(r: dict[str, Any], notes: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """The table's ``(name, row)`` pairs: ceilings, then training, numpy under OpenBLAS's own
    kernel (``numpy_own_kernel``) beside numpy's; ``notes`` gets what names each kernel."""
    own = r.get("numpy_own_kernel") or {}
    pinned = (r.get("machine_limit") or {}).get("float32", {}).get("numpy_architecture")
    rows = [("matmuls only", r["matmul_ceiling"])]
    if own.get("matmul_ceiling"):
        rows.append(("matmuls only, own kernel", own["matmul_ceiling"]))
        notes["matmuls only, own kernel"] = "   (the same, OpenBLAS choosing its kernel)"
    if "jax_matmul_ceiling" in r:
        rows.append(("matmuls in XLA", r["jax_matmul_ceiling"]))
    if "keras_matmul_ceiling" in r:
        rows.append(("matmuls in TF", r["keras_matmul_ceiling"]))
    for b, v in r["training"].items():
        rows.append((b, v))
        if b == "numpy" and own.get("training"):
            rows.append((OWN, own["training"]))
    if pinned and own.get("pinned"):
        notes["numpy"] = f"   (kernel {pinned}, pinned by {', '.join(own['pinned'])})"
    if own.get("architecture"):
        notes[OWN] = f"   (kernel {own['architecture']}; a subprocess without the pinning)"
    return rows


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
    lines += ["", f"{'backend':<{W}}{'samples/s':>12}{limit_head}{'of peak':>10}{'of best':>10}"]
    notes = dict(_CEILING_NOTES)
    for name, v in _rows(r, notes):
        of_limit = f"{v['fraction_of_limit']:>10.2f}" if with_limit else ""
        line = (
            f"{name:<{W}}{v['samples_per_s']:>12,.0f}{of_limit}{v['fraction_of_peak']:>10.2f}"
            f"{v.get('fraction_of_best_peak', v['fraction_of_peak']):>10.2f}"
        ) + notes.get(name, "")
        if "fraction_of_device_peak" in v:
            line += f"   ({v['fraction_of_device_peak']:.3f} of device peak)"
        lines.append(line)
    t = r["tutorial_loop"]
    of_limit = f"{t['fraction_of_limit']:>10.3f}" if with_limit else ""
    lines.append(
        f"{'tutorial loop':<{W}}{t['samples_per_s']:>12,.0f}{of_limit}{'':>10}"
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
    lines += [
        f"  note: {OWN}: {note}" for note in (r.get("numpy_own_kernel") or {}).get("notes", [])
    ]
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
        f"{'backend':<{W}}" + "".join(f"{s:>8}" for s in sizes),
    ]
    for b, row in table.items():
        line = f"{b:<{W}}" + "".join(f"{row[s]:>8.2f}" for s in sizes)
        if r.get("batch_scaling_peak", {}).get(b) == "jax device":
            line += "   (of the JAX device's peak)"
        lines.append(line)
    return lines
