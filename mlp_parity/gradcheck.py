"""Comparing gradients: the one tensor-comparison helper and ``check_gradients``, which runs
several engines on one problem and reports per tensor. The tolerances live in
:mod:`mlp_parity.tolerance`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .backends import AUTODIFF, available_backends, get_backend
from .params import UserParams, cast_params, check_problem, params_dtype
from .spec import MLPSpec
from .tolerance import FD_RTOL, SCALE_FLOOR, _pairs, eps, magnitude_bounds, rtol_for

__all__ = [
    "BackendResult",
    "GradientReport",
    "TensorComparison",
    "check_gradients",
    "compare_grads",
    "compare_tensors",
]


@dataclass(frozen=True)
class TensorComparison:
    """How one gradient tensor ``got`` differs from the reference ``ref``.

    ``max_rel`` is ``max_abs`` divided by the tensor's scale: ``max|ref|``, floored at
    ``SCALE_FLOOR[dtype] * G`` (``G`` the largest reference gradient entry of the whole network)
    so that tensors whose true gradient is (nearly) zero are judged against round-off of the
    network's scale instead of 0/0. ``scale`` is the least-squares factor ``s`` minimising
    ``|got - s*ref|``; ``cosine`` the cosine similarity of the flattened tensors.
    """

    name: str
    max_abs: float
    max_rel: float
    cosine: float
    scale: float
    rtol: float
    shape_ok: bool = True
    finite: bool = True

    @property
    def ok(self) -> bool:
        return self.shape_ok and self.finite and self.max_rel <= self.rtol


def compare_tensors(
    name: str,
    got: np.ndarray,
    ref: np.ndarray,
    *,
    rtol: float,
    global_scale: float,
    entries: np.ndarray | None = None,
    bound: np.ndarray | None = None,
) -> TensorComparison:
    """Compare one tensor; ``entries`` (flat indices) restricts it to a sample of entries, as
    when finite differences computed only those; NaN entries of ``ref`` are skipped too.
    With ``bound`` (from :func:`magnitude_bounds`) the relative error of each entry is taken
    against it (never less than the tensor's own scale)."""
    got = np.asarray(got)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        return TensorComparison(name, np.inf, np.inf, np.nan, np.nan, rtol, shape_ok=False)
    g = got.astype(np.float64).reshape(-1)
    r = ref.reshape(-1)
    bd = None if bound is None else np.asarray(bound, np.float64).reshape(-1)
    if entries is not None:
        g, r = g[entries], r[entries]
        bd = None if bd is None else bd[entries]
    mask = ~np.isnan(r)
    g, r = g[mask], r[mask]
    bd = None if bd is None else bd[mask]
    if not np.all(np.isfinite(g)):
        return TensorComparison(name, np.inf, np.inf, np.nan, np.nan, rtol, finite=False)
    if r.size == 0:
        return TensorComparison(name, 0.0, 0.0, 1.0, 1.0, rtol)
    diff = np.abs(g - r)
    max_abs = float(diff.max())
    dt = got.dtype if got.dtype in SCALE_FLOOR else np.dtype("float64")
    floor = max(SCALE_FLOOR[dt] * global_scale, np.finfo(np.float64).tiny)
    scale_t = max(float(np.abs(r).max()), floor)
    if bd is not None:
        max_rel = float((diff / np.maximum(bd, scale_t)).max())
    else:
        max_rel = max_abs / scale_t
    # Normalise before any dot product: no overflow for gradients near 1e200.
    gm, rm = float(np.abs(g).max()), float(np.abs(r).max())
    gn = gm * float(np.linalg.norm(g / gm)) if gm > 0 else 0.0
    rn = rm * float(np.linalg.norm(r / rm)) if rm > 0 else 0.0
    if gn > 0 and rn > 0:
        cosine = float((g / gn) @ (r / rn))
        scale = cosine * gn / rn
    else:
        cosine = 1.0 if gn == rn else 0.0
        scale = np.nan if rn == 0 else 0.0
    return TensorComparison(name, max_abs, max_rel, cosine, scale, rtol)


def compare_grads(
    spec: MLPSpec,
    got: UserParams,
    ref: UserParams,
    rtol: float | None = None,
    entries: dict[str, np.ndarray] | None = None,
    bounds: UserParams | None = None,
) -> list[TensorComparison]:
    """Compare every tensor of ``got`` with ``ref`` (names ``spec.tensor_names``: ``W0``,
    ``b0``, ..., no ``b`` without biases); ``entries`` restricts each named tensor to those
    flat indices; ``bounds`` (from :func:`magnitude_bounds`) makes the relative errors
    round-off-aware. Each of the three may be pairs or, without biases, plain weights."""
    got, ref = _pairs(got), _pairs(ref)
    bounds = None if bounds is None else _pairs(bounds)
    kinds = "Wb" if spec.use_bias else "W"
    global_scale = max(
        (
            float(np.nanmax(np.abs(pair[k])))
            for pair in ref
            for k in range(len(kinds))
            if np.any(~np.isnan(pair[k]))
        ),
        default=0.0,
    )
    if bounds is not None:  # the network's scale is that of its terms, not of its sums
        terms = (float(np.max(pair[k])) for pair in bounds for k in range(len(kinds)))
        global_scale = max(global_scale, max(terms))
    out = []
    for i in range(spec.num_layers):
        for k, kind in enumerate(kinds):
            g = got[i][k]
            tol = rtol if rtol is not None else rtol_for(np.asarray(g).dtype)
            name = f"{kind}{i}"
            sample = None if entries is None else entries.get(name)
            out.append(
                compare_tensors(
                    name,
                    g,
                    ref[i][k],
                    rtol=tol,
                    global_scale=global_scale,
                    entries=sample,
                    bound=None if bounds is None else bounds[i][k],
                )
            )
    return out


@dataclass
class BackendResult:
    backend: str
    dtype: str
    loss: float
    loss_rel: float
    tensors: list[TensorComparison]
    rtol: float
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.loss_rel <= self.rtol and all(t.ok for t in self.tensors)


@dataclass
class GradientReport:
    """Every backend's gradients against one reference, per tensor."""

    spec: MLPSpec
    reference: str
    reference_loss: float
    batch: int
    results: list[BackendResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> list[tuple[str, str]]:
        """``(backend, tensor)`` pairs that failed (``"loss"`` for the loss value)."""
        out = []
        for r in self.results:
            if r.loss_rel > r.rtol:
                out.append((r.backend, "loss"))
            out.extend((r.backend, t.name) for t in r.tensors if not t.ok)
        return out

    def to_dict(self) -> dict:
        return {
            "spec": self.spec.to_dict(),
            "reference": self.reference,
            "reference_loss": self.reference_loss,
            "batch": self.batch,
            "ok": self.ok,
            "results": [
                {
                    "backend": r.backend,
                    "dtype": r.dtype,
                    "loss": r.loss,
                    "loss_rel": r.loss_rel,
                    "rtol": r.rtol,
                    "ok": r.ok,
                    "note": r.note,
                    "tensors": [
                        {
                            "name": t.name,
                            "max_abs": t.max_abs,
                            "max_rel": t.max_rel,
                            "cosine": t.cosine,
                            "scale": t.scale,
                            "ok": t.ok,
                        }
                        for t in r.tensors
                    ],
                }
                for r in self.results
            ],
        }

    def __str__(self) -> str:
        head = (
            f"gradient check: {self.spec}  batch {self.batch}  "
            f"reference {self.reference} (float64), loss {self.reference_loss:.10g}"
        )
        lines = [
            head,
            f"{'backend':<18}{'dtype':<9}{'tensor':<8}{'max abs err':>13}"
            f"{'max rel err':>13}{'tol':>9}  result",
        ]
        for r in self.results:
            lines.append(
                f"{r.backend:<18}{r.dtype:<9}{'loss':<8}{abs(r.loss - self.reference_loss):>13.3e}"
                f"{r.loss_rel:>13.3e}{r.rtol:>9.0e}  {'ok' if r.loss_rel <= r.rtol else 'MISMATCH'}"
            )
            for t in r.tensors:
                verdict = (
                    "ok"
                    if t.ok
                    else (
                        "WRONG SHAPE"
                        if not t.shape_ok
                        else "NON-FINITE"
                        if not t.finite
                        else "MISMATCH"
                    )
                )
                lines.append(
                    f"{'':<18}{'':<9}{t.name:<8}{t.max_abs:>13.3e}{t.max_rel:>13.3e}"
                    f"{t.rtol:>9.0e}  {verdict}"
                )
            if r.note:
                lines.append(f"{'':<18}({r.note})")
        n_bad = len(self.failures)
        lines.append(
            "all backends agree"
            if self.ok
            else f"{n_bad} mismatch(es): " + ", ".join(f"{b}:{t}" for b, t in self.failures)
        )
        return "\n".join(lines)


#: The engines a gradient check may take as its float64 reference (numpy, the hand-written
#: engine, is itself checked against autodiff; as a reference it checks finite differences
#: where no autodiff engine is installed).
REFERENCES = ("jax", "keras", "finite_difference", "numpy")


def default_reference() -> str:
    avail = available_backends()
    for name in (*AUTODIFF, "finite_difference"):
        if name in avail:
            return name
    return "finite_difference"  # pragma: no cover


def _fd_entries(spec: MLPSpec, max_entries: int, seed: int) -> dict[str, np.ndarray] | None:
    if spec.num_params <= max_entries:
        return None
    rng = np.random.default_rng(seed)
    out = {}
    for i, (wshape, bshape) in enumerate(spec.shapes()):
        for kind, shape in (("W", wshape), ("b", bshape))[: 2 if spec.use_bias else 1]:
            size = int(np.prod(shape))
            k = min(size, max(2, int(round(max_entries * size / spec.num_params))))
            out[f"{kind}{i}"] = np.sort(rng.choice(size, size=k, replace=False))
    return out


def _backend_names(backends: Sequence[str] | str | None) -> list[str]:
    """Every installed engine by default; a comma-separated string split. Raises for an
    unknown or missing engine before anything is computed."""
    if backends is None:
        backends = available_backends()
    if isinstance(backends, str):
        backends = [b.strip() for b in backends.split(",")]
    for b in backends:
        get_backend(b)
    return list(backends)


def _loss_and_grad(
    name: str,
    spec: MLPSpec,
    params: UserParams,
    x: np.ndarray,
    y: np.ndarray,
    entries: dict[str, np.ndarray] | None,
):
    """One engine's loss and gradients; finite differences only on the sampled ``entries``.
    The params go C-contiguous: finite differences perturb entries through a flat view, which a
    transposed (Fortran-order) ``W`` would turn into a copy, every derivative 0."""
    mod = get_backend(name)
    params = [(np.ascontiguousarray(W), np.ascontiguousarray(b)) for W, b in params]
    if name == "finite_difference":
        return mod.loss_and_grad(spec, params, x, y, entries=entries)
    return mod.loss_and_grad(spec, params, x, y)


def _loss_error(spec: MLPSpec, loss: float, ref: float, y: np.ndarray, dtype: str) -> float:
    """The loss value's error relative to the loss, beyond its absolute round-off floor: a log
    near 1 (a clipped or saturated probability) is known only to about eps per unit of target,
    so a loss of 1e-7 made of such terms is not a float32 mismatch at 1e-8."""
    from .spec.conventions import divisor

    floor = 8 * eps(np.dtype(dtype)) * spec.loss_scale * float(np.abs(y).sum())
    floor /= divisor(spec, *y.shape)
    return max(abs(loss - ref) - floor, 0.0) / max(abs(ref), 1e-12)


def check_gradients(
    spec: MLPSpec | Sequence[int],
    params: UserParams,
    x: np.ndarray,
    y: np.ndarray,
    backends: Sequence[str] | None = None,
    *,
    reference: str | None = None,
    fd_max_entries: int = 2000,
    seed: int = 0,
) -> GradientReport:
    """Compare every backend's loss and gradients against a float64 reference, per tensor.

    Args:
        spec, params, x, y: the problem (see :func:`mlp_parity.loss_and_grad`). Each backend
            computes in the params' dtype; the reference always in float64.
        backends: engines to check; default every installed one.
        reference: an autodiff engine (default ``jax``, else ``keras``),
            ``finite_difference``, or ``numpy`` (the hand-written engine: to check finite
            differences without an autodiff engine).
        fd_max_entries: above this many parameters, finite differences sample this many
            entries (spread over all tensors) instead of all of them.

    Returns:
        A :class:`GradientReport`; ``report.ok`` is False on any mismatch.
    """
    spec, params, x, y = check_problem(spec, params, x, y)
    dtype = params_dtype(params)
    backends = _backend_names(backends)
    reference = reference or default_reference()
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {', '.join(REFERENCES)}, got {reference!r}")
    if isinstance(fd_max_entries, bool) or not isinstance(fd_max_entries, (int, np.integer)):
        raise TypeError(f"fd_max_entries must be an int, got {fd_max_entries!r}")
    if fd_max_entries < 1:
        raise ValueError(f"fd_max_entries must be >= 1, got {fd_max_entries}")
    entries = _fd_entries(spec, fd_max_entries, seed)

    p64 = cast_params(params, "float64")
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    ref_loss, ref_grads = _loss_and_grad(reference, spec, p64, x64, y64, entries)

    bounds = magnitude_bounds(spec, p64, x64, y64)
    report = GradientReport(spec, reference, ref_loss, x.shape[0])
    for name in backends:
        loss, grads = _loss_and_grad(name, spec, params, x, y, entries)
        out_dtype = "float64" if name == "finite_difference" else str(dtype)  # FD: always float64
        note = ""
        if name == "finite_difference" and entries is not None:
            n = sum(len(v) for v in entries.values())
            note = f"finite differences on {n} sampled entries of {spec.num_params}"
        rtol = rtol_for(out_dtype)
        if name == "finite_difference" or reference == "finite_difference":
            rtol = max(rtol, FD_RTOL)
        if name == reference and out_dtype == "float64":
            note = note or "the reference itself"
        tensors = compare_grads(spec, grads, ref_grads, rtol=rtol, entries=entries, bounds=bounds)
        loss_rel = _loss_error(spec, loss, ref_loss, y64, out_dtype)
        report.results.append(BackendResult(name, out_dtype, loss, loss_rel, tensors, rtol, note))
    return report
