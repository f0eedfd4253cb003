"""The tutorial reproduced: the numpy half's log over several runs, what each bug did, a
learning-rate sweep for the corrected gradient, and the Keras half in three frameworks; all
gathered into one JSON-ready dict (what ``mlp-parity tutorial`` prints and writes).

Run ``s`` of the numpy half orders the training stream with seed ``s`` and the validation
stream with ``1000 + s``, and starts from :func:`~.tutorial.initial_params` (by default
``per-run``: its own N(0, 1) weights, as every run of the tutorial under TensorFlow 1.2 on drew;
``seed42``: the same weights in every run). Variants differ only in the gradient and the
learning rate, run ``s`` of each from the same start. Values at the logged rounds are means
over the runs; the published log is one run, so :func:`closeness` also says how far it lies
in standard deviations of single runs, and :func:`consistency` whether it could be one of ours.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import tutorial as tut
from . import tutorial_loop as loop
from . import tutorial_published as published
from .tutorial_data import BatchStream, TutorialData

#: The corrected gradient's learning rates tried: the tutorial's 0.0005, 10x it (the step the
#: scale bug implied), and up to where training stops improving (at 0.5 it diverges).
SWEEP_LEARNING_RATES: tuple[float, ...] = (0.0005, 0.005, 0.02, 0.05, 0.1, 0.2)
SCORE_ROUNDS = 20  # sweep score: mean evaluation accuracy over the last 20 rounds
EVAL_SEED_OFFSET = 1000


@dataclass(frozen=True)
class Variant:
    """One numpy-half run: its key, label, gradient and learning rate (None: the sweep's)."""

    key: str
    label: str
    gradient: loop.Gradient
    learning_rate: float | None = tut.LEARNING_RATE


VARIANTS: tuple[Variant, ...] = (
    Variant("original", "original (both bugs)", loop.ORIGINAL),
    Variant("scale_bug_only", "scale bug only (10x)", loop.SCALE_BUG_ONLY),
    Variant("derivative_bug_only", "derivative bug only", loop.DERIVATIVE_BUG_ONLY),
    Variant("corrected", "corrected, tutorial's lr", loop.CORRECTED),
    Variant("corrected_retuned", "corrected, retuned lr", loop.CORRECTED, None),
)


def run_numpy(
    data: TutorialData,
    gradient: loop.Gradient,
    learning_rate: float,
    seed: int,
    rounds: int = tut.EPOCHS,
    init: str = tut.DEFAULT_INIT,
) -> dict[str, list[float]]:
    """Run ``seed`` of the numpy half (data order and, for ``per-run``, weights): its log.

    As the tutorial, the training stream first serves one example that is never trained on
    (its ``sample = mnist.train.next_batch(1)``, taken to size the network)."""
    train_stream = BatchStream(data.x_train, data.y_train, seed)
    train_stream.next_batch(1)
    _, log = loop.train_per_example(
        tut.initial_params(init, seed),
        train_stream,
        BatchStream(data.x_val, data.y_val, EVAL_SEED_OFFSET + seed),
        rounds=rounds,
        learning_rate=learning_rate,
        gradient=gradient,
    )
    return log


def logged(curves: dict[str, list[float]], rounds: Sequence[int]) -> dict[str, list[Any]]:
    """The values at ``rounds`` (1-based) of each ``loop.LOG_KEYS`` curve, as the published log."""
    out: dict[str, list[Any]] = {"rounds": list(rounds)}
    for k in loop.LOG_KEYS:
        out[k] = [float(curves[k][r - 1]) for r in rounds]
    return out


def mean_curves(logs: Sequence[dict[str, list[float]]]) -> dict[str, list[float]]:
    """Per-round means over runs."""
    return {k: np.mean([log[k] for log in logs], axis=0).tolist() for k in loop.LOG_KEYS}


def sweep_score(log: dict[str, list[float]]) -> float:
    return float(np.mean(log["eval_accuracy"][-SCORE_ROUNDS:]))


def logged_rounds(rounds: int) -> list[int]:
    """The tutorial's logged rounds that a run of ``rounds`` reaches."""
    return [r for r in tut.LOGGED_ROUNDS if r <= rounds]


def reproduce_numpy(
    data: TutorialData,
    *,
    seeds: Sequence[int] = range(5),
    rounds: int = tut.EPOCHS,
    sweep: Sequence[float] = SWEEP_LEARNING_RATES,
    init: str = tut.DEFAULT_INIT,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """The numpy half: the learning-rate sweep (corrected gradient, data seed ``seeds[0]``),
    then every :data:`VARIANTS` on every data seed. Long because it gathers, per variant, the
    per-seed logs, the mean curves and the logged rounds, and times each run."""
    seeds = list(seeds)
    tut.check_init(init)  # an unknown init fails before any training
    scores = []
    for lr in sweep:
        start = time.perf_counter()
        scores.append(sweep_score(run_numpy(data, loop.CORRECTED, lr, seeds[0], rounds, init)))
        say(
            f"  sweep: corrected, lr {lr:g}: {scores[-1]:.3f} ({time.perf_counter() - start:.1f} s)"
        )
    chosen = float(sweep[int(np.argmax(scores))])
    listed = logged_rounds(rounds)
    variants: dict[str, Any] = {}
    for v in VARIANTS:
        lr = chosen if v.learning_rate is None else v.learning_rate
        start = time.perf_counter()
        logs = [run_numpy(data, v.gradient, lr, s, rounds, init) for s in seeds]
        curves = mean_curves(logs)
        runs = [logged(log, listed) for log in logs]
        variants[v.key] = {
            "label": v.label,
            "learning_rate": lr,
            "mean_over_outputs": v.gradient.mean_over_outputs,
            "true_derivative": v.gradient.true_derivative,
            **logged(curves, listed),
            "std_over_seeds": {  # ddof 0, an older key: closeness' run_sd is ddof 1
                k: np.std([run[k] for run in runs], axis=0).tolist() for k in loop.LOG_KEYS
            },
            "runs": runs,
            "last_rounds_mean": {
                k: float(np.mean(curves[k][-SCORE_ROUNDS:])) for k in loop.LOG_KEYS
            },
            "curves": curves,
            "wall_time_s": time.perf_counter() - start,
        }
        say(
            f"  {v.label:<28} lr {lr:<7g} eval accuracy, last {SCORE_ROUNDS} rounds: "
            f"{variants[v.key]['last_rounds_mean']['eval_accuracy']:.3f} "
            f"({variants[v.key]['wall_time_s']:.1f} s)"
        )
    return {
        "seeds": seeds,
        "init": init,
        "rounds": rounds,
        "sweep": {
            "gradient": "corrected",
            "learning_rates": list(map(float, sweep)),
            "scores": scores,
            "score": f"mean evaluation accuracy over the last {SCORE_ROUNDS} rounds, data seed "
            f"{seeds[0]}",
            "chosen": chosen,
        },
        "variants": variants,
    }


def closeness(
    ours: dict[str, list[float]],
    theirs: dict[str, list[float]],
    runs: Sequence[dict[str, list[float]]] = (),
) -> dict[str, Any]:
    """Per logged round and metric: ``difference`` (ours - published) and its mean absolute
    value; with two or more single ``runs``, also ``run_sd`` (their standard deviation,
    ``ddof=1``) and ``z`` ((published - ours) / ``run_sd``): the published log is one run, so
    its distance from our mean is judged against how much single runs vary."""
    n = len(ours["rounds"])
    out: dict[str, Any] = {}
    for k in loop.LOG_KEYS:
        diff = [float(a - b) for a, b in zip(ours[k], theirs[k][:n])]
        out[k] = {"difference": diff, "mean_abs_difference": float(np.mean(np.abs(diff)))}
        if len(runs) >= 2:
            sd = np.std([run[k][:n] for run in runs], axis=0, ddof=1)
            out[k]["run_sd"] = sd.tolist()
            out[k]["z"] = [float(-d / s) if s > 0 else None for d, s in zip(diff, sd)]
    return out


def consistency(
    theirs: dict[str, list[float]],
    runs: Sequence[dict[str, list[float]]],
    keys: Sequence[str] = ("train_accuracy", "eval_accuracy"),
    few: float = 0.05,
) -> dict[str, Any] | None:
    """Is the published log just one more of our runs? A rank test over the ``keys`` figures
    at the logged rounds (``None`` with fewer than two ``runs``).

    Each of the ``n + 1`` logs (published first, then ``runs``) is compared with the mean of
    the other ``n``: its mean and largest absolute difference. If the published run were one of
    ours the ``n + 1`` logs would be exchangeable, so the share of logs at least as far as the
    published one (``p_mean_abs``, ``p_max_abs``; at least ``1 / (n + 1)``) is a p-value.
    ``runs_within_few``: the share of our runs within ``few`` of the others' mean at *every*
    figure, how often "within a few points at each round" holds for a run of this very program.
    """
    if len(runs) < 2:
        return None
    n = len(runs[0]["rounds"])
    logs = np.array([[v for k in keys for v in log[k][:n]] for log in (theirs, *runs)])
    dist = np.abs(logs - (logs.sum(axis=0) - logs) / len(runs))  # each vs the others' mean
    mean_abs, max_abs = dist.mean(axis=1), dist.max(axis=1)
    return {
        "metrics": list(keys),
        "logs": len(logs),
        "published": {
            "mean_abs_difference": float(mean_abs[0]),
            "max_abs_difference": float(max_abs[0]),
        },
        "runs_mean_abs_difference": mean_abs[1:].tolist(),
        "runs_max_abs_difference": max_abs[1:].tolist(),
        "p_mean_abs": float(np.mean(mean_abs >= mean_abs[0])),
        "p_max_abs": float(np.mean(max_abs >= max_abs[0])),
        "few": few,
        "runs_within_few": float(np.mean(max_abs[1:] <= few)),
    }


def describe_consistency(c: dict[str, Any]) -> list[str]:
    """:func:`consistency`'s result as lines of text (accuracies in points)."""
    pub, n = c["published"], c["logs"] - 1
    mean_abs, max_abs = c["runs_mean_abs_difference"], c["runs_max_abs_difference"]
    return [
        f"could the published log be one of our runs? Each of the {n + 1} logs against the mean",
        f"of the other {n}, accuracies at the logged rounds: published mean "
        f"{100 * pub['mean_abs_difference']:.1f} / max {100 * pub['max_abs_difference']:.1f} "
        "points;",
        f"ours mean {100 * min(mean_abs):.1f}-{100 * max(mean_abs):.1f} / max "
        f"{100 * min(max_abs):.1f}-{100 * max(max_abs):.1f}; rank p {c['p_mean_abs']:.2f} (mean), "
        f"{c['p_max_abs']:.2f} (max), at least 1/{n + 1}",
        f"our runs within {100 * c['few']:g} points of the others at every logged round: "
        f"{round(c['runs_within_few'] * n)} of {n}",
    ]


def build_report(
    data: TutorialData,
    numpy_part: dict[str, Any],
    keras_part: dict[str, Any] | None,
    dataset: dict[str, Any],
) -> dict[str, Any]:
    """The ``tutorial.json`` dict from :func:`reproduce_numpy` and
    :func:`~.tutorial_keras.train_keras_half`'s results (``None``: the Keras half not run)."""
    from .tutorial_keras import final_metrics

    original = numpy_part["variants"]["original"]
    repro_numpy = {k: original[k] for k in ("rounds", *loop.LOG_KEYS)}
    report: dict[str, Any] = {
        "command": "tutorial",
        "dataset": {**dataset, "note": data.note, **data.sizes()},
        "published": {
            "numpy": dict(published.NUMPY),
            "keras": dict(published.KERAS),
        },
        "reproduced": {"numpy_original": repro_numpy},
        "closeness": {"numpy_original": closeness(repro_numpy, published.NUMPY, original["runs"])},
        "consistency": {"numpy_original": consistency(published.NUMPY, original["runs"])},
        "numpy_settings": {
            "sizes": list(tut.SIZES),
            "init": numpy_part["init"],
            "init_note": tut.INITS[numpy_part["init"]],
            "learning_rate": tut.LEARNING_RATE,
            "momentum": tut.MOMENTUM,
            "examples_per_round": tut.BATCH_SIZE,
            "rounds": numpy_part["rounds"],
            "data_seeds": numpy_part["seeds"],
        },
        "sweep": numpy_part["sweep"],
        "variants": numpy_part["variants"],
    }
    if keras_part is not None:
        results = keras_part["results"]
        shown = "keras" if "keras" in results else keras_part["reference"]
        final = final_metrics(results[shown].history)
        report["reproduced"]["keras"] = final
        report["closeness"]["keras"] = {
            k: float(final[k] - published.KERAS[k]) for k in published.KERAS
        }
        report["keras_half"] = {
            "spec": keras_part["spec"].to_dict(),
            "reported_backend": shown,
            "learning_rate": tut.KERAS_LEARNING_RATE,
            "momentum": tut.KERAS_MOMENTUM,
            "batch_size": tut.KERAS_BATCH_SIZE,
            "epochs": len(results[shown].history["loss"]),
            "divergence": keras_part["divergence"],
            "reference": keras_part["reference"],
            "final": {b: final_metrics(r.history) for b, r in results.items()},
            "histories": {b: r.history for b, r in results.items()},
            "wall_time_s": keras_part["wall"],
        }
    return report
