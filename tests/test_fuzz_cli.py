"""Fuzzing the command line (issue 15): Hypothesis draws argument lists; the only allowed
outcomes are success or exit 2 with one line on stderr naming an option or argument, never a
traceback or another exception."""

import argparse
import contextlib
import io
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from mlp_parity.cli import build_parser, main

FUZZ = settings(max_examples=50, deadline=None)


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


SUBCOMMANDS = _subparsers()
OPTIONS = sorted(
    {
        s
        for p in SUBCOMMANDS.values()
        for a in p._actions
        for s in a.option_strings
        if s not in ("-h", "--help")
    }
)
#: The ways argparse (and the commands) name the argument at fault.
NAMES_AN_ARGUMENT = re.compile(
    r"argument |unrecognized arguments: |arguments are required: |ambiguous option: "
    r"|--[a-z]|\b(sizes|batch|activation|loss|backends?|reference|dtype|x|y)\b"
)

ODD_VALUES = st.sampled_from(
    ["", "0", "-1", "-5", "1e3", "nan", "inf", "-inf", "1.5", "a,b", ",", "4,3", "4,0", "3",
     "100000,100000", "numpy", "torch", "jax,torch", "relu", "relu,tanh", "swish", "mse",
     "float16", "float32", "-", "--", "9" * 30]
)  # fmt: skip
VALUES = st.one_of(
    ODD_VALUES,
    st.integers(-(10**9), 10**9).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12),
)


def _run(fn, *args):
    """``(outcome, stdout, stderr)``: fn's return value, or ``SystemExit``'s code."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result = fn(*args)
        except SystemExit as e:
            result = ("exit", e.code)
    return result, out.getvalue(), err.getvalue()


def _assert_one_line_naming_an_argument(err: str, prog: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{prog}") and ": error: " in lines[0], lines[0]
    assert NAMES_AN_ARGUMENT.search(lines[0].split(": error: ", 1)[1]), lines[0]


@FUZZ
@given(
    command=st.sampled_from([*SUBCOMMANDS, "bogus", ""]),
    tokens=st.lists(st.one_of(st.sampled_from(OPTIONS), VALUES), max_size=8),
)
def test_parser_parses_or_exits_2_naming_an_option(command, tokens):
    result, _, err = _run(build_parser().parse_args, [command, *tokens])
    if isinstance(result, argparse.Namespace):
        assert result.command == command
        return
    assert result == ("exit", 2), (result, err)
    _assert_one_line_naming_an_argument(err, "mlp-parity")


def _option(flag: str, values: st.SearchStrategy) -> st.SearchStrategy:
    """``[]`` or ``[flag, value]``."""
    return st.one_of(st.just([]), values.map(lambda v: [flag, v]))


CHECK_ARGS = st.tuples(
    # always small: the default network takes finite differences 40 s
    st.sampled_from(["4,3", "3,2,2", "5,4,3,2", "2,1", "4,0", "4", "a"]).map(
        lambda v: ["--sizes", v]
    ),
    _option("--batch", st.sampled_from(["1", "3", "0", "-3", "x"])),
    _option("--activation", st.sampled_from(["relu", "tanh", "sigmoid,tanh", "swish", ""])),
    _option("--loss", st.sampled_from(["mse", "softmax_cross_entropy", "hinge"])),
    _option("--dtype", st.sampled_from(["float64", "float32", "int8"])),
    _option("--fd-entries", st.sampled_from(["1", "5", "2000", "0", "-5"])),
    _option("--seed", st.sampled_from(["0", "7", "-1", "s"])),
    st.sampled_from(
        [["--reference", "finite_difference"], ["--reference", "numpy"], ["--reference", "x"]]
    ),
    st.sampled_from(
        [
            ["--backends", "numpy"],
            ["--backends", "numpy,finite_difference"],
            ["--backends", "finite_difference"],
            ["--backends", "numpy,torch"],
            ["--backends", ""],
        ]
    ),
    st.lists(VALUES, max_size=2),  # stray tokens
)


@FUZZ
@given(parts=CHECK_ARGS)
def test_check_runs_or_exits_2_with_one_line(parts):
    argv = ["check", *[token for part in parts for token in part]]
    result, out, err = _run(main, argv)
    assert result != ("exit", 2), f"main raised SystemExit for {argv}: {err}"
    if result in (0, 1):  # a report: all agree, or one disagrees
        assert "gradient check:" in out
        return
    assert result == 2, (argv, result, err)
    _assert_one_line_naming_an_argument(err, "mlp-parity check")
