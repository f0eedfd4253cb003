"""Training one network on several backends from the same start on the same batches, and how
far their parameters drift apart: the check that the engines follow one trajectory."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from . import Progress, TrainResult


def _tensors(layer: Any) -> tuple:
    """A layer's tensors: ``(W, b)`` as given, or a bare ``W`` (a spec without biases)."""
    return (layer,) if isinstance(layer, np.ndarray) else tuple(layer)


def param_divergence(params: Sequence, reference: Sequence) -> float:
    """Largest relative difference over tensors: ``max |p - r| / max |r|`` per tensor; params in
    either layout (``[(W, b), ...]`` or ``[W, ...]``)."""
    worst = 0.0
    for layer, ref_layer in zip(params, reference, strict=True):
        for p, r in zip(_tensors(layer), _tensors(ref_layer), strict=True):
            r64 = np.asarray(r, np.float64)
            scale = max(float(np.abs(r64).max()), np.finfo(np.float64).tiny)
            worst = max(worst, float(np.abs(np.asarray(p, np.float64) - r64).max()) / scale)
    return worst


def compare_backends(
    spec: Any,
    params: Any,
    dataset: Any,
    *,
    backends: Sequence[str],
    epochs: int,
    batch_size: int,
    learning_rate: float,
    momentum: float,
    seed: int = 0,
    devices: Any = 1,
    progress: Callable[[str], Callable[[Progress], None] | None] | None = None,
) -> dict[str, Any]:
    """Train ``params`` on ``dataset`` with each backend from the same start on the same
    batches. Returns ``{"results": {backend: TrainResult}, "wall": {backend: seconds},
    "wall_clock": {backend: {"import", "build", "compile", "train", "total"} seconds},
    "divergence": {backend: max relative parameter difference from the reference},
    "reference": backend}``; the reference is numpy if it ran, else the first backend.
    ``progress(backend)`` may return a per-backend progress callback; ``devices`` goes to
    the jax backend (data-parallel training: the same trajectory)."""
    from ..backends import get_backend
    from . import train
    from .timing import timed_import, wall_breakdown

    results: dict[str, TrainResult] = {}
    wall: dict[str, float] = {}
    breakdown: dict[str, dict[str, float]] = {}
    for name in backends:
        import_s = timed_import(name)
        get_backend(name)  # the framework imported outside the timed region
        start = time.perf_counter()
        results[name] = train(
            spec,
            params,
            dataset.x_train,
            dataset.y_train,
            backend=name,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            momentum=momentum,
            seed=seed,
            validation=(dataset.x_val, dataset.y_val),
            progress=None if progress is None else progress(name),
            **({"devices": devices} if name == "jax" else {}),
        )
        wall[name] = time.perf_counter() - start
        breakdown[name] = wall_breakdown(import_s, wall[name], results[name].history["time"])
    reference = "numpy" if "numpy" in results else next(iter(results))
    divergence = {
        name: param_divergence(r.params, results[reference].params) for name, r in results.items()
    }
    return {
        "results": results,
        "wall": wall,
        "wall_clock": breakdown,
        "divergence": divergence,
        "reference": reference,
    }
