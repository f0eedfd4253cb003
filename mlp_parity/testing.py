"""Assertions for your own pytest suite: your backprop against float64 autodiff.

    from mlp_parity.testing import assert_backprop_matches

    def test_my_backprop():
        assert_backprop_matches(my_grad_fn, activation="relu", loss="mse")

On a mismatch they raise ``AssertionError`` whose message is the debugger's report (the minimal
counterexample, a per-tensor table and a diagnosis).

Importing this module loads the float64 reference (JAX, else Keras) and compiles it once, about
a second: small problems then cost about a millisecond each, so a ``@given`` test calling
``assert_grads_match`` holds Hypothesis' default 200 ms deadline from its first example.
(``import mlp_parity`` itself stays numpy-only.)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from .debug import BackpropReport, GradFn, check_backprop, check_example
from .params import Params
from .spec import MLPSpec

__all__ = ["assert_backprop_matches", "assert_grads_match"]


def _prepare_reference() -> None:
    """Import and compile the reference now, outside any test's deadline."""
    from .debug.evaluate import Reference

    warm_up = getattr(Reference().module, "warm_up", None)
    if warm_up is not None:
        warm_up("float64")


_prepare_reference()


def assert_backprop_matches(
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
    """Run :func:`mlp_parity.debug.check_backprop` and raise ``AssertionError`` (its report as
    the message) unless ``grad_fn`` is right; return the report when it is. Every keyword is
    :func:`~mlp_parity.debug.check_backprop`'s: the loss conventions, the user's ``layout``,
    ``params`` style and ``bias_shape``, the architecture limits.

    With ``deadline_s``, a search the time limit cut short passes when it found no mismatch so
    far, with a ``UserWarning`` saying how many examples were checked (``report.complete`` is
    False)."""
    __tracebackhide__ = True  # pytest shows the caller's line
    report = check_backprop(
        grad_fn,
        activation=activation,
        loss=loss,
        output_activation=output_activation,
        reduction=reduction,
        loss_scale=loss_scale,
        l2=l2,
        use_bias=use_bias,
        layout=layout,
        params=params,
        bias_shape=bias_shape,
        sizes=sizes,
        min_depth=min_depth,
        max_depth=max_depth,
        input_width=input_width,
        output_width=output_width,
        max_examples=max_examples,
        seed=seed,
        deadline_s=deadline_s,
        progress=progress,
    )
    if not report.ok:
        raise AssertionError(str(report))
    if not report.complete:
        warnings.warn(str(report).splitlines()[0], UserWarning, stacklevel=2)
    return report


def assert_grads_match(
    grad_fn: GradFn, spec: MLPSpec, params: Params, x: np.ndarray, y: np.ndarray
) -> BackpropReport:
    """Check ``grad_fn`` on one problem, e.g. one drawn by ``mlp_parity.strategies`` inside your
    own ``@given`` test; raise ``AssertionError`` with the diagnosis unless it is right."""
    __tracebackhide__ = True
    report = check_example(grad_fn, spec, params, x, y)
    if not report.ok:
        raise AssertionError(str(report))
    return report
