"""``mlp-parity compare``: one network, one initialisation, the same batches on every backend;
a table, ``compare.json`` and ``compare.png``, and exit 1 when float64 trajectories diverge."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from . import _args, _distributed
from ._console import EpochProgress, pct, print_epoch, versions, write_results
from .train import TRAINING_MEMORY, check_shapes, epochs_text, speed_text

COMPARE_DTYPE = "float64"  # compare's default: the trajectories then agree to round-off
#: compare fails (exit 1) when a float64 backend's parameters differ from the reference by more.
PARITY_RTOL = 1e-8
DESCRIPTION = "Train one network on numpy, JAX and Keras from one init on the same batches."
EXAMPLES = (
    "mlp-parity compare",
    "mlp-parity compare --dtype float32 --backends numpy,jax --epochs 20 --out results/",
)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = _args.add_command(
        sub,
        "compare",
        "train one network on numpy, jax and keras from one init on the same batches",
        DESCRIPTION,
        EXAMPLES,
    )
    p.add_argument(
        "--backends",
        default=None,
        metavar="B1,B2",
        help="comma-separated subset of numpy,jax,keras (default: those installed)",
    )
    _args.add_data_args(p)
    p.add_argument(
        "--epochs",
        type=_args.int_at_least(1),
        default=_args.DEFAULT_EPOCHS,
        help=f"passes over the training data, >= 1 (default {_args.DEFAULT_EPOCHS})",
    )
    _args.add_spec_args(p, _args.DEFAULT_SIZES, _args.DEFAULT_ACTIVATION, _args.DEFAULT_LOSS)
    _args.add_sgd_args(p)
    p.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default=COMPARE_DTYPE,
        help=f"precision of training (default {COMPARE_DTYPE}: exit 1 if parameters diverge "
        f"by > {PARITY_RTOL:g})",
    )
    _args.add_out_arg(p, "compare.json/.png")
    _distributed.add_args(p)
    p.set_defaults(func=run)


def parse_backends(text: str | None) -> list[str]:
    """``--backends``: the installed training backends when ``None``, else the listed ones."""
    from ..backends import available_backends
    from ..train import TRAIN_BACKENDS

    if text is None:
        installed = available_backends()
        return [b for b in TRAIN_BACKENDS if b in installed]
    names = [b.strip() for b in text.split(",") if b.strip()]
    bad = [b for b in names if b not in TRAIN_BACKENDS]
    if bad or not names:
        raise ValueError(
            f"--backends takes a comma-separated subset of {','.join(TRAIN_BACKENDS)}, got {text!r}"
        )
    return list(dict.fromkeys(names))


def run(args: argparse.Namespace) -> int:
    """Check every setting, load the data and prepare ``--out``, then compare."""
    args.started = time.perf_counter()  # the run's wall time counts from here
    from .._io import output_folder
    from ..params import check_fits, training_bytes
    from ..train import check_settings

    if args.epochs < 1:  # nothing to compare without a training step
        raise ValueError(f"--epochs must be >= 1 for compare, got {args.epochs}")
    args.devices = _distributed.init_from_args(args)  # before JAX initialises
    backends = parse_backends(args.backends)
    if args.devices != 1 and "jax" not in backends:
        raise ValueError(
            "--devices trains the jax backend data-parallel: include jax in --backends"
        )
    for name in backends:
        check_settings(
            backend=name,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            momentum=args.momentum,
            seed=args.seed,
        )
    spec = _args.spec_from_args(args)
    ds = _args.load_data(args, args.dtype)
    check_shapes(spec, ds, None)
    extra = training_bytes(spec, args.dtype, args.batch_size)
    check_fits(spec, args.dtype, extra, TRAINING_MEMORY)
    with output_folder(args.out) as out:
        return _compare(args, spec, ds, out, backends)


def _compare(args: argparse.Namespace, spec: Any, ds: Any, out: Path, backends: list[str]) -> int:
    from ..params import init_params
    from ..train import TRAIN_BACKENDS, trajectories

    params = init_params(spec, seed=args.seed, dtype=args.dtype)
    skipped = [b for b in TRAIN_BACKENDS if b not in backends] if args.backends is None else []
    print(
        f"compare {spec} ({args.dtype}) on {', '.join(backends)}: {epochs_text(args.epochs)}, "
        f"batch {args.batch_size}, lr {args.lr:g}, momentum {args.momentum:g}, seed {args.seed}"
        + (f"; jax data-parallel on {args.devices} devices" if args.devices != 1 else "")
    )
    started = time.perf_counter()
    report = trajectories.compare_backends(
        spec,
        params,
        ds,
        backends=backends,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        momentum=args.momentum,
        seed=args.seed,
        devices=args.devices,
        progress=lambda name: EpochProgress(name, print_epoch(f"  {name:<6} ")),
    )
    total = time.perf_counter() - started
    print()
    print(compare_table(report))
    if skipped:
        print(f'(not installed, skipped: {", ".join(skipped)}; pip install "mlp_parity[all]")')
    same = _verdict(args.dtype, max(report["divergence"].values()))

    def figure() -> Any:
        from ..plots import learning_curves

        return learning_curves(
            {n: r.history for n, r in report["results"].items()},
            title=f"{spec}, {args.dtype}, batch {args.batch_size}, lr {args.lr:g}, momentum "
            f"{args.momentum:g} on {ds.name}",
        )

    data = _json(args, spec, ds, report, skipped, total)
    data["run_wall_clock_s"] = run_split(report["wall_clock"], time.perf_counter() - args.started)
    written = write_results(out / "compare.json", data, out / "compare.png", figure)
    print(f"wrote {', '.join(written)}  ({total:.1f} s)")
    # split again now: the printed line also counts writing the files the JSON is in
    print(split_text(run_split(report["wall_clock"], time.perf_counter() - args.started)))
    return 0 if same or args.dtype != "float64" else 1


def run_split(clock: dict[str, dict[str, float]], wall: float) -> dict[str, float]:
    """The whole run's wall time ``wall`` split with the backends' ``wall_clock`` records:
    ``imports``, ``training``, ``compilation``, ``build`` (loop set-up, validation), ``other``
    (loading data, the table, plotting, writing) and ``outside_fraction``, the share of the
    wall time outside imports and training (issue 18's target for a second run: <= 0.25)."""
    parts = {
        name: sum(c[key] for c in clock.values())
        for name, key in (
            ("imports", "import"),
            ("training", "train"),
            ("compilation", "compile"),
            ("build", "build"),
        )
    }
    other = max(0.0, wall - sum(parts.values()))
    outside = max(0.0, wall - parts["imports"] - parts["training"])
    return {**parts, "other": other, "total": wall, "outside_fraction": outside / wall}


def split_text(split: dict[str, float]) -> str:
    """One line: where the run's wall time went."""
    return (
        f"time: {split['total']:.1f} s = imports {split['imports']:.1f} + training "
        f"{split['training']:.1f} + compilation {split['compilation']:.1f} + set-up and "
        f"validation {split['build']:.1f} + the rest {split['other']:.1f} (data, table, plot, "
        f"files): {split['outside_fraction']:.0%} outside imports and training"
    )


def _verdict(dtype: str, worst: float) -> bool:
    """Print whether the trajectories agree; return whether ``worst`` is within PARITY_RTOL."""
    same = worst <= PARITY_RTOL
    if dtype == "float64":
        print(
            f"{'same trajectory' if same else 'DIVERGED'}: max relative parameter divergence "
            f"{worst:.1e} {'<=' if same else '>'} {PARITY_RTOL:g}"
        )
    else:
        print(
            "(float32: rounding differences between the engines' matmuls compound over the steps, "
            "so float32 divergence can grow large without a bug; --dtype float64 checks parity)"
        )
    return same


def compare_table(report: dict[str, Any]) -> str:
    """The per-backend table of :func:`mlp_parity.train.compare_backends`' report."""
    ref = report["reference"]
    head = (
        f"{'backend':<8}{'train loss':>11}{'train acc':>10}{'val loss':>10}{'val acc':>9}"
        f"{'wall s':>8}{'samples/s':>11}  max rel. param divergence vs {ref}"
    )
    lines = [head]
    for name, r in report["results"].items():
        h = r.history
        lines.append(
            f"{name:<8}{h['loss'][-1]:>11.4f}{pct(h['accuracy'][-1]):>10}"
            f"{h['val_loss'][-1]:>10.4f}{pct(h['val_accuracy'][-1]):>9}"
            f"{report['wall'][name]:>8.1f}{_speed(r):>11}  {report['divergence'][name]:.1e}"
        )
    if any(r.epochs < 2 for r in report["results"].values()):
        lines.append(
            "(samples/s n/a: measured from epoch 2 on, as epoch 1 includes compilation; "
            "run 2 or more epochs)"
        )
    return "\n".join(lines)


def _speed(result: Any) -> str:
    """The table's samples/s cell: epochs 2.. (epoch 1 holds the compilation), n/a with 1."""
    return "n/a" if result.epochs < 2 else speed_text(result)


def _json(
    args: argparse.Namespace,
    spec: Any,
    ds: Any,
    report: dict[str, Any],
    skipped: list[str],
    total: float,
) -> dict[str, Any]:
    """The contents of ``compare.json``."""
    return {
        "command": "compare",
        "spec": spec.to_dict(),
        "settings": {
            "dtype": args.dtype,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "learning_rate": args.lr,
            "momentum": args.momentum,
            "seed": args.seed,
            "jax_devices": args.devices,
            "init": f"init_params(seed={args.seed})",
            "batch_order": "np.random.default_rng(seed).permutation(n) per epoch",
            "train_metrics": "mean over the epoch's batches, before each update",
            "validation_metrics": "full pass after each epoch (numpy)",
            "samples_per_second": "epochs 2.. (epoch 1 includes compilation); null with 1 epoch",
        },
        "dataset": {
            "name": ds.name,
            "source": ds.source,
            "n_train": int(ds.x_train.shape[0]),
            "n_val": int(ds.x_val.shape[0]),
        },
        "reference": report["reference"],
        "parity_rtol": PARITY_RTOL if args.dtype == "float64" else None,
        "backends": {
            name: {
                "history": r.history,
                "final": {k: v[-1] for k, v in r.history.items() if v and k != "time"},
                "wall_time_s": report["wall"][name],
                "wall_clock_s": report["wall_clock"][name],
                "train_time_s": r.train_time,
                "samples_per_second": r.samples_per_second if r.epochs > 1 else None,
                "max_rel_param_divergence": report["divergence"][name],
            }
            for name, r in report["results"].items()
        },
        "skipped": skipped,
        "total_wall_time_s": total,
        "versions": versions(),
    }
