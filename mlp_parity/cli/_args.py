"""Argument helpers shared by the ``mlp-parity`` subcommands: option parsers, the
``--sizes/--activation/--loss``, dataset and SGD option groups, and the commands' defaults.

Frameworks and datasets are imported only when a command runs, never while parsing.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

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


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr (no usage block; control
    characters escaped), naming the option and pointing at ``--help``; exit status 2."""

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        """As argparse's, but leftover arguments are reported by the subcommand they follow,
        each quoted (an empty one shows as ``''``)."""
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            command = getattr(parsed, "command", None)
            prog = f"{self.prog} {command}" if command else self.prog
            listed = " ".join(shlex.quote(a) for a in extra)
            _fail(prog, f"unrecognized arguments: {listed}")
        return parsed

    def error(self, message: str) -> NoReturn:
        _fail(self.prog, message)


def _fail(prog: str, message: str) -> NoReturn:
    """Exit 2 with ``PROG: error: MESSAGE (see PROG --help)``, one line on stderr."""
    shown = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in message)
    sys.stderr.write(f"{prog}: error: {shown} (see {prog} --help)\n")
    raise SystemExit(2)


class HelpFormatter(argparse.HelpFormatter):
    """Descriptions and epilogs: paragraphs (split by blank lines) wrapped to the terminal,
    and an indented line (an example command) kept exactly as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        out: list[str] = []
        paragraph: list[str] = []

        def flush() -> None:
            if paragraph:
                out.append(
                    textwrap.fill(
                        " ".join(paragraph), width, initial_indent=indent, subsequent_indent=indent
                    )
                )
                paragraph.clear()

        for line in text.splitlines():
            if line.strip() and not line.startswith(" "):
                paragraph.append(line.strip())
                continue
            flush()
            out.append(indent + line if line.strip() else "")
        flush()
        return "\n".join(out)


def add_command(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    help: str,
    description: str,
    example: str | Sequence[str],
) -> argparse.ArgumentParser:
    """A subcommand's parser: ``help`` is its line in ``mlp-parity --help``, ``description``
    heads its own ``--help`` and ``example`` (a command line, or several) ends it, kept as
    written."""
    examples = [example] if isinstance(example, str) else list(example)
    return sub.add_parser(
        name,
        help=help,
        description=description,
        epilog="example"
        + ("s" if len(examples) > 1 else "")
        + ":\n"
        + "\n".join(f"  {e}" for e in examples),
        formatter_class=HelpFormatter,
    )


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int, got {text!r}") from None


def int_at_least(least: int) -> Callable[[str], int]:
    """An argparse ``type``: an int ``>= least``, else an error naming the option."""

    def parse(text: str) -> int:
        value = _int(text)
        if value < least:
            raise argparse.ArgumentTypeError(f"must be an int >= {least}, got {text!r}")
        return value

    parse.__name__ = f"int >= {least}"
    return parse


def int_list(least: int) -> Callable[[str], tuple[int, ...]]:
    """An argparse ``type``: comma-separated ints, each ``>= least``; ``''`` is the empty
    tuple."""

    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(s) for s in text.replace(" ", "").split(",") if s)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated ints like 32,128, got {text!r}"
            ) from None
        if any(v < least for v in values):
            raise argparse.ArgumentTypeError(f"every value must be >= {least}, got {text!r}")
        return values

    parse.__name__ = "int list"
    return parse


def names(valid: Sequence[str], what: str) -> Callable[[str], tuple[str, ...]]:
    """An argparse ``type``: a comma-separated, non-empty subset of ``valid`` (duplicates
    dropped, order kept); an unknown name is an error listing the valid ones."""

    def parse(text: str) -> tuple[str, ...]:
        got = [s.strip() for s in text.split(",") if s.strip()]
        bad = [s for s in got if s not in valid]
        if bad or not got:
            found = f"unknown {what} {bad[0]!r}" if bad else f"no {what} given"
            raise argparse.ArgumentTypeError(f"{found}; choose from {','.join(valid)}")
        return tuple(dict.fromkeys(got))

    parse.__name__ = f"{what} list"
    return parse


def sizes(text: str) -> tuple[int, ...]:
    """``--sizes 784,128,10`` -> ``(784, 128, 10)``; at least two widths, each >= 1."""
    try:
        widths = tuple(int(s) for s in text.replace(" ", "").split(",") if s)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes must be comma-separated ints like 784,128,10, got {text!r}"
        ) from None
    if len(widths) < 2:
        raise argparse.ArgumentTypeError(f"--sizes needs at least two widths, got {text!r}")
    if min(widths) < 1:
        raise argparse.ArgumentTypeError(f"--sizes: every width must be >= 1, got {text!r}")
    return widths


def activation(text: str) -> str | tuple[str, ...]:
    """One activation name, or one per hidden layer when comma-separated; an unknown name is
    an error listing the known ones."""
    from ..spec import ACTIVATIONS

    got = tuple(s.strip() for s in text.split(","))
    for name in got:
        if name not in ACTIVATIONS:
            raise argparse.ArgumentTypeError(
                f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}"
            )
    return got if len(got) > 1 else got[0]


def dataset(text: str) -> str:
    """A dataset name of :data:`mlp_parity.data.DATASETS` (any case, ``_`` for ``-``)."""
    from ..data import DATASETS

    key = text.strip().lower().replace("_", "-")
    if key not in DATASETS:
        raise argparse.ArgumentTypeError(
            f"unknown dataset {text!r}; choose one of {', '.join(DATASETS)}"
        )
    return key


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
        metavar="N,N,...",
        help=f"layer widths, input to output, each >= 1 (default {widths})",
    )
    p.add_argument(
        "--activation",
        type=activation,
        default=act,
        metavar="NAME[,NAME...]",
        help=f"hidden activation, one of {', '.join(sorted(ACTIVATIONS))}, or one per hidden "
        f"layer comma-separated (default {act})",
    )
    p.add_argument(
        "--loss",
        choices=sorted(LOSSES),
        default=loss,
        help=f"loss, one of %(choices)s (default {loss})",
    )


def add_data_args(p: argparse.ArgumentParser, dataset_name: str = DEFAULT_DATASET) -> None:
    """``--dataset`` and ``--data``."""
    from ..data import DATASETS

    p.add_argument(
        "--dataset",
        type=dataset,
        default=dataset_name,
        metavar="NAME",
        help=f"one of {', '.join(DATASETS)} (default {dataset_name}; offline: mnist-sample)",
    )
    p.add_argument(
        "--data",
        default=None,
        metavar="DIR",
        help="folder with the dataset's files (default: the cache, else download)",
    )


def add_sgd_args(p: argparse.ArgumentParser) -> None:
    """``--lr``, ``--momentum``, ``--batch-size`` and ``--seed``."""
    p.add_argument(
        "--lr",
        type=float,
        default=DEFAULT_LR,
        help=f"SGD learning rate, > 0 (default {DEFAULT_LR})",
    )
    p.add_argument(
        "--momentum",
        type=float,
        default=DEFAULT_MOMENTUM,
        help=f"SGD momentum, in [0, 1) (default {DEFAULT_MOMENTUM})",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH,
        help=f"samples per SGD step, >= 1 (default {DEFAULT_BATCH})",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the init and the batch order (default 0)"
    )


def add_out_arg(p: argparse.ArgumentParser, files: str) -> None:
    """``--out``, the folder a command writes ``files`` into."""
    p.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"folder for {files}, created if missing (default {DEFAULT_OUT})",
    )


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
