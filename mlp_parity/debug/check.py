"""The debugger's two entry points: :func:`check_backprop` searches drawn problems for a
failure, :func:`check_example` checks one given problem; both return a
:class:`~mlp_parity.debug.BackpropReport`."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..params import Params, cast_params
from ..spec import MLPSpec
from . import arguments
from .diagnose import fill_report
from .discovery import Setting
from .evaluate import GradFn, Reference, evaluate_problem
from .layouts import UserLayout
from .progress import SearchProgress, check_progress
from .report import BackpropReport
from .search import Conclusive, Problem, find_failure, import_hypothesis


def check_backprop(
    grad_fn: GradFn,
    *,
    activation: str | tuple[str, ...],
    loss: str,
    output_activation: str = "identity",
    reduction: str = "mean",
    loss_scale: float = 1.0,
    l2: float = 0.0,
    use_bias: bool = True,
    layout: str = "rows",
    params: str = "list",
    bias_shape: str | None = None,
    sizes: Sequence[int] | None = None,
    min_depth: int | None = None,
    max_depth: int | None = None,
    input_width: int | None = None,
    output_width: int | None = None,
    max_examples: int = 100,
    seed: int | None = None,
    deadline_s: float | None = None,
    progress: bool | None = None,
) -> BackpropReport:
    """Search for a problem on which ``grad_fn`` differs from float64 autodiff of the loss.

    Args:
        grad_fn: ``grad_fn(params, x, y) -> grads`` in its own layout (below); ``y`` holds
            floats: one-hot rows for softmax and categorical cross-entropy, values in [0, 1]
            for sigmoid cross-entropy, reals for ``mse``. It is given float64 arrays;
            tolerances follow the dtype it returns.
        activation: the hidden activation (``sigmoid``, ``tanh``, ``relu``, ``identity``).
            A kinked one (relu) may take its derivative at exactly 0 as 0 or 1: both pass,
            and the report notes which grad_fn uses.
        loss: ``softmax_cross_entropy``, ``sigmoid_cross_entropy``, ``mse`` or
            ``categorical_cross_entropy``.
        output_activation, reduction, loss_scale, l2, use_bias: the loss's conventions, as
            :class:`~mlp_parity.MLPSpec` defines them (``"sigmoid"`` output, ``"sum"``, 0.5
            for a halved squared error, ``l2 * sum W**2``, no biases).
        layout: ``"rows"`` (W (in, out), b (out,), x (batch, in), y (batch, out)),
            ``"columns"`` (W (out, in), b (out, 1), x (in, batch), y (out, batch)) or
            ``"torch"`` (W (out, in) as ``nn.Linear.weight``, b (out,), x (batch, in)).
        bias_shape: the biases' shape when it is not the layout's: ``"vector"`` (out,),
            ``"row"`` (1, out) (``keepdims=True`` sums in rows layout) or ``"column"``
            (out, 1); grad_fn gets and returns them so.
        params: ``"list"`` (``[(W0, b0), ...]``, or ``[W0, ...]`` without biases) or
            ``"dict"`` (``{"W1": ..., "b1": ...}``, 1-based; gradients keyed ``W1`` or
            ``dW1``). The report names tensors as grad_fn does.
        sizes: a fixed architecture; None draws them (depth 1-4, widths 1-8, batch 1-6).
            One too large to check in the memory available is refused (``ValueError``).
        min_depth, max_depth, input_width, output_width: limits on the drawn architectures
            (weight layers; the first and last widths), for code that supports only some.
        max_examples: how many distinct problems Hypothesis tries before declaring grad_fn
            right (an int >= 1, numpy integers too); shrinking a failure takes more calls.
        seed: makes the search reproducible.
        deadline_s: a time budget in seconds for the whole call (None: none), checked
            between examples; once spent the report is partial (``complete`` False, printed
            ``PARTIAL``). A failure found before it is still reported.
        progress: examples tried so far on stderr: a bar on a terminal, else a line every
            few seconds. None (default): only when stderr is a terminal.

    Returns:
        A :class:`BackpropReport`: ``ok``, ``complete``, ``wrong``, the shrunk
        ``counterexample``, ``matching_convention`` (the conventions grad_fn is right for
        when they are not the declared ones, else None), ``examples_searched``,
        ``shrink_calls``; ``str(report)`` tabulates and diagnoses. A grad_fn that raises or
        returns a malformed result is reported as a failure, never raised; a wrong shape
        is reported on the first problem that shows it, unshrunk.

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
    user = UserLayout(layout, params, use_bias, bias_shape)
    conventions = arguments.conventions(
        output_activation=output_activation, reduction=reduction, loss_scale=loss_scale, l2=l2
    )
    if sizes is not None and (isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence)):
        raise TypeError(f"sizes must be a sequence of ints like (5, 4, 3), got {sizes!r}")
    limits = arguments.limits(sizes, min_depth, max_depth, input_width, output_width)
    setting = Setting(activation, loss, conventions, user, limits, None)
    if sizes is not None:
        spec = setting.spec(tuple(sizes))  # validate now, not per example
        arguments.check_fits(spec)
        sizes = spec.sizes
        setting = Setting(activation, loss, conventions, user, limits, sizes)
    elif isinstance(activation, str):
        setting.spec((limits.input_width or 1, 1, limits.output_width or 1))
    else:
        raise ValueError("one activation per hidden layer needs fixed sizes=; got sizes=None")
    import_hypothesis()  # missing: an actionable ImportError before the reference is loaded

    reference = Reference()
    kinks: Counter[int] = Counter()

    def fails(problem: Problem) -> bool | None:
        ev = evaluate_problem(grad_fn, reference, *problem, layout=user)
        if ev.layout_error:
            raise Conclusive(problem)
        if ev.ok and ev.kink is not None:
            kinks[ev.kink] += 1
        return None if ev.unfair else not ev.ok

    bar = SearchProgress(max_examples, progress)
    try:
        out = find_failure(
            fails,
            setting.spec,
            sizes,
            max_examples,
            seed,
            limits=limits,
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
        notes=([reference.note] if reference.note else []) + out.notes + _kink_notes(kinks),
        examples_searched=out.searched,
        shrink_calls=out.shrunk,
        max_examples=max_examples,
        complete=not out.out_of_time,
        time_limit=deadline_s,
        unshrunk=out.conclusive,
        conventions=conventions,
        layout=user,
        limits=limits,
    )
    if out.failing is not None:
        fill_report(report, grad_fn, reference, *out.failing, layout=user, setting=setting)
    report.seconds = time.perf_counter() - start
    return report


def _kink_notes(kinks: Counter[int]) -> list[str]:
    """Which derivative at exactly 0 the passing examples showed grad_fn uses."""
    if not kinks:
        return []
    used = sorted(kinks)
    if used == [1]:
        return [
            f"grad_fn uses relu'(0) = 1 (z >= 0) at exact zeros ({kinks[1]} examples had some);"
            " the reference uses 0: both are valid subgradients"
        ]
    if used == [0]:
        return [f"grad_fn uses relu'(0) = 0 (z > 0) at exact zeros ({kinks[0]} examples had some)"]
    return [
        f"grad_fn used relu'(0) = 0 on {kinks[0]} examples with exact zeros and 1 on {kinks[1]}"
        " (both valid subgradients)"
    ]


def check_example(
    grad_fn: GradFn,
    spec: MLPSpec,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    *,
    layout: str = "rows",
    params_layout: str = "list",
    bias_shape: str | None = None,
) -> BackpropReport:
    """Check ``grad_fn`` on one given problem (no search); the report reads as
    :func:`check_backprop`'s, with this problem as the counterexample when it fails.
    ``params``, ``x`` and ``y`` are in the package's layout; ``grad_fn`` gets them in
    ``layout``/``params_layout``/``bias_shape``."""
    from ..params import check_batch, check_params

    user = UserLayout(layout, params_layout, bool(getattr(spec, "use_bias", True)), bias_shape)
    checked = check_params(spec, params)
    if not user.use_bias:
        from ..params import as_pairs

        checked = as_pairs(spec, checked)
    pairs = cast_params(checked, "float64")
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
        layout=user,
    )
    ev = evaluate_problem(grad_fn, reference, spec, pairs, x, y, layout=user)
    if not ev.ok:
        fill_report(report, grad_fn, reference, spec, pairs, x, y, layout=user)
    report.seconds = time.perf_counter() - start
    return report
