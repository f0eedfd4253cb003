"""The ``mlp-parity`` command line: one module per subcommand, each with ``add_parser(sub)``
and ``run(args)``; ``_args`` and ``_console`` hold what they share. Nothing of the library's
logic lives here. Each subcommand imports what it needs when it runs, so ``mlp-parity --help``
starts quickly."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import bench, check, compare, debug, train, tutorial

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``mlp-parity`` parser with every subcommand; ``args.func(args)`` runs the chosen one."""
    parser = argparse.ArgumentParser(
        prog="mlp-parity",
        description="One MLP in numpy (hand-written backprop), JAX and Keras/TensorFlow, "
        "proven equal.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (check, bench, debug, train, compare, tutorial):
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mlp-parity``: exit 2 with a one-line message on bad input, 130 on Ctrl-C."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, ImportError, OSError) as e:
        print(f"mlp-parity {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
