"""JAX training throughput against the epoch scan's ``unroll`` (jax's ``scan_unroll`` option).

Rounds alternate the settings so that a slow phase of the machine hits all of them alike.
Usage: ``python benchmarks/scan_unroll.py [--unrolls 1,2,4,8,16] [--batch-sizes 128,512]
[--rounds 3] [--json FILE]`` ("auto" in --unrolls: the default, which picks by device).
Prints samples/s (median of the rounds) and the ratio to the first setting.
"""

from __future__ import annotations

import argparse
import json
import statistics

from mlp_parity import bench


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--unrolls", default="1,2,4,8,16")
    ap.add_argument("--batch-sizes", default="128,512")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args()
    # "auto": the default (None), which picks by device
    unrolls = [None if u == "auto" else int(u) for u in a.unrolls.split(",")]
    batch_sizes = [int(b) for b in a.batch_sizes.split(",")]
    print("JAX device:", bench.jax_device(), flush=True)
    runs: dict[str, list[float]] = {}
    for r in range(a.rounds):
        for bs in batch_sizes:
            for u in unrolls:
                options = {} if u is None else {"scan_unroll": u}
                sps = bench.training_throughput(
                    "jax", batch_size=bs, epochs=a.epochs, engine_options=options
                )
                runs.setdefault(f"{bs}/{u}", []).append(sps)
                print(f"round {r} batch {bs} unroll {u}: {sps:,.0f} samples/s", flush=True)
    print(f"\n{'batch':>6} {'unroll':>6} {'samples/s':>12} {'vs first':>12}")
    out = []
    for bs in batch_sizes:
        base = statistics.median(runs[f"{bs}/{unrolls[0]}"])
        for u in unrolls:
            med = statistics.median(runs[f"{bs}/{u}"])
            print(f"{bs:>6} {str(u or 'auto'):>6} {med:>12,.0f} {med / base:>12.2f}")
            out.append(dict(batch_size=bs, unroll=u, samples_per_s=runs[f"{bs}/{u}"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(device=bench.jax_device(), runs=out), f, indent=1)


if __name__ == "__main__":
    main()
