"""``mlp-parity bench``: training throughput of each backend against this machine's matmul
limit (the best of XLA's and OpenBLAS's own kernel) and numpy's matmul peak, optionally written
to JSON and drawn against batch size."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import _args


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from ..train import TRAIN_BACKENDS

    p = _args.add_command(
        sub,
        "bench",
        help="training throughput against this machine's matmul limit",
        description="Measure each backend's training throughput (samples/s) and report it as "
        "a fraction of this machine's float32 matmul limit (the best of XLA's matmul and "
        "OpenBLAS's own kernel, the latter in a subprocess without OPENBLAS_CORETYPE and "
        "OPENBLAS_L2_SIZE, where numpy also trains again; threadpoolctl names the kernel) and "
        "of numpy's matmul peak (the environment's kernel), measured before and after each "
        "figure; warns when those disagree by over 20 % (busy). Takes minutes; --quick: a test.",
        example="mlp-parity bench --backends numpy,jax --json bench.json --plot bench.png",
    )
    p.add_argument(
        "--backends",
        type=_args.names(TRAIN_BACKENDS, "backend"),
        default=None,
        metavar="NAME[,NAME...]",
        help=f"comma-separated from {','.join(TRAIN_BACKENDS)} (default: the installed ones)",
    )
    p.add_argument(
        "--sizes",
        type=_args.sizes,
        default=_args.sizes("784,128,128,10"),
        metavar="N,N,...",
        help="layer widths of the relu network trained (default 784,128,128,10)",
    )
    positive = _args.int_at_least(1)
    for flag, default, text in (
        ("--batch-size", 128, "batch size of the headline figures (default 128)"),
        ("--samples", 60_000, "samples per epoch (default 60,000)"),
        ("--epochs", 2, "epochs; the first (compilation) is left out (default 2)"),
        ("--scaling-samples", 20_000, "samples per epoch in the scaling table (default 20,000)"),
        (
            "--repeats",
            1,
            "rounds of the headline measurements, each between two peak measurements; "
            "the median is reported (default 1)",
        ),
    ):
        p.add_argument(flag, type=positive, default=default, metavar="N", help=text)
    p.add_argument(
        "--batch-sizes",
        type=_args.int_list(1),
        default=None,
        metavar="N,N,...",
        help="batch sizes for the scaling table (default 16,32,64,128,256,512, "
        "with --quick 32,128; '' to skip)",
    )
    p.add_argument(
        "--check-examples",
        type=_args.int_at_least(0),
        default=200,
        metavar="N",
        help="examples for the check_backprop rate (default 200; 0 to skip)",
    )
    _add_output_args(p)
    p.set_defaults(func=run)


def _add_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    p.add_argument(
        "--json", default=None, metavar="FILE", help="also write every number to this JSON file"
    )
    p.add_argument(
        "--plot",
        default=None,
        metavar="FILE.png",
        help="also draw throughput against batch size to this PNG",
    )


def _backends(given: tuple[str, ...] | None) -> list[str]:
    """The ``--backends`` given (each must be installed), else the installed ones."""
    from ..backends import BACKENDS, available_backends
    from ..train import TRAIN_BACKENDS

    installed = available_backends()
    if given is None:
        return [b for b in TRAIN_BACKENDS if b in installed]
    missing = [b for b in given if b not in installed]
    if missing:
        extras = ",".join(str(BACKENDS[b][1]) for b in missing)
        raise ValueError(
            f"--backends {','.join(missing)}: not installed; "
            f'pip install "mlp_parity[{extras}]" or leave it out'
        )
    return list(given)


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """``bench.run``'s keyword arguments from the options (``--quick`` shrinks them)."""
    kw: dict[str, Any] = dict(
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
        kw["limit_repeats"] = 3
        kw["check_examples"] = min(args.check_examples, 20)
        batch_sizes = (32, 128) if batch_sizes is None else batch_sizes
    kw["batch_sizes"] = (16, 32, 64, 128, 256, 512) if batch_sizes is None else batch_sizes
    return kw


def _check_outputs(args: argparse.Namespace, kw: dict[str, Any]) -> None:
    """Fail now, not after minutes of measuring: the ``--json``/``--plot`` targets must be
    writable, and ``--plot`` needs matplotlib and the batch-size table."""
    from .._io import check_writable

    if args.json:
        check_writable(args.json, "--json file")
    if args.plot:
        check_writable(args.plot, "--plot file")
        if not kw["batch_sizes"]:
            raise ValueError("--plot draws the batch-size table: give --batch-sizes")
        from ..plots import _matplotlib_figure

        _matplotlib_figure()


def run(args: argparse.Namespace) -> int:
    """Check every option and output, measure, print the table (with a warning when the
    figures are unreliable), then write ``--json`` and ``--plot`` if asked."""
    from pathlib import Path

    from .. import bench
    from .._io import write_json

    backends = _backends(args.backends)
    kw = _settings(args)
    _check_outputs(args, kw)
    result = bench.run(backends, log=lambda m: print(m, file=sys.stderr), **kw)
    print(bench.format_table(result))
    if result.get("unreliable"):
        print(f"warning: {result['unreliable_reason']}", file=sys.stderr)
    if args.json:
        write_json(Path(args.json), result)  # atomic, the usual permissions, NaN -> null
        vars(args).setdefault("written", []).append(args.json)
        print(f"wrote {args.json}", file=sys.stderr)
    if args.plot:
        from ..plots import batch_scaling, save_figure

        save_figure(batch_scaling(result), args.plot)
        vars(args).setdefault("written", []).append(args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0
