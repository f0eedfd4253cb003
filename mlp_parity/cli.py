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
