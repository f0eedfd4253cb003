"""Argument helpers shared by the ``mlp-parity`` subcommands: option parsers, the
``--sizes/--activation/--loss``, dataset and SGD option groups, and the commands' defaults.

Frameworks and datasets are imported only when a command runs, never while parsing.
"""

from __future__ import annotations

import argparse
from typing import Any

# Defaults of `train` and `compare`: a small, fast network that learns mnist-sample well.
DEFAULT_SIZES = "784,128,10"
DEFAULT_ACTIVATION = "relu"
DEFAULT_LOSS = "softmax_cross_entropy"
DEFAULT_LR = 0.1
DEFAULT_MOMENTUM = 0.9
DEFAULT_BATCH = 64
DEFAULT_EPOCHS = 10
DEFAULT_DTYPE = "float32"
DEFAULT_DATASET = "mnist-sample"
DEFAULT_OUT = "mlp-parity-out"


def sizes(text: str) -> tuple[int, ...]:
    """``--sizes 784,128,10`` -> ``(784, 128, 10)``; at least two widths."""
    try:
        widths = tuple(int(s) for s in text.replace(" ", "").split(",") if s)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes must be comma-separated ints like 784,128,10, got {text!r}"
        ) from None
    if len(widths) < 2:
        raise argparse.ArgumentTypeError(f"--sizes needs at least two widths, got {text!r}")
    return widths


def activation(text: str) -> str | tuple[str, ...]:
    """One activation name, or one per hidden layer when comma-separated."""
    return tuple(text.split(",")) if "," in text else text


def at_least(flag: str, value: int, least: int) -> int:
    """``value`` if it is ``>= least``, else a ValueError naming ``flag``."""
    if value < least:
        raise ValueError(f"{flag} must be >= {least}, got {value}")
    return value


def add_spec_args(p: argparse.ArgumentParser, widths: str, act: str, loss: str) -> None:
    """``--sizes``, ``--activation`` and ``--loss`` with the given defaults."""
    from ..spec import ACTIVATIONS, LOSSES

    p.add_argument(
        "--sizes",
        type=sizes,
        default=sizes(widths),
        help=f"layer widths, input to output (default {widths})",
    )
    p.add_argument(
        "--activation",
        type=activation,
        default=act,
        help=f"hidden activation, one of {sorted(ACTIVATIONS)}, or one per hidden "
        f"layer comma-separated (default {act})",
    )
    p.add_argument("--loss", choices=sorted(LOSSES), default=loss, help=f"loss (default {loss})")


def add_data_args(p: argparse.ArgumentParser, dataset: str = DEFAULT_DATASET) -> None:
    """``--dataset`` and ``--data``."""
    from ..data import DATASETS

    p.add_argument(
        "--dataset",
        default=dataset,
        help=f"one of {', '.join(DATASETS)} (default {dataset}; offline: mnist-sample)",
    )
    p.add_argument("--data", default=None, metavar="DIR", help="folder with the dataset files")


def add_sgd_args(p: argparse.ArgumentParser) -> None:
    """``--lr``, ``--momentum``, ``--batch-size`` and ``--seed``."""
    p.add_argument("--lr", type=float, default=DEFAULT_LR, help=f"(default {DEFAULT_LR})")
    p.add_argument(
        "--momentum", type=float, default=DEFAULT_MOMENTUM, help=f"(default {DEFAULT_MOMENTUM})"
    )
    p.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH, help=f"(default {DEFAULT_BATCH})"
    )
    p.add_argument("--seed", type=int, default=0, help="init and batch order (default 0)")


def add_out_arg(p: argparse.ArgumentParser, files: str) -> None:
    """``--out``, the folder a command writes ``files`` into."""
    p.add_argument("--out", default=DEFAULT_OUT, help=f"folder for {files} (default {DEFAULT_OUT})")


def spec_from_args(args: argparse.Namespace) -> Any:
    """The MLPSpec of ``--sizes/--activation/--loss``; ``None`` (not given) means the default."""
    from ..spec import MLPSpec

    widths = args.sizes if args.sizes is not None else sizes(DEFAULT_SIZES)
    act = args.activation if args.activation is not None else DEFAULT_ACTIVATION
    loss = args.loss if args.loss is not None else DEFAULT_LOSS
    return MLPSpec(widths, act, loss)


def load_data(args: argparse.Namespace, dtype: str) -> Any:
    """The ``--dataset`` (from ``--data`` if given) in ``dtype``, announced on stdout."""
    from ..data import load_dataset

    ds = load_dataset(args.dataset, data_dir=args.data, dtype=dtype)
    print(
        f"dataset {ds.name}: {ds.x_train.shape[0]} train / {ds.x_val.shape[0]} validation "
        f"({ds.source})"
    )
    return ds
