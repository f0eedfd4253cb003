"""Checks of :func:`~mlp_parity.debug.check_backprop`'s arguments, made before any search: a
clear ``TypeError``/``ValueError`` naming the argument, never a failure minutes later."""

from __future__ import annotations

import dataclasses
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


def optional_count(name: str, value: object, least: int) -> int | None:
    """None, or ``value`` as an int ``>= least``."""
    return None if value is None else count(name, value, least)


def limits(
    sizes: object,
    min_depth: object,
    max_depth: object,
    input_width: object,
    output_width: object,
):
    """The drawn architectures' :class:`~mlp_parity.debug.search.Limits`; with ``sizes``
    given, every limit must agree with it (``ValueError`` naming both)."""
    from .search import DEPTHS, Limits

    lo = optional_count("min_depth", min_depth, 1)
    hi = optional_count("max_depth", max_depth, 1)
    n_in = optional_count("input_width", input_width, 1)
    n_out = optional_count("output_width", output_width, 1)
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"min_depth ({lo}) must be <= max_depth ({hi})")
    if lo is None:
        lo = min(DEPTHS[0], hi) if hi is not None else DEPTHS[0]
    if hi is None:
        hi = max(DEPTHS[1], lo)
    out = Limits(lo, hi, n_in, n_out)
    if sizes is not None:
        depth = len(sizes) - 1  # type: ignore[arg-type]
        if not lo <= depth <= hi:
            raise ValueError(
                f"sizes {tuple(sizes)} has depth {depth}, outside min_depth={lo}, max_depth={hi}"  # type: ignore[arg-type]
            )
        if n_in is not None and sizes[0] != n_in:  # type: ignore[index]
            raise ValueError(f"sizes {tuple(sizes)} disagrees with input_width={n_in}")  # type: ignore[arg-type]
        if n_out is not None and sizes[-1] != n_out:  # type: ignore[index]
            raise ValueError(f"sizes {tuple(sizes)} disagrees with output_width={n_out}")  # type: ignore[arg-type]
    return out


#: The spec's loss conventions (keyword arguments of check_backprop).
CONVENTIONS = ("output_activation", "reduction", "loss_scale", "l2")
#: Their defaults, today's behaviour, as the spec declares them.
CONVENTION_DEFAULTS = {
    f.name: f.default for f in dataclasses.fields(MLPSpec) if f.name in CONVENTIONS
}


def conventions(**given: object) -> dict[str, object]:
    """The non-default conventions among ``given`` (None means the default)."""
    out = {}
    for key, value in given.items():
        if value is None:
            continue
        default = CONVENTION_DEFAULTS[key]
        if isinstance(default, float) and not isinstance(value, str):
            if isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{key} must be a number, got {value!r}")
            if value == default:
                continue
        elif value == default:
            continue
        out[key] = value
    return out
