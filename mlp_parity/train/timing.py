"""Where a run's wall time goes, per backend: importing the framework, building the loop,
compiling (the first epoch, less a steady epoch), training (the epochs, less that).

:func:`wall_breakdown` turns the measurements ``compare_backends`` (or any caller) takes around
``train`` into the record ``compare --json`` keeps per backend."""

from __future__ import annotations

import importlib
import sys
import time
from typing import Any

#: The module whose import is the framework's cost, per backend.
FRAMEWORK_MODULES = {"numpy": "numpy", "jax": "jax", "keras": "keras"}


def timed_import(backend: str) -> float:
    """Seconds to import ``backend``'s framework now (0 when it is already imported)."""
    module = FRAMEWORK_MODULES[backend]
    if module in sys.modules:
        return 0.0
    start = time.perf_counter()
    importlib.import_module(module)
    return time.perf_counter() - start


def wall_breakdown(import_s: float, total_s: float, epoch_times: list[float]) -> dict[str, Any]:
    """``{"import", "build", "compile", "train", "total"}`` seconds of one backend's run.

    ``total_s`` is the wall time of the ``train`` call (after the import), ``epoch_times``
    its ``history["time"]``. Compilation is what the first epoch took beyond a steady epoch
    (the median of the later ones; 0 with one epoch: not separable); training is every epoch's
    time less that, so an epoch slowed by a busy machine counts as training, where it
    happened; build is the rest of the call (loop set-up, transfers, validation)."""
    later = sorted(epoch_times[1:])
    compile_s = max(0.0, epoch_times[0] - later[len(later) // 2]) if later else 0.0
    train_s = sum(epoch_times) - compile_s
    build_s = max(0.0, total_s - sum(epoch_times))
    return {
        "import": import_s,
        "build": build_s,
        "compile": compile_s,
        "train": train_s,
        "total": import_s + total_s,
    }
