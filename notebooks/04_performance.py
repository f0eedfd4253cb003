# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 — Performance: training throughput against batch size
#
# The same training algorithm (`mlp_parity.train.train`: SGD with momentum, one batch order)
# in numpy, JAX and Keras, on the tutorial's 784-128-128-10 architecture with ReLU and softmax
# cross-entropy, in float32. For each backend and batch size we time one epoch after a first
# one that compiles or traces (`TrainResult.samples_per_second`), on 4,000 real digits.
#
# Numbers are for *this* machine at *this* moment: a small, possibly shared CPU box gives
# noisy timings. The notebook reports speed; it asserts nothing about it. For a fuller
# benchmark run `mlp-parity bench`.

# %%
# %matplotlib inline
import os
import platform
import time

import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from mlp_parity import bench
from mlp_parity.spec import MLPSpec

T0 = time.perf_counter()
BACKENDS = ("numpy", "jax", "keras")
BATCH_SIZES = (16, 64, 256, 1024)
N, EPOCHS = 4000, 2
spec = MLPSpec(bench.DEFAULT_SIZES, "relu", "softmax_cross_entropy")
load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {load[0]:.1f}")
print(
    "BLAS threads (OPENBLAS_NUM_THREADS):",
    os.environ.get("OPENBLAS_NUM_THREADS", "default (all cores)"),
)
print("JAX runs on:", bench.jax_device())

# %% [markdown]
# A yardstick: the float32 matrix-multiply rate of numpy's BLAS in this process (with its
# thread setting). One training step costs about 6 FLOPs per parameter per sample (2 forward,
# 4 backward), so that rate caps what numpy can reach; JAX and TensorFlow bring their own
# kernels and thread pools, so for them it is a reference, not a hard limit.

# %%
peak_gflops = bench.matmul_peak("float32", n=1024, repeats=3)
peak_samples = peak_gflops * 1e9 / (6 * spec.num_params)
tutorial_rate = bench.tutorial_loop_throughput(n=512)
print(f"matmul peak {peak_gflops:.1f} GFLOP/s -> at most ~{peak_samples:,.0f} samples/s")
print(f"the tutorial's per-sample loop (float64, plain SGD): {tutorial_rate:,.0f} samples/s")

# %%
rates = {b: [] for b in BACKENDS}
for backend in BACKENDS:
    for batch_size in BATCH_SIZES:
        t = time.perf_counter()
        rate = bench.training_throughput(
            backend, batch_size=batch_size, n=N, epochs=EPOCHS, dtype="float32"
        )
        rates[backend].append(rate)
        print(
            f"{backend:<6} batch {batch_size:>5}: {rate:>10,.0f} samples/s "
            f"({time.perf_counter() - t:.1f} s incl. compile)"
        )

# %%
fig, ax = plt.subplots(figsize=(8, 4.5))
markers = {"numpy": "o", "jax": "s", "keras": "^"}
colors = {"numpy": "tab:blue", "jax": "tab:orange", "keras": "black"}
for backend, r in rates.items():
    ax.loglog(BATCH_SIZES, r, marker=markers[backend], color=colors[backend], label=backend)
ax.axhline(
    peak_samples, color="red", ls="--", lw=1, label="numpy BLAS matmul rate (6 FLOP/param/sample)"
)
ax.axhline(tutorial_rate, color="grey", ls=":", lw=1.5, label="tutorial's per-sample loop")
ax.set_xticks(BATCH_SIZES, [str(b) for b in BATCH_SIZES])
ax.set(
    xlabel="batch size",
    ylabel="training samples / s (steady state)",
    title=f"{spec}, float32, {N:,} digits",
)
ax.grid(alpha=0.3, which="both")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
rows = [
    f"| {b} | "
    + " | ".join(f"{r:,.0f} ({100 * r / peak_samples:.0f}%)" for r in rates[b])
    + f" | {max(rates[b]) / tutorial_rate:,.0f}x |"
    for b in BACKENDS
]
display(
    Markdown(
        "| backend | "
        + " | ".join(f"batch {b}" for b in BATCH_SIZES)
        + " | best vs tutorial loop |\n"
        + "|---" * (len(BATCH_SIZES) + 2)
        + "|\n"
        + "\n".join(rows)
    )
)
print(f"notebook ran in {time.perf_counter() - T0:.0f} s")

# %% [markdown]
# Samples per second, with the fraction of the matmul ceiling in brackets. What to expect on a
# small CPU: small batches are dominated by per-step overhead — Python and numpy calls in the
# numpy engine — so throughput grows with the batch until the matrix multiplies dominate. The
# hand-written numpy backprop does little besides those multiplies (preallocated buffers,
# in-place updates) but still makes some thirty numpy calls a step; JAX and Keras each compile
# an epoch into one XLA program (Keras with `jit_compile=True`), so they pay least per step but
# run XLA's matrix multiplies, which at batch 128 on the development machine reach less of the
# peak than OpenBLAS's (BENCHMARKS.md). All of them leave the tutorial's per-sample loop far
# behind: vectorising over the batch is the single largest speed-up.
