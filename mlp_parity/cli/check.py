"""``mlp-parity check``: every backend's gradients, tensor by tensor, against a reference."""

from __future__ import annotations

import argparse
import os

import numpy as np

from . import _args


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from ..backends import BACKENDS
    from ..gradcheck import REFERENCES

    p = _args.add_command(
        sub,
        "check",
        help="compare every backend's gradients per tensor",
        description="Compute the loss and gradients of one random batch with every installed "
        "engine and print, per tensor, each one's error against a float64 reference; exit 1 "
        "when an engine disagrees.",
        example="mlp-parity check --sizes 784,128,10 --activation relu --backends numpy,jax",
    )
    _args.add_spec_args(p, "784,128,128,10", "sigmoid", "softmax_cross_entropy")
    p.add_argument(
        "--batch", type=_args.int_at_least(1), default=8, help="rows in the batch (default 8)"
    )
    p.add_argument(
        "--dtype",
        choices=["float64", "float32"],
        default="float64",
        help="the engines' dtype, one of %(choices)s (default float64)",
    )
    p.add_argument(
        "--backends",
        type=_args.names(tuple(BACKENDS), "backend"),
        default=None,
        metavar="NAME[,NAME...]",
        help=f"engines to check, comma-separated from {','.join(BACKENDS)} "
        "(default: the installed ones)",
    )
    p.add_argument(
        "--reference",
        choices=REFERENCES,
        default=None,
        help="reference engine, one of %(choices)s, computed in float64 (default jax, else keras)",
    )
    p.add_argument(
        "--fd-entries",
        type=_args.int_at_least(1),
        default=2000,
        metavar="N",
        help="finite differences sample N entries on networks with more parameters (default 2000)",
    )
    p.add_argument(
        "--seed",
        type=_args.int_at_least(0),
        default=0,
        help="seed of the parameters and the batch (default 0)",
    )
    p.set_defaults(func=run)


def _check_batch_memory(spec, batch: int) -> None:
    """Refuse a ``--batch`` whose activations alone (float64, a few copies per engine) would
    not fit in this machine's memory, before allocating anything."""
    need = 8 * 6 * batch * sum(spec.sizes)
    total = _physical_memory()
    if total and need > total:
        raise ValueError(
            f"--batch {batch} with --sizes {','.join(map(str, spec.sizes))} needs about "
            f"{need / 2**30:.1f} GiB of activations, more than this machine's "
            f"{total / 2**30:.1f} GiB; use a smaller --batch"
        )


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not on this platform
        return None


def run(args: argparse.Namespace) -> int:
    """Print the gradient report on a random batch; exit 1 when a backend disagrees."""
    from .. import check_gradients
    from ..backends import available_backends
    from ..params import init_params
    from ..spec import LOSSES, MLPSpec

    spec = MLPSpec(args.sizes, args.activation, args.loss)
    _check_batch_memory(spec, args.batch)
    # init_params refuses sizes whose parameters would not fit, before allocating them
    params = init_params(spec, seed=args.seed, dtype=args.dtype)
    rng = np.random.default_rng(args.seed)
    x = rng.random((args.batch, spec.sizes[0])).astype(args.dtype)
    n_out = spec.sizes[-1]
    if LOSSES[spec.loss].takes_labels:
        y = rng.integers(0, n_out, args.batch)
    else:
        y = rng.standard_normal((args.batch, n_out))
    backends = list(args.backends) if args.backends else available_backends()
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
