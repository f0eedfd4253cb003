"""The debugger's two entry points: :func:`check_backprop` searches drawn problems for a
failure, :func:`check_example` checks one given problem; both return a
:class:`~mlp_parity.debug.BackpropReport`."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from ..params import Params, cast_params
from ..spec import MLPSpec
from .diagnose import fill_report
from .evaluate import GradFn, Reference, evaluate_problem
from .report import BackpropReport
from .search import Problem, find_failure, import_hypothesis


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
    import_hypothesis()  # missing: an actionable ImportError before the reference is loaded

    reference = Reference()
    start = time.perf_counter()

    def fails(problem: Problem) -> bool | None:
        ev = evaluate_problem(grad_fn, reference, *problem)
        return None if ev.unfair else not ev.ok

    failing, calls, search_notes = find_failure(fails, activation, loss, sizes, max_examples, seed)
    report = BackpropReport(
        ok=failing is None,
        activation=activation,
        loss=loss,
        examples_run=calls,
        reference=reference.name,
        sizes=sizes,
        notes=([reference.note] if reference.note else []) + search_notes,
    )
    if failing is not None:
        fill_report(report, grad_fn, reference, *failing)
    report.seconds = time.perf_counter() - start
    return report


def check_example(
    grad_fn: GradFn, spec: MLPSpec, params: Params, x: np.ndarray, y: np.ndarray
) -> BackpropReport:
    """Check ``grad_fn`` on one given problem (no search); the report reads as
    :func:`check_backprop`'s, with this problem as the counterexample when it fails."""
    from ..params import check_batch, check_params

    params = cast_params(check_params(spec, params), "float64")
    x, y = check_batch(spec, x, y, np.dtype("float64"))
    if y is None:
        raise TypeError("y is required")
    reference = Reference()
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
    ev = evaluate_problem(grad_fn, reference, spec, params, x, y)
    if not ev.ok:
        fill_report(report, grad_fn, reference, spec, params, x, y)
    report.seconds = time.perf_counter() - start
    return report
