"""One problem: call the user's ``grad_fn`` in its own layout, check the structure it returns,
and compare each tensor with the float64 reference within the round-off-aware tolerances. A
backprop that takes a kinked activation's derivative at exactly 0 as 1 (the other valid
subgradient) is compared with that reference too and passes."""

from __future__ import annotations

import os
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..gradcheck import TensorComparison, compare_grads
from ..params import Params
from ..spec import MLPSpec
from ..tolerance import ROUNDOFF_FACTOR, eps, magnitude_bounds, roundoff_bounds
from .layouts import LayoutError, Malformed, UserLayout
from .variants import kink_at_zero, right_kink_grads

GradFn = Callable[..., object]

__all__ = ["Evaluation", "GradFn", "LayoutError", "Malformed", "Reference", "evaluate_problem"]


@dataclass(frozen=True)
class Tolerance:
    """What :func:`evaluate_problem` accepted for one tensor, as a per-entry absolute
    tolerance."""

    rtol: float
    bound: np.ndarray
    ref: np.ndarray
    allowed: float

    def entries(self) -> np.ndarray:
        scale = float(np.abs(self.ref).max()) if self.ref.size else 0.0
        return np.maximum(self.rtol * np.maximum(self.bound, scale), self.allowed)


@dataclass
class Evaluation:
    """``grad_fn`` on one problem: its gradients, the reference's, and each tensor's verdict
    (internal names ``W0``, ``b0``, ...; biases left out when the network has none).
    ``kink`` is the derivative at exactly 0 of a kinked activation that grad_fn's result
    matched (0 or 1), None when no pre-activation was exactly 0 or it made no difference;
    ``bad_shapes`` holds the tensors of a wrong shape, in the user's shapes (a layout error:
    reported as found, never shrunk)."""

    spec: MLPSpec
    layout: UserLayout = field(default_factory=UserLayout)
    error: str | None = None
    got: list[tuple[np.ndarray, np.ndarray]] | None = None
    ref: Params | None = None
    checks: list[tuple[TensorComparison, Tolerance, bool]] = field(default_factory=list)
    dtype: str = ""
    unfair: bool = False  # the reference itself overflowed: skip the problem
    kink: int | None = None
    bad_shapes: dict[str, tuple[tuple, tuple]] = field(default_factory=dict)

    @property
    def layout_error(self) -> bool:
        return bool(self.bad_shapes)

    @property
    def names(self) -> list[str]:
        return self.layout.checked(self.spec.tensor_names)

    @property
    def wrong(self) -> frozenset[str]:
        if self.error is not None:
            return frozenset(self.names)
        return frozenset(c.name for c, _, ok in self.checks if not ok)

    @property
    def ok(self) -> bool:
        return self.error is None and all(ok for _, _, ok in self.checks)


class Reference:
    """Float64 autodiff (JAX, else Keras), else the package's numpy backprop with a note."""

    def __init__(self) -> None:
        from ..backends import get_backend

        self.note = ""
        for name in ("jax", "keras"):
            try:
                self.module = get_backend(name)
                self.name = f"{name} autodiff"
                return
            except ImportError:
                continue
        self.module = get_backend("numpy")
        self.name = "numpy backprop"
        self.note = (
            "neither JAX nor Keras is installed: the reference is the package's hand-written "
            "numpy backprop (verified against autodiff by its property tests); "
            'pip install "mlp_parity[jax]" for autodiff'
        )

    def grads(self, spec: MLPSpec, params: Params, x: np.ndarray, y: np.ndarray) -> Params:
        """The gradients as pairs: the engine module takes and returns internal pairs (a
        bias-free network's with zero biases); a weights-only result is paired with zeros."""
        with np.errstate(all="ignore"):
            _, grads = self.module.loss_and_grad(spec, params, x, y)
        out = []
        for (_, b), g in zip(params, grads):
            if isinstance(g, np.ndarray) or not isinstance(g, (tuple, list)):
                out.append((np.asarray(g, np.float64), np.zeros(b.shape)))  # weights only
            else:
                out.append((np.asarray(g[0], np.float64), np.asarray(g[1], np.float64)))
        return out


def user_frame(e: BaseException) -> str:
    """``file.py:12`` of the innermost traceback frame outside numpy and this package."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    skip = (here + os.sep, os.path.dirname(np.__file__) + os.sep)
    frames = traceback.extract_tb(e.__traceback__)
    for fr in reversed(frames):
        if not os.path.abspath(fr.filename).startswith(skip):
            return f"{fr.filename}:{fr.lineno}" + (f" in {fr.name}" if fr.name else "")
    return ""


def call_grad_fn(
    grad_fn: GradFn,
    spec: MLPSpec,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    layout: UserLayout | None = None,
    bad_shapes: dict | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Call ``grad_fn`` on copies in its layout (it may write into its inputs) and read its
    result back as internal pairs; raise :class:`Malformed` with the reason when it raised or
    its result is not the gradients in its layout. Tensors of a wrong shape are noted in
    ``bad_shapes`` (else a :class:`LayoutError`)."""
    layout = layout or UserLayout()
    args = (layout.params_to_user(params), layout.data_to_user(x), layout.data_to_user(y))
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out = grad_fn(*args)
    except Exception as e:  # a crashing grad_fn is a finding, not a crash of the checker
        where = user_frame(e)
        raise Malformed(
            f"grad_fn raised {type(e).__name__}: {e}" + (f" (at {where})" if where else "")
        ) from e
    if bad_shapes is None:
        return layout.grads_from_user(out, spec.sizes)
    grads, bad = layout.read_grads(out, spec.sizes)
    bad_shapes.update(bad)
    return grads


def compare(
    spec: MLPSpec,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    got: list[tuple[np.ndarray, np.ndarray]],
    ref: Params,
    layout: UserLayout,
) -> list[tuple[TensorComparison, Tolerance, bool]]:
    """Each tensor the user returns against ``ref``: the package's round-off-aware comparison
    (errors against the magnitude of the summed terms), or else within a first-order bound on
    the round-off of any correct implementation."""
    with np.errstate(all="ignore"):
        bounds = magnitude_bounds(spec, params, x, y)
        comps = compare_grads(spec, got, ref, bounds=bounds)
        roundoff = roundoff_bounds(spec, params, x, y)
    slack = ROUNDOFF_FACTOR * np.sqrt(max(*spec.sizes, x.shape[0]))
    flat = [t for pairs in zip(got, ref, bounds) for t in zip(*pairs)]
    keep = set(layout.checked(spec.tensor_names))
    checks = []
    for c, (g, r, bd), rb in zip(comps, flat, roundoff):
        if c.name not in keep:
            continue
        allowed = slack * eps(g.dtype) * rb
        ok = c.ok or (c.shape_ok and c.finite and c.max_abs <= allowed)
        checks.append((c, Tolerance(c.rtol, bd, r, allowed), ok))
    return checks


def evaluate_problem(
    grad_fn: GradFn,
    reference: Reference,
    spec: MLPSpec,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    layout: UserLayout | None = None,
) -> Evaluation:
    """``grad_fn`` on one problem (internal pairs and rows) against the reference, tensor by
    tensor; with a kinked activation exactly at 0, either of its one-sided derivatives."""
    layout = layout or UserLayout()
    ev = Evaluation(spec, layout)
    ev.ref = reference.grads(spec, params, x, y)
    if not _reference_ok(ev.ref):
        ev.error = "the float64 reference is not finite on this problem"
        ev.unfair = True
        return ev
    try:
        ev.got = call_grad_fn(grad_fn, spec, params, x, y, layout, ev.bad_shapes)
    except Malformed as e:
        ev.error = str(e)
        return ev
    dtypes = {a.dtype for pair in ev.got for a in pair}
    ev.dtype = "/".join(sorted(str(d) for d in dtypes))
    ev.checks = compare(spec, params, x, y, ev.got, ev.ref, layout)
    if kink_at_zero(spec, params, x):
        alt = right_kink_grads(reference, spec, params, x, y)
        alt_checks = compare(spec, params, x, y, ev.got, alt, layout)
        alt_ok = all(ok for _, _, ok in alt_checks)
        if not ev.ok and alt_ok:
            ev.ref, ev.checks, ev.kink = alt, alt_checks, 1
        elif ev.ok and not alt_ok:
            ev.kink = 0
    return ev


def _reference_ok(ref: Params) -> bool:
    return all(np.all(np.isfinite(t)) for pair in ref for t in pair)
