"""What is wrong with a data-parallel gradient at ``N`` devices, per tensor: the scale and
reduction bugs that do not exist on one device."""

from __future__ import annotations

import numpy as np

from ..params import Params
from ..spec import MLPSpec
from .run import Run, Runner

SUMMED = "× {n} = number of devices: summed (psum) where the mean (pmean) is needed"
AVERAGED_TWICE = (
    "÷ {n}: averaged twice (a mean over the devices of gradients already divided by the "
    "global batch)"
)
FIRST_SHARD = "only the first shard's gradient (the other devices' rows are ignored)"
NOT_REDUCED = (
    "each device's own gradient, not all-reduced (device k holds the gradient of its own "
    "shard; a forgotten psum/pmean, or, with check_vma=False, a gradient taken of an "
    "already all-reduced loss)"
)
UNEVEN = "wrong only when the batch is uneven ({rows} rows on {n} devices, padded to {padded})"
DISAGREE = "the devices disagree: the result was not all-reduced"


def _close(got: np.ndarray, want: np.ndarray, rtol: float) -> bool:
    scale = float(np.abs(want).max()) if want.size else 0.0
    if scale == 0.0:
        return bool(np.all(got == 0))
    return bool(np.abs(got - want).max() <= rtol * scale)


def _rtol(got: np.ndarray) -> float:
    return 1e-3 if got.dtype == np.float32 else 1e-6


def _flat(params: Params) -> list[np.ndarray]:
    return [np.asarray(t, np.float64) for pair in params for t in pair]


def diagnose(
    runner: Runner, run: Run, spec: MLPSpec, params: Params, x: np.ndarray, y: np.ndarray
) -> tuple[dict[str, str], str]:
    """``({tensor: diagnosis}, summary)`` for a failing ``run``."""
    ev = run.evaluation
    names = spec.tensor_names
    if ev.error is not None:
        return {n: ev.error for n in names}, ev.error
    n = run.n_devices
    if run.uneven and _even_passes(runner, run, spec, params, x, y):
        text = UNEVEN.format(rows=run.rows, n=n, padded=run.padded)
        text += ": " + _uneven_details(runner, run, spec, params, x, y)
        return _all(names, ev, text), text
    shards = runner.shard_reference(spec, params, x, y, n, run.padded)
    if run.per_device is not None:
        own = all(
            s is None or all(_close(g, r, _rtol(g)) for g, r in zip(_flat(d), _flat(s)))
            for d, s in zip(run.per_device, shards)
        )
        text = NOT_REDUCED if own else DISAGREE
        return _all(names, ev, text), text
    got, ref = _flat(ev.got), _flat(ev.ref)
    per_tensor = {}
    for name, g, r, s0 in zip(
        names, got, ref, _flat(shards[0]) if shards[0] else [None] * len(got)
    ):
        per_tensor[name] = _tensor(g, r, s0, n, _rtol(g))
    wrong = {k: v for k, v in per_tensor.items() if k in ev.wrong}
    texts = set(wrong.values())
    summary = texts.pop() if len(texts) == 1 else "; ".join(f"{k}: {v}" for k, v in wrong.items())
    return wrong, summary


def _all(names: tuple[str, ...], ev, text: str) -> dict[str, str]:
    return {k: text for k in names if k in ev.wrong} or {k: text for k in names}


def _tensor(g: np.ndarray, r: np.ndarray, s0: np.ndarray | None, n: int, rtol: float) -> str:
    if not np.all(np.isfinite(g)):
        return "NaN/inf (a division by a count of 0, or an overflow?)"
    if _close(g, n * r, rtol):
        return SUMMED.format(n=n)
    if _close(g, r / n, rtol):
        return AVERAGED_TWICE.format(n=n)
    if s0 is not None and (_close(g, s0, rtol) or _close(g, s0 / n, rtol)):
        return FIRST_SHARD
    scale = float(g.ravel() @ r.ravel() / (r.ravel() @ r.ravel())) if np.any(r) else np.nan
    return f"wrong: best-fit scale {scale:.4g} of the true gradient"


def _even_passes(runner: Runner, run: Run, spec, params, x, y) -> bool:
    """Whether the same rows, repeated up to a multiple of the device count, pass."""
    idx = np.arange(run.padded) % run.rows
    return runner.run(run.n_devices, spec, params, x[idx], y[idx]).ok


def _uneven_details(runner: Runner, run: Run, spec, params, x, y) -> str:
    """Which wrong weighting of the padded batch the result matches."""
    ev = run.evaluation
    got, ref = _flat(ev.got), _flat(ev.ref)
    if not all(np.all(np.isfinite(g)) for g in got):
        return "NaN/inf: a device whose rows are all padding divided by its count of 0 real rows"
    rtol = _rtol(ev.got[0][0])
    if all(_close(g, r * run.rows / run.padded, rtol) for g, r in zip(got, ref)):
        return "the padding rows are counted in the mean (÷ the padded size, not the real rows)"
    shards = runner.shard_reference(spec, params, x, y, run.n_devices, run.padded)
    real = [s for s in shards if s is not None]
    means = [sum(t) / len(real) for t in zip(*(_flat(s) for s in real))]
    means_n = [sum(t) / len(shards) for t in zip(*(_flat(s) for s in real))]
    if all(_close(g, m, rtol) for g, m in zip(got, means)) or all(
        _close(g, m, rtol) for g, m in zip(got, means_n)
    ):
        return (
            "each device's mean over its own real rows, then averaged over the devices "
            "(pmean of local means): devices with fewer real rows weigh too much"
        )
    return "the padded batch is weighted wrongly (weight each row, divide by the psum of the mask)"
