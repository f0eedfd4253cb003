"""``mlp-parity bench``: training throughput of each backend against this machine's matmul
peak, optionally written to JSON and drawn against batch size."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from . import _args


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench", help="training throughput against this machine's matmul peak")
    p.add_argument("--backends", default="numpy,jax,keras", help="comma-separated backends")
    p.add_argument("--sizes", type=_args.sizes, default=_args.sizes("784,128,128,10"))
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
    p.set_defaults(func=run)


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """``bench.run``'s keyword arguments from the options (``--quick`` shrinks them)."""
    for flag, value, least in (
        ("--samples", args.samples, 1),
        ("--scaling-samples", args.scaling_samples, 1),
        ("--batch-size", args.batch_size, 1),
        ("--epochs", args.epochs, 1),
        ("--repeats", args.repeats, 1),
        ("--check-examples", args.check_examples, 0),
    ):
        _args.at_least(flag, value, least)
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
        kw["check_examples"] = min(args.check_examples, 20)
        batch_sizes = "32,128" if batch_sizes is None else batch_sizes
    batch_sizes = "16,32,64,128,256,512" if batch_sizes is None else batch_sizes
    kw["batch_sizes"] = [int(b) for b in batch_sizes.split(",") if b]
    return kw


def run(args: argparse.Namespace) -> int:
    """Measure, print the table, then write ``--json`` and ``--plot`` if asked."""
    from .. import bench
    from .._io import write_json

    kw = _settings(args)
    for flag, path in (("--json", args.json), ("--plot", args.plot)):
        if path:
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
                raise ValueError(f"{flag} {path}: folder {folder} is not writable")
    if args.plot:
        if not kw["batch_sizes"]:
            raise ValueError("--plot draws the batch-size table: give --batch-sizes")
        from ..plots import _matplotlib_figure

        _matplotlib_figure()  # fail now, not after minutes of measuring
    result = bench.run(args.backends.split(","), log=lambda m: print(m, file=sys.stderr), **kw)
    print(bench.format_table(result))
    if args.json:
        from pathlib import Path

        write_json(Path(args.json), result)  # atomic, the usual permissions, NaN -> null
    if args.plot:
        from ..plots import batch_scaling, save_figure

        save_figure(batch_scaling(result), args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0
