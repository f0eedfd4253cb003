"""check_backprop and `mlp-parity debug` at their limits (issue 15): a time budget that ends a
search with a report clearly marked partial, progress on stderr, honest example counts, numpy
integers accepted and bad arguments refused up front, networks too large to check refused, and
a target file that cannot be imported explained in one line."""

from __future__ import annotations

import io
import textwrap
import time
import warnings

import numpy as np
import pytest
from backprop_bugs import correct_grad_fn

import mlp_parity.debug.progress as progress_module
import mlp_parity.params
from mlp_parity import MLPSpec
from mlp_parity.cli import main
from mlp_parity.debug import check_backprop
from mlp_parity.debug.arguments import check_fits
from mlp_parity.debug.progress import SearchProgress
from mlp_parity.debug.search import SearchOutcome
from mlp_parity.examples import tutorial
from mlp_parity.testing import assert_backprop_matches

GOOD = correct_grad_fn("tanh", "mse")
KW = dict(activation="tanh", loss="mse")


def _zeros(params, x, y):
    return [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]


def _slow(fn, seconds):
    def slow(params, x, y):
        time.sleep(seconds)
        return fn(params, x, y)

    return slow


@pytest.fixture(scope="module", autouse=True)
def _warm_reference():
    """Import the reference engine once, so the time budgets below time the search only."""
    check_backprop(GOOD, max_examples=1, seed=0, **KW)


# --------------------------------------------------------------------------------------------
# Arguments


@pytest.mark.parametrize("n", [np.int64(5), np.int32(5), np.uint8(5), 5])
def test_max_examples_accepts_numpy_integers(n):
    report = check_backprop(GOOD, max_examples=n, seed=np.int64(0), **KW)
    assert report.ok and report.examples_searched == 5


@pytest.mark.parametrize(
    "kw, err, match",
    [
        ({"max_examples": True}, TypeError, "max_examples must be an int"),
        ({"max_examples": 5.0}, TypeError, "max_examples must be an int"),
        ({"max_examples": "5"}, TypeError, "max_examples must be an int"),
        ({"max_examples": -3}, ValueError, "max_examples must be an int >= 1"),
        ({"max_examples": np.int64(0)}, ValueError, "max_examples must be an int >= 1"),
        ({"seed": -1}, ValueError, "seed must be an int >= 0"),
        ({"seed": 1.5}, TypeError, "seed must be an int"),
        ({"deadline_s": 0}, ValueError, "deadline_s must be a positive"),
        ({"deadline_s": float("nan")}, ValueError, "deadline_s must be a positive"),
        ({"deadline_s": "10"}, TypeError, "deadline_s must be a number"),
        ({"deadline_s": True}, TypeError, "deadline_s must be a number"),
        ({"progress": "yes"}, TypeError, "progress must be True, False or None"),
        ({"sizes": "784,10"}, TypeError, "sizes must be a sequence of ints"),
        ({"sizes": (3, 0)}, ValueError, "sizes must be >= 1"),
        ({"sizes": (3, 2.0)}, TypeError, "sizes must hold ints"),
    ],
)
def test_bad_arguments_are_refused_before_any_search(kw, err, match):
    calls = []
    start = time.perf_counter()
    with pytest.raises(err, match=match):
        check_backprop(lambda *a: calls.append(a), **{**KW, **kw})
    assert not calls and time.perf_counter() - start < 1


def test_a_network_too_large_to_check_is_refused_at_once(monkeypatch):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"sizes 100000,100000 need \d+\.\d GiB of memory"):
        check_backprop(GOOD, sizes=(100000, 100000), **KW)
    assert time.perf_counter() - start < 1
    monkeypatch.setattr(mlp_parity.params, "available_memory", lambda: 10**9)
    check_fits(MLPSpec((784, 128, 128, 10)))  # the tutorial's net: ~15 MB
    monkeypatch.setattr(mlp_parity.params, "available_memory", lambda: 10**6)
    with pytest.raises(ValueError, match="available"):
        check_fits(MLPSpec((100, 100)))


# --------------------------------------------------------------------------------------------
# Honest counts: the search's examples apart from the shrinking calls


def test_search_examples_never_exceed_max_examples_and_shrinking_is_counted_apart():
    report = check_backprop(
        tutorial.original_backprop, max_examples=20, seed=1, **{**KW, "activation": "sigmoid"}
    )
    assert not report.ok and report.complete
    assert 1 <= report.examples_searched <= 20
    assert report.examples_run == report.examples_searched + report.shrink_calls
    head = str(report).splitlines()[0]
    assert f"found after {report.examples_searched} of at most 20 examples" in head
    if report.shrink_calls:
        assert f"shrunk in {report.shrink_calls} more calls" in head


def test_a_passing_search_counts_its_examples():
    report = check_backprop(GOOD, max_examples=15, seed=0, **KW)
    assert report.ok and report.complete
    assert report.examples_searched == report.examples_run == 15 and report.shrink_calls == 0
    assert str(report).startswith("check_backprop: OK, 15 examples")


# --------------------------------------------------------------------------------------------
# Time budget


def test_time_limit_stops_a_slow_search_with_a_partial_report():
    start = time.perf_counter()
    report = check_backprop(_slow(GOOD, 0.2), max_examples=100, deadline_s=1.0, seed=0, **KW)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0 + 0.2 + 1.0  # the budget, one call's overrun, slack for the rest
    assert report.ok and not report.complete  # "no mismatch so far"
    assert report.examples_searched < 100 and report.time_limit == 1.0
    head = str(report).splitlines()[0]
    assert head.startswith(f"check_backprop: PARTIAL, stopped after {report.examples_searched}")
    assert "time limit 1 s" in head and "no mismatch found so far" in head


def test_time_limit_during_shrinking_keeps_the_failure():
    calls = []

    def wrong_then_slow(params, x, y):
        calls.append(1)
        if len(calls) == 2:
            time.sleep(2.5)  # the first shrinking call runs past the budget
        return _zeros(params, x, y)

    report = check_backprop(wrong_then_slow, max_examples=50, deadline_s=2.0, seed=0, **KW)
    assert not report.ok and not report.complete
    assert report.examples_searched == 1 and report.shrink_calls == 1
    assert report.counterexample is not None and report.wrong
    assert "maybe not minimal: the time limit stopped the shrinking" in str(report)


def test_a_budget_not_reached_changes_nothing():
    report = check_backprop(GOOD, max_examples=10, deadline_s=600, seed=0, **KW)
    assert report.ok and report.complete and "PARTIAL" not in str(report)


def test_assert_backprop_matches_takes_a_deadline_and_warns_when_partial():
    with pytest.warns(UserWarning, match="PARTIAL"):
        report = assert_backprop_matches(_slow(GOOD, 0.2), deadline_s=0.5, **KW)
    assert not report.complete
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_backprop_matches(GOOD, max_examples=5, deadline_s=600, **KW)


# --------------------------------------------------------------------------------------------
# Progress


def test_progress_lines_on_stderr_when_asked(capsys, monkeypatch):
    monkeypatch.setattr(progress_module, "LINE_INTERVAL", 0.0)
    check_backprop(GOOD, max_examples=5, seed=0, progress=True, **KW)
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("check_backprop: 5 of at most 5 examples, no mismatch yet")
    check_backprop(_zeros, max_examples=5, seed=0, progress=True, **KW)
    assert "mismatch found after 1 examples; shrinking it" in capsys.readouterr().err


def test_no_progress_off_a_terminal_by_default_or_when_disabled(capsys, monkeypatch):
    monkeypatch.setattr(progress_module, "LINE_INTERVAL", 0.0)
    check_backprop(GOOD, max_examples=5, seed=0, **KW)
    check_backprop(GOOD, max_examples=5, seed=0, progress=False, **KW)
    assert capsys.readouterr().err == ""


def test_progress_bar_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    bar = SearchProgress(10, None, stream)
    out = SearchOutcome()
    for _ in range(3):
        out.searched += 1
        bar(out)
    out.failing = object()  # type: ignore[assignment]
    out.shrunk = 2
    bar(out)
    bar.close()
    text = stream.getvalue()
    assert "check_backprop" in text and "/10" in text and "shrinking" in text


# --------------------------------------------------------------------------------------------
# The command line


def _run(tmp_path, capsys, source, *argv, name="mybackprop.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    code = main(["debug", f"{path}:grad", "--activation", "tanh", "--loss", "mse", *argv])
    out = capsys.readouterr()
    return code, out, path


@pytest.mark.parametrize(
    "source, message",
    [
        ("def grad(params, x, y):\n    return [\n", "cannot import {path}: SyntaxError: "),
        ("x = 1\nif x\n    pass\n", "SyntaxError: expected ':' (line 2)"),
        ("x = 1 / 0\n", "{path} raised ZeroDivisionError at import: division by zero"),
        ("import sys\nsys.exit(3)\n", "{path} raised SystemExit at import: 3"),
        ("import no_such_module_xyz\n", "cannot import {path}: No module named 'no_such"),
    ],
)
def test_cli_target_that_cannot_be_imported_is_one_line(tmp_path, capsys, source, message):
    code, out, path = _run(tmp_path, capsys, source)
    assert code == 2
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.err, out.err
    assert message.format(path=path) in lines[0]


def test_cli_target_folder_is_explained(tmp_path, capsys):
    code = main(["debug", f"{tmp_path}:grad", "--activation", "relu", "--loss", "mse"])
    assert code == 2
    assert "is a folder" in capsys.readouterr().err


GOOD_SOURCE = """
import numpy as np

def grad(params, x, y):
    import time
    time.sleep(0.2)
    (W, b), = params
    d = 2 * (x @ W + b - y) / y.size
    return [(x.T @ d, d.sum(0))]
"""


def test_cli_time_limit_reports_partial(tmp_path, capsys):
    code, out, _ = _run(
        tmp_path, capsys, GOOD_SOURCE, "--sizes", "3,2", "--time-limit", "1", "--no-progress"
    )
    assert code == 0, out
    assert "PARTIAL, stopped after" in out.out and "time limit 1 s" in out.out
    assert out.err == ""


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan"])
def test_cli_bad_time_limit(tmp_path, capsys, value):
    code, out, _ = _run(tmp_path, capsys, GOOD_SOURCE, "--time-limit", value)
    assert code == 2
    assert "--time-limit: must be a positive number of seconds" in out.err
    assert len(out.err.strip().splitlines()) == 1


def test_cli_refuses_a_huge_network_and_bad_counts_in_one_line(tmp_path, capsys):
    for argv, message in [
        (["--sizes", "100000,100000"], "sizes 100000,100000 need"),
        (["--max-examples", "0"], "max_examples must be an int >= 1"),
        (["--seed", "-2"], "seed must be an int >= 0"),
    ]:
        code, out, _ = _run(tmp_path, capsys, GOOD_SOURCE, *argv)
        assert code == 2 and len(out.err.strip().splitlines()) == 1 and message in out.err


def test_cli_counts_never_exceed_max_examples(tmp_path, capsys):
    source = "def grad(params, x, y):\n    return [(W * 0, b * 0) for W, b in params]\n"
    code, out, _ = _run(tmp_path, capsys, source, "--max-examples", "20", "--seed", "3")
    assert code == 1
    assert "found after 1 of at most 20 examples" in out.out.splitlines()[0]


def test_cli_help_has_a_description_an_example_and_help_on_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["debug", "--help"])
    text = capsys.readouterr().out
    assert "Check your own backprop function" in text
    assert "example:\n  mlp-parity debug mybackprop.py:grad" in text
    from mlp_parity.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for action in sub.choices["debug"]._actions:
        assert action.help, action.dest
