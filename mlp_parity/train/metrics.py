"""What training measures, the same for every backend: the objective a step minimises (the
spec's whole loss), class labels and predictions, and :func:`evaluate`.

* **Loss** — the spec's loss ``L = loss_scale * sum(e) / D + l2 * sum_l sum(W_l^2)``
  (:mod:`mlp_parity.spec.conventions`), penalty included, as Keras reports a regularised model's
  loss. An epoch's train loss is the mean of its batches' ``L``, weighted by batch size (what
  Keras' ``fit`` reports); validation means the same on batches of the training ``batch_size``
  (Keras' default ``validation_batch_size``). With the reductions that average over the batch
  (``mean``, ``batch_mean``) that is the per-sample mean over the whole set, whatever the
  batches; with ``sum`` both grow with the batch size, as the objective does.
* **Accuracy** — the argmax of the logits ``z`` against the argmax of the target row. The
  output activations are increasing in ``z`` (softmax row-wise), so this is the argmax of the
  network's output with ties that rounding makes (a saturated sigmoid's 1.0) broken by the
  logits. One output unit: ``z`` above the spec's one-output threshold (a logit), against
  target > 0.5.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from ..backends.numpy_backprop import logits
from ..params import Params, as_pairs, check_batch, params_dtype
from ..spec import LOSSES, MLPSpec, as_spec, conventions
from ._common import positive_int

#: The spec fields that shape the data loss beyond the loss's own row.
_OUTPUT_FIELDS = ("output_activation", "reduction", "loss_scale")
_DEFAULTS = {f.name: f.default for f in fields(MLPSpec)}


def plain_data_loss(spec: MLPSpec) -> bool:
    """Whether the spec's data loss is its loss row's own (today's defaults: no output
    activation, the loss's natural mean, scale 1), so that the row's fused value and gradient
    compute it; the penalty is separate."""
    return all(getattr(spec, name) == _DEFAULTS[name] for name in _OUTPUT_FIELDS)


def data_loss(spec: MLPSpec, z: np.ndarray, y: np.ndarray) -> float:
    """The data part of the spec's loss on logits ``z`` (batch, out); the loss row's own value
    where :func:`plain_data_loss` (exactly today's number)."""
    if plain_data_loss(spec):
        return LOSSES[spec.loss].value(z, y)
    return conventions.data_loss(spec, z, y)


def penalty(spec: MLPSpec, weights: list[np.ndarray]) -> float:
    """``l2 * sum_l sum(W_l^2)`` (0.0 without computing anything when ``l2`` is 0)."""
    return conventions.penalty(spec, weights) if spec.l2 else 0.0


def averages_over_batch(spec: MLPSpec) -> bool:
    """Whether the spec's reduction divides by the batch size (``D(2n) = 2 D(n)``: ``mean``,
    ``batch_mean``), so that a set's loss is the mean of per-sample losses."""
    k = spec.sizes[-1]
    return conventions.divisor(spec, 2, k) == 2 * conventions.divisor(spec, 1, k)


def class_labels(spec: MLPSpec, y: np.ndarray) -> np.ndarray:
    """The class index of each target row (batch,): argmax, or target > 0.5 for one output."""
    if spec.sizes[-1] == 1:
        return (y[:, 0] > 0.5).astype(np.int64)
    return y.argmax(axis=1)


def one_output_threshold(spec: MLPSpec) -> float | None:
    """The logit above which a one-output network predicts class 1 (``None``: argmax): the
    output activation's fact, else the loss's (``conventions.one_output_threshold``)."""
    threshold = conventions.one_output_threshold(spec)
    return None if threshold is None else float(threshold)


def predicted(spec: MLPSpec, z: np.ndarray) -> np.ndarray:
    """The predicted class of each row of logits ``z`` (batch, out)."""
    threshold = one_output_threshold(spec)
    if threshold is not None:
        return (z[:, 0] > threshold).astype(np.int64)
    return z.argmax(axis=1)


def evaluate(
    spec: MLPSpec,
    params: object,
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int | None = None,
    chunk: int = 4096,
) -> tuple[float, float]:
    """``(loss, accuracy)`` of ``params`` (the spec's layout: ``[(W, b), ...]``, or ``[W, ...]``
    without biases) on all of ``x`` (n, in), ``y`` (n,) labels or (n, out) targets.

    The loss is the spec's whole loss (penalty included) of the set as one batch, or with
    ``batch_size`` its mean over consecutive batches of that many rows weighted by their size
    (what ``train`` reports). The two differ only for the ``sum`` reduction: the reductions that
    average over the batch give the per-sample mean either way. Numpy, in the params' dtype,
    ``chunk`` rows at a time."""
    spec = as_spec(spec)
    return evaluate_pairs(spec, as_pairs(spec, params), x, y, batch_size=batch_size, chunk=chunk)


def evaluate_pairs(
    spec: MLPSpec,
    pairs: Params,
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int | None = None,
    chunk: int = 4096,
) -> tuple[float, float]:
    """:func:`evaluate` on validated ``[(W, b), ...]`` pairs (zero biases without biases)."""
    chunk = positive_int("chunk", chunk, 1)
    if batch_size is not None:
        batch_size = positive_int("batch_size", batch_size, 1)
    xa, ya = check_batch(spec, x, y, params_dtype(pairs))
    assert ya is not None
    n = xa.shape[0]
    z = np.empty((n, spec.sizes[-1]), xa.dtype)
    for start in range(0, n, chunk):
        z[start : start + chunk] = logits(spec, pairs, xa[start : start + chunk])
    # A reduction that averages over the batch gives the same mean for any batching: chunks
    # (today's numbers exactly); a sum needs the batches themselves.
    step = chunk if averages_over_batch(spec) else (n if batch_size is None else batch_size)
    loss_sum = 0.0
    for start in range(0, n, step):
        zb, yb = z[start : start + step], ya[start : start + step]
        loss_sum += data_loss(spec, zb, yb) * zb.shape[0]
    loss = loss_sum / n + penalty(spec, [W for W, _ in pairs])
    correct = int((predicted(spec, z) == class_labels(spec, ya)).sum())
    return loss, correct / n
