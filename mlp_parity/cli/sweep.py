"""``mlp-parity sweep``: one network trained for every learning rate and init seed at once
(:func:`mlp_parity.train.train_many`: one compiled JAX program), a table of the results and
optionally a plot of their learning curves."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from . import _args

DESCRIPTION = (
    "Train the network of every --lr and --seeds pair at once in one compiled JAX program "
    "(the models vmapped, each on the same batches); each model follows exactly its own "
    "'mlp-parity train --backend jax' run. Prints a table; --plot draws the validation "
    "accuracy of every model by epoch."
)
EXAMPLES = (
    "mlp-parity sweep --lr 0.01,0.03,0.1 --seeds 0,1,2",
    "mlp-parity sweep --lr 0.1,0.3 --seeds 0 --epochs 5 --plot sweep.png --json sweep.json",
)


def _floats(text: str) -> tuple[float, ...]:
    """``--lr 0.01,0.1`` -> ``(0.01, 0.1)``, each finite and > 0."""
    try:
        values = tuple(float(s) for s in text.replace(" ", "").split(",") if s)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated numbers like 0.01,0.1, got {text!r}"
        ) from None
    if not values or not all(0 < v < float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"every value must be a number > 0, got {text!r}")
    return tuple(dict.fromkeys(values))


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = _args.add_command(
        sub, "sweep", "train many learning rates and seeds at once (jax)", DESCRIPTION, EXAMPLES
    )
    p.add_argument(
        "--lr",
        type=_floats,
        default=(0.01, 0.03, 0.1),
        metavar="LR[,LR...]",
        help="learning rates, each > 0 (default 0.01,0.03,0.1)",
    )
    p.add_argument(
        "--seeds",
        type=_args.int_list(0),
        default=(0,),
        metavar="S[,S...]",
        help="init seeds; one model per learning rate and seed (default 0)",
    )
    _args.add_data_args(p)
    p.add_argument(
        "--epochs",
        type=_args.int_at_least(1),
        default=_args.DEFAULT_EPOCHS,
        help=f"passes over the training data, >= 1 (default {_args.DEFAULT_EPOCHS})",
    )
    _args.add_spec_args(p, _args.DEFAULT_SIZES, _args.DEFAULT_ACTIVATION, _args.DEFAULT_LOSS)
    p.add_argument(
        "--momentum",
        type=float,
        default=_args.DEFAULT_MOMENTUM,
        help=f"SGD momentum, in [0, 1) (default {_args.DEFAULT_MOMENTUM})",
    )
    p.add_argument(
        "--batch-size",
        type=_args.int_at_least(1),
        default=_args.DEFAULT_BATCH,
        help=f"samples per SGD step, >= 1 (default {_args.DEFAULT_BATCH})",
    )
    p.add_argument(
        "--order-seed",
        type=_args.int_at_least(0),
        default=0,
        help="seed of the batch order, shared by every model (default 0)",
    )
    p.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default=_args.DEFAULT_DTYPE,
        help=f"precision of training (default {_args.DEFAULT_DTYPE})",
    )
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results here")
    p.add_argument(
        "--plot",
        default=None,
        metavar="FILE.png",
        help="also draw every model's validation accuracy by epoch",
    )
    p.set_defaults(func=run)


def sweep_figure(rows: Sequence[dict[str, Any]], *, title: str = "") -> Any:
    """Validation accuracy by epoch, one line per model, one colour per learning rate."""
    from ..plots import _matplotlib_figure

    fig = _matplotlib_figure()(figsize=(7, 4.2))
    ax = fig.add_subplot()
    lrs = sorted({r["learning_rate"] for r in rows})
    colours = {lr: f"C{i % 10}" for i, lr in enumerate(lrs)}
    labelled: set[float] = set()
    for r in rows:
        acc = r["history"]["val_accuracy"]
        lr = r["learning_rate"]
        label = None if lr in labelled else f"lr {lr:g}"
        labelled.add(lr)
        ax.plot(range(1, len(acc) + 1), acc, color=colours[lr], label=label, marker=".")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.set_title(title or "sweep: one line per model (seed), one colour per learning rate")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def table(rows: Sequence[dict[str, Any]]) -> str:
    """The results, best validation accuracy first."""
    lines = [f"{'lr':>10}{'seed':>6}{'train loss':>12}{'train acc':>11}{'val acc':>9}"]
    for r in sorted(rows, key=lambda r: -r["val_accuracy"]):
        lines.append(
            f"{r['learning_rate']:>10g}{r['seed']:>6}{r['loss']:>12.4f}"
            f"{r['accuracy']:>11.2%}{r['val_accuracy']:>9.2%}"
        )
    return "\n".join(lines)


def _check_settings(args: argparse.Namespace) -> None:
    """Fail before any work: the momentum, and the ``--json``/``--plot`` targets (``--plot``
    needs matplotlib)."""
    from .._io import check_writable
    from ..train import SGD

    SGD(args.lr[0], args.momentum)  # a bad --momentum fails here, naming it
    for flag in ("json", "plot"):
        if getattr(args, flag):
            check_writable(getattr(args, flag), f"--{flag} file")
    if args.plot:
        from ..plots import _matplotlib_figure

        _matplotlib_figure()


def run(args: argparse.Namespace) -> int:
    """Check every setting and output, train all models at once, print the table, write
    ``--json``/``--plot``."""
    from pathlib import Path

    from .._io import write_json
    from ..params import init_params
    from ..train import train_many
    from .train import check_shapes

    _check_settings(args)
    spec = _args.spec_from_args(args)
    ds = _args.load_data(args, args.dtype)
    check_shapes(spec, ds, None)
    models = [(lr, s) for lr in args.lr for s in args.seeds]
    print(
        f"sweep {spec} ({args.dtype}) on jax: {len(models)} models ({len(args.lr)} learning "
        f"rates x {len(args.seeds)} seeds) at once, {args.epochs} epochs, batch "
        f"{args.batch_size}, momentum {args.momentum:g}",
        file=sys.stderr,
    )
    results = train_many(
        spec,
        [init_params(spec, seed=s, dtype=args.dtype) for _, s in models],
        ds.x_train,
        ds.y_train,
        learning_rates=[lr for lr, _ in models],
        epochs=args.epochs,
        batch_size=args.batch_size,
        momentum=args.momentum,
        seed=args.order_seed,
        validation=(ds.x_val, ds.y_val),
    )
    rows = [
        {"learning_rate": lr, "seed": s, "history": r.history}
        | {k: r.history[k][-1] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
        for (lr, s), r in zip(models, results)
    ]
    print(table(rows))
    times = results[0].history["time"]
    steady = times[1:] or times
    total = len(models) * ds.x_train.shape[0] * len(steady) / sum(steady)
    note = "" if len(times) > 1 else " (1 epoch: includes compilation)"
    print(f"{total:,.0f} samples/s over all {len(models)} models{note}")
    if args.json:
        write_json(
            Path(args.json), {"spec": spec.to_dict(), "samples_per_s": total, "models": rows}
        )
        print(f"wrote {args.json}", file=sys.stderr)
    if args.plot:
        from ..plots import save_figure

        save_figure(sweep_figure(rows, title=f"sweep: {spec}"), args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0
