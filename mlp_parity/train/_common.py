"""Pieces every training loop shares: argument checks, class labels and predictions, and the
interface a loop implements."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..params import Params
from ..spec import LOSSES, MLPSpec


def positive_int(name: str, value: object, minimum: int) -> int:
    """``value`` as a plain int ``>= minimum``; ``TypeError``/``ValueError`` naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def real(name: str, value: object) -> float:
    """``value`` as a finite plain float; ``TypeError``/``ValueError`` naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value}")
    return v


def class_labels(spec: MLPSpec, y: np.ndarray) -> np.ndarray:
    """The class index of each target row (batch,): argmax, or target > 0.5 for one output."""
    if spec.sizes[-1] == 1:
        return (y[:, 0] > 0.5).astype(np.int64)
    return y.argmax(axis=1)


def one_output_threshold(spec: MLPSpec) -> float | None:
    """The logit above which a one-output network predicts class 1 (``None``: argmax)."""
    return LOSSES[spec.loss].one_output_threshold if spec.sizes[-1] == 1 else None


def predicted(spec: MLPSpec, z: np.ndarray) -> np.ndarray:
    """The predicted class of each row of logits ``z`` (batch, out)."""
    threshold = one_output_threshold(spec)
    if threshold is not None:
        return (z[:, 0] > threshold).astype(np.int64)
    return z.argmax(axis=1)


class Loop:
    """One backend's training state. ``epoch(order, on_step) -> (sum of per-sample losses,
    correct count)`` runs one epoch in place; ``params()`` returns numpy parameters.

    ``options`` names the keyword-only constructor options a loop takes (``train``'s
    ``engine_options``); :meth:`check_options` validates them before any work is done."""

    options: tuple[str, ...] = ()

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Validated options (unknown names are rejected by the caller)."""
        return dict(options)

    def epoch(
        self, order: np.ndarray, on_step: Callable[[int], None] | None
    ) -> tuple[float, int]:  # pragma: no cover - interface
        raise NotImplementedError

    def params(self) -> Params:  # pragma: no cover - interface
        raise NotImplementedError
