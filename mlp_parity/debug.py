"""The gradient debugger: check a hand-written backprop against float64 autodiff on problems
Hypothesis draws, shrink a failure to a minimal network and batch, and say what is wrong.

    from mlp_parity.debug import check_backprop

    report = check_backprop(my_grad_fn, activation="sigmoid", loss="softmax_cross_entropy")
    print(report)  # per-tensor table and a one-line diagnosis per wrong tensor

``grad_fn(params, x, y) -> grads``, both in the package layout ``[(W, b), ...]`` with ``W``
(fan_in, fan_out); ``x`` (batch, in); ``y`` a float array (batch, out). Only numpy is imported
with this module; Hypothesis and the reference engine are imported when a check runs.
"""

from __future__ import annotations

import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .compare import TensorComparison, compare_grads, magnitude_bounds, rtol_for
from .params import Params, cast_params
from .spec import ACTIVATIONS, LOSSES, MLPSpec

GradFn = Callable[[Params, np.ndarray, np.ndarray], Params]

#: Drawn architectures when ``sizes`` is None: depth (weight layers), widths and batch.
DEPTHS = (1, 4)
WIDTHS = (1, 8)
BATCHES = (1, 6)
#: About one drawn problem in two has its output layer rescaled so that its largest logit is
#: this, positive: an unstabilised exp overflows there (above ~709 in float64, ~88 in float32).
LOGIT_BOOST = 1000.0
#: With ``sizes`` given, networks of more parameters than this get batches of at most 3.
LARGE_NET = 10_000
#: Besides the relative tolerance of its dtype, a tensor is accepted within this many times
#: (times sqrt of the widest sum) a first-order round-off bound of the problem: round-off near
#: saturation (sigmoid(z) - y with |z| ~ 20, p - y for a confident softmax) is absolute, so no
#: relative tolerance fits every problem.
ROUNDOFF_FACTOR = 4.0


# ----------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Counterexample:
    """A (minimal) failing problem: ``grad_fn(ce.params, ce.x, ce.y)`` reproduces it."""

    spec: MLPSpec
    params: Params
    x: np.ndarray
    y: np.ndarray

    @property
    def sizes(self) -> tuple[int, ...]:
        return self.spec.sizes

    @property
    def batch(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True)
class TensorCheck:
    """One gradient tensor of the counterexample against the reference."""

    name: str
    comparison: TensorComparison
    ok: bool
    diagnosis: str = ""


@dataclass
class BackpropReport:
    """The verdict of :func:`check_backprop`; ``str(report)`` is the human-readable version.

    ``wrong`` names exactly the tensors (``"W0"``, ``"b2"``, ...) that are wrong on the
    ``counterexample`` (all of them when ``grad_fn`` raised or returned a malformed structure);
    ``error`` is that failure's message; ``summary`` the one-line localisation;
    ``examples_run`` the problems grad_fn was checked on, while searching and shrinking.
    """

    ok: bool
    activation: str | tuple[str, ...]
    loss: str
    examples_run: int
    wrong: frozenset[str] = frozenset()
    counterexample: Counterexample | None = None
    tensors: list[TensorCheck] = field(default_factory=list)
    summary: str = ""
    error: str | None = None
    reference: str = "jax"
    grad_dtype: str = ""
    sizes: tuple[int, ...] | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    searched: bool = True  # False for check_example: one given problem, no search

    @property
    def diagnoses(self) -> dict[str, str]:
        """``{tensor name: one-line diagnosis}`` for every wrong tensor."""
        return {t.name: t.diagnosis for t in self.tensors if not t.ok}

    def __str__(self) -> str:
        act = self.activation if isinstance(self.activation, str) else ",".join(self.activation)
        where = (
            "-".join(map(str, self.sizes))
            if self.sizes
            else f"drawn networks (depth {DEPTHS[0]}-{DEPTHS[1]}, widths {WIDTHS[0]}-{WIDTHS[1]},"
            f" batch {BATCHES[0]}-{BATCHES[1]})"
        )
        ref = f"reference: {self.reference} (float64)"
        name = "check_backprop" if self.searched else "check_example"
        runs = f"{self.examples_run} examples" if self.searched else "the given problem"
        if self.ok:
            lines = [
                f"{name}: OK, {runs} ({self.seconds:.1f} s): grad_fn matches the gradient of"
                f" {act} / {self.loss} on {where}; {ref}"
            ]
            return "\n".join(lines + [f"note: {n}" for n in self.notes])
        ce = self.counterexample
        order = ce.spec.tensor_names if ce is not None else sorted(self.wrong)
        wrong = [n for n in order if n in self.wrong]
        lines = [
            f"{name}: FAILED, {len(wrong)} of {len(order)} tensors wrong ({', '.join(wrong)}) on"
            f" {runs if not self.searched else 'a minimal counterexample'}"
            + (f", found in {runs}" if self.searched else "")
            + f" ({self.seconds:.1f} s); {ref}",
        ]
        if ce is not None:
            lines.append(
                f"counterexample: sizes {ce.sizes} ({ce.spec}), batch {ce.batch}"
                + (f"; grad_fn returns {self.grad_dtype}" if self.grad_dtype else "")
            )
        if self.error is not None:
            lines.append(f"error: {self.error}")
        if self.tensors:
            lines.append(
                f"  {'tensor':<7}{'shape':<12}{'max abs err':>12}{'max rel err':>12}"
                f"{'cosine':>10}{'scale':>11}  result"
            )
            for t in self.tensors:
                c = t.comparison
                shape = _shape_text(ce, t.name) if ce is not None else ""
                lines.append(
                    f"  {t.name:<7}{shape:<12}{_err(c.max_abs):>12}{_err(c.max_rel):>12}"
                    f"{_num(c.cosine):>10}{_num(c.scale):>11}"
                    f"  {'ok' if t.ok else 'WRONG'}"
                )
            bad = [t for t in self.tensors if not t.ok]
            if bad:
                lines.append("diagnosis:")
                lines.extend(f"  {t.name}: {t.diagnosis}" for t in bad)
        if self.summary:
            lines.append(f"=> {self.summary}")
        if ce is not None:
            lines.extend(_arrays_text(ce))
            lines.append(
                "reproduce: grads = grad_fn(report.counterexample.params, report.counterexample.x,"
                " report.counterexample.y)"
            )
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def _err(v: float) -> str:
    return "inf" if not np.isfinite(v) or v > 1e100 else f"{v:.3e}"


def _num(v: float) -> str:
    return "nan" if not np.isfinite(v) else f"{v:.4g}"


def _shape_text(ce: Counterexample, name: str) -> str:
    i = int(name[1:])
    (ws, bs) = ce.spec.shapes()[i]
    return str(ws if name[0] == "W" else bs).replace(" ", "")


def _arrays_text(ce: Counterexample, max_entries: int = 48) -> list[str]:
    """The counterexample's arrays when it is small enough to read."""
    arrays = {"x": ce.x, "y": ce.y}
    for i, (W, b) in enumerate(ce.params):
        arrays[f"W{i}"], arrays[f"b{i}"] = W, b
    if sum(a.size for a in arrays.values()) > max_entries:
        return []
    out = []
    for k, a in arrays.items():
        text = np.array2string(a, precision=4, separator=", ", max_line_width=200)
        out.append(f"  {k} = " + " ".join(text.split()))
    return out


# ----------------------------------------------------------------------------------------------
# One problem: call grad_fn, check its output, compare with the reference


class _Malformed(Exception):
    """grad_fn raised or returned something that is not ``[(dW, db), ...]`` of arrays."""


@dataclass
class _Evaluation:
    spec: MLPSpec
    error: str | None = None
    got: list[tuple[np.ndarray, np.ndarray]] | None = None
    ref: Params | None = None
    checks: list[tuple[TensorComparison, _Tolerance, bool]] = field(default_factory=list)
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


def _copy(params: Params) -> Params:
    return [(W.copy(), b.copy()) for W, b in params]


def _call(grad_fn: GradFn, spec: MLPSpec, params: Params, x: np.ndarray, y: np.ndarray):
    """Call ``grad_fn`` on copies (it may write into its inputs) and check the structure."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out = grad_fn(_copy(params), x.copy(), y.copy())
    except Exception as e:  # a crashing grad_fn is a finding, not a crash of the checker
        raise _Malformed(f"grad_fn raised {type(e).__name__}: {e}") from e
    n = spec.num_layers
    layout = f"a list of {n} pairs [(dW0, db0), ...]"
    if isinstance(out, (str, bytes, np.ndarray, dict)) or not isinstance(out, Sequence):
        raise _Malformed(f"grad_fn returned {type(out).__name__}; expected {layout}")
    if len(out) != n:
        raise _Malformed(
            f"grad_fn returned {len(out)} layers for sizes {spec.sizes}; expected {layout}"
        )
    grads = []
    for i, layer in enumerate(out):
        if isinstance(layer, (str, bytes, dict)) or not isinstance(layer, (Sequence, np.ndarray)):
            raise _Malformed(
                f"grad_fn's layer {i} is {type(layer).__name__}; expected a pair (dW{i}, db{i})"
            )
        if len(layer) != 2:
            raise _Malformed(
                f"grad_fn's layer {i} has {len(layer)} entries; expected a pair (dW{i}, db{i})"
            )
        pair = []
        for kind, t in zip("Wb", layer):
            try:
                a = np.array(t)  # a copy: grad_fn may hand out views of its buffers
            except Exception as e:
                raise _Malformed(f"grad_fn's {kind}{i} is not array-like: {e}") from e
            if a.dtype.kind in "iub":
                a = a.astype(np.float64)
            if a.dtype.kind != "f":
                raise _Malformed(f"grad_fn's {kind}{i} has dtype {a.dtype}; expected a float array")
            pair.append(a)
        grads.append((pair[0], pair[1]))
    return grads


class _Reference:
    """Float64 autodiff (JAX, else Keras), else the package's numpy backprop with a note."""

    def __init__(self) -> None:
        from .backends import get_backend

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


def _activation_derivatives(name: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``f'(z)``, ``|f''(z)|`` and the absolute round-off of ``f'`` (in eps) for ``name``."""
    if name == "sigmoid":
        s = ACTIVATIONS["sigmoid"].value(z)
        d = s * (1 - s)
        return d, np.abs(d * (1 - 2 * s)), 1.0
    if name == "tanh":
        t = np.tanh(z)
        d = 1 - t * t
        return d, np.abs(2 * t * d), 1.0
    zero = np.zeros_like(z)
    return ACTIVATIONS[name].grad(z), zero, 0.0


def _roundoff_bound(spec: MLPSpec, params: Params, x: np.ndarray, y: np.ndarray) -> list[float]:
    """Per tensor, a first-order bound (in units of eps) on the round-off of *any* correct
    implementation: backprop run on magnitudes, with the rounding of inputs, products, sums,
    activation derivatives (1 - s near saturation is absolute) and the cancellation in the
    output delta (p - y). Its max over each tensor scales the accepted absolute error."""
    from .backends import numpy_backprop

    with np.errstate(all="ignore"):
        inputs, zs = numpy_backprop.forward(spec, params, x)
        acts = spec.hidden_activations
        absW = [np.abs(W) for W, _ in params]
        # forward: e_a (error of each layer's input), e_z (of its pre-activation)
        e_a, e_z, derivs = [np.abs(x)], [], []
        for i, (_, b) in enumerate(params):
            mag = np.abs(inputs[i]) @ absW[i]
            e_z.append(e_a[i] @ absW[i] + 2 * mag + np.abs(b))
            if i < len(acts):
                d, dd, c = _activation_derivatives(acts[i], zs[i])
                derivs.append((d, dd, c))
                e_a.append(np.abs(d) * e_z[i] + np.abs(inputs[i + 1]) + c)
        z, n, k = zs[-1], x.shape[0], y.shape[1]
        if spec.loss == "softmax_cross_entropy":
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            sy = np.abs(y.sum(axis=1, keepdims=True))
            ez = e_z[-1]
            e_delta = (p * sy * (ez + ez.max(axis=1, keepdims=True) + 1) + np.abs(y)) / n
        elif spec.loss == "sigmoid_cross_entropy":
            s = ACTIVATIONS["sigmoid"].value(z)
            e_delta = (s * (1 - s) * e_z[-1] + s + np.abs(y) + 1) / (n * k)
        else:
            e_delta = 2 * (e_z[-1] + np.abs(z) + np.abs(y)) / (n * k)
        delta = LOSSES[spec.loss].grad(z, y)
        out: list[float] = []
        for i in range(spec.num_layers - 1, -1, -1):
            a, ad = np.abs(inputs[i]), np.abs(delta)
            e_W = e_a[i].T @ ad + a.T @ e_delta + a.T @ ad
            e_b = e_delta.sum(axis=0) + ad.sum(axis=0)
            out += [float(e_b.max()), float(e_W.max())]
            if i > 0:
                d, dd, c = derivs[i - 1]
                g = delta @ params[i][0].T
                e_g = e_delta @ absW[i].T + 2 * ad @ absW[i].T
                e_delta = e_g * np.abs(d) + np.abs(g) * (dd * e_z[i - 1] + c + np.abs(d))
                delta = g * d
    bound = out[::-1]  # W0, b0, W1, b1, ...
    return [v if np.isfinite(v) else 0.0 for v in bound]


def _eps(dtype: np.dtype) -> float:
    return float(np.finfo(dtype).eps) if dtype.kind == "f" else float(np.finfo(np.float64).eps)


def _evaluate(
    grad_fn: GradFn,
    reference: _Reference,
    spec: MLPSpec,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
) -> _Evaluation:
    ev = _Evaluation(spec)
    ev.ref = reference.grads(spec, params, x, y)
    if not _reference_ok(ev.ref):
        ev.error = "the float64 reference is not finite on this problem"
        ev.unfair = True
        return ev
    try:
        ev.got = _call(grad_fn, spec, params, x, y)
    except _Malformed as e:
        ev.error = str(e)
        return ev
    dtypes = {a.dtype for pair in ev.got for a in pair}
    ev.dtype = "/".join(sorted(str(d) for d in dtypes))
    # The package's round-off-aware comparison (errors against the magnitude of the summed
    # terms), or else within a first-order bound on the round-off of any correct implementation.
    with np.errstate(all="ignore"):
        bounds = magnitude_bounds(spec, params, x, y)
    comps = compare_grads(spec, ev.got, ev.ref, bounds=bounds)
    roundoff = _roundoff_bound(spec, params, x, y)
    slack = ROUNDOFF_FACTOR * np.sqrt(max(*spec.sizes, x.shape[0]))
    flat = [t for pairs in zip(ev.got, ev.ref, bounds) for t in zip(*pairs)]
    for c, (g, r, bd), rb in zip(comps, flat, roundoff):
        allowed = slack * _eps(g.dtype) * rb
        ok = c.ok or (c.shape_ok and c.finite and c.max_abs <= allowed)
        ev.checks.append((c, _Tolerance(c.rtol, bd, r, allowed), ok))
    return ev


@dataclass(frozen=True)
class _Tolerance:
    """What :func:`_evaluate` accepted for one tensor, as a per-entry absolute tolerance."""

    rtol: float
    bound: np.ndarray
    ref: np.ndarray
    allowed: float

    def entries(self) -> np.ndarray:
        scale = float(np.abs(self.ref).max()) if self.ref.size else 0.0
        return np.maximum(self.rtol * np.maximum(self.bound, scale), self.allowed)


def _reference_ok(ref: Params) -> bool:
    return all(np.all(np.isfinite(t)) for pair in ref for t in pair)


# ----------------------------------------------------------------------------------------------
# Diagnosis


def _close(a: float, b: float, rtol: float) -> bool:
    return bool(np.isfinite(a) and np.isfinite(b) and abs(a - b) <= rtol * max(abs(a), abs(b)))


def _factor_text(s: float, rtol: float) -> str:
    """``10``, ``1/3``, ``-1``, ``2/3`` or ``0.3742``."""
    n = round(s)
    if n and _close(s, n, rtol) and abs(n) <= 100_000:
        return str(n)
    if s and _close(1 / s, round(1 / s), rtol) and round(1 / s):
        k = round(1 / s)
        return ("-" if k < 0 else "") + f"1/{abs(k)}"
    frac = Fraction(s).limit_denominator(12)
    if _close(float(frac), s, rtol):
        return f"{frac.numerator}/{frac.denominator}"
    digits = 4 if abs(s - 1) > 1e-3 else 8  # 1.000083, not 1
    return f"{s:.{digits}g}"


def _scale_hints(s: float, ce: Counterexample, rtol: float) -> list[tuple[str, str]]:
    """``(what, why)`` explanations of a pure scale factor ``s`` by the problem's sizes."""
    batch, n_out, n_in = ce.batch, ce.sizes[-1], ce.sizes[0]
    per_output = ce.spec.loss in ("sigmoid_cross_entropy", "mse")
    out_sum = (
        "the gradient is of the sum over outputs while the loss is their mean"
        if per_output
        else "softmax cross-entropy sums over outputs already; something multiplies by them"
    )
    out_div = (
        "divided by the outputs twice"
        if per_output
        else "divided by the outputs, but softmax cross-entropy is averaged over the batch only"
    )
    candidates = [
        (batch, "batch size", "summed over the batch instead of averaged"),
        (1 / batch, "1/batch size", "divided by the batch twice (the delta already carries it)"),
        (n_out, "number of outputs", out_sum),
        (1 / n_out, "1/number of outputs", out_div),
        (batch * n_out, "batch x outputs", "summed over batch and outputs instead of averaged"),
        (1 / (batch * n_out), "1/(batch x outputs)", "divided by batch and outputs twice"),
        (n_in, "number of inputs", "the batch size was taken from the wrong axis"),
        (
            1 / n_in,
            "1/number of inputs",
            "the batch size was taken from the wrong axis (e.g."
            " len(np.squeeze(x)) counts the inputs at batch 1)",
        ),
    ]
    if ce.spec.loss == "mse":
        candidates += [
            (2.0, "2", "squared-error factor: the 2 of d(z-y)^2/dz = 2(z-y) counted twice"),
            (0.5, "1/2", "squared-error factor: the 2 of d(z-y)^2/dz = 2(z-y) is missing"),
        ]
    if batch == 1 or n_out == 1:  # batch x outputs is then the batch or the outputs
        candidates = [c for c in candidates if "x" not in c[1]]
    return [(what, why) for v, what, why in candidates if v != 1 and _close(abs(s), v, rtol)]


def _one_more_sample(ce: Counterexample) -> Counterexample:
    """``ce`` with its first sample repeated at the end of the batch."""
    x, y = np.concatenate([ce.x, ce.x[:1]]), np.concatenate([ce.y, ce.y[:1]])
    return Counterexample(ce.spec, ce.params, x, y)


@dataclass
class _Hints:
    """Explains scale factors by the counterexample's sizes. When several explanations fit,
    ``probe(s)`` (the factor of the same tensors with one more sample in the batch) keeps only
    those that follow it, e.g. "= batch size" but not "= number of outputs" at batch = outputs."""

    ce: Counterexample
    rtol: float
    probe: Callable[[float], float | None] | None = None

    def __call__(self, s: float) -> str:
        """What factor ``s`` may mean, e.g. ``= batch size: summed over ...``; "" if nothing."""
        found = _scale_hints(s, self.ce, self.rtol)
        s2 = self.probe(s) if self.probe is not None else None
        if s2 is not None and _close(s2, 1.0, self.rtol) and not _close(s, 1.0, self.rtol):
            b = self.ce.batch
            kept = [f"= {w}: {why}" for w, why in found if "batch" in w or "inputs" in w]
            special = (
                f"only at batch {b}: with one more sample the gradient is right, so a batch of"
                f" {b} is treated specially" + (" (np.squeeze?)" if b == 1 else "")
            )
            return "; ".join(["; or ".join(kept), special] if kept else [special])
        if s2 is not None and len(found) > 1:
            follow = {what for what, _ in _scale_hints(s2, _one_more_sample(self.ce), self.rtol)}
            found = [h for h in found if h[0] in follow] or found
        return "; or ".join(f"= {what}: {why}" for what, why in found)


@dataclass
class _Status:
    """A wrong or right tensor as a factor of the true one: ``scale`` None if not a pure scale;
    ``free`` if both are zero (any factor fits)."""

    scale: float | None
    free: bool = False


def _tensor_status(got: np.ndarray, ref: np.ndarray, tol: np.ndarray, ok: bool) -> _Status:
    if ok:
        return _Status(1.0, free=not np.any(ref) and not np.any(got))
    if got.shape != ref.shape or not np.all(np.isfinite(got)):
        return _Status(None)
    rr = float(np.linalg.norm(ref))
    if rr == 0:
        return _Status(None)
    s = float(np.vdot(got, ref)) / rr / rr
    if s != 0 and np.all(np.abs(got - s * ref) <= abs(s) * tol):
        return _Status(s)
    return _Status(None)


def _diagnose_tensor(
    name: str,
    got: np.ndarray,
    ref: np.ndarray,
    c: TensorComparison,
    tol: np.ndarray,
    status: _Status,
    hints_for: _Hints,
) -> str:
    ce, rtol = hints_for.ce, hints_for.rtol
    expected = ref.shape
    if got.shape != expected:
        msg = f"wrong shape {got.shape}, expected {expected}"
        if got.shape == expected[::-1] and len(expected) == 2:
            msg += ": W must be laid out (fan_in, fan_out); transpose it"
        elif got.size == ref.size:
            msg += " (same number of entries: reshape, or a squeezed axis)"
        return msg
    if not np.all(np.isfinite(got)):
        bad = int((~np.isfinite(got)).sum())
        return f"non-finite: {bad} of {got.size} entries NaN/inf" + _overflow_hint(ce)
    if not np.any(got):
        return (
            "zero where it should not be: all zeros while the true gradient is not (never "
            "computed or never accumulated?)"
        )
    if status.scale is not None:
        s = status.scale
        if _close(s, -1.0, rtol):
            return "sign flipped: exactly -1 x the true gradient (y - p instead of p - y?)"
        hints = hints_for(s)
        text = f"pure scale: {_factor_text(s, rtol)} x the true gradient"
        if got.size == 1 and not hints:
            text = f"wrong value: {_factor_text(s, rtol)} x the true one"
        if s < 0:
            text += " (and the sign flipped)"
        return text + (f" ({hints})" if hints else "")
    if got.ndim == 2 and got.shape[0] == got.shape[1] and got.shape[0] > 1:
        if np.all(np.abs(got.T - ref) <= tol):
            return (
                "transposed: got.T equals the true gradient (compute a.T @ delta, not delta.T @ a)"
            )
    diff = np.abs(got - ref) > tol
    zero_missing = diff & (got == 0)
    if diff.any() and np.array_equal(diff, zero_missing):
        return (
            f"zero where it should not be: {int(diff.sum())} of {got.size} entries are 0 "
            "while the true gradient is not; the rest are right"
        )
    extra = diff & (ref == 0)
    if diff.any() and np.array_equal(diff, extra):
        hint = ""
        if ce.spec.loss == "softmax_cross_entropy" and ce.sizes[-1] == 1:
            hint = " (softmax over one output is constant: its true gradient is 0)"
        elif "relu" in ce.spec.hidden_activations:
            hint = " (a ReLU kink? relu'(0) = 0 by convention: use z > 0, not z >= 0)"
        return (
            f"nonzero at {int(diff.sum())} of {got.size} entries whose true gradient is "
            f"exactly 0; the rest are right{hint}"
        )
    return (
        f"wrong direction: cosine {_num(c.cosine)} with the true gradient, best-fit scale "
        f"{_num(c.scale)}, max rel error {c.max_rel:.3g}"
    )


def _overflow_hint(ce: Counterexample) -> str:
    from .backends import numpy_backprop

    with np.errstate(all="ignore"):
        z = numpy_backprop.logits(ce.spec, ce.params, ce.x)
    m = float(np.abs(z).max()) if z.size else 0.0
    if ce.spec.loss == "softmax_cross_entropy" and m > 80:
        return (
            f" (logits reach {m:.3g}: exp(z) overflows above ~709 in float64, ~88 in float32;"
            " subtract the row max before exp)"
        )
    if m > 80:
        return f" (logits reach {m:.3g}: an exp overflows? use a stable form)"
    return ""


def _scale_phrase(s: float, hints_for: _Hints) -> str:
    """``10 (= number of outputs: ...)``: a factor and what it may mean."""
    if _close(s, -1.0, hints_for.rtol):
        return "-1 (sign flipped)"
    hints = hints_for(s)
    return _factor_text(s, hints_for.rtol) + (f" ({hints})" if hints else "")


def _localize(spec: MLPSpec, statuses: dict[str, _Status], hints_for: _Hints) -> str:
    """One line: the layers that are right (up to one common scale) counting from the output,
    and the first layer, where backprop goes wrong first."""
    rtol = hints_for.rtol

    def fits(st: _Status, s: float | None) -> bool:
        if st.free:
            return True
        return st.scale is not None and s is not None and _close(st.scale, s, rtol)

    if all(fits(statuses[n], 1.0) for n in spec.tensor_names):
        return ""
    s: float | None = None
    right: list[str] = []
    for i in range(spec.num_layers - 1, -1, -1):
        w, b = statuses[f"W{i}"], statuses[f"b{i}"]
        if s is None:  # the first constrained layer (from the output) sets the common scale
            if w.free and b.free:
                right += [f"W{i}", f"b{i}"]
                continue
            shared = [
                st.scale for st in (w, b) if not st.free and fits(w, st.scale) and fits(b, st.scale)
            ]
            if shared:
                s = shared[0]
        if s is not None and fits(w, s) and fits(b, s):
            right += [f"W{i}", f"b{i}"]
            continue
        return _entry_line(spec, i, w, b, s, right, statuses, hints_for)
    assert s is not None
    return (
        f"every tensor is the true gradient times {_scale_phrase(s, hints_for)}: one global"
        f" factor, in the loss's normalisation or the output delta"
        f" ({LOSSES[spec.loss].description})"
    )


def _entry_line(
    spec: MLPSpec,
    i: int,
    w: _Status,
    b: _Status,
    s: float | None,
    right: list[str],
    statuses: dict[str, _Status],
    hints_for: _Hints,
) -> str:
    """The localisation sentence when layer ``i`` is the first (from the output) that is not
    ``s`` x the truth."""
    rtol = hints_for.rtol
    parts = []
    if right:
        listed = ", ".join(right)
        if s is None or _close(s, 1.0, rtol):
            parts.append(f"{listed} right")
        else:
            parts.append(f"{listed} right up to a scale of {_scale_phrase(s, hints_for)}")
    if s is None:  # the output layer's W and b disagree: the one that is right sets the scale
        right_one = any(st.scale is not None and _close(st.scale, 1.0, rtol) for st in (w, b))
        s = 1.0 if right_one else None

    def fits(st: _Status) -> bool:
        return st.free or (st.scale is not None and s is not None and _close(st.scale, s, rtol))

    def also(kind: str) -> str:
        below = [f"{kind}{j}" for j in range(i)]
        if below and all(not fits(statuses[n]) for n in below):
            return f"; every {kind} below is wrong too, so look at that formula, not the deltas"
        return ""

    where = "the output layer, layer" if i == spec.num_layers - 1 else "layer"
    if fits(w) and not fits(b):
        cause = (
            f"b{i} only (W{i}, hence delta{i}, is consistent): check "
            f"db{i} = delta{i}.sum(axis=0)" + also("b")
        )
    elif fits(b) and not fits(w):
        a = "x" if i == 0 else f"the activations f(z{i - 1}), not the pre-activations"
        cause = (
            f"W{i} only (b{i}, hence delta{i}, is consistent): check "
            f"dW{i} = a{i}.T @ delta{i} with a{i} the layer's input ({a})" + also("W")
        )
    elif i == spec.num_layers - 1:
        cause = (
            f"check the output delta dL/dz, the loss's gradient ({LOSSES[spec.loss].description})"
        )
    else:
        act = spec.hidden_activations[i]
        cause = (
            f"check the derivative of its activation ({act}) in "
            f"delta{i} = (delta{i + 1} @ W{i + 1}.T) * {act}'(z{i})"
        )
    parts.append(f"the error enters at {where} {i}: {cause}")
    return "; ".join(parts)


def _diagnose(
    ev: _Evaluation, ce: Counterexample, grad_fn: GradFn, reference: _Reference
) -> tuple[list[TensorCheck], str]:
    """Per-tensor diagnoses and the localisation line for a failing evaluation."""
    assert ev.got is not None and ev.ref is not None
    flat_got = [t for pair in ev.got for t in pair]
    flat_ref = [t for pair in ev.ref for t in pair]
    rtol = max(max(1e-6, 50 * rtol_for(g.dtype)) for g in flat_got)
    statuses, rows = {}, []
    for (c, tolerance, ok), got, ref in zip(ev.checks, flat_got, flat_ref):
        tol = tolerance.entries()
        got64 = got.astype(np.float64)
        statuses[c.name] = _tensor_status(got64, ref, tol, ok)
        rows.append((c, ok, got64, ref, tol))
    bigger: list[_Evaluation] = []

    def probe(s: float) -> float | None:
        """The factor, with one more sample in the batch, of the tensors that are ``s`` x."""
        if not bigger:
            more = _one_more_sample(ce)
            bigger.append(_evaluate(grad_fn, reference, ce.spec, ce.params, more.x, more.y))
        ev2 = bigger[0]
        if ev2.error is not None:
            return None
        names = [n for n, st in statuses.items() if st.scale is not None and not st.free]
        names = [n for n in names if _close(statuses[n].scale, s, rtol)]  # type: ignore[arg-type]
        scales = [c.scale for c, _, _ in ev2.checks if c.name in names]
        if scales and all(_close(v, scales[0], rtol) for v in scales):
            return scales[0]
        return None

    hints_for = _Hints(ce, rtol, probe)
    checks = []
    for c, ok, got64, ref, tol in rows:
        diag = (
            "" if ok else _diagnose_tensor(c.name, got64, ref, c, tol, statuses[c.name], hints_for)
        )
        checks.append(TensorCheck(c.name, c, ok, diag))
    return checks, _localize(ce.spec, statuses, hints_for)


# ----------------------------------------------------------------------------------------------
# The search


def _strategy(activation, loss: str, sizes: tuple[int, ...] | None):
    """Problems from the package's public strategies (params, data, targets), with two changes:

    - drawn widths come input, output, then hidden, so shrinking the depth drops hidden layers
      and keeps the output width (input-to-output order turned a failing 1-1-1-2 net into an
      invisible 1-1 one, and the shrinker stopped at depth 4);
    - about one time in two the output layer is rescaled so that the largest logit is
      ``+LOGIT_BOOST``, where an unstabilised exp overflows; through sigmoid or tanh hidden
      layers the drawn magnitudes alone rarely get there. (With a fixed factor of 1000 on one
      drawn choice in four, a naive softmax went unnoticed in 1.5% of 100-example searches:
      some boosted logits stayed in the hundreds, and some searches never drew the boost.)
    """
    import functools

    from hypothesis import strategies as st

    from . import strategies as mst

    max_batch = BATCHES[1]
    if sizes is not None and MLPSpec(sizes).num_params > LARGE_NET:
        max_batch = 3
    depth, width = st.integers(*DEPTHS), st.integers(*WIDTHS)
    equal, boost = st.integers(0, 2), st.integers(0, 3)  # both shrink to 0: the plain case

    @functools.lru_cache(maxsize=512)
    def rest(shape: tuple[int, ...]):
        spec = MLPSpec(shape, activation, loss)
        return mst.problems(spec=spec, min_batch=BATCHES[0], max_batch=max_batch)

    @st.composite
    def problems(draw):
        boosted = draw(boost) == 3  # drawn first: the root choice, which Hypothesis varies most
        shape = sizes
        if shape is None:
            d = draw(depth)
            if draw(equal) == 2:  # one time in three all widths are equal: square matrices
                shape = (draw(width),) * (d + 1)
            else:
                n_in, n_out = draw(width), draw(width)
                shape = (n_in, *(draw(width) for _ in range(d - 1)), n_out)
        spec, params, x, y = draw(rest(shape))
        # Hypothesis mutates earlier examples more than it draws afresh, and some searches
        # never drew boost == 3 in 100 examples; a quarter of the data (by its hash) is
        # boosted too, whatever the choices.
        if boosted or zlib.crc32(x.tobytes()) % 4 == 0:
            params = _boosted(spec, params, x)
        return spec, params, x, y

    return problems()


def _boosted(spec: MLPSpec, params: Params, x: np.ndarray) -> Params:
    """``params`` with the output layer scaled (sign included) so that the logit of largest
    magnitude becomes ``+LOGIT_BOOST``; the factor is at most ``LOGIT_BOOST**2`` in magnitude
    (tiny logits stay small) and ``LOGIT_BOOST`` where every logit is 0."""
    from .backends.numpy_backprop import logits

    with np.errstate(all="ignore"):
        z = logits(spec, params, x)
    largest = z.flat[np.argmax(np.abs(z))] if np.isfinite(z).all() else 0.0
    factor = LOGIT_BOOST if largest == 0 else LOGIT_BOOST / float(largest)
    factor = float(np.clip(factor, -(LOGIT_BOOST**2), LOGIT_BOOST**2))
    W, b = params[-1]
    return [*params[:-1], (W * factor, b * factor)]


def _import_hypothesis():
    try:
        import hypothesis
    except ModuleNotFoundError as e:
        raise ImportError('check_backprop needs Hypothesis: pip install "mlp_parity[test]"') from e
    return hypothesis


class _Found(Exception):
    """Raised by the inner test on a failing example (one type, one place: one bug to shrink)."""


def check_backprop(
    grad_fn: GradFn,
    *,
    activation: str | tuple[str, ...],
    loss: str,
    sizes: Sequence[int] | None = None,
    max_examples: int = 100,
    seed: int | None = None,
) -> BackpropReport:
    """Search for a problem on which ``grad_fn`` differs from float64 autodiff of the loss.

    Args:
        grad_fn: ``grad_fn(params, x, y) -> grads``, both ``[(W, b), ...]`` with ``W``
            (fan_in, fan_out); ``x`` (batch, in); ``y`` (batch, out) floats: one-hot rows for
            ``softmax_cross_entropy``, values in [0, 1] for ``sigmoid_cross_entropy``, reals for
            ``mse``. It is given float64 arrays; tolerances follow the dtype it returns.
        activation: the hidden activation (``sigmoid``, ``tanh``, ``relu``, ``identity``).
        loss: ``softmax_cross_entropy``, ``sigmoid_cross_entropy`` or ``mse``.
        sizes: a fixed architecture; None draws them (depth 1-4, widths 1-8, batch 1-6).
        max_examples: how many problems Hypothesis tries before declaring grad_fn right.
        seed: makes the search reproducible.

    Returns:
        A :class:`BackpropReport`: ``ok``, ``wrong``, the shrunk ``counterexample``,
        ``examples_run``; ``str(report)`` tabulates and diagnoses. A grad_fn that raises or
        returns a malformed result is reported as a failure, never raised.
    """
    if not callable(grad_fn):
        raise TypeError(f"grad_fn must be callable, got {type(grad_fn).__name__}")
    if isinstance(max_examples, bool) or not isinstance(max_examples, int) or max_examples < 1:
        raise ValueError(f"max_examples must be a positive int, got {max_examples!r}")
    if sizes is not None:
        sizes = MLPSpec(tuple(sizes), activation, loss).sizes  # validate now, not per example
    elif not isinstance(activation, str):
        raise ValueError("one activation per hidden layer needs fixed sizes=; got sizes=None")
    else:
        MLPSpec((1, 1, 1), activation, loss)
    hyp = _import_hypothesis()
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings

    reference = _Reference()
    start = time.perf_counter()
    calls = 0
    failing: tuple | None = None

    def search(problem) -> None:
        nonlocal calls, failing
        spec, params, x, y = problem
        ev = _evaluate(grad_fn, reference, spec, params, x, y)
        if ev.unfair:
            hyp.reject()
        calls += 1
        if not ev.ok:
            failing = (spec, params, x, y)
            raise _Found

    test = settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        print_blob=False,
        **({"derandomize": False} if seed is not None else {}),
    )(given(_strategy(activation, loss, sizes))(search))
    if seed is not None:
        test = hyp.seed(seed)(test)
    notes = [reference.note] if reference.note else []
    try:
        test()
    except _Found:
        pass
    except hyp.errors.Unsatisfiable:
        notes.append("every drawn problem overflowed the float64 reference; nothing was checked")
    except Exception as e:  # e.g. Flaky: grad_fn gave different answers on the same input
        if failing is None:
            raise
        notes.append(
            f"grad_fn is not deterministic ({type(e).__name__}): the example shown "
            "failed once but may pass when rerun"
        )
    report = BackpropReport(
        ok=failing is None,
        activation=activation,
        loss=loss,
        examples_run=calls,
        reference=reference.name,
        sizes=sizes,
        notes=notes,
    )
    if failing is not None:
        _fill(report, grad_fn, reference, *failing)
    report.seconds = time.perf_counter() - start
    return report


def _fill(
    report: BackpropReport,
    grad_fn: GradFn,
    reference: _Reference,
    spec: MLPSpec,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
) -> None:
    """Evaluate the counterexample once more and write the verdict into ``report``."""
    ce = Counterexample(spec, params, x, y)
    report.ok = False
    report.counterexample = ce
    ev = _evaluate(grad_fn, reference, spec, params, x, y)
    report.wrong = ev.wrong
    report.grad_dtype = ev.dtype
    if ev.error is not None:
        report.error = ev.error
        report.summary = (
            "fix the structure first: grad_fn must return [(dW0, db0), ...] shaped like params"
        )
        if ev.error.startswith("grad_fn raised"):
            report.summary = "grad_fn crashed on this input (see the error above)"
        return
    if ev.ok:
        report.notes.append("grad_fn passed when rerun on this example: it is not deterministic")
        report.wrong = frozenset()
    report.tensors, report.summary = _diagnose(ev, ce, grad_fn, reference)


def check_example(
    grad_fn: GradFn, spec: MLPSpec, params: Params, x: np.ndarray, y: np.ndarray
) -> BackpropReport:
    """Check ``grad_fn`` on one given problem (no search); the report reads as
    :func:`check_backprop`'s, with this problem as the counterexample when it fails."""
    from .params import check_batch, check_params

    params = cast_params(check_params(spec, params), "float64")
    x, y = check_batch(spec, x, y, np.dtype("float64"))
    if y is None:
        raise TypeError("y is required")
    reference = _Reference()
    start = time.perf_counter()
    report = BackpropReport(
        ok=True,
        activation=spec.activation,
        loss=spec.loss,
        examples_run=1,
        reference=reference.name,
        sizes=spec.sizes,
        notes=[reference.note] if reference.note else [],
        searched=False,
    )
    ev = _evaluate(grad_fn, reference, spec, params, x, y)
    if not ev.ok:
        _fill(report, grad_fn, reference, spec, params, x, y)
    report.seconds = time.perf_counter() - start
    return report
