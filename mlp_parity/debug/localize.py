"""Where backprop first goes wrong: the layers that are right (up to one common scale) counting
from the output, and the first layer that is not, with the formula to look at."""

from __future__ import annotations

from ..spec import CONVENTION_DEFAULTS, LOSSES, REDUCTIONS, MLPSpec
from .scales import _close, _factor_text, _Hints, _Status


def _scale_phrase(s: float, hints_for: _Hints) -> str:
    """``10 (= number of outputs: ...)``: a factor and what it may mean."""
    if _close(s, -1.0, hints_for.rtol):
        return "-1 (sign flipped)"
    hints = hints_for(s)
    return _factor_text(s, hints_for.rtol) + (f" ({hints})" if hints else "")


def localize(spec: MLPSpec, statuses: dict[str, _Status], hints_for: _Hints) -> str:
    """One line: the layers that are right (up to one common scale) counting from the output,
    and the first layer, where backprop goes wrong first."""
    rtol = hints_for.rtol

    def fits(st: _Status, s: float | None) -> bool:
        if st.free:
            return True
        return st.scale is not None and s is not None and _close(st.scale, s, rtol)

    if all(fits(statuses[n], 1.0) for n in statuses):
        return ""
    s: float | None = None
    right: list[str] = []
    for i in range(spec.num_layers - 1, -1, -1):
        w, b = statuses[f"W{i}"], statuses.get(f"b{i}", _Status(1.0, free=True))
        if s is None:  # the first constrained layer (from the output) sets the common scale
            if w.free and b.free:
                right += [n for n in (f"W{i}", f"b{i}") if n in statuses]
                continue
            shared = [
                st.scale for st in (w, b) if not st.free and fits(w, st.scale) and fits(b, st.scale)
            ]
            if shared:
                s = shared[0]
        if s is not None and fits(w, s) and fits(b, s):
            right += [n for n in (f"W{i}", f"b{i}") if n in statuses]
            continue
        return _entry_line(spec, i, w, b, s, right, statuses, hints_for)
    assert s is not None
    elsewhere = hints_for.moved(s) if hints_for.moved is not None else None
    if elsewhere is not None and not _close(elsewhere, s, rtol):
        then = "no pure scale" if elsewhere != elsewhere else f"{_factor_text(elsewhere, rtol)} x"
        return (
            f"every tensor is {_factor_text(s, rtol)} x the true gradient here, but {then} once"
            f" the parameters move: not a constant factor but one that depends on z, so a"
            f" derivative missing or extra in the output delta dL/dz (the output activation's?"
            f" the loss's: {loss_text(spec)})"
        )
    return (
        f"every tensor is the true gradient times {_scale_phrase(s, hints_for)}: one global"
        f" factor, in the loss's normalisation or the output delta"
        f" ({loss_text(spec)})"
    )


def loss_text(spec: MLPSpec) -> str:
    """The loss the spec declares, conventions included: e.g. ``mean over batch and outputs of
    (z - y)^2`` (the loss's own words) or ``0.5 x (mse on sigmoid(z), summed over batch and
    outputs)``, then ``+ 0.01 * sum(W**2)`` with L2."""
    plain = CONVENTION_DEFAULTS["output_activation"]
    if spec.output_activation == plain and spec.reduction == "mean":
        text = LOSSES[spec.loss].description
    else:
        text = spec.loss
        if spec.output_activation != plain:
            text += f" on {spec.output_activation}(z)"
        mean = spec.reduction == "mean"  # its long description is about every loss
        text += ", its natural mean" if mean else f", {REDUCTIONS[spec.reduction].description}"
    if spec.loss_scale != 1:
        text = f"{spec.loss_scale:g} x ({text})"
    if spec.l2:
        text += f" + {spec.l2:g} * sum(W**2)"
    return text


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
        below = [n for n in below if n in statuses]
        if below and all(not fits(statuses[n]) for n in below):
            return f"; every {kind} below is wrong too, so look at that formula, not the deltas"
        return ""

    where = "the output layer, layer" if i == spec.num_layers - 1 else "layer"
    db, dw, back = hints_for.ce.layout.formulas(i)
    if fits(w) and not fits(b):
        cause = f"b{i} only (W{i}, hence delta{i}, is consistent): check db{i} = {db}" + also("b")
    elif fits(b) and not fits(w):
        a = "x" if i == 0 else f"the activations f(z{i - 1}), not the pre-activations"
        cause = (
            f"W{i} only (b{i}, hence delta{i}, is consistent): check "
            f"dW{i} = {dw} with a{i} the layer's input ({a})" + also("W")
        )
    elif i == spec.num_layers - 1:
        cause = f"check the output delta dL/dz, the loss's gradient ({loss_text(spec)})"
    else:
        act = spec.hidden_activations[i]
        cause = (
            f"check the derivative of its activation ({act}) in delta{i} = ({back}) * {act}'(z{i})"
        )
    parts.append(f"the error enters at {where} {i}: {cause}")
    return "; ".join(parts)
