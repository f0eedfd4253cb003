"""Every diagnosis the debugger writes, in one place: what is wrong with each tensor (a pure
scale and what it may mean, a flipped sign, a transpose, zeros, NaNs, a kink), where backprop
first goes wrong, and the verdict written into the report. Facts about activations and losses
come from the tables in :mod:`mlp_parity.spec`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..gradcheck import TensorComparison
from ..params import Params
from ..spec import ACTIVATIONS, LOSSES, MLPSpec
from ..tolerance import rtol_for
from .evaluate import Evaluation, GradFn, Reference, evaluate_problem
from .report import BackpropReport, Counterexample, TensorCheck, fmt_num


def fill_report(
    report: BackpropReport,
    grad_fn: GradFn,
    reference: Reference,
    spec: MLPSpec,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
) -> None:
    """Evaluate the counterexample once more and write the verdict into ``report``."""
    ce = Counterexample(spec, params, x, y)
    report.ok = False
    report.counterexample = ce
    ev = evaluate_problem(grad_fn, reference, spec, params, x, y)
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


def _diagnose(
    ev: Evaluation, ce: Counterexample, grad_fn: GradFn, reference: Reference
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
    bigger: list[Evaluation] = []

    def probe(s: float) -> float | None:
        """The factor, with one more sample in the batch, of the tensors that are ``s`` x."""
        if not bigger:
            more = _one_more_sample(ce)
            bigger.append(evaluate_problem(grad_fn, reference, ce.spec, ce.params, more.x, more.y))
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
        diag = "" if ok else _diagnose_tensor(got64, ref, c, tol, statuses[c.name], hints_for)
        checks.append(TensorCheck(c.name, c, ok, diag))
    return checks, _localize(ce.spec, statuses, hints_for)


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


# ----------------------------------------------------------------------------------------------
# What a scale factor may mean


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
    loss = LOSSES[ce.spec.loss]
    out_sum = (
        "the gradient is of the sum over outputs while the loss is their mean"
        if loss.averages_outputs
        else "softmax cross-entropy sums over outputs already; something multiplies by them"
    )
    out_div = (
        "divided by the outputs twice"
        if loss.averages_outputs
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
        *loss.scale_hints,
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


# ----------------------------------------------------------------------------------------------
# One tensor


def _diagnose_tensor(
    got: np.ndarray,
    ref: np.ndarray,
    c: TensorComparison,
    tol: np.ndarray,
    status: _Status,
    hints_for: _Hints,
) -> str:
    """One line on what is wrong with a tensor, from the most specific finding (shape, NaN,
    all zeros, a pure scale, a transpose) to the least (a wrong direction)."""
    ce = hints_for.ce
    if got.shape != ref.shape:
        return _shape_text(got.shape, ref.shape)
    if not np.all(np.isfinite(got)):
        bad = int((~np.isfinite(got)).sum())
        return f"non-finite: {bad} of {got.size} entries NaN/inf" + _overflow_hint(ce)
    if not np.any(got):
        return (
            "zero where it should not be: all zeros while the true gradient is not (never "
            "computed or never accumulated?)"
        )
    if status.scale is not None:
        return _scale_text(status.scale, got.size, hints_for)
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
        return (
            f"nonzero at {int(diff.sum())} of {got.size} entries whose true gradient is "
            f"exactly 0; the rest are right{_exact_zero_hint(ce)}"
        )
    return (
        f"wrong direction: cosine {fmt_num(c.cosine)} with the true gradient, best-fit scale "
        f"{fmt_num(c.scale)}, max rel error {c.max_rel:.3g}"
    )


def _shape_text(got: tuple[int, ...], expected: tuple[int, ...]) -> str:
    msg = f"wrong shape {got}, expected {expected}"
    if got == expected[::-1] and len(expected) == 2:
        return msg + ": W must be laid out (fan_in, fan_out); transpose it"
    if np.prod(got) == np.prod(expected):
        return msg + " (same number of entries: reshape, or a squeezed axis)"
    return msg


def _scale_text(s: float, size: int, hints_for: _Hints) -> str:
    """A tensor that is ``s`` x the true one, and what ``s`` may mean."""
    rtol = hints_for.rtol
    if _close(s, -1.0, rtol):
        return "sign flipped: exactly -1 x the true gradient (y - p instead of p - y?)"
    hints = hints_for(s)
    text = f"pure scale: {_factor_text(s, rtol)} x the true gradient"
    if size == 1 and not hints:
        text = f"wrong value: {_factor_text(s, rtol)} x the true one"
    if s < 0:
        text += " (and the sign flipped)"
    return text + (f" ({hints})" if hints else "")


def _exact_zero_hint(ce: Counterexample) -> str:
    """Why a true gradient may be exactly 0 where the tensor is not."""
    note = LOSSES[ce.spec.loss].one_output_note
    if note and ce.sizes[-1] == 1:
        return f" ({note})"
    if any(ACTIVATIONS[a].has_kink for a in ce.spec.hidden_activations):
        return " (a ReLU kink? relu'(0) = 0 by convention: use z > 0, not z >= 0)"
    return ""


def _overflow_hint(ce: Counterexample) -> str:
    from ..backends import numpy_backprop

    with np.errstate(all="ignore"):
        z = numpy_backprop.logits(ce.spec, ce.params, ce.x)
    m = float(np.abs(z).max()) if z.size else 0.0
    if m > 80:
        return f" (logits reach {m:.3g}: {LOSSES[ce.spec.loss].overflow_advice})"
    return ""


# ----------------------------------------------------------------------------------------------
# Where backprop first goes wrong


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
