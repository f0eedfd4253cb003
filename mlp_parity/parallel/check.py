"""``check_data_parallel``: Hypothesis draws small problems, the user's data-parallel gradient
runs on meshes of 1, 2, 4, ... devices, and each is compared with the float64 one-device
reference; the first failure is shrunk and diagnosed."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from ..debug import arguments
from ..debug.report import Counterexample
from ..debug.search import import_hypothesis
from ..spec import MLPSpec
from .diagnose import diagnose
from .report import DataParallelReport
from .run import MakeGradFn, Run, Runner

#: Drawn architectures: depth (weight layers) and widths; batches are multiples of the device
#: counts' lcm times 1-2 (and, with a mask, any size up to twice the lcm).
DEPTHS = (1, 2)
WIDTHS = (1, 4)
#: Shrinking stops after this many calls (each compiles the user's function anew).
MAX_SHRINKS = 10


class _Found(Exception):
    pass


class _Stop(BaseException):
    pass


def _strategy(activation: str, loss: str, sizes, lcm: int, uneven: bool):
    from hypothesis import strategies as st

    from .. import strategies as mst

    @st.composite
    def problems(draw):
        shape = sizes
        if shape is None:
            d = draw(st.integers(*DEPTHS))
            widths = [draw(st.integers(*WIDTHS)) for _ in range(d)]
            shape = (*widths, draw(st.integers(2, WIDTHS[1])))  # 2+ outputs: softmax learns
        if uneven and lcm > 1 and draw(st.booleans()):
            batch = draw(st.integers(1, 2 * lcm - 1))
            batch -= batch % lcm == 0
        else:
            batch = lcm * draw(st.integers(1, 2))
        spec = MLPSpec(shape, activation, loss)
        return tuple(draw(mst.problems(spec=spec, min_batch=batch, max_batch=batch)))

    return problems()


def check_data_parallel(
    make_grad_fn: MakeGradFn,
    *,
    activation: str,
    loss: str,
    device_counts: Sequence[int] = (1, 2, 4),
    sizes: Sequence[int] | None = None,
    max_examples: int = 20,
    seed: int | None = None,
    deadline_s: float | None = None,
) -> DataParallelReport:
    """Check a data-parallel gradient at every device count against one float64 device.

    Args:
        make_grad_fn: ``make_grad_fn(mesh) -> grad_fn``, called once per device count with a
            1-D ``jax.sharding.Mesh`` over the axis ``"data"``. ``grad_fn(params, x, y)``
            gets ``params`` ``[(W, b), ...]`` replicated and ``x`` (batch, in), ``y`` (batch,
            out) float64 sharded over ``"data"``, and returns the gradient of the loss (the
            mean over the whole batch) as ``[(dW, db), ...]``. If it has a ``mask``
            parameter, batches that do not divide by the device count are drawn too: they come
            zero-padded to a multiple of it and ``mask`` (batch,) is 1.0 on real rows and 0.0 on
            padding (sharded the same way); the gradient must be that of the real rows' mean.
        activation, loss: the network's hidden activation and loss.
        device_counts: the mesh sizes to try, in order; JAX must see at least the largest
            (on the CPU: ``jax.config.update("jax_num_cpu_devices", 8)`` before JAX
            initialises, or ``XLA_FLAGS=--xla_force_host_platform_device_count=8``).
        sizes: a fixed architecture (default: drawn, depth 1-2, widths 1-4, 2-4 outputs).
        max_examples, seed, deadline_s: as :func:`mlp_parity.debug.check_backprop`.

    Returns a :class:`DataParallelReport`: where it first breaks, per tensor and device count,
    and a diagnosis (× N: psum for pmean; ÷ N: averaged twice; only the first shard; not
    all-reduced; wrong only on uneven batches).

    Long because of its documented arguments; the search is one nested function.
    """
    start = time.perf_counter()
    counts = tuple(arguments.count("device_counts", n, 1) for n in device_counts)
    if not counts:
        raise ValueError("device_counts is empty")
    max_examples = arguments.count("max_examples", max_examples, 1)
    deadline_s = arguments.seconds("deadline_s", deadline_s)
    MLPSpec(tuple(sizes) if sizes is not None else (1, 1, 1), activation, loss)
    hyp = import_hypothesis()
    runner = Runner(make_grad_fn, counts)
    uneven = all(runner.masked(n) for n in counts)
    lcm = math.lcm(*counts)
    report = DataParallelReport(
        ok=True, activation=activation, loss=loss, device_counts=counts,
        max_examples=max_examples, uneven_tested=uneven and lcm > 1,
    )  # fmt: skip
    state: dict = {"failing": None}

    def search(problem) -> None:
        if deadline_s is not None and time.perf_counter() > start + deadline_s:
            raise _Stop
        if state["failing"] is None:
            report.examples_searched += 1
        else:
            report.shrink_calls += 1
            if report.shrink_calls > MAX_SHRINKS:
                raise _Stop
        runs = [runner.run(n, *problem) for n in counts if _fits(problem, n, uneven)]
        if any(r.evaluation.unfair for r in runs):
            hyp.reject()
        if not all(r.ok for r in runs):
            state["failing"] = problem
            raise _Found

    _search(
        hyp,
        search,
        _strategy(activation, loss, sizes, lcm, uneven),
        max_examples,
        seed,
        report,
        state,
    )
    if state["failing"] is not None:
        _fill(report, runner, counts, uneven, *state["failing"])
    report.seconds = time.perf_counter() - start
    return report


def _fits(problem, n: int, uneven: bool) -> bool:
    return uneven or problem[2].shape[0] % n == 0


def _search(hyp, search, strategy, max_examples, seed, report, state) -> None:
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings

    test = settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        print_blob=False,
    )(given(strategy)(search))
    if seed is not None:
        test = hyp.seed(seed)(test)
    try:
        test()
    except _Found:
        pass
    except _Stop:
        report.complete = state["failing"] is not None
    except hyp.errors.Unsatisfiable:
        report.notes.append("every drawn problem overflowed the float64 reference")
    except Exception:  # Flaky: a nondeterministic grad_fn
        if state["failing"] is None:
            raise
        report.notes.append("grad_fn is not deterministic: the example failed once")


def _fill(report: DataParallelReport, runner: Runner, counts, uneven, spec, params, x, y) -> None:
    """Run every device count on the counterexample and diagnose the first that breaks."""
    report.ok = False
    report.counterexample = Counterexample(spec, params, x, y)
    first: Run | None = None
    for n in counts:
        if not _fits((spec, params, x), n, uneven):
            continue
        run = runner.run(n, spec, params, x, y)
        if run.ok:
            report.by_count[n] = "ok"
            continue
        tensors, summary = diagnose(runner, run, spec, params, x, y)
        report.by_count[n] = summary
        if first is None:
            first, report.first_broken, report.diagnosis, report.tensors = run, n, summary, tensors
            report.comparisons = [c for c, _, _ in run.evaluation.checks]
            report.padded = run.padded if run.uneven else None
    if first is None:
        report.ok = True
        report.notes.append("grad_fn passed when rerun on the failing example: not deterministic")


__all__ = ["check_data_parallel"]
