"""``mlp-parity check``: every backend's gradients, tensor by tensor, against a reference."""

from __future__ import annotations

import argparse

import numpy as np

from . import _args


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("check", help="compare every backend's gradients per tensor")
    _args.add_spec_args(p, "784,128,128,10", "sigmoid", "softmax_cross_entropy")
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the gradient report on a random batch; exit 1 when a backend disagrees."""
    from .. import check_gradients
    from ..backends import available_backends
    from ..params import init_params
    from ..spec import LOSSES, MLPSpec

    spec = MLPSpec(args.sizes, args.activation, args.loss)
    params = init_params(spec, seed=args.seed, dtype=args.dtype)
    rng = np.random.default_rng(args.seed)
    x = rng.random((args.batch, spec.sizes[0])).astype(args.dtype)
    n_out = spec.sizes[-1]
    if LOSSES[spec.loss].takes_labels:
        y = rng.integers(0, n_out, args.batch)
    else:
        y = rng.standard_normal((args.batch, n_out))
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
