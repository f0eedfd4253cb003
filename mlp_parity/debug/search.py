"""The search: Hypothesis draws problems (some with logits boosted to where a naive exp
overflows), runs ``grad_fn`` on each, and shrinks the first failure to a minimal one."""

from __future__ import annotations

import dataclasses
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..params import Params
from ..spec import MLPSpec

#: Drawn architectures when ``sizes`` is None: depth (weight layers), widths and batch.
DEPTHS = (1, 4)
WIDTHS = (1, 8)
BATCHES = (1, 6)
#: About one drawn problem in two has its output layer rescaled so that its largest logit is
#: this, positive: an unstabilised exp overflows there (above ~709 in float64, ~88 in float32).
LOGIT_BOOST = 1000.0
#: With ``sizes`` given, networks of more parameters than this get batches of at most 3.
LARGE_NET = 10_000

Problem = tuple[MLPSpec, Params, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Limits:
    """The architectures drawn when ``sizes`` is None: weight layers ``min_depth`` to
    ``max_depth``, and the input and output widths when fixed (None: drawn)."""

    min_depth: int = DEPTHS[0]
    max_depth: int = DEPTHS[1]
    input_width: int | None = None
    output_width: int | None = None

    def describe(self) -> str:
        """``depth 1-4, widths 1-8, batch 1-6`` with the fixed widths."""
        d = (
            f"depth {self.min_depth}"
            if self.min_depth == self.max_depth
            else f"depth {self.min_depth}-{self.max_depth}"
        )
        parts = [d, f"widths {WIDTHS[0]}-{WIDTHS[1]}"]
        if self.input_width is not None:
            parts.append(f"{self.input_width} input{'s' * (self.input_width != 1)}")
        if self.output_width is not None:
            parts.append(f"{self.output_width} output{'s' * (self.output_width != 1)}")
        return ", ".join([*parts, f"batch {BATCHES[0]}-{BATCHES[1]}"])


def problem_strategy(
    spec_for: Callable[[tuple[int, ...]], MLPSpec],
    sizes: tuple[int, ...] | None,
    limits: Limits | None = None,
):
    """Problems from the package's public strategies (params, data, targets), with two changes:

    - drawn widths come input, output, then hidden, so shrinking the depth drops hidden layers
      and keeps the output width (input-to-output order turned a failing 1-1-1-2 net into an
      invisible 1-1 one, and the shrinker stopped at depth 4);
    - about one time in two the output layer is rescaled so that the largest logit is
      ``+LOGIT_BOOST``, where an unstabilised exp overflows; through sigmoid or tanh hidden
      layers the drawn magnitudes alone rarely get there, and a fixed factor on one drawn
      choice in four let a naive softmax through some searches.

    ``spec_for(sizes)`` is the checked spec (its conventions included); a bias-free network
    is drawn with biases, then given zero ones. Long because the drawn shape honours the
    architecture limits in both branches.
    """
    import functools

    from hypothesis import strategies as st

    from .. import strategies as mst

    limits = limits or Limits()
    max_batch = BATCHES[1]
    if sizes is not None and MLPSpec(sizes).num_params > LARGE_NET:
        max_batch = 3
    depth, width = st.integers(limits.min_depth, limits.max_depth), st.integers(*WIDTHS)
    equal, boost = st.integers(0, 2), st.integers(0, 3)  # both shrink to 0: the plain case

    @functools.lru_cache(maxsize=512)
    def rest(shape: tuple[int, ...]):
        spec = spec_for(shape)
        drawn = dataclasses.replace(spec, use_bias=True) if not has_bias(spec) else spec
        return spec, mst.problems(spec=drawn, min_batch=BATCHES[0], max_batch=max_batch)

    @st.composite
    def problems(draw):
        boosted = draw(boost) == 3  # drawn first: the root choice, which Hypothesis varies most
        shape = sizes
        if shape is None:
            d = draw(depth)
            if draw(equal) == 2:  # one time in three all widths are equal: square matrices
                w = draw(width)
                n_in = w if limits.input_width is None else limits.input_width
                n_out = w if limits.output_width is None else limits.output_width
                shape = (n_in, *(w for _ in range(d - 1)), n_out)
            else:
                n_in = draw(width) if limits.input_width is None else limits.input_width
                n_out = draw(width) if limits.output_width is None else limits.output_width
                shape = (n_in, *(draw(width) for _ in range(d - 1)), n_out)
        spec, strategy = rest(shape)
        _, params, x, y = draw(strategy)
        params = [(W, b if has_bias(spec) else np.zeros_like(b)) for W, b in params]
        # Hypothesis mutates earlier examples more than it draws afresh, so the boost choice
        # alone can go undrawn for a whole search; a quarter of the data (by its hash) is
        # boosted too, whatever the choices.
        if boosted or zlib.crc32(x.tobytes()) % 4 == 0:
            params = boost_logits(spec, params, x)
        return spec, params, x, y

    return problems()


def has_bias(spec: MLPSpec) -> bool:
    return bool(getattr(spec, "use_bias", True))


def boost_logits(spec: MLPSpec, params: Params, x: np.ndarray) -> Params:
    """``params`` with the output layer scaled (sign included) so that the logit of largest
    magnitude becomes ``+LOGIT_BOOST``; the factor is at most ``LOGIT_BOOST**2`` in magnitude
    (tiny logits stay small) and ``LOGIT_BOOST`` where every logit is 0."""
    from .variants import _forward

    z = _forward(spec, params, x)[2]
    largest = z.flat[np.argmax(np.abs(z))] if np.isfinite(z).all() else 0.0
    factor = LOGIT_BOOST if largest == 0 else LOGIT_BOOST / float(largest)
    factor = float(np.clip(factor, -(LOGIT_BOOST**2), LOGIT_BOOST**2))
    W, b = params[-1]
    return [*params[:-1], (W * factor, b * factor)]


def import_hypothesis():
    """The ``hypothesis`` module, or an ImportError that says how to install it."""
    try:
        import hypothesis
    except ModuleNotFoundError as e:
        raise ImportError('check_backprop needs Hypothesis: pip install "mlp_parity[test]"') from e
    return hypothesis


class _Found(Exception):
    """Raised by the inner test on a failing example (one type, one place: one bug to shrink)."""


class Conclusive(BaseException):
    """Raised by ``fails`` for a failure to report as found, not shrunk (a layout error:
    shrinking would only reach a network where the wrong shape and the right one agree). A
    BaseException, so that Hypothesis stops at once."""

    def __init__(self, problem: Problem) -> None:
        super().__init__()
        self.problem = problem


class _OutOfTime(BaseException):
    """Raised by the inner test once the time budget is spent. A BaseException, like
    KeyboardInterrupt, so that Hypothesis stops at once rather than shrink it as a failure."""


@dataclass
class SearchOutcome:
    """How a search went: the minimal failing problem (None when none was found), the distinct
    problems checked before it was found (``searched``, the failing one included; at most
    ``max_examples``), the calls spent shrinking it (``shrunk``), whether the time budget
    stopped the search or the shrinking (``out_of_time``) and notes for the report."""

    failing: Problem | None = None
    searched: int = 0
    shrunk: int = 0
    out_of_time: bool = False
    notes: list[str] = field(default_factory=list)
    conclusive: bool = False

    @property
    def calls(self) -> int:
        return self.searched + self.shrunk


def find_failure(
    fails: Callable[[Problem], bool | None],
    spec_for: Callable[[tuple[int, ...]], MLPSpec],
    sizes: tuple[int, ...] | None,
    max_examples: int,
    seed: int | None,
    *,
    limits: Limits | None = None,
    deadline: float | None = None,
    on_call: Callable[[SearchOutcome], None] | None = None,
) -> SearchOutcome:
    """Search drawn problems for one where ``fails`` is True, shrunk by Hypothesis.

    ``fails(problem)`` returns True (wrong), False (right) or None (not a fair problem: the
    reference overflowed; it is rejected), or raises :class:`Conclusive` to stop at once.
    ``deadline`` (a ``time.perf_counter()`` value) stops the search, or the shrinking, before
    the first problem checked after it; ``on_call`` is told the outcome so far after each
    problem checked (progress).

    Long because the inner test, its Hypothesis settings and the ways a search ends (found,
    out of time, nothing fair to check, a flaky grad_fn) read best in one place.
    """
    hyp = import_hypothesis()
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings

    out = SearchOutcome()

    def search(problem: Problem) -> None:
        if deadline is not None and time.perf_counter() > deadline:
            raise _OutOfTime
        try:
            verdict = fails(problem)
        except Conclusive:
            out.searched += out.failing is None
            out.shrunk += out.failing is not None
            raise
        if verdict is None:
            hyp.reject()
        if out.failing is None:
            out.searched += 1
        else:
            out.shrunk += 1
        if on_call is not None:
            on_call(out)
        if verdict:
            out.failing = problem  # while shrinking: the smallest failure so far
            raise _Found

    test = settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        print_blob=False,
        **({"derandomize": False} if seed is not None else {}),
    )(given(problem_strategy(spec_for, sizes, limits))(search))
    if seed is not None:
        test = hyp.seed(seed)(test)
    try:
        test()
    except _Found:
        pass
    except Conclusive as c:
        out.failing, out.conclusive = c.problem, True
    except _OutOfTime:
        out.out_of_time = True
    except hyp.errors.Unsatisfiable:
        out.notes.append(
            "every drawn problem overflowed the float64 reference; nothing was checked"
        )
    except Exception as e:  # e.g. Flaky: grad_fn gave different answers on the same input
        if out.failing is None:
            raise
        out.notes.append(
            f"grad_fn is not deterministic ({type(e).__name__}): the example shown "
            "failed once but may pass when rerun"
        )
    return out
