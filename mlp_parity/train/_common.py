"""Pieces every training loop shares: argument checks and the interface a loop implements
(what a loop measures is in :mod:`.metrics`)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..params import Params
from ..spec import MLPSpec


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


def numpy_pairs(spec: MLPSpec, layers: Sequence[Any]) -> Params:
    """Fresh numpy ``[(W, b), ...]`` from a loop's parameters in the spec's layout (pairs, or
    plain weights without biases: zero biases added). Not validated: a diverged model's NaN
    must reach the divergence check."""
    if spec.use_bias:
        return [(np.array(W), np.array(b)) for W, b in layers]
    return [(np.array(W), np.zeros(np.shape(W)[1], np.asarray(W).dtype)) for W in layers]


class Loop:
    """One backend's training state, built from validated ``[(W, b), ...]`` pairs (zero biases
    for a spec without biases, which no loop updates). ``epoch(order, on_step) -> (sum over
    batches of batch size times batch loss, correct count)`` runs one epoch in place;
    ``params()`` returns numpy pairs (:func:`mlp_parity.params.from_pairs` gives the spec's
    layout).

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
