"""Checks of :func:`~mlp_parity.debug.check_backprop`'s arguments, made before any search: a
clear ``TypeError``/``ValueError`` naming the argument, never a failure minutes later."""

from __future__ import annotations

import math

import numpy as np

from ..spec import MLPSpec

#: Float64 copies of the parameters one checked example holds at once: the drawn params, the
#: copy grad_fn gets, its result and our copy of it, the reference's gradients (and the
#: framework's own), the magnitude and round-off bounds and the comparisons' temporaries.
COPIES_PER_EXAMPLE = 16


def count(name: str, value: object, least: int) -> int:
    """``value`` as an int ``>= least``: Python and numpy integers; bools and floats refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < least:
        raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
    return int(value)


def seconds(name: str, value: object) -> float | None:
    """``value`` as a positive, finite number of seconds, or None (no limit)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{name} must be a number of seconds or None, got {value!r}")
    v = float(value)  # type: ignore[arg-type]
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a positive, finite number of seconds, got {value!r}")
    return v


def check_fits(spec: MLPSpec) -> None:
    """Refuse ``sizes`` whose checks would not fit in memory: a ``ValueError`` with the
    estimate, before anything is allocated (a 100000-100000 network needs over 1 TB)."""
    from ..params import check_fits as fits
    from ..params import params_bytes

    extra = (COPIES_PER_EXAMPLE - 1) * params_bytes(spec, "float64")
    fits(spec, "float64", extra_bytes=extra, what="memory to check grad_fn")
