"""``mlp-parity debug``: search for a problem on which the user's backprop function is wrong,
and diagnose the bug."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from . import _args


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from ..spec import LOSSES

    p = sub.add_parser("debug", help="find and diagnose a bug in your own backprop function")
    p.add_argument("target", help="path/to/file.py:function, grad_fn(params, x, y) -> grads")
    p.add_argument("--activation", type=_args.activation, required=True, help="hidden activation")
    p.add_argument("--loss", required=True, choices=sorted(LOSSES), help="the loss")
    p.add_argument(
        "--sizes", type=_args.sizes, default=None, help="fix the widths (default: drawn)"
    )
    p.add_argument("--max-examples", type=int, default=100, help="problems to try (default 100)")
    p.add_argument("--seed", type=int, default=None, help="make the search reproducible")
    p.set_defaults(func=run)


def load_function(target: str) -> Callable[..., Any]:
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
    )
    print(report)
    return 0 if report.ok else 1
