"""Assertions for your own pytest suite: your backprop against float64 autodiff.

    from mlp_parity.testing import assert_backprop_matches

    def test_my_backprop():
        assert_backprop_matches(my_grad_fn, activation="relu", loss="mse")

On a mismatch they raise ``AssertionError`` whose message is the debugger's report (the minimal
counterexample, a per-tensor table and a diagnosis). Importing this module imports numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .debug import BackpropReport, GradFn, check_backprop, check_example
from .params import Params
from .spec import MLPSpec

__all__ = ["assert_backprop_matches", "assert_grads_match"]


def assert_backprop_matches(
    grad_fn: GradFn,
    *,
    activation: str | tuple[str, ...],
    loss: str,
    sizes: Sequence[int] | None = None,
    max_examples: int = 100,
    seed: int | None = None,
) -> BackpropReport:
    """Run :func:`mlp_parity.debug.check_backprop` and raise ``AssertionError`` (its report as
    the message) unless ``grad_fn`` is right; return the report when it is."""
    __tracebackhide__ = True  # pytest shows the caller's line
    report = check_backprop(
        grad_fn,
        activation=activation,
        loss=loss,
        sizes=sizes,
        max_examples=max_examples,
        seed=seed,
    )
    if not report.ok:
        raise AssertionError(str(report))
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
