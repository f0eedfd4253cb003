"""The debugger's two entry points: :func:`check_backprop` searches drawn problems for a
failure, :func:`check_example` checks one given problem; both return a
:class:`~mlp_parity.debug.BackpropReport`."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from ..params import Params, cast_params
from ..spec import MLPSpec
from . import arguments
from .diagnose import fill_report
from .evaluate import GradFn, Reference, evaluate_problem
from .progress import SearchProgress, check_progress
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
    deadline_s: float | None = None,
    progress: bool | None = None,
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
            One too large to check in the memory available is refused (``ValueError``).
        max_examples: how many distinct problems Hypothesis tries before declaring grad_fn
            right (an int >= 1, numpy integers too); shrinking a failure takes more calls.
        seed: makes the search reproducible.
        deadline_s: a time budget in seconds for the whole call (None: none). It is checked
            between examples (one slow grad_fn call can overrun it by its own duration); once
            spent, the search stops and the report is partial: ``complete`` is False, ``ok``
            means "no mismatch found so far", and it prints as ``PARTIAL``. A failure found
            before it is still reported, shrunk as far as the time allowed.
        progress: examples tried so far on stderr: a bar on a terminal, else a line every
            few seconds. None (default): only when stderr is a terminal.

    Returns:
        A :class:`BackpropReport`: ``ok``, ``complete``, ``wrong``, the shrunk
        ``counterexample``, ``examples_searched`` (before the failure was found, at most
        ``max_examples``), ``shrink_calls``; ``str(report)`` tabulates and diagnoses. A grad_fn
        that raises or returns a malformed result is reported as a failure, never raised.

    Long because of its documented arguments; the body validates them, runs the search and
    fills the report.
    """
    start = time.perf_counter()
    if not callable(grad_fn):
        raise TypeError(f"grad_fn must be callable, got {type(grad_fn).__name__}")
    max_examples = arguments.count("max_examples", max_examples, 1)
    if seed is not None:
        seed = arguments.count("seed", seed, 0)
    deadline_s = arguments.seconds("deadline_s", deadline_s)
    progress = check_progress(progress)
    if sizes is not None:
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
            raise TypeError(f"sizes must be a sequence of ints like (5, 4, 3), got {sizes!r}")
        spec = MLPSpec(tuple(sizes), activation, loss)  # validate now, not per example
        arguments.check_fits(spec)
        sizes = spec.sizes
    elif isinstance(activation, str):
        MLPSpec((1, 1, 1), activation, loss)
    else:
        raise ValueError("one activation per hidden layer needs fixed sizes=; got sizes=None")
    import_hypothesis()  # missing: an actionable ImportError before the reference is loaded

    reference = Reference()

    def fails(problem: Problem) -> bool | None:
        ev = evaluate_problem(grad_fn, reference, *problem)
        return None if ev.unfair else not ev.ok

    bar = SearchProgress(max_examples, progress)
    try:
        out = find_failure(
            fails,
            activation,
            loss,
            sizes,
            max_examples,
            seed,
            deadline=None if deadline_s is None else start + deadline_s,
            on_call=bar,
        )
    finally:
        bar.close()
    report = BackpropReport(
        ok=out.failing is None,
        activation=activation,
        loss=loss,
        examples_run=out.calls,
        reference=reference.name,
        sizes=sizes,
        notes=([reference.note] if reference.note else []) + out.notes,
        examples_searched=out.searched,
        shrink_calls=out.shrunk,
        max_examples=max_examples,
        complete=not out.out_of_time,
        time_limit=deadline_s,
    )
    if out.failing is not None:
        fill_report(report, grad_fn, reference, *out.failing)
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
