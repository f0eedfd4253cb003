"""``mlp-parity tutorial``: the tutorial reproduced as written, its published log beside ours,
then what each of its two backprop bugs did (``mlp_parity.examples.tutorial_report``)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from . import _args
from ._console import pct, versions, write_results
from .train import epochs_text

PARITY_RTOL = 1e-8  # float64 trajectories of the Keras half: numpy, jax, keras
DESCRIPTION = "The tutorial reproduced: its published log beside ours, then what each bug did."
EXAMPLES = (
    "mlp-parity tutorial",
    "mlp-parity tutorial --dataset mnist --out results/",
    "mlp-parity tutorial --seeds 1 --rounds 40 --epochs 20 --backends numpy",
)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from ..examples import tutorial as tut

    p = _args.add_command(
        sub,
        "tutorial",
        "the tutorial reproduced; what each of its backprop bugs did",
        DESCRIPTION,
        EXAMPLES,
    )
    _args.add_data_args(p)
    p.add_argument(
        "--seeds",
        type=_args.int_at_least(1),
        default=5,
        help="runs (data orders; with --init per-run also weights) the numpy half is averaged "
        "over, >= 1 (default 5)",
    )
    p.add_argument(
        "--init",
        choices=tuple(tut.INITS),
        default=tut.DEFAULT_INIT,
        help="numpy half's weights, by the TensorFlow reader the tutorial ran on: per-run (1.2 "
        "on: each run its own N(0, 1) draws), seed42 (1.0: seed 42's first draws), "
        f"seed42-shuffled (1.1: seed 42's draws after the reader's shuffle) (default "
        f"{tut.DEFAULT_INIT})",
    )
    p.add_argument(
        "--rounds",
        type=_args.int_at_least(1),
        default=tut.EPOCHS,
        help=f"numpy half: rounds of {tut.BATCH_SIZE} examples, >= 1 (default {tut.EPOCHS}, "
        "the tutorial's)",
    )
    p.add_argument(
        "--epochs",
        type=_args.int_at_least(1),
        default=tut.KERAS_EPOCHS,
        help=f"Keras half: epochs, >= 1 (default {tut.KERAS_EPOCHS}, the tutorial's)",
    )
    p.add_argument(
        "--backends",
        type=_args.names(("numpy", "jax", "keras"), "backend"),
        default=None,
        help="frameworks that train the Keras half, comma-separated (default: numpy and every "
        "installed one of jax, keras)",
    )
    _args.add_out_arg(p, "tutorial.json/.png")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the frameworks, load the data, prepare ``--out``, run both halves."""
    from .._io import output_folder
    from ..backends import available_backends, get_backend
    from ..examples.tutorial_data import tutorial_split

    if args.backends is None:
        have = set(available_backends())
        args.backends = tuple(b for b in ("numpy", "jax", "keras") if b == "numpy" or b in have)
    for name in args.backends:
        get_backend(name)  # an actionable ImportError now rather than after the numpy half
    ds = _args.load_data(args, "float32")  # TensorFlow's reader gave float32 pixels
    data = tutorial_split(ds)
    if data.note:
        print(f"note: {data.note}")
    with output_folder(args.out) as out:
        return _tutorial(args, ds, data, out)


def _tutorial(args: argparse.Namespace, ds: Any, data: Any, out: Path) -> int:
    from ..examples import tutorial as tut
    from ..examples.tutorial_keras import train_keras_half
    from ..examples.tutorial_report import build_report, reproduce_numpy

    start = time.perf_counter()
    print(
        f"numpy half: {'-'.join(map(str, tut.SIZES))} sigmoid, N(0, 1) weights ({args.init}), "
        f"one update per example (lr {tut.LEARNING_RATE:g}, momentum {tut.MOMENTUM:g}, applied "
        f"one example late, reset every round), {args.rounds} round{'s' if args.rounds > 1 else ''}"
        f" of {tut.BATCH_SIZE} (the tutorial: {tut.EPOCHS}); {args.seeds} run"
        f"{'s' if args.seeds > 1 else ''}"
    )
    numpy_part = reproduce_numpy(
        data,
        seeds=range(args.seeds),
        rounds=args.rounds,
        init=args.init,
        say=lambda s: print(s, flush=True),
    )
    print(
        f"Keras half: {'-'.join(map(str, tut.KERAS_SIZES))} sigmoid, sigmoid output, "
        f"categorical cross-entropy, SGD lr {tut.KERAS_LEARNING_RATE:g} (no momentum), batch "
        f"{tut.KERAS_BATCH_SIZE}, {epochs_text(args.epochs)} (the tutorial: {tut.KERAS_EPOCHS}), "
        f"float64 in {', '.join(args.backends)}"
    )
    keras_part = train_keras_half(data, backends=args.backends, epochs=args.epochs, seed=0)
    dataset = {"name": ds.name, "source": ds.source}
    report = build_report(data, numpy_part, keras_part, dataset)
    report["keras_half"]["dtype"] = "float64"
    report["keras_half"]["parity_rtol"] = PARITY_RTOL
    report["versions"] = versions()
    print()
    _print_numpy(report)
    same = _print_keras(report)
    _print_variants(report)

    def figure() -> Any:
        from ..plots import tutorial_figure

        return tutorial_figure(report)

    written = write_results(out / "tutorial.json", report, out / "tutorial.png", figure)
    print(f"wrote {', '.join(written)}  ({time.perf_counter() - start:.0f} s)")
    return 0 if same else 1


def _print_numpy(report: dict[str, Any]) -> None:
    pub, ours = report["published"]["numpy"], report["reproduced"]["numpy_original"]
    n = len(ours["rounds"])
    seeds = len(report["numpy_settings"]["data_seeds"])
    print(f"numpy half, original backprop: published / ours (mean over {seeds} runs)")
    print(f"{'round':>5}{'train acc':>18}{'eval acc':>18}{'train loss':>18}{'eval loss':>18}")
    for i in range(n):
        cells = [
            f"{pct(pub[k][i])} / {pct(ours[k][i])}" for k in ("train_accuracy", "eval_accuracy")
        ] + [f"{pub[k][i]:.3f} / {ours[k][i]:.3f}" for k in ("train_loss", "eval_loss")]
        print(f"{ours['rounds'][i]:>5}" + "".join(f"{c:>18}" for c in cells))
    close = report["closeness"]["numpy_original"]
    print(
        "mean |ours - published|: train acc "
        f"{100 * close['train_accuracy']['mean_abs_difference']:.1f} points, eval acc "
        f"{100 * close['eval_accuracy']['mean_abs_difference']:.1f} points (one round's accuracy "
        "is 128 examples: about +-4 points of sampling noise)"
    )
    if "z" in close["train_accuracy"]:
        print("published - ours, in standard deviations of our single runs (the published log is")
        print("one run; |z| > 2 is unusual for one):")
        for k in ("train_accuracy", "eval_accuracy", "train_loss", "eval_loss"):
            zs = " ".join("   n/a" if z is None else f"{z:+6.1f}" for z in close[k]["z"])
            print(f"  {k:<15}{zs}")
    if report["consistency"]["numpy_original"] is not None:
        from ..examples.tutorial_report import describe_consistency

        print("\n".join(describe_consistency(report["consistency"]["numpy_original"])))
    print()


def _print_keras(report: dict[str, Any]) -> bool:
    """The Keras half's final metrics and whether the frameworks' trajectories agree."""
    half = report["keras_half"]
    pub = report["published"]["keras"]
    keys = ("train_accuracy", "val_accuracy", "train_loss", "val_loss")
    print(
        f"Keras half, epoch {half['epochs']}: {'':<12}{'train acc':>10}{'val acc':>10}"
        f"{'train loss':>11}{'val loss':>10}"
    )

    def row(label: str, m: dict[str, float]) -> None:
        print(
            f"  {label:<30}{pct(m[keys[0]]):>10}{pct(m[keys[1]]):>10}"
            f"{m[keys[2]]:>11.4f}{m[keys[3]]:>10.4f}"
        )

    row("published (tutorial)", pub)
    for backend, m in half["final"].items():
        row(f"ours, {backend}", m)
    worst = max(half["divergence"].values(), default=0.0)
    same = worst <= PARITY_RTOL
    print(
        f"  same trajectory in {', '.join(half['final'])}: max relative parameter divergence "
        f"{worst:.1e} {'<=' if same else '>'} {PARITY_RTOL:g}{'' if same else '  DIVERGED'}"
    )
    print()
    return same


def _print_variants(report: dict[str, Any]) -> None:
    sweep = report["sweep"]
    tried = ", ".join(f"{lr:g}: {s:.3f}" for lr, s in zip(sweep["learning_rates"], sweep["scores"]))
    print(f"corrected gradient, learning-rate sweep ({sweep['score']}): {tried}")
    print(f"  -> retuned learning rate {sweep['chosen']:g}")
    variants = report["variants"]
    rounds = next(iter(variants.values()))["rounds"]
    print("what each bug did: eval accuracy at the logged rounds, then the last rounds' mean")
    print(f"  {'variant':<30}{'lr':>8}" + "".join(f"{r:>7}" for r in rounds) + f"{'last':>8}")
    for v in variants.values():
        accs = "".join(f"{100 * a:>6.1f}%" for a in v["eval_accuracy"])
        last = v["last_rounds_mean"]["eval_accuracy"]
        print(f"  {v['label']:<30}{v['learning_rate']:>8g}{accs}{100 * last:>7.1f}%")
