"""How often a faithful run reaches the published round-1 evaluation accuracy (50.0 %), and how
much that figure depends on which digits are used.

Round 1 is the published log's most unusual figure (``tutorial_inits.py``: z +2.5 under
per-run weights). This trains the original backprop for one round only, from per-run weights,
on ``--runs`` runs of each data set: ``mnist-sample`` (the offline sample, a stratified split
of MNIST's 10,000 test digits), and the test set's two halves, each streamed as both train and
validation data (MNIST's documentation: the first 5,000 test digits are cleaner and easier
than the last 5,000) and crossed. The tutorial's own digits (the training set's first 5,000 as
validation) are not available offline.
Usage: ``python benchmarks/tutorial_round1.py [--runs 1000] [--half-runs 400]``.
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np

from mlp_parity.data import load_dataset
from mlp_parity.data.sources import sample_arrays
from mlp_parity.examples import tutorial as tut
from mlp_parity.examples import tutorial_loop as loop
from mlp_parity.examples.tutorial_data import tutorial_split
from mlp_parity.examples.tutorial_report import run_numpy

PUBLISHED_EVAL = 0.5  # the tutorial's round-1 evaluation accuracy


def round1(data, runs: int) -> np.ndarray:
    """Round-1 evaluation accuracy of runs 0..runs-1 (original backprop, per-run weights)."""
    return np.array(
        [
            run_numpy(data, loop.ORIGINAL, tut.LEARNING_RATE, s, 1, "per-run")["eval_accuracy"][0]
            for s in range(runs)
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--half-runs", type=int, default=400)
    a = ap.parse_args()
    sets = {"mnist-sample": (tutorial_split(load_dataset("mnist-sample", dtype="float32")), a.runs)}
    images, y = sample_arrays()[:2]  # the shipped test set in file order
    x = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)  # as the reader
    first, last = slice(0, 5000), slice(5000, 10000)
    for name, (tr, ev) in {
        "test 0-4,999 / same half": (first, first),
        "test 5,000-9,999 / same half": (last, last),
        "test 0-4,999 / 5,000-9,999": (first, last),
        "test 5,000-9,999 / 0-4,999": (last, first),
    }.items():
        data = SimpleNamespace(x_train=x[tr], y_train=y[tr], x_val=x[ev], y_val=y[ev])
        sets[name] = (data, a.half_runs)
    print(f"{'train / validation digits':<32}{'runs':>6}{'mean':>8}{'sd':>7}{'max':>7}  P(>= 50 %)")
    for name, (data, runs) in sets.items():
        start = time.perf_counter()
        acc = round1(data, runs)
        print(
            f"{name:<32}{runs:>6}{acc.mean():>8.1%}{acc.std(ddof=1):>7.1%}{acc.max():>7.1%}  "
            f"{np.mean(acc >= PUBLISHED_EVAL):.2%}  ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
