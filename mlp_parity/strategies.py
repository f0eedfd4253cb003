"""Public Hypothesis strategies for MLP problems: import them into your own ``@given`` tests.

    from hypothesis import given
    from mlp_parity import strategies as mst

    @given(mst.problems(max_depth=3))
    def test_my_backprop(problem):
        spec, params, x, y = problem
        ...

Architectures are drawn by Hypothesis (so they shrink to the smallest failing one: fewest
layers, narrowest widths, batch 1). Array values are drawn as a *recipe* — a seed, a magnitude
regime and a pattern of exact zeros — and generated with numpy: fast for arrays of hundreds of
entries, while still reaching the hard places (exact zeros at ReLU's kink, logits large enough to
overflow a naive softmax, tiny values). Recipes shrink to seed 0 and ordinary magnitudes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

try:
    from hypothesis import strategies as st
except ModuleNotFoundError as e:  # pragma: no cover - exercised without hypothesis installed
    raise ImportError(
        'mlp_parity.strategies needs Hypothesis: pip install "mlp_parity[test]"'
    ) from e

from .params import Params, as_float_dtype
from .spec import ACTIVATIONS, LOSSES, MLPSpec

#: Magnitude regimes, the first (shrink target) ordinary. 30 x 3 x width reaches logits in the
#: hundreds to thousands, where exp overflows float64 (> 709) and float32 (> 88).
MAGNITUDES = (1.0, 0.1, 3.0, 30.0, 1e-3)
LARGE_MAGNITUDES = (300.0,)
#: Fractions of entries set exactly to zero; 1.0 makes whole arrays zero (e.g. b = 0).
ZERO_FRACTIONS = (0.0, 0.5, 1.0)


# Strategy objects are built once and reused: Hypothesis validates every new one on its first
# draw, which cost more than the drawing itself when composites built them per example.
_SEEDS = st.integers(0, 2**32 - 1)
_BOOLEANS = st.booleans()


@functools.lru_cache(maxsize=256)
def _integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


@functools.lru_cache(maxsize=256)
def _sampled(values: tuple) -> st.SearchStrategy:
    return st.sampled_from(values)


class Problem(NamedTuple):
    """One drawn problem: ``spec``, ``params`` ``[(W, b), ...]``, ``x`` (batch, in) and float
    targets ``y`` (batch, out)."""

    spec: MLPSpec
    params: Params
    x: np.ndarray
    y: np.ndarray


@functools.cache
def activations() -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(ACTIVATIONS))


@functools.cache
def losses() -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(LOSSES))


def _choice(value: str | Sequence[str] | None, default: st.SearchStrategy) -> st.SearchStrategy:
    if value is None:
        return default
    if isinstance(value, str):
        return _just(value)
    return _sampled(tuple(value))


@functools.lru_cache(maxsize=256)
def _just(value: str) -> st.SearchStrategy[str]:
    return st.just(value)


@st.composite
def sizes(
    draw,
    *,
    min_depth: int = 1,
    max_depth: int = 5,
    min_width: int = 1,
    max_width: int = 10,
    input_width: int | None = None,
    output_width: int | None = None,
) -> tuple[int, ...]:
    """Layer widths; depth = number of weight layers (1 = no hidden layer). One time in three
    the widths are all equal, so weight matrices are square."""
    depth = draw(_integers(min_depth, max_depth))
    width = _integers(min_width, max_width)
    if draw(_integers(0, 2)) == 2:
        w = draw(width)
        widths = [w] * (depth + 1)
    else:
        widths = [draw(width) for _ in range(depth + 1)]
    if input_width is not None:
        widths[0] = input_width
    if output_width is not None:
        widths[-1] = output_width
    return tuple(widths)


@st.composite
def specs(
    draw,
    *,
    min_depth: int = 1,
    max_depth: int = 5,
    min_width: int = 1,
    max_width: int = 10,
    activation: str | Sequence[str] | None = None,
    loss: str | Sequence[str] | None = None,
    input_width: int | None = None,
    output_width: int | None = None,
) -> MLPSpec:
    """An :class:`MLPSpec`; ``activation``/``loss`` fix or restrict the choice. Softmax with a
    single output is legal but degenerate (zero gradient); it is drawn like any other."""
    shape = draw(
        sizes(
            min_depth=min_depth,
            max_depth=max_depth,
            min_width=min_width,
            max_width=max_width,
            input_width=input_width,
            output_width=output_width,
        )
    )
    return MLPSpec(shape, draw(_choice(activation, activations())), draw(_choice(loss, losses())))


@st.composite
def arrays(
    draw,
    shape: tuple[int, ...],
    *,
    dtype: str = "float64",
    magnitudes: Sequence[float] = MAGNITUDES,
    zero_fractions: Sequence[float] = ZERO_FRACTIONS,
) -> np.ndarray:
    """A float array of ``shape``: ``magnitude * N(0, 1)`` from a drawn seed, with a drawn
    fraction of entries exactly zero."""
    dt = as_float_dtype(dtype)
    seed = draw(_SEEDS)
    magnitude = draw(_sampled(tuple(magnitudes)))
    zeros = draw(_sampled(tuple(zero_fractions)))
    rng = np.random.default_rng(seed)
    a = magnitude * rng.standard_normal(shape)
    if zeros:
        a[rng.random(shape) < zeros] = 0.0
    return a.astype(dt)


@functools.lru_cache(maxsize=1024)
def _arrays(shape: tuple[int, ...], dtype: str, magnitudes: tuple, zeros: tuple):
    return arrays(shape, dtype=dtype, magnitudes=magnitudes, zero_fractions=zeros)


@st.composite
def params_for(
    draw,
    spec: MLPSpec,
    *,
    dtype: str = "float64",
    large: bool = True,
) -> Params:
    """Parameters for ``spec``: Glorot-scaled weights times a drawn magnitude, biases often
    exactly zero. ``large=False`` keeps magnitudes moderate (for float32 conditioning)."""
    mags = (1.0, 0.3, 3.0) if not large else (1.0, 0.3, 3.0, 10.0)
    out: Params = []
    for fan_in, fan_out in zip(spec.sizes[:-1], spec.sizes[1:]):
        W = draw(_arrays((fan_in, fan_out), dtype, mags, (0.0, 0.5)))
        W = (W / np.sqrt(fan_in)).astype(W.dtype)
        b = draw(_arrays((fan_out,), dtype, (1.0, 0.1), (1.0, 0.0)))
        out.append((W, b))
    return out


@st.composite
def targets_for(draw, spec: MLPSpec, batch: int, *, dtype: str = "float64") -> np.ndarray:
    """Float targets (batch, out) the spec's loss accepts (``spec.LOSSES[loss].targets``):
    one-hot rows for softmax cross-entropy, values in [0, 1] (hard 0/1 or soft) for sigmoid
    cross-entropy, reals for mse."""
    dt = as_float_dtype(dtype)
    loss = LOSSES[spec.loss]
    rng = np.random.default_rng(draw(_SEEDS))
    variant = draw(_integers(0, loss.target_variants - 1)) if loss.target_variants > 1 else 0
    y = loss.targets(rng, batch, spec.sizes[-1], variant)
    return np.asarray(y, dtype=dt)


@functools.lru_cache(maxsize=1024)
def _targets(spec: MLPSpec, batch: int, dtype: str):
    return targets_for(spec, batch, dtype=dtype)


@st.composite
def batches_for(
    draw,
    spec: MLPSpec,
    *,
    min_batch: int = 1,
    max_batch: int = 6,
    dtype: str = "float64",
    large: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` for ``spec``: x (batch, in) with zeros and (if ``large``) large magnitudes."""
    batch = draw(_integers(min_batch, max_batch))
    mags = MAGNITUDES + LARGE_MAGNITUDES if large else (1.0, 0.1, 3.0, 1e-3)
    x = draw(_arrays((batch, spec.sizes[0]), dtype, mags, ZERO_FRACTIONS))
    return x, draw(_targets(spec, batch, dtype))


@st.composite
def problems(
    draw,
    *,
    spec: MLPSpec | None = None,
    dtype: str = "float64",
    min_batch: int = 1,
    max_batch: int = 6,
    large: bool = True,
    **spec_kwargs,
) -> Problem:
    """A whole :class:`Problem`. ``spec`` fixes the architecture; otherwise ``spec_kwargs``
    (``min_depth``, ``max_width``, ``activation``, ``loss``, ...) go to :func:`specs`."""
    if spec is None:
        spec = draw(_specs(tuple(sorted(spec_kwargs.items()))))
    params = draw(_params_for(spec, dtype, large))
    x, y = draw(_batches_for(spec, min_batch, max_batch, dtype, large))
    return Problem(spec, params, x, y)


def _specs(kwargs: tuple) -> st.SearchStrategy[MLPSpec]:
    try:
        return _cached_specs(kwargs)
    except TypeError:  # an unhashable argument, e.g. a list of activations
        return specs(**dict(kwargs))


@functools.lru_cache(maxsize=256)
def _cached_specs(kwargs: tuple) -> st.SearchStrategy[MLPSpec]:
    return specs(**dict(kwargs))


@functools.lru_cache(maxsize=1024)
def _params_for(spec: MLPSpec, dtype: str, large: bool):
    return params_for(spec, dtype=dtype, large=large)


@functools.lru_cache(maxsize=1024)
def _batches_for(spec: MLPSpec, min_batch: int, max_batch: int, dtype: str, large: bool):
    return batches_for(spec, min_batch=min_batch, max_batch=max_batch, dtype=dtype, large=large)
