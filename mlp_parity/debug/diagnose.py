"""Every per-tensor diagnosis the debugger writes: what is wrong with each tensor (a pure scale
and what it may mean, an L2 term, a flipped sign, a transpose, zeros, NaNs, a kink), the
conventions grad_fn is right for instead (:mod:`.discovery`), and the verdict written into the
report. Scale factors are read in :mod:`.scales`, the first wrong layer found in
:mod:`.localize`. Facts about activations and losses come from the tables in
:mod:`mlp_parity.spec`."""

from __future__ import annotations

import re

import numpy as np

from ..gradcheck import TensorComparison
from ..params import Params
from ..spec import ACTIVATIONS, LOSSES, MLPSpec
from ..tolerance import rtol_for
from .arguments import CONVENTION_DEFAULTS
from .discovery import Setting, describe, discover
from .evaluate import Evaluation, GradFn, Reference, evaluate_problem
from .layouts import UserLayout, layouts_text
from .localize import localize
from .report import BackpropReport, Counterexample, TensorCheck, fmt_num
from .scales import _close, _factor_text, _Hints, _one_more_sample, _Status, tensor_status
from .slips import moved_probe, shape_summary, untransposed_at, untransposed_text

#: What numpy says when a product's shapes disagree (a layout other than the declared one?).
_SHAPE_CRASH = re.compile(r"matmul|not aligned|could not be broadcast|operands could not")
#: The largest logit below which exp cannot overflow in float64 (exp(709.78) is the largest).
EXP_OVERFLOW = 709.0
#: Cosine with the true gradient above which a small error is "slightly off", not a direction.
SLIGHTLY = 1 - 1e-6
CONVENTION_IDENTITY = CONVENTION_DEFAULTS["output_activation"]


def fill_report(
    report: BackpropReport,
    grad_fn: GradFn,
    reference: Reference,
    spec: MLPSpec,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    *,
    layout: UserLayout | None = None,
    setting: Setting | None = None,
) -> None:
    """Evaluate the counterexample once more and write the verdict into ``report``; with
    ``setting``, also look for the conventions grad_fn is right for."""
    layout = layout or UserLayout()
    ce = Counterexample(spec, params, x, y, layout)
    report.ok = False
    report.counterexample = ce
    ev = evaluate_problem(grad_fn, reference, spec, params, x, y, layout=layout)
    report.wrong = frozenset(layout.name(n) for n in ev.wrong)
    report.grad_dtype = ev.dtype
    if ev.error is not None:
        report.error = ev.error
        shape = "[(dW0, db0), ...]" if layout.is_default else f"its gradients ({layout.describe()})"
        report.summary = f"fix the structure first: grad_fn must return {shape} shaped like params"
        if ev.error.startswith("grad_fn raised"):
            report.summary = "grad_fn crashed on this input (see the error above)"
            if _SHAPE_CRASH.search(ev.error):
                report.summary += (
                    f"; a shape mismatch inside it: is its layout the declared one"
                    f" ({layout.describe() or 'layout=rows'})? The others: {layouts_text()}"
                )
        return
    if ev.ok:
        report.notes.append("grad_fn passed when rerun on this example: it is not deterministic")
        report.wrong = frozenset()
    match = None
    if setting is not None and not ev.ok:
        match = discover(grad_fn, reference, setting, (spec, params, x, y))
    report.matching_convention = match
    tensors, summary = _diagnose(ev, ce, grad_fn, reference, match)
    js = None if match else untransposed_at(ev, ce, reference)
    if js:
        tensors, summary = untransposed_text(ce, tensors, js)
    if ev.bad_shapes:
        summary = shape_summary(ev, layout)
    rename = _renamer(layout)
    report.tensors = [
        TensorCheck(layout.name(t.name), t.comparison, t.ok, rename(t.diagnosis), t.shape)
        for t in tensors
    ]
    report.summary = rename(summary)
    if match:
        # what the gradient is against the declared loss, when that is a factor that says
        # something; an L2 term or another loss is not a scale, whatever one example shows
        tail = report.summary and not {"l2", "loss"} & set(match)
        report.summary = _match_text(match, setting) + (
            f" (as declared: {report.summary})" if tail else ""
        )


def _renamer(layout: UserLayout):
    """Rewrites ``W0``, ``db1``, ``delta0``, ``z0``, ``layer 0`` ... in a text into the user's
    1-based names. Activations keep their index: layer l's input is a(l-1) in 1-based
    notation (a0 = x), which is internal layer l-1's input a(l-1)."""
    if not layout.keyed:
        return lambda text: text
    pattern = re.compile(r"\b(d?[Wbz]|delta|layer )(\d+)\b")
    return lambda text: pattern.sub(lambda m: f"{m.group(1)}{int(m.group(2)) + 1}", text)


def _match_text(match: dict, setting: Setting | None) -> str:
    """The sentence naming the conventions grad_fn is right for."""
    text = (
        f"grad_fn computes the gradient for {describe(match)} instead of the declared"
        f" conventions: check_backprop(..., {describe(match)}) passes on this counterexample"
        " and on re-checked problems of other batch sizes"
    )
    if "loss" in match and setting is not None:
        declared = setting.declared("output_activation")
        twin = LOSSES[match["loss"]].delta_of
        text += f"; its output delta is {twin}(z) - y, the gradient of {match['loss']}"
        if declared == twin:
            text += f": the declared {setting.loss} on {twin}(z) also multiplies by {twin}'(z)"
        else:  # the declared loss and output have no such delta: a sigmoid where none is meant?
            text += (
                f", not of the declared {setting.loss} (output {declared}): is a {twin} applied"
                " to the output where it should not be?"
            )
    elif "output_activation" in match and setting is not None:
        declared = setting.declared("output_activation")
        if match["output_activation"] != CONVENTION_IDENTITY:
            text += "; does your output layer apply an activation?"
        elif declared != CONVENTION_IDENTITY:
            text += f"; your gradient leaves out the declared output activation ({declared})"
    if "l2" in match:
        text += f" (an L2 term l2 * sum(W**2) with lambda = {match['l2']:.6g})"
    return text


def _diagnose(
    ev: Evaluation,
    ce: Counterexample,
    grad_fn: GradFn,
    reference: Reference,
    match: dict | None,
) -> tuple[list[TensorCheck], str]:
    """Per-tensor diagnoses and the localisation line for a failing evaluation (internal
    names)."""
    assert ev.got is not None and ev.ref is not None
    names = ce.spec.tensor_names
    keep = set(ev.names)
    flat_got = [t for pair in ev.got for t in pair]
    flat_ref = [t for pair in ev.ref for t in pair]
    tensors = [(n, g, r) for n, g, r in zip(names, flat_got, flat_ref) if n in keep]
    rtol = max(max(1e-6, 50 * rtol_for(g.dtype)) for _, g, _ in tensors)
    statuses, rows = {}, []
    for (c, tolerance, ok), (_, got, ref) in zip(ev.checks, tensors):
        tol = tolerance.entries()
        got64 = got.astype(np.float64)
        statuses[c.name] = tensor_status(got64, ref, tol, ok)
        rows.append((c, ok, got64, ref, tol))
    bigger: list[Evaluation] = []

    def probe(s: float) -> float | None:
        """The factor, with one more sample in the batch, of the tensors that are ``s`` x."""
        if not bigger:
            more = _one_more_sample(ce)
            bigger.append(
                evaluate_problem(
                    grad_fn, reference, ce.spec, ce.params, more.x, more.y, layout=ce.layout
                )
            )
        ev2 = bigger[0]
        if ev2.error is not None:
            return None
        names = [n for n, st in statuses.items() if st.scale is not None and not st.free]
        names = [n for n in names if _close(statuses[n].scale, s, rtol)]  # type: ignore[arg-type]
        scales = [c.scale for c, _, _ in ev2.checks if c.name in names]
        if scales and all(_close(v, scales[0], rtol) for v in scales):
            return scales[0]
        return None

    hints_for = _Hints(ce, rtol, probe, moved_probe(grad_fn, reference, ce, statuses, rtol))
    checks = []
    for c, ok, got64, ref, tol in rows:
        diag = ""
        if not ok:
            W = ce.params[int(c.name[1:])][0] if c.name[0] == "W" else None
            if c.name in ev.bad_shapes:
                diag = ce.layout.shape_text(c.name, *ev.bad_shapes[c.name])
            else:
                diag = _diagnose_tensor(got64, ref, c, tol, statuses[c.name], hints_for, W, match)
        shape = ce.layout.shape_of(c.name, ce.sizes)
        checks.append(TensorCheck(c.name, c, ok, diag, shape))
    return checks, localize(ce.spec, statuses, hints_for)


def _l2_text(
    got: np.ndarray, ref: np.ndarray, W: np.ndarray | None, tol: np.ndarray, declared: float
) -> str:
    """``difference is exactly c·W (an L2 term ...)`` when got - ref is a multiple of W. Only
    with two or more nonzero weights: any difference on one number is a multiple of it."""
    if W is None or got.shape != W.shape or np.count_nonzero(W) < 2:
        return ""
    d = got - ref
    c = float(np.vdot(d, W)) / float(np.vdot(W, W))
    if c == 0 or not np.all(np.abs(d - c * W) <= tol):
        return ""
    implied = declared + c / 2  # the l2 whose gradient 2 * l2 * W the tensor carries
    text = f"difference is exactly {c:.6g}·W"
    if declared > 0 and _close(c, -declared, 1e-6):
        return text + f" (the L2 term's gradient is l2 * W, not 2 * l2 * W, with l2={declared:g})"
    if declared > 0 and _close(c, -2 * declared, 1e-6):
        return text + f" (the declared L2 term, l2={declared:g}, is left out)"
    if implied <= 0:
        return text + " (a multiple of W subtracted: an L2 term with the wrong sign?)"
    return text + (
        f" (an L2 term with l2={implied:.6g}"
        + (f" where l2={declared:g} is declared" if declared > 0 else "")
        + ": the gradient of l2 * sum(W**2) is 2 * l2 * W)"
    )


def _diagnose_tensor(
    got: np.ndarray,
    ref: np.ndarray,
    c: TensorComparison,
    tol: np.ndarray,
    status: _Status,
    hints_for: _Hints,
    W: np.ndarray | None = None,
    match: dict | None = None,
) -> str:
    """One line on what is wrong with a tensor, from the most specific finding (shape, NaN,
    all zeros, a pure scale, a transpose) to the least (a wrong direction)."""
    ce = hints_for.ce
    if got.shape != ref.shape:
        return _shape_text(got.shape, ref.shape)
    if not np.all(np.isfinite(got)):
        bad = int((~np.isfinite(got)).sum())
        return f"non-finite: {bad} of {got.size} entries NaN/inf" + _overflow_hint(ce)
    l2 = _l2_text(got, ref, W, tol, float(ce.spec.l2))
    if l2:
        return l2
    if match and (
        "output_activation" in match or "loss" in match or ("l2" in match and W is not None)
    ):
        return f"right for {describe(match)} (see the summary): not a bug in this tensor alone"
    if not np.any(got):
        return (
            "zero where it should not be: all zeros while the true gradient is not (never "
            "computed or never accumulated?)"
        )
    if status.scale is not None:
        return _scale_text(status.scale, got.size, hints_for)
    if got.ndim == 2 and got.shape[0] == got.shape[1] and got.shape[0] > 1:
        if np.all(np.abs(got.T - ref) <= tol):
            dw = ce.layout.formulas(int(c.name[1:]))[1]
            return f"transposed: got.T equals the true gradient (compute d{c.name} = {dw})"
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
    if np.isfinite(c.cosine) and c.cosine > SLIGHTLY:
        return (
            f"slightly off: cosine {fmt_num(c.cosine)} with the true gradient, max rel error"
            f" {c.max_rel:.3g} (an epsilon, a clip, a float32 step or an approximation?)"
        )
    return (
        f"wrong direction: cosine {fmt_num(c.cosine)} with the true gradient, best-fit scale "
        f"{fmt_num(c.scale)}, max rel error {c.max_rel:.3g}"
    )


def _shape_text(got: tuple[int, ...], expected: tuple[int, ...]) -> str:
    msg = f"wrong shape {got}, expected {expected}"
    if got == expected[::-1] and len(expected) == 2:
        return msg + ": W must be laid out (fan_in, fan_out); compute dW = a.T @ delta"
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
    """An overflowed exp (logits past ~709) told apart from an underflow: an output that
    rounded to exactly 0 or 1, then divided by (0 * inf = NaN)."""
    from ..spec.conventions import network_output
    from .variants import _forward

    z = _forward(ce.spec, ce.params, ce.x)[2]
    m = float(np.abs(z).max()) if z.size and np.all(np.isfinite(z)) else 0.0
    if m > EXP_OVERFLOW:
        return f" (logits reach {m:.3g}: {LOSSES[ce.spec.loss].overflow_advice})"
    with np.errstate(all="ignore"):
        a = network_output(ce.spec, z)
    if m > 30 and np.any((a == 0) | (a == 1)):
        return (
            f" (logits reach {m:.3g}: an output rounds to exactly 0 or 1, so a division by it"
            " or by a*(1 - a) underflows to 0 * inf: simplify the delta analytically,"
            " e.g. (a - y) for a sigmoid with cross-entropy)"
        )
    if m > 80:
        return f" (logits reach {m:.3g}: {LOSSES[ce.spec.loss].overflow_advice})"
    return ""
