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

  mlp-parity debug network.py:Network.backprop_batch --activation sigmoid --loss mse \
      --output-activation sigmoid --reduction sum --loss-scale 0.5 --layout columns
  mlp-parity debug course.py:make_grad_fn() --activation relu --loss sigmoid_cross_entropy \
      --layout columns --params dict --output-width 1 --min-depth 2 --max-depth 2

  A target Class.method is called on Class() (made with no arguments); a target ending in
  "()" is a factory called once with no arguments, returning grad_fn.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``debug`` subcommand. Long because each option is declared with its help text."""
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
    _add_convention_args(p)
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
        "--data-parallel",
        action="store_true",
        help="the target is make_grad_fn(mesh) -> grad_fn(params, x, y[, mask]): check it on "
        "meshes of --device-counts devices against one float64 device",
    )
    p.add_argument(
        "--device-counts",
        type=_args.sizes,
        default=(1, 2, 4),
        metavar="1,2,4",
        help="with --data-parallel: mesh sizes to try (simulated on the CPU; default 1,2,4)",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress on stderr (default: a bar on a terminal, else a line every few s)",
    )
    p.set_defaults(func=run)


def _add_convention_args(p: argparse.ArgumentParser) -> None:
    """The loss conventions, the user's layout and the limits on drawn architectures."""
    from ..debug.layouts import BIAS_SHAPES, LAYOUTS, PARAM_KINDS
    from ..spec import OUTPUT_ACTIVATIONS, REDUCTIONS

    p.add_argument(
        "--output-activation",
        default="identity",
        choices=sorted(OUTPUT_ACTIVATIONS),
        help="activation the output layer applies before the loss (default identity)",
    )
    p.add_argument(
        "--reduction",
        default="mean",
        choices=sorted(REDUCTIONS),
        help="mean (the loss's natural mean), sum, or batch_mean (default mean)",
    )
    p.add_argument(
        "--loss-scale",
        type=_positive,
        default=1.0,
        metavar="S",
        help="factor on the loss, 0.5 for 1/2 ||a - y||^2 (default 1)",
    )
    p.add_argument("--l2", type=_non_negative, default=0.0, help="L2 term l2 * sum W^2 (default 0)")
    p.add_argument("--no-bias", action="store_true", help="the network has no biases")
    p.add_argument(
        "--layout",
        default="rows",
        choices=LAYOUTS,
        help="rows: W (in, out), x (batch, in); columns: W (out, in), b (out, 1), x (in, batch);"
        " torch: W (out, in) as nn.Linear.weight, x (batch, in)",
    )
    p.add_argument(
        "--bias-shape",
        default=None,
        choices=tuple(BIAS_SHAPES),
        help="biases' shape if not the layout's: vector (out,), row (1, out), column (out, 1)",
    )
    p.add_argument(
        "--params",
        default="list",
        choices=PARAM_KINDS,
        help='list [(W0, b0), ...] or dict {"W1": ..., "b1": ...} (default list)',
    )
    for flag, what in (
        ("--min-depth", "fewest weight layers drawn"),
        ("--max-depth", "most weight layers drawn"),
        ("--input-width", "fix the input width of drawn networks"),
        ("--output-width", "fix the output width of drawn networks"),
    ):
        p.add_argument(flag, type=_args.int_at_least(1), default=None, metavar="N", help=what)


def _positive(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _non_negative(text: str) -> float:
    value = _number(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def _number(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


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
    factory = name.endswith("()")
    path = name[:-2] if factory else name
    fn = _resolve(module, where, path)
    if factory:
        try:
            fn = fn()
        except Exception as e:
            raise ValueError(
                f"{where}:{name} raised {type(e).__name__}: {_first_line(e)}"
            ) from None
        if not callable(fn):
            raise ValueError(f"{where}:{name} returned {type(fn).__name__}, not a grad_fn")
    return fn


def _resolve(module: Any, where: str, path: str) -> Callable[..., Any]:
    """``function`` or ``Class.method`` in ``module``; a method of a class is bound to an
    instance made with no arguments."""
    import inspect

    obj: Any = module
    for i, part in enumerate(path.split(".")):
        if isinstance(obj, type) and inspect.isfunction(inspect.getattr_static(obj, part, None)):
            try:
                obj = obj()
            except Exception as e:
                raise ValueError(
                    f"{where}: {obj.__name__}() raised {type(e).__name__}: {_first_line(e)}"
                    f" (a target Class.method needs a class made with no arguments)"
                ) from None
        nxt = getattr(obj, part, None)
        if nxt is None or (i == path.count(".") and not callable(nxt)):
            found = (
                sorted(k for k, v in vars(obj).items() if callable(v) and not k.startswith("_"))
                if hasattr(obj, "__dict__")
                else []
            )
            listed = ", ".join(found[:10]) + (
                f", ... ({len(found)} in all)" if len(found) > 10 else ""
            )
            raise ValueError(f"{where} has no function {path!r}; it has: {listed or 'none'}")
        obj = nxt
    return obj


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

    if args.data_parallel:
        return _run_data_parallel(args)
    report = check_backprop(
        load_function(args.target),
        activation=args.activation,
        loss=args.loss,
        output_activation=args.output_activation,
        reduction=args.reduction,
        loss_scale=args.loss_scale,
        l2=args.l2,
        use_bias=not args.no_bias,
        layout=args.layout,
        bias_shape=args.bias_shape,
        params=args.params,
        min_depth=args.min_depth,
        max_depth=args.max_depth,
        input_width=args.input_width,
        output_width=args.output_width,
        sizes=args.sizes,
        max_examples=args.max_examples,
        seed=args.seed,
        deadline_s=args.time_limit,
        progress=False if args.no_progress else True,
    )
    print(report)
    return 0 if report.ok else 1


#: Flags of the single-device check that --data-parallel does not take: (flag, dest, default).
_SINGLE_DEVICE_ONLY = (
    ("--output-activation", "output_activation", "identity"),
    ("--reduction", "reduction", "mean"),
    ("--loss-scale", "loss_scale", 1.0),
    ("--l2", "l2", 0.0),
    ("--no-bias", "no_bias", False),
    ("--layout", "layout", "rows"),
    ("--bias-shape", "bias_shape", None),
    ("--params", "params", "list"),
    ("--min-depth", "min_depth", None),
    ("--max-depth", "max_depth", None),
    ("--input-width", "input_width", None),
    ("--output-width", "output_width", None),
)


def _run_data_parallel(args: argparse.Namespace) -> int:
    """``--data-parallel``: :func:`mlp_parity.parallel.check_data_parallel`; exit 1 when wrong."""
    from ..parallel import check_data_parallel, simulate_cpu_devices

    ignored = [
        flag
        for flag, dest, default in _SINGLE_DEVICE_ONLY
        if getattr(args, dest, default) != default
    ]
    if ignored:
        raise ValueError(
            f"{', '.join(ignored)} {'does' if len(ignored) == 1 else 'do'} not apply with"
            " --data-parallel (it checks the default loss conventions in rows layout)"
        )
    simulate_cpu_devices(max(args.device_counts))  # before JAX initialises
    if not isinstance(args.activation, str):
        raise ValueError("--data-parallel takes one --activation for every hidden layer")
    report = check_data_parallel(
        load_function(args.target),
        activation=args.activation,
        loss=args.loss,
        device_counts=args.device_counts,
        sizes=args.sizes,
        max_examples=args.max_examples,
        seed=args.seed,
        deadline_s=args.time_limit,
    )
    print(report)
    return 0 if report.ok else 1
