"""Findings made by running a suspected slip or convention and comparing: the delta sent back
through a square W instead of W.T (which no shape check can see), a tensor of the wrong shape
whose entries are right (a bias shape to declare), and a scale factor that does not survive
moving the parameters (so no global factor, but a derivative missing or extra)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

import numpy as np

from .evaluate import Evaluation, GradFn, Reference, compare, evaluate_problem
from .layouts import UserLayout
from .report import Counterexample, TensorCheck
from .scales import _close, _Status, tensor_status
from .variants import backward_grads

#: Up to this many square layers, every combination of them is tried as the slip's layers.
MAX_SUBSET_LAYERS = 6


def untransposed_at(
    ev: Evaluation, ce: Counterexample, reference: Reference
) -> tuple[int, ...] | None:
    """The layers ``j`` whose square ``W_j`` the delta went back through untransposed (all of
    them, as a loop would; else one; else any other combination), if that slip reproduces
    every tensor grad_fn returned."""
    if ev.got is None or ev.bad_shapes:
        return None
    square = [
        j
        for j in range(1, ce.spec.num_layers)
        if ce.params[j][0].shape[0] == ce.params[j][0].shape[1] > 1
    ]
    tries = [tuple(square), *((j,) for j in square)]
    if len(square) <= MAX_SUBSET_LAYERS:  # then every other combination (a slip in some)
        tries += [c for k in range(2, len(square)) for c in itertools.combinations(square, k)]
    for js in dict.fromkeys(tries):
        if not js:
            continue
        alt = backward_grads(reference, ce.spec, ce.params, ce.x, ce.y, untransposed=js)
        checks = compare(ce.spec, ce.params, ce.x, ce.y, ev.got, alt, ce.layout)
        if all(ok for _, _, ok in checks):
            return js
    return None


def untransposed_text(
    ce: Counterexample, tensors: list[TensorCheck], js: tuple[int, ...]
) -> tuple[list[TensorCheck], str]:
    """Per-tensor lines and the summary for the delta sent back through ``W_j``, not
    ``W_j.T``, at each layer ``j`` of ``js``."""
    j = js[-1]  # the first such step from the output
    back = ce.layout.formulas(j - 1)[2]
    named = ", ".join(f"W{k}" for k in js)
    line = (
        f"follows from the delta going back through {named} the wrong way round (see the summary)"
    )
    tensors = [t if t.ok else dataclasses.replace(t, diagnosis=line) for t in tensors]
    n = ce.params[j][0].shape[0]
    summary = (
        f"the error enters at layer {j - 1}: the delta goes back through {named} the wrong way"
        f" round (delta{j - 1} needs {back}); square weights ({n}x{n}) keep the shapes"
        " agreeing, so nothing crashed"
    )
    return tensors, summary


def shape_summary(ev: Evaluation, layout: UserLayout) -> str:
    """The summary when tensors have the wrong shape (internal names): fix the shapes first;
    when only biases are off and their entries are right, a bias shape to declare. (A weight
    gradient can only come back transposed through a bug: grad_fn's forward pass ran on
    weights in the declared layout.)"""
    assert ev.got is not None and ev.ref is not None
    got = dict(zip(ev.spec.tensor_names, (t for pair in ev.got for t in pair)))
    ref = dict(zip(ev.spec.tensor_names, (t for pair in ev.ref for t in pair)))

    def same_entries(name: str) -> bool:
        g, r = got[name], ref[name]
        bound = 1e-9 * max(1.0, float(np.abs(r).max(initial=0.0)))
        return g.size == r.size and np.allclose(g.reshape(r.shape), r, rtol=1e-7, atol=bound)

    declared = layout.describe() or 'layout="rows"'
    text = f"{', '.join(ev.bad_shapes)}: the wrong shape for {declared}; fix the shapes first"
    if all(n[0] == "b" and same_entries(n) for n in ev.bad_shapes):
        text += (
            " (their entries are right: a bias shape to declare, not a wrong gradient; the"
            " diagnosis says which)"
        )
    return text


def moved_probe(
    grad_fn: GradFn,
    reference: Reference,
    ce: Counterexample,
    statuses: dict[str, _Status],
    rtol: float,
) -> Callable[[float], float | None]:
    """``moved(s)``: the common factor, at moved parameters (weights x1.5, biases +1, so every
    z moves), of the tensors that are ``s`` x the truth; NaN when they are no longer one pure
    scale; None when grad_fn fails there."""
    done: list[Evaluation] = []

    def moved(s: float) -> float | None:
        if not done:
            shift = 1.0 if ce.layout.use_bias else 0.0
            params = [(W * 1.5 + (0.0 if shift else 0.3), b + shift) for W, b in ce.params]
            done.append(
                evaluate_problem(grad_fn, reference, ce.spec, params, ce.x, ce.y, layout=ce.layout)
            )
        ev = done[0]
        if ev.error is not None or ev.got is None or ev.ref is None:
            return None
        names = [n for n, st in statuses.items() if st.scale is not None and not st.free]
        names = {n for n in names if _close(statuses[n].scale, s, rtol)}  # type: ignore[arg-type]
        got = [t for pair in ev.got for t in pair]
        ref = [t for pair in ev.ref for t in pair]
        where = {n: i for i, n in enumerate(ev.spec.tensor_names)}
        factors = []
        for c, tol, ok in ev.checks:
            if c.name in names:
                i = where[c.name]
                st = tensor_status(got[i].astype(np.float64), ref[i], tol.entries(), ok)
                if st.free:
                    continue
                if st.scale is None:
                    return float("nan")
                factors.append(st.scale)
        if factors and all(_close(f, factors[0], rtol) for f in factors):
            return factors[0]
        return float("nan") if factors else None

    return moved
