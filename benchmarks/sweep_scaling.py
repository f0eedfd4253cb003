"""Total training throughput of ``train_many`` (K models in one compiled JAX program) against
the machine's limit, beside ``train(backend="jax")``: issue 18's sweeps at K = 1, 4, 16 (on an
accelerator, pass larger K to find where the device saturates).

One process; each round measures every setting once, in turn (a slow phase of a shared machine
hits them alike), steady state: the first epoch (compilation) is left out. The network is
bench's (784-128-128-10, ReLU, softmax cross-entropy, float32, batch 128, momentum 0.9) on
``--samples`` rows of the shipped digits, tiled; the models start from seeds 0..K-1 with one
learning rate. The float32 limit (:func:`mlp_parity._limit.machine_limit`) is measured at the
start and the end, the higher kept; on an accelerator JAX's own matmul peak is the yardstick.
Usage: ``python benchmarks/sweep_scaling.py [--ks 1,4,16] [--rounds 3] [--samples 60000]
[--epochs 3] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import statistics

from mlp_parity import bench
from mlp_parity._limit import machine_limit
from mlp_parity._peaks import peak_samples_per_s
from mlp_parity.params import init_params
from mlp_parity.spec import MLPSpec
from mlp_parity.train import train, train_many


def steady_rate(histories: list[list[float]], n: int, k: int) -> float:
    """Samples/s of all ``k`` models together from one run's epoch times (epoch 1 left out)."""
    times = histories[1:] if len(histories) > 1 else histories
    return k * n * len(times) / sum(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", default="1,4,16")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--samples", type=int, default=60_000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args()
    ks = [int(k) for k in a.ks.split(",")]
    spec = MLPSpec(bench.DEFAULT_SIZES, "relu", "softmax_cross_entropy")
    x, y = bench._data(a.samples, spec, "float32")
    kw = dict(epochs=a.epochs, batch_size=128, momentum=0.9)
    device = bench.jax_device()
    accelerated = not device.startswith("cpu")
    limits = None if accelerated else machine_limit(("float32",))
    limit_sps = peak_samples_per_s(bench.jax_matmul_peak(), spec) if accelerated else None
    runs: dict[str, list[float]] = {"train": [], **{f"train_many K={k}": [] for k in ks}}
    params = {k: [init_params(spec, seed=s, dtype="float32") for s in range(k)] for k in ks}
    for r in range(a.rounds):
        res = train(spec, params[ks[0]][0], x, y, backend="jax", learning_rate=0.01, **kw)
        runs["train"].append(steady_rate(res.history["time"], a.samples, 1))
        for k in ks:
            many = train_many(spec, params[k], x, y, learning_rates=[0.01] * k, **kw)
            runs[f"train_many K={k}"].append(steady_rate(many[0].history["time"], a.samples, k))
        latest = ", ".join(f"{name} {v[-1]:,.0f}" for name, v in runs.items())
        print(f"round {r + 1}: {latest}", flush=True)
    if limits is not None:
        end = machine_limit(("float32",))
        best = max(limits["float32"]["gflops"], end["float32"]["gflops"])
        limit_sps = peak_samples_per_s(best, spec)
        print(f"float32 limit {best:.1f} GFLOP/s = {limit_sps:,.0f} samples/s (6 FLOPs/param)")
    print(f"JAX device: {device}")
    print(f"{'':<20}{'samples/s (median)':>20}{'of limit':>10}{'rounds, of limit':>30}")
    out = {"device": device, "limit_samples_per_s": limit_sps, "runs": runs}
    for name, values in runs.items():
        med = statistics.median(values)
        frac = "" if not limit_sps else f"{med / limit_sps:.2f}"
        each = "" if not limit_sps else ", ".join(f"{v / limit_sps:.2f}" for v in values)
        print(f"{name:<20}{med:>20,.0f}{frac:>10}{each:>30}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
