"""The gradient debugger: check a hand-written backprop against float64 autodiff on problems
Hypothesis draws, shrink a failure to a minimal network and batch, and say what is wrong.

    from mlp_parity.debug import check_backprop

    report = check_backprop(my_grad_fn, activation="sigmoid", loss="softmax_cross_entropy")
    print(report)  # per-tensor table and a one-line diagnosis per wrong tensor

``grad_fn(params, x, y) -> grads``, both in the package layout ``[(W, b), ...]`` with ``W``
(fan_in, fan_out); ``x`` (batch, in); ``y`` a float array (batch, out). Only numpy is imported
with this package; Hypothesis and the reference engine are imported when a check runs.

Modules: ``check`` (the two entry points), ``search`` (the Hypothesis strategy and search),
``evaluate`` (calling grad_fn and comparing with the reference), ``diagnose`` (every diagnosis
text), ``report`` (the results and their table). The tolerances are :mod:`mlp_parity.tolerance`.
"""

from .check import check_backprop, check_example
from .evaluate import GradFn
from .report import BackpropReport, Counterexample, TensorCheck

__all__ = [
    "BackpropReport",
    "Counterexample",
    "GradFn",
    "TensorCheck",
    "check_backprop",
    "check_example",
]
