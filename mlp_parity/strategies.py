"""Public Hypothesis strategies for MLP problems: import them into your own ``@given`` tests.

    from hypothesis import given
    from mlp_parity import strategies as mst

    @given(mst.problems(max_depth=3))
    def test_my_backprop(problem):
        spec, params, x, y = problem
        ...

Architectures are drawn by Hypothesis (so they shrink to the smallest failing one: fewest
layers, narrowest widths, batch 1).

The loss conventions (``output_activation``, ``reduction``, ``loss_scale``, ``l2``,
``use_bias``) keep their defaults unless asked for, so a test of a backprop written for the
default loss stays meaningful: each keyword takes a value (fixed), a sequence (drawn among) or
``None`` (drawn among every valid value); ``mst.problems(**mst.ALL_CONVENTIONS)`` draws them
all. The default ``output_activation`` is each loss's own default (``"identity"``; ``"sigmoid"``
for ``categorical_cross_entropy``). Problems come in the spec's user layout: ``params`` is a
plain ``[W0, W1, ...]`` for a spec with ``use_bias=False``
(:func:`mlp_parity.params.as_pairs` gives the engines' pairs).

Array values are drawn as a *recipe* — a seed, a magnitude regime and a pattern of exact
zeros — and generated with numpy: fast for arrays of hundreds of entries, while still reaching
the hard places (exact zeros at ReLU's kink, logits large enough to overflow a naive softmax,
tiny values). Recipes shrink to seed 0 and ordinary magnitudes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

try:
    from hypothesis import assume
    from hypothesis import strategies as st
except ModuleNotFoundError as e:  # pragma: no cover - exercised without hypothesis installed
    raise ImportError(
        'mlp_parity.strategies needs Hypothesis: pip install "mlp_parity[test]"'
    ) from e

from .params import UserParams, as_float_dtype, as_pairs, from_pairs
from .spec import ACTIVATIONS, LOSSES, OUTPUT_ACTIVATIONS, REDUCTIONS, MLPSpec
from .spec.conventions import loss_input

#: Magnitude regimes, the first (shrink target) ordinary. 30 x 3 x width reaches logits in the
#: hundreds to thousands, where exp overflows float64 (> 709) and float32 (> 88).
MAGNITUDES = (1.0, 0.1, 3.0, 30.0, 1e-3)
LARGE_MAGNITUDES = (300.0,)
#: Fractions of entries set exactly to zero; 1.0 makes whole arrays zero (e.g. b = 0).
ZERO_FRACTIONS = (0.0, 0.5, 1.0)
#: Drawn loss scales and L2 strengths, the first (shrink target) the default.
LOSS_SCALES = (1.0, 0.5, 2.0, 0.3)
L2_STRENGTHS = (0.0, 0.01, 0.5)
#: Pass as ``**ALL_CONVENTIONS`` to :func:`specs` or :func:`problems` to draw every convention.
ALL_CONVENTIONS = {
    "output_activation": None,
    "reduction": None,
    "loss_scale": None,
    "l2": None,
    "use_bias": None,
}
#: The default output activation: each loss's own (the first it accepts).
LOSS_DEFAULT = "loss default"


# Strategy objects are built once and reused: Hypothesis validates every new one on its first
# draw, which cost more than the drawing itself when composites built them per example.
_SEEDS = st.integers(0, 2**32 - 1)
_BOOLEANS = st.booleans()


@functools.lru_cache(maxsize=256)
def _integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


def _sampled(values: tuple) -> st.SearchStrategy:
    """``st.sampled_from(values)``, cached by each value's type as well: to a plain cache
    ``(True, False)`` is ``(1.0, 0.0)`` (equal and of equal hash), so ``use_bias`` drew 1.0
    after an array's zero fractions had been drawn from ``(1.0, 0.0)``."""
    return _sampled_typed(tuple((type(v), v) for v in values))


@functools.lru_cache(maxsize=256)
def _sampled_typed(typed: tuple) -> st.SearchStrategy:
    return st.sampled_from(tuple(v for _, v in typed))


class Problem(NamedTuple):
    """One drawn problem: ``spec``, ``params`` ``[(W, b), ...]`` (``[W0, W1, ...]`` when
    ``spec.use_bias`` is False), ``x`` (batch, in) and float targets ``y`` (batch, out)."""

    spec: MLPSpec
    params: UserParams
    x: np.ndarray
    y: np.ndarray


@functools.cache
def activations() -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(ACTIVATIONS))


def _loss_order() -> tuple[str, ...]:
    # by name, the losses on probabilities last: the shrink target stays a loss on logits
    return tuple(sorted(LOSSES, key=lambda n: (LOSSES[n].on_probabilities, n)))


@functools.cache
def losses() -> st.SearchStrategy[str]:
    return st.sampled_from(_loss_order())


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
    _check_range("depth", min_depth, max_depth)
    _check_range("width", min_width, max_width)
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


def _check_range(what: str, lo: object, hi: object) -> None:
    """``min_<what>`` and ``max_<what>`` are ints with ``1 <= min <= max``; else a ValueError
    naming them (not Hypothesis' own about ``min_value``)."""
    for name, v in ((f"min_{what}", lo), (f"max_{what}", hi)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    if lo > hi:  # type: ignore[operator]
        raise ValueError(f"min_{what} ({lo}) must be <= max_{what} ({hi})")


def _options(value: object, every: Sequence, what: str, *, named: bool = False) -> tuple:
    """The values a keyword allows: ``None`` every one, a str/number/bool itself, a sequence
    its members. With ``named`` (``every`` is the closed set of names, not examples of
    numbers), a value outside it is a ValueError naming the keyword."""
    if value is None:
        return tuple(every)
    if isinstance(value, (str, bytes, bool, int, float, np.number)):
        options: tuple = (value,)
    elif isinstance(value, Sequence) and len(value) > 0:
        options = tuple(value)
    else:
        raise ValueError(f"{what} must be a value, a non-empty sequence of values or None")
    unknown = [o for o in options if named and o not in every]
    if unknown:
        raise ValueError(f"unknown {what} {unknown[0]!r}; expected one of {', '.join(every)}")
    return options


def _draw_one(draw, options: tuple):
    # a single option costs no draw: the defaults draw exactly what they drew before
    return options[0] if len(options) == 1 else draw(_sampled(options))


def _loss_and_output(draw, loss: object, output_activation: object) -> tuple[str, str]:
    """A loss and an output activation it accepts, from the two keywords' options."""
    default = output_activation == LOSS_DEFAULT
    outs = _options(
        None if default else output_activation,
        tuple(OUTPUT_ACTIVATIONS),
        "output_activation",
        named=True,
    )
    names = _options(loss, _loss_order(), "loss", named=True)
    if not default:
        names = tuple(n for n in names if set(LOSSES[n].output_activations) & set(outs))
        if not names:
            raise ValueError(
                f"no loss={loss!r} accepts output_activation={output_activation!r}; see each "
                "loss's output_activations"
            )
    name = _draw_one(draw, names)
    accepted = LOSSES[name].output_activations
    if default:
        return name, accepted[0]
    return name, _draw_one(draw, tuple(o for o in outs if o in accepted))


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
    output_activation: str | Sequence[str] | None = LOSS_DEFAULT,
    reduction: str | Sequence[str] | None = "mean",
    loss_scale: float | Sequence[float] | None = 1.0,
    l2: float | Sequence[float] | None = 0.0,
    use_bias: bool | Sequence[bool] | None = True,
) -> MLPSpec:
    """An :class:`MLPSpec`; ``activation``/``loss`` fix or restrict the choice (``None``:
    every one). Softmax with a single output is legal but degenerate (zero gradient); it is
    drawn like any other.

    The conventions keep their defaults unless asked for: each takes a value, a sequence to
    draw among, or ``None`` to draw among every valid value (``ALL_CONVENTIONS`` sets all
    five). ``output_activation`` defaults to each loss's own (:data:`LOSS_DEFAULT`); a fixed
    one restricts the losses to those that accept it (an impossible pair raises
    ``ValueError`` naming both). ``None`` draws ``loss_scale`` from :data:`LOSS_SCALES` and
    ``l2`` from :data:`L2_STRENGTHS`."""
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
    if activation is not None:
        _options(activation, sorted(ACTIVATIONS), "activation", named=True)
    act = draw(_choice(activation, activations()))
    name, out = _loss_and_output(draw, loss, output_activation)
    return MLPSpec(
        shape,
        act,
        name,
        output_activation=out,
        reduction=_draw_one(draw, _options(reduction, tuple(REDUCTIONS), "reduction", named=True)),
        loss_scale=_draw_one(draw, _options(loss_scale, LOSS_SCALES, "loss_scale")),
        l2=_draw_one(draw, _options(l2, L2_STRENGTHS, "l2")),
        use_bias=_draw_one(draw, _options(use_bias, (True, False), "use_bias")),
    )


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
) -> UserParams:
    """Parameters for ``spec`` in its user layout: Glorot-scaled weights times a drawn
    magnitude, biases often exactly zero (none without ``use_bias``). ``large=False`` keeps
    magnitudes moderate (for float32 conditioning)."""
    mags = (1.0, 0.3, 3.0) if not large else (1.0, 0.3, 3.0, 10.0)
    out = []
    for fan_in, fan_out in zip(spec.sizes[:-1], spec.sizes[1:]):
        W = draw(_arrays((fan_in, fan_out), dtype, mags, (0.0, 0.5)))
        W = (W / np.sqrt(fan_in)).astype(W.dtype)
        if spec.use_bias:
            b = draw(_arrays((fan_out,), dtype, (1.0, 0.1), (1.0, 0.0)))
        else:
            b = np.zeros(fan_out, W.dtype)
        out.append((W, b))
    return from_pairs(spec, out)


@st.composite
def targets_for(draw, spec: MLPSpec, batch: int, *, dtype: str = "float64") -> np.ndarray:
    """Float targets (batch, out) the spec's loss accepts (``spec.LOSSES[loss].targets``):
    one-hot rows for softmax and categorical cross-entropy, values in [0, 1] (hard 0/1 or soft)
    for sigmoid cross-entropy, reals for mse."""
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
    _check_range("batch", min_batch, max_batch)
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
    """A whole :class:`Problem`. ``spec`` fixes the architecture and conventions; otherwise
    ``spec_kwargs`` (``min_depth``, ``max_width``, ``activation``, ``loss``,
    ``output_activation``, ``reduction``, ...) go to :func:`specs`. A loss on probabilities
    (categorical cross-entropy) is not drawn where a row's probabilities all underflow to 0
    (their renormalisation is 0/0 in every engine)."""
    if spec is None:
        spec = draw(_specs(tuple(sorted(spec_kwargs.items()))))
    params = draw(_params_for(spec, dtype, large))
    x, y = draw(_batches_for(spec, min_batch, max_batch, dtype, large))
    if LOSSES[spec.loss].on_probabilities:
        assume(_probabilities_resolved(spec, params, x))
    return Problem(spec, params, x, y)


def _probabilities_resolved(spec: MLPSpec, params: UserParams, x: np.ndarray) -> bool:
    """Every row's output probabilities sum to a normal number of the dtype, with room."""
    from .backends.numpy_backprop import logits

    pairs = [(W.astype(np.float64), b.astype(np.float64)) for W, b in as_pairs(spec, params)]
    with np.errstate(all="ignore"):
        a = loss_input(spec, logits(spec, pairs, x.astype(np.float64)))
    return bool(np.all(a.sum(axis=1) > 1e3 * np.finfo(x.dtype).tiny))


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
