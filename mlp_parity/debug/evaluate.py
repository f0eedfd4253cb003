"""One problem: call the user's ``grad_fn``, check the structure it returns, and compare each
tensor with the float64 reference within the round-off-aware tolerances."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..gradcheck import TensorComparison, compare_grads
from ..params import Params
from ..spec import MLPSpec
from ..tolerance import ROUNDOFF_FACTOR, eps, magnitude_bounds, roundoff_bounds

GradFn = Callable[[Params, np.ndarray, np.ndarray], Params]


class Malformed(Exception):
    """grad_fn raised or returned something that is not ``[(dW, db), ...]`` of arrays."""


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
    """``grad_fn`` on one problem: its gradients, the reference's, and each tensor's verdict."""

    spec: MLPSpec
    error: str | None = None
    got: list[tuple[np.ndarray, np.ndarray]] | None = None
    ref: Params | None = None
    checks: list[tuple[TensorComparison, Tolerance, bool]] = field(default_factory=list)
    dtype: str = ""
    unfair: bool = False  # the reference itself overflowed: skip the problem

    @property
    def wrong(self) -> frozenset[str]:
        if self.error is not None:
            return frozenset(self.spec.tensor_names)
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
        with np.errstate(all="ignore"):
            _, grads = self.module.loss_and_grad(spec, params, x, y)
        return [(np.asarray(gW, np.float64), np.asarray(gb, np.float64)) for gW, gb in grads]


def _copy(params: Params) -> Params:
    return [(W.copy(), b.copy()) for W, b in params]


def call_grad_fn(
    grad_fn: GradFn, spec: MLPSpec, params: Params, x: np.ndarray, y: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Call ``grad_fn`` on copies (it may write into its inputs) and check the structure;
    raise :class:`Malformed` with the reason when it is not ``[(dW, db), ...]`` of floats."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out = grad_fn(_copy(params), x.copy(), y.copy())
    except Exception as e:  # a crashing grad_fn is a finding, not a crash of the checker
        raise Malformed(f"grad_fn raised {type(e).__name__}: {e}") from e
    n = spec.num_layers
    layout = f"a list of {n} pairs [(dW0, db0), ...]"
    if isinstance(out, (str, bytes, np.ndarray, dict)) or not isinstance(out, Sequence):
        raise Malformed(f"grad_fn returned {type(out).__name__}; expected {layout}")
    if len(out) != n:
        raise Malformed(
            f"grad_fn returned {len(out)} layers for sizes {spec.sizes}; expected {layout}"
        )
    grads = []
    for i, layer in enumerate(out):
        if isinstance(layer, (str, bytes, dict)) or not isinstance(layer, (Sequence, np.ndarray)):
            raise Malformed(
                f"grad_fn's layer {i} is {type(layer).__name__}; expected a pair (dW{i}, db{i})"
            )
        if len(layer) != 2:
            raise Malformed(
                f"grad_fn's layer {i} has {len(layer)} entries; expected a pair (dW{i}, db{i})"
            )
        grads.append((_float_array(layer[0], f"W{i}"), _float_array(layer[1], f"b{i}")))
    return grads


def _float_array(t: object, name: str) -> np.ndarray:
    try:
        a = np.array(t)  # a copy: grad_fn may hand out views of its buffers
    except Exception as e:
        raise Malformed(f"grad_fn's {name} is not array-like: {e}") from e
    if a.dtype.kind in "iub":
        a = a.astype(np.float64)
    if a.dtype.kind != "f":
        raise Malformed(f"grad_fn's {name} has dtype {a.dtype}; expected a float array")
    return a


def evaluate_problem(
    grad_fn: GradFn,
    reference: Reference,
    spec: MLPSpec,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
) -> Evaluation:
    """``grad_fn`` on one problem against the reference, tensor by tensor."""
    ev = Evaluation(spec)
    ev.ref = reference.grads(spec, params, x, y)
    if not _reference_ok(ev.ref):
        ev.error = "the float64 reference is not finite on this problem"
        ev.unfair = True
        return ev
    try:
        ev.got = call_grad_fn(grad_fn, spec, params, x, y)
    except Malformed as e:
        ev.error = str(e)
        return ev
    dtypes = {a.dtype for pair in ev.got for a in pair}
    ev.dtype = "/".join(sorted(str(d) for d in dtypes))
    # The package's round-off-aware comparison (errors against the magnitude of the summed
    # terms), or else within a first-order bound on the round-off of any correct implementation.
    with np.errstate(all="ignore"):
        bounds = magnitude_bounds(spec, params, x, y)
    comps = compare_grads(spec, ev.got, ev.ref, bounds=bounds)
    roundoff = roundoff_bounds(spec, params, x, y)
    slack = ROUNDOFF_FACTOR * np.sqrt(max(*spec.sizes, x.shape[0]))
    flat = [t for pairs in zip(ev.got, ev.ref, bounds) for t in zip(*pairs)]
    for c, (g, r, bd), rb in zip(comps, flat, roundoff):
        allowed = slack * eps(g.dtype) * rb
        ok = c.ok or (c.shape_ok and c.finite and c.max_abs <= allowed)
        ev.checks.append((c, Tolerance(c.rtol, bd, r, allowed), ok))
    return ev


def _reference_ok(ref: Params) -> bool:
    return all(np.all(np.isfinite(t)) for pair in ref for t in pair)
