"""``mlp-parity debug``: search for a problem on which the user's backprop function is wrong,
and diagnose the bug."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import _args

DESCRIPTION = """\
Check your own backprop function against float64 autodiff on networks and batches that
Hypothesis draws; on a mismatch, shrink it to a minimal counterexample and diagnose it.
Exit 0 when it is right, 1 on a bug, 2 on a bad argument or target."""
EPILOG = """\
example:
  mlp-parity debug mybackprop.py:grad --activation sigmoid --loss softmax_cross_entropy \\
      --sizes 784,128,10 --max-examples 50 --time-limit 60

  where mybackprop.py defines grad(params, x, y) -> [(dW0, db0), ...], W (fan_in, fan_out),
  x (batch, in), y (batch, out). Progress goes to stderr, the report to stdout.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from ..spec import ACTIVATIONS, LOSSES

    p = sub.add_parser(
        "debug",
        help="find and diagnose a bug in your own backprop function",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "target",
        help="path/to/file.py:function (or package.module:function), "
        "grad_fn(params, x, y) -> grads",
    )
    p.add_argument(
        "--activation",
        type=_args.activation,
        required=True,
        help=f"hidden activation, one of {sorted(ACTIVATIONS)}, or one per hidden layer "
        "comma-separated (then --sizes is needed)",
    )
    p.add_argument("--loss", required=True, choices=sorted(LOSSES), help="the loss")
    p.add_argument(
        "--sizes",
        type=_args.sizes,
        default=None,
        help="fix the layer widths, e.g. 784,128,10 (default: drawn, depth 1-4, widths 1-8)",
    )
    p.add_argument(
        "--max-examples",
        type=int,
        default=100,
        metavar="N",
        help="distinct problems to try before declaring the function right (default 100)",
    )
    p.add_argument(
        "--seed", type=int, default=None, help="make the search reproducible (default: random)"
    )
    p.add_argument(
        "--time-limit",
        type=_seconds,
        default=None,
        metavar="S",
        help="stop searching after S seconds and report what was checked, marked PARTIAL "
        "(default: no limit)",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress on stderr (default: a bar on a terminal, else a line every few s)",
    )
    p.set_defaults(func=run)


def _seconds(text: str) -> float:
    """``--time-limit``: a positive number of seconds."""
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def load_function(target: str) -> Callable[..., Any]:
    """``path/to/file.py:function`` (or ``package.module:function``) -> the function.

    Every way it can fail is a one-line ``ValueError``/``ImportError``: a malformed target, a
    missing file, a file with a syntax error or that raises while it is imported, a missing
    function."""
    import importlib

    where, sep, name = target.rpartition(":")
    if not sep or not where or not name:
        raise ValueError(f"expected path/to/file.py:function, got {target!r}")
    if _is_path(where):
        if Path(where).is_dir():
            raise ValueError(f"{where} is a folder; expected path/to/file.py:function")
        if not Path(where).is_file():
            raise ValueError(f"no such file: {where}")
        if importlib.util.spec_from_file_location("_probe", where) is None:
            raise ValueError(f"cannot import {where} as a Python module (expected a .py file)")
    try:
        module = _import_file(where) if _is_path(where) else importlib.import_module(where)
    except SyntaxError as e:
        line = f" (line {e.lineno})" if e.lineno else ""
        raise ValueError(f"cannot import {where}: SyntaxError: {e.msg}{line}") from None
    except ModuleNotFoundError as e:
        raise ImportError(f"cannot import {where}: {_first_line(e)}") from None
    except (Exception, SystemExit) as e:
        raise ValueError(f"{where} raised {type(e).__name__} at import: {_first_line(e)}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        found = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_"))
        listed = ", ".join(found[:10]) + (f", ... ({len(found)} in all)" if len(found) > 10 else "")
        raise ValueError(f"{where} has no function {name!r}; it has: {listed or 'none'}")
    return fn


def _is_path(where: str) -> bool:
    return where.endswith(".py") or Path(where).exists()


def _import_file(where: str) -> Any:
    """Execute the file ``where`` as a module, its folder on ``sys.path`` meanwhile (so it can
    import its neighbours)."""
    path = Path(where)
    mod_name = f"_mlp_parity_debug_{path.stem}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    assert spec is not None and spec.loader is not None  # checked by load_function
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    sys.modules[mod_name] = module  # dataclasses and pickling look their module up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(mod_name, None)
        raise
    finally:
        sys.path.remove(folder)
    return module


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else "(no message)"


def run(args: argparse.Namespace) -> int:
    """Print the report; exit 1 when a wrong gradient was found."""
    from ..debug import check_backprop

    report = check_backprop(
        load_function(args.target),
        activation=args.activation,
        loss=args.loss,
        sizes=args.sizes,
        max_examples=args.max_examples,
        seed=args.seed,
        deadline_s=args.time_limit,
        progress=False if args.no_progress else True,
    )
    print(report)
    return 0 if report.ok else 1
