"""``mlp-parity tutorial``: the tutorial's setup trained with its original (buggy) backprop,
the corrected one and optionally Keras, beside the tutorial's published numbers."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import _args
from ._console import EpochProgress, pct, print_epoch, versions, write_results
from .train import epochs_text

TUTORIAL_EPOCHS = 50
DESCRIPTION = "The tutorial's network: its original (buggy) backprop vs the corrected one vs Keras."
EXAMPLES = (
    "mlp-parity tutorial",
    "mlp-parity tutorial --epochs 100 --no-keras --out results/",
)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = _args.add_command(
        sub,
        "tutorial",
        "the tutorial's setup: original (buggy) vs corrected backprop vs keras",
        DESCRIPTION,
        EXAMPLES,
    )
    _args.add_data_args(p)
    p.add_argument(
        "--epochs",
        type=_args.int_at_least(1),
        default=TUTORIAL_EPOCHS,
        help=f"passes over the training rows, >= 1 (default {TUTORIAL_EPOCHS}; the tutorial "
        "ran 100)",
    )
    p.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float64",
        help="precision of training (default float64)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seeds the init, training rows, batch order (default 0)"
    )
    p.add_argument(
        "--per-sample",
        action="store_true",
        help="use the tutorial's per-sample backprop loops (same gradients, much slower)",
    )
    p.add_argument(
        "--keras",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also train with keras (default: if installed)",
    )
    _args.add_out_arg(p, "tutorial.json/.png")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the settings (and Keras, if asked for), load the data, prepare ``--out``, run."""
    from .._io import output_folder
    from ..backends import available_backends, get_backend
    from ..examples import tutorial as tut
    from ..spec import MLPSpec
    from ..train import check_settings

    if args.epochs < 1:  # nothing to compare without a training step
        raise ValueError(f"--epochs must be >= 1 for tutorial, got {args.epochs}")
    check_settings(
        backend="numpy",
        epochs=args.epochs,
        batch_size=tut.BATCH_SIZE,
        learning_rate=tut.LEARNING_RATE,
        momentum=tut.MOMENTUM,
        seed=args.seed,
    )
    use_keras = "keras" in available_backends() if args.keras is None else args.keras
    if use_keras:
        get_backend("keras")  # an actionable ImportError now rather than after numpy's runs
    spec = MLPSpec(tut.SIZES, tut.ACTIVATION, tut.LOSS)
    ds = _args.load_data(args, args.dtype)
    with output_folder(args.out) as out:
        return _tutorial(args, spec, ds, out, use_keras)


def _runs(per_sample: bool, use_keras: bool) -> list[tuple[str, str, dict[str, Any]]]:
    """``(key, label, train keywords)`` per run: the two numpy backprops, then Keras."""
    from ..examples import tutorial as tut

    if per_sample:  # the tutorial's own loops, one sample at a time (slow)
        original, corrected = tut.original_backprop, tut.corrected_backprop
    else:  # the same gradients over the whole batch at once (tests prove them equal)
        original, corrected = tut.original_backprop_vectorized, tut.corrected_backprop_vectorized
    runs: list[tuple[str, str, dict[str, Any]]] = [
        ("original", "original backprop (2 bugs), numpy", {"grad_fn": original}),
        ("corrected", "corrected backprop, numpy", {"grad_fn": corrected}),
    ]
    if use_keras:
        runs.append(("keras", "keras, SGD with momentum", {"backend": "keras"}))
    return runs


def _tutorial(args: argparse.Namespace, spec: Any, ds: Any, out: Path, use_keras: bool) -> int:
    from ..examples import tutorial as tut
    from ..params import init_params
    from ..train import train

    n_all = ds.x_train.shape[0]
    k = max(1, int(round(tut.TRAIN_FRACTION * n_all)))
    rows = np.sort(np.random.default_rng(args.seed).permutation(n_all)[:k])
    x, y = ds.x_train[rows], ds.y_train[rows]
    params = init_params(spec, seed=args.seed, dtype=args.dtype)
    print(
        f"tutorial {spec} ({args.dtype}): {epochs_text(args.epochs)} (the tutorial: {tut.EPOCHS}), "
        f"batch {tut.BATCH_SIZE}, lr {tut.LEARNING_RATE:g}, momentum {tut.MOMENTUM:g} "
        f"(assumed: the tutorial's values are unknown), {k} training rows "
        f"(a {tut.TRAIN_FRACTION:g} of {n_all})"
    )
    runs = _runs(args.per_sample, use_keras)
    results: dict[str, Any] = {}
    wall: dict[str, float] = {}
    for key, _label, extra in runs:
        start = time.perf_counter()
        results[key] = train(
            spec,
            params,
            x,
            y,
            backend=extra.get("backend", "numpy"),
            epochs=args.epochs,
            batch_size=tut.BATCH_SIZE,
            learning_rate=tut.LEARNING_RATE,
            momentum=tut.MOMENTUM,
            seed=args.seed,
            validation=(ds.x_val, ds.y_val),
            grad_fn=extra.get("grad_fn"),
            progress=EpochProgress(key, print_epoch(f"  {key:<9} ")),
        )
        wall[key] = time.perf_counter() - start
    print()
    _print_table(runs, results, wall)

    def figure() -> Any:
        from ..plots import learning_curves

        return learning_curves(
            {key: results[key].history for key, _, _ in runs},
            title=f"tutorial {spec} on {k} rows of {ds.name}",
            references={
                "published keras train": tut.PUBLISHED["keras_train_accuracy"],
                "published keras validation": tut.PUBLISHED["keras_val_accuracy"],
            },
        )

    data = _json(args, spec, ds, k, runs, results, wall)
    written = write_results(out / "tutorial.json", data, out / "tutorial.png", figure)
    print(f"wrote {', '.join(written)}")
    return 0


def _print_table(runs: list, results: dict[str, Any], wall: dict[str, float]) -> None:
    """One row per run, then the tutorial's published Keras numbers."""
    from ..examples import tutorial as tut

    head = f"{'run':<38}{'epochs':>7}{'train acc':>10}{'val acc':>9}{'val loss':>10}{'wall s':>8}"
    print(head)
    for key, label, _ in runs:
        h = results[key].history
        print(
            f"{label:<38}{len(h['loss']):>7}{pct(h['accuracy'][-1]):>10}"
            f"{pct(h['val_accuracy'][-1]):>9}{h['val_loss'][-1]:>10.4f}{wall[key]:>8.1f}"
        )
    pub = tut.PUBLISHED
    print(
        f"{'published (tutorial, keras)':<38}{pub['epochs']:>7}"
        f"{pct(pub['keras_train_accuracy']):>10}{pct(pub['keras_val_accuracy']):>9}"
    )
    print(
        "(train acc: mean over the last epoch's batches; the tutorial trained on a quarter of "
        "full MNIST, 15,000 rows)"
    )


def _json(
    args: argparse.Namespace,
    spec: Any,
    ds: Any,
    n_train: int,
    runs: list,
    results: dict[str, Any],
    wall: dict[str, float],
) -> dict[str, Any]:
    """The contents of ``tutorial.json``."""
    from ..examples import tutorial as tut

    return {
        "command": "tutorial",
        "spec": spec.to_dict(),
        "settings": {
            "dtype": args.dtype,
            "epochs": args.epochs,
            "batch_size": tut.BATCH_SIZE,
            "learning_rate": tut.LEARNING_RATE,
            "momentum": tut.MOMENTUM,
            "seed": args.seed,
            "train_fraction": tut.TRAIN_FRACTION,
            "n_train": n_train,
        },
        "dataset": {"name": ds.name, "source": ds.source, "n_val": int(ds.x_val.shape[0])},
        "published": tut.PUBLISHED,
        "runs": {
            key: {"label": label, "history": results[key].history, "wall_time_s": wall[key]}
            for key, label, _ in runs
        },
        "versions": versions(),
    }
