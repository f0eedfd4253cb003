"""What a pure scale factor between a gradient and the true one may mean: the problem's sizes
(batch, outputs, inputs) and the loss's own hints, checked against the same tensors with one
more sample in the batch before one is named (at batch 1, "= number of outputs" and "= batch
x outputs" look alike)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..spec import LOSSES, REDUCTIONS
from .report import Counterexample


@dataclass
class _Status:
    """A wrong or right tensor as a factor of the true one: ``scale`` None if not a pure scale;
    ``free`` if both are zero (any factor fits)."""

    scale: float | None
    free: bool = False


def tensor_status(got: np.ndarray, ref: np.ndarray, tol: np.ndarray, ok: bool) -> _Status:
    """``got`` as a factor of ``ref`` within ``tol`` per entry: 1 when ``ok``, None when it is
    not a pure scale (or has another shape, or NaN/inf)."""
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


def _divided(batch_power: int, out_power: int) -> str:
    """How a gradient divided by ``batch ** batch_power * outputs ** out_power`` reduces, e.g.
    (1, 0): "averaged over the batch and summed over the outputs"."""

    def along(noun: str, power: int) -> str:
        if power in (0, 1):
            return f"{('summed', 'averaged')[power]} over the {noun}"
        if power > 1:
            return f"divided by the {noun} {power} times"
        return f"multiplied by the {noun}" + (f" {-power} times" if power < -1 else "")

    if batch_power == out_power and batch_power in (0, 1):
        return f"{('summed', 'averaged')[batch_power]} over batch and outputs"
    return f"{along('batch', batch_power)} and {along('outputs', out_power)}"


def _reduction_hints(ce: Counterexample) -> list[tuple[float, str, str]]:
    """Size factors explained for a spec whose reduction is not the default ``mean``: the
    gradient's implied divisor against the reduction's (``reduction="sum"``: a gradient
    averaged over the batch is 1/batch size of the truth, not a double division)."""
    spec, batch, n_out = ce.spec, ce.batch, ce.sizes[-1]
    reduction = REDUCTIONS[spec.reduction]
    # the reduction's divisor as powers of batch and outputs, read off at coprime sizes
    d = round(reduction.divisor(LOSSES[spec.loss], 2, 3))
    true_b, true_o = int(d % 2 == 0), int(d % 3 == 0)
    loss_is = f"the loss (reduction={spec.reduction!r}) is {reduction.description}"
    out = []
    for db, do, what in (
        (1, 0, "batch size"),
        (-1, 0, "1/batch size"),
        (0, 1, "number of outputs"),
        (0, -1, "1/number of outputs"),
        (1, 1, "batch x outputs"),
        (-1, -1, "1/(batch x outputs)"),
    ):
        # gradient = factor x truth, so its divisor is the truth's over the factor
        why = f"the gradient is {_divided(true_b - db, true_o - do)}, but {loss_is}"
        out.append((float(batch) ** db * float(n_out) ** do, what, why))
    return out


def _mean_hints(ce: Counterexample) -> list[tuple[float, str, str]]:
    """Size factors explained for the default reduction, the loss's natural ``mean``."""
    batch, n_out = ce.batch, ce.sizes[-1]
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
    return [
        (batch, "batch size", "summed over the batch instead of averaged"),
        (1 / batch, "1/batch size", "divided by the batch twice (the delta already carries it)"),
        (n_out, "number of outputs", out_sum),
        (1 / n_out, "1/number of outputs", out_div),
        (batch * n_out, "batch x outputs", "summed over batch and outputs instead of averaged"),
        (1 / (batch * n_out), "1/(batch x outputs)", "divided by batch and outputs twice"),
    ]


def _all_hints(ce: Counterexample) -> list[tuple[float, str, str]]:
    """Every ``(value, what, why)`` size and loss explanation at the problem's sizes (in the
    words of the spec's reduction when it is not the default ``mean``)."""
    sizes = _mean_hints(ce) if ce.spec.reduction == "mean" else _reduction_hints(ce)
    return [*sizes, *_input_hints(ce.sizes[0]), *LOSSES[ce.spec.loss].scale_hints]


def _scale_hints(s: float, ce: Counterexample, rtol: float) -> list[tuple[str, str]]:
    """``(what, why)`` explanations of a pure scale factor ``s`` by the problem's sizes."""
    batch, n_out = ce.batch, ce.sizes[-1]
    candidates = _all_hints(ce)
    if batch == 1 or n_out == 1:  # batch x outputs is then the batch or the outputs
        candidates = [c for c in candidates if "x" not in c[1]]
    return [(what, why) for v, what, why in candidates if v != 1 and _close(abs(s), v, rtol)]


def _input_hints(n_in: int) -> list[tuple[float, str, str]]:
    """A factor of the number of inputs: the batch size read off the wrong axis."""
    return [
        (n_in, "number of inputs", "the batch size was taken from the wrong axis"),
        (
            1 / n_in,
            "1/number of inputs",
            "the batch size was taken from the wrong axis (e.g."
            " len(np.squeeze(x)) counts the inputs at batch 1)",
        ),
    ]


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
    #: The factor of the same tensors once the parameters move (NaN: no longer a pure
    #: scale; None: not measured): a true global factor stays, a derivative's changes.
    moved: Callable[[float], float | None] | None = None

    def __call__(self, s: float) -> str:
        """What factor ``s`` may mean, e.g. ``= batch size: summed over ...``; "" if nothing."""
        found = _scale_hints(s, self.ce, self.rtol)
        s2 = self.probe(s) if self.probe is not None else None
        if s2 is not None and (self.ce.batch == 1 or self.ce.sizes[-1] == 1):
            # at batch 1 (or one output) batch and outputs cannot be told apart: name what
            # the factor is with one more sample
            again = _scale_hints(s2, _one_more_sample(self.ce), self.rtol)
            # an explanation must fit both batches: "1/batch size" is 1 at batch 1, not s
            at_one = {what: v for v, what, _ in _all_hints(self.ce)}
            again = [
                (w, y) for w, y in again if w in at_one and _close(abs(s), at_one[w], self.rtol)
            ]
            if again and not _close(s2, 1.0, self.rtol):
                return "; or ".join(f"= {w} (checked at batch 2): {why}" for w, why in again)
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
