"""The ``mlp-parity`` command line. Each subcommand imports what it needs when it runs, so
``mlp-parity --help`` starts in milliseconds."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.replace(" ", "").split(",") if s)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes must be comma-separated ints like 784,128,10, got {text!r}"
        ) from None
    if len(sizes) < 2:
        raise argparse.ArgumentTypeError(f"--sizes needs at least two widths, got {text!r}")
    return sizes


def _activation(text: str) -> str | tuple[str, ...]:
    return tuple(text.split(",")) if "," in text else text


def _add_spec_args(p: argparse.ArgumentParser, sizes: str, activation: str, loss: str) -> None:
    from .spec import ACTIVATIONS, LOSSES

    p.add_argument(
        "--sizes",
        type=_sizes,
        default=_sizes(sizes),
        help=f"layer widths, input to output (default {sizes})",
    )
    p.add_argument(
        "--activation",
        type=_activation,
        default=activation,
        help=f"hidden activation, one of {sorted(ACTIVATIONS)}, or one per hidden "
        f"layer comma-separated (default {activation})",
    )
    p.add_argument("--loss", choices=sorted(LOSSES), default=loss, help=f"loss (default {loss})")


def cmd_check(args: argparse.Namespace) -> int:
    from .backends import available_backends
    from .compare import check_gradients
    from .params import init_params
    from .spec import MLPSpec

    spec = MLPSpec(args.sizes, args.activation, args.loss)
    params = init_params(spec, seed=args.seed, dtype=args.dtype)
    rng = np.random.default_rng(args.seed)
    x = rng.random((args.batch, spec.sizes[0])).astype(args.dtype)
    n_out = spec.sizes[-1]
    if spec.loss == "mse":
        y = rng.standard_normal((args.batch, n_out))
    else:
        y = rng.integers(0, n_out, args.batch)
    backends = args.backends.split(",") if args.backends else available_backends()
    report = check_gradients(
        spec,
        params,
        x,
        y,
        backends=backends,
        reference=args.reference,
        fd_max_entries=args.fd_entries,
        seed=args.seed,
    )
    print(report)
    missing = [b for b in ("jax", "keras") if b not in backends and not args.backends]
    if missing:
        print(
            f"(not installed, skipped: {', '.join(missing)}; "
            f'pip install "mlp_parity[{",".join(missing)}]")'
        )
    return 0 if report.ok else 1


def cmd_bench(args: argparse.Namespace) -> int:
    import os

    from . import bench
    from .train import _positive_int

    for flag, value, least in (
        ("--samples", args.samples, 1),
        ("--scaling-samples", args.scaling_samples, 1),
        ("--batch-size", args.batch_size, 1),
        ("--epochs", args.epochs, 1),
        ("--repeats", args.repeats, 1),
        ("--check-examples", args.check_examples, 0),
    ):
        _positive_int(flag, value, least)
    kw = dict(
        sizes=args.sizes,
        batch_size=args.batch_size,
        n=args.samples,
        epochs=args.epochs,
        check_examples=args.check_examples,
        scaling_n=args.scaling_samples,
        repeats=args.repeats,
    )
    batch_sizes = args.batch_sizes
    if args.quick:  # a smoke test: small data, two batch sizes, few examples
        kw.update(n=min(args.samples, 2048), scaling_n=min(args.scaling_samples, 1024))
        kw["peak_n"] = 1024
        kw["check_examples"] = min(args.check_examples, 20)
        batch_sizes = "32,128" if batch_sizes is None else batch_sizes
    batch_sizes = "16,32,64,128,256,512" if batch_sizes is None else batch_sizes
    kw["batch_sizes"] = [int(b) for b in batch_sizes.split(",") if b]
    for flag, path in (("--json", args.json), ("--plot", args.plot)):
        if path:
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
                raise ValueError(f"{flag} {path}: folder {folder} is not writable")
    if args.plot:
        if not kw["batch_sizes"]:
            raise ValueError("--plot draws the batch-size table: give --batch-sizes")
        from .plots import _matplotlib_figure

        _matplotlib_figure()  # fail now, not after minutes of measuring
    result = bench.run(args.backends.split(","), log=lambda m: print(m, file=sys.stderr), **kw)
    print(bench.format_table(result))
    if args.json:
        from pathlib import Path

        from .jobs import write_json

        write_json(Path(args.json), result)  # atomic, the usual permissions, NaN -> null
    if args.plot:
        from .plots import batch_scaling, save_figure

        save_figure(batch_scaling(result), args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def _load_function(target: str):
    """``path/to/file.py:function`` (or ``package.module:function``) -> the function."""
    import importlib
    import importlib.util
    from pathlib import Path

    where, sep, name = target.rpartition(":")
    if not sep or not where or not name:
        raise ValueError(f"expected path/to/file.py:function, got {target!r}")
    path = Path(where)
    if path.suffix == ".py" or path.exists():
        if not path.is_file():
            raise ValueError(f"no such file: {where}")
        spec = importlib.util.spec_from_file_location(f"_mlp_parity_debug_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise ValueError(f"cannot import {where} as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.resolve().parent))  # so the file can import its neighbours
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(path.resolve().parent))
    else:
        module = importlib.import_module(where)
    fn = getattr(module, name, None)
    if not callable(fn):
        found = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_"))
        raise ValueError(f"{where} has no function {name!r}; it has: {', '.join(found) or 'none'}")
    return fn


def cmd_debug(args: argparse.Namespace) -> int:
    from .debug import check_backprop

    report = check_backprop(
        _load_function(args.target),
        activation=args.activation,
        loss=args.loss,
        sizes=args.sizes,
        max_examples=args.max_examples,
        seed=args.seed,
    )
    print(report)
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlp-parity",
        description="One MLP in numpy (hand-written backprop), JAX and Keras/TensorFlow, "
        "proven equal.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="compare every backend's gradients per tensor")
    _add_spec_args(p, "784,128,128,10", "sigmoid", "softmax_cross_entropy")
    p.add_argument("--batch", type=int, default=8, help="batch size (default 8)")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.add_argument(
        "--backends",
        default=None,
        help="comma-separated: numpy,jax,keras,finite_difference (default: installed)",
    )
    p.add_argument(
        "--reference",
        default=None,
        help="reference engine, computed in float64 (default jax, else keras)",
    )
    p.add_argument(
        "--fd-entries",
        type=int,
        default=2000,
        help="finite differences sample this many entries on bigger networks",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("bench", help="training throughput against this machine's matmul peak")
    p.add_argument("--backends", default="numpy,jax,keras", help="comma-separated backends")
    p.add_argument("--sizes", type=_sizes, default=_sizes("784,128,128,10"))
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--samples", type=int, default=60_000, help="samples per epoch (60,000)")
    p.add_argument("--epochs", type=int, default=2, help="epochs; the first is left out")
    p.add_argument(
        "--batch-sizes",
        default=None,
        help="batch sizes for the scaling table (default 16,32,64,128,256,512; '' to skip)",
    )
    p.add_argument(
        "--scaling-samples",
        type=int,
        default=20_000,
        help="samples per epoch in the scaling table (20,000)",
    )
    p.add_argument(
        "--check-examples",
        type=int,
        default=200,
        help="examples for the check_backprop rate (0 to skip)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="rounds of the headline measurements, each between two peak measurements; "
        "the median is reported (1)",
    )
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    p.add_argument("--json", default=None, help="also write every number to this JSON file")
    p.add_argument(
        "--plot", default=None, help="also draw throughput against batch size to this PNG"
    )
    p.set_defaults(func=cmd_bench)

    from .spec import LOSSES

    p = sub.add_parser("debug", help="find and diagnose a bug in your own backprop function")
    p.add_argument("target", help="path/to/file.py:function, grad_fn(params, x, y) -> grads")
    p.add_argument("--activation", type=_activation, required=True, help="hidden activation")
    p.add_argument("--loss", required=True, choices=sorted(LOSSES), help="the loss")
    p.add_argument("--sizes", type=_sizes, default=None, help="fix the widths (default: drawn)")
    p.add_argument("--max-examples", type=int, default=100, help="problems to try (default 100)")
    p.add_argument("--seed", type=int, default=None, help="make the search reproducible")
    p.set_defaults(func=cmd_debug)

    from .jobs import register  # train, compare, tutorial (bodies in jobs.py)

    register(sub, _add_spec_args)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, ImportError, OSError) as e:
        print(f"mlp-parity {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
