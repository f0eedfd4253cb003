"""The ``mlp-parity`` command line: one module per subcommand, each with ``add_parser(sub)``
and ``run(args)``; ``_args`` and ``_console`` hold what they share. Nothing of the library's
logic lives here. Each subcommand imports what it needs when it runs, so ``mlp-parity --help``
starts quickly.

Every subcommand's parser comes from :func:`mlp_parity.cli._args.add_command` (a one-line
``help``, a ``description`` and an example); every option has help text. Bad input is one line
on stderr, ``mlp-parity CMD: error: ...`` naming the option, and exit status 2, before any long
work.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence

from . import _args, bench, check, compare, debug, sweep, train, tutorial
from ._cache import compile_cache

__all__ = ["build_parser", "entry", "main"]

EXAMPLES = (
    "mlp-parity check",
    "mlp-parity compare --epochs 5",
    "mlp-parity train --backend jax --save model.npz",
    "mlp-parity debug my_backprop.py:grads --activation sigmoid --loss mse",
)


def build_parser() -> argparse.ArgumentParser:
    """The ``mlp-parity`` parser with every subcommand; ``args.func(args)`` runs the chosen one."""
    parser = _args.Parser(
        prog="mlp-parity",
        description="One MLP in numpy (hand-written backprop), JAX and Keras/TensorFlow, "
        "proven equal. 'mlp-parity COMMAND --help' describes each command.",
        epilog="examples:\n" + "\n".join(f"  {e}" for e in EXAMPLES),
        formatter_class=_args.HelpFormatter,
    )
    parser.add_argument(
        "--no-compile-cache",
        action="store_true",
        help="do not keep JAX's compiled programs between runs (by default they are kept in "
        "the user cache directory, e.g. ~/.cache/mlp_parity/jax, so a second run skips "
        "compiling)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    for command in (check, bench, debug, train, compare, sweep, tutorial):
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mlp-parity``: exit 2 with a one-line message on bad input (options included),
    130 with one line on Ctrl-C. ``--help`` exits 0 through ``SystemExit``, as argparse does.

    A command that writes files as it goes may list them in ``args.written``: an interruption
    then says what was kept instead of "nothing written".
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        if not e.code:  # --help
            raise
        return e.code if isinstance(e.code, int) else 2
    args.written = []
    prefix = f"mlp-parity {args.command}"
    try:
        with compile_cache(not args.no_compile_cache):
            return args.func(args)
    except (ValueError, TypeError, ImportError, OSError) as e:
        print(f"{prefix}: error: {e}", file=sys.stderr)
        return 2
    except MemoryError as e:
        print(
            f"{prefix}: error: out of memory ({e or 'no detail'}); use smaller --sizes or batches",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        kept = ", ".join(map(str, args.written))
        said = f"kept {kept}" if kept else "nothing written"
        print(f"{prefix}: interrupted; {said}", file=sys.stderr)
        return 130


def entry() -> int:
    """The ``mlp-parity`` executable (and ``python -m mlp_parity``): :func:`main` on
    ``sys.argv``, then ``gc.freeze()`` so that the interpreter's last garbage collection at
    exit skips every object alive by then. TensorFlow alone leaves enough of them that this
    collection took about 1 s, a second ``compare``'s largest cost outside imports and
    training (BENCHMARKS.md). Only here, not in :func:`main`: a process that goes on (a test
    run, a notebook) must keep collecting."""
    code = main()
    gc.freeze()
    return code
