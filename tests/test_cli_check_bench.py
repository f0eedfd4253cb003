"""Issue 15 on ``check``, ``bench`` and the parser: bad input is one line naming the option,
exit 2, before any work; ``bench`` says when its figures are unreliable; Ctrl-C is one line;
every command's ``--help`` has a description, an example and help for every option."""

import argparse
import json
import time

import pytest

import mlp_parity
from mlp_parity import bench
from mlp_parity.cli import build_parser, main

COMMANDS = ("check", "bench", "debug", "train", "compare", "tutorial", "sweep")
SMALL_CHECK = ["check", "--sizes", "4,3", "--backends", "numpy", "--reference", "finite_difference"]


def _error(capsys) -> str:
    """The one line on stderr."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture
def no_measuring(monkeypatch):
    """Any measurement fails the test: errors must come before the work."""

    def measured(*a, **k):
        raise AssertionError("measured before refusing the input")

    for name in ("run", "matmul_peak", "training_throughput"):
        monkeypatch.setattr(bench, name, measured)


@pytest.fixture
def fake_measurements(monkeypatch):
    """Instant measurements; returns a setter for the sequence of peak measurements."""
    monkeypatch.setattr(bench, "matmul_ceiling", lambda *a, **k: 1000.0)
    monkeypatch.setattr(bench, "tutorial_loop_throughput", lambda *a, **k: 10.0)
    monkeypatch.setattr(bench, "training_throughput", lambda *a, **k: 2000.0)
    own = {"training": 3000.0, "ceiling": 1500.0, "architecture": "SkylakeX", "pinned": {}}
    monkeypatch.setattr(bench, "numpy_own_kernel", lambda *a, **k: own)

    def set_peaks(*peaks):
        it = iter(peaks)
        monkeypatch.setattr(bench, "matmul_peak", lambda *a, **k: next(it))

    return set_peaks


QUIET_BENCH = ["bench", "--backends", "numpy", "--check-examples", "0", "--batch-sizes", ""]


# --- bench: options refused before measuring ---------------------------------------------


@pytest.mark.parametrize("names", ["torch", "numpy,torch", ""])
def test_bench_unknown_backend_names_the_option_and_the_valid_names(names, capsys, no_measuring):
    assert main(["bench", "--backends", names]) == 2
    err = _error(capsys)
    assert "--backends" in err and "numpy,jax,keras" in err


def test_bench_backend_not_installed_is_refused(monkeypatch, capsys, no_measuring):
    import mlp_parity.backends as backends

    monkeypatch.setattr(backends, "available_backends", lambda: ["numpy", "finite_difference"])
    assert main(["bench", "--backends", "numpy,jax"]) == 2
    err = _error(capsys)
    assert "--backends jax: not installed" in err and "mlp_parity[jax]" in err


@pytest.mark.parametrize("value", ["a,b", "0", "32,-1", "1.5"])
def test_bench_batch_sizes_type_error_names_the_option(value, capsys, no_measuring):
    assert main(["bench", "--batch-sizes", value]) == 2
    assert "argument --batch-sizes:" in _error(capsys)


@pytest.mark.parametrize("flag", ["--json", "--plot"])
def test_bench_output_that_is_a_folder_is_refused_before_measuring(
    flag, tmp_path, capsys, no_measuring
):
    assert main(["bench", "--quick", flag, str(tmp_path)]) == 2
    assert f"cannot write {flag} file" in _error(capsys)


@pytest.mark.parametrize("flag", ["--json", "--plot"])
def test_bench_output_in_a_missing_folder_is_refused_before_measuring(
    flag, tmp_path, capsys, no_measuring
):
    assert main(["bench", "--quick", flag, str(tmp_path / "missing" / "b.out")]) == 2
    assert "does not exist" in _error(capsys)


def test_bench_library_refuses_unknown_or_missing_backends(monkeypatch, no_measuring):
    with pytest.raises(ValueError, match="unknown backend 'torch'"):
        bench._installed(["numpy", "torch"])
    monkeypatch.setattr(bench, "available_backends", lambda: ["numpy"])
    with pytest.raises(ValueError, match="nothing to measure"):
        bench._installed(["jax"])
    assert bench._installed(["numpy", "jax", "numpy"]) == ["numpy"]


# --- bench: unreliable figures --------------------------------------------------------------


def test_bench_warns_when_its_peaks_disagree(fake_measurements, tmp_path, capsys):
    fake_measurements(100.0, 60.0, 100.0, 95.0)  # start, after ceiling, after numpy, end
    out = tmp_path / "b.json"
    assert main([*QUIET_BENCH, "--json", str(out)]) == 0
    captured = capsys.readouterr()
    assert "WARNING: the matmul peak measured 60.0 to 100.0 GFLOP/s" in captured.out
    assert "unreliable" in captured.out
    assert "warning:" in captured.err and "unreliable" in captured.err
    r = json.loads(out.read_text())
    assert r["unreliable"] is True and r["peak_spread"] == pytest.approx(0.4)
    assert "busy" in r["unreliable_reason"]


def test_bench_steady_peaks_are_reliable(fake_measurements, tmp_path, capsys):
    fake_measurements(100.0, 90.0, 95.0, 99.0)  # 10 % apart: fine
    out = tmp_path / "b.json"
    assert main([*QUIET_BENCH, "--json", str(out)]) == 0
    captured = capsys.readouterr()
    assert "WARNING" not in captured.out and "warning:" not in captured.err
    r = json.loads(out.read_text())
    assert r["unreliable"] is False and "unreliable_reason" not in r


def test_reliability_threshold():
    assert bench.reliability([100.0, 81.0])["unreliable"] is False
    assert bench.reliability([100.0, 79.0])["unreliable"] is True
    assert bench.reliability([100.0])["unreliable"] is False


# --- check ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--fd-entries", "-5"),
        ("--fd-entries", "0"),
        ("--batch", "-3"),
        ("--batch", "0"),
        ("--batch", "x"),
        ("--seed", "-1"),
        ("--sizes", "4,0"),
        ("--sizes", "4"),
        ("--backends", "torch"),
        ("--reference", "torch"),
        ("--activation", "swish"),
        ("--loss", "hinge"),
        ("--dtype", "float16"),
    ],
)
def test_check_bad_option_is_one_line_naming_it(flag, value, capsys):
    assert main([*SMALL_CHECK, flag, value]) == 2
    err = _error(capsys)
    assert err.startswith("mlp-parity check: error: argument ") and flag in err


def test_check_refuses_parameters_that_do_not_fit_before_allocating(capsys):
    t = time.perf_counter()
    assert main([*SMALL_CHECK, "--sizes", "100000,100000"]) == 2
    assert time.perf_counter() - t < 5
    err = _error(capsys)
    assert "GiB" in err and "100000,100000" in err


def test_check_refuses_a_batch_that_does_not_fit(capsys):
    assert main([*SMALL_CHECK, "--batch", "1000000000000"]) == 2
    err = _error(capsys)
    assert "--batch 1000000000000" in err and "GiB" in err


def test_check_backends_dedupes_and_runs(capsys):
    argv = ["check", "--sizes", "4,3", "--backends", "numpy,numpy,finite_difference"]
    assert main([*argv, "--reference", "finite_difference"]) == 0
    assert "all backends agree" in capsys.readouterr().out


# --- Ctrl-C, memory -------------------------------------------------------------------------


def _interrupt(*a, **k):
    raise KeyboardInterrupt


def test_ctrl_c_is_one_line_and_130(monkeypatch, capsys):
    monkeypatch.setattr(mlp_parity, "check_gradients", _interrupt)
    assert main(SMALL_CHECK) == 130
    assert _error(capsys) == "mlp-parity check: interrupted; nothing written"


def test_ctrl_c_says_what_was_kept(monkeypatch, fake_measurements, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    import mlp_parity.plots as plots

    fake_measurements(100.0, 100.0, 100.0, 100.0)
    monkeypatch.setattr(plots, "save_figure", _interrupt)
    out, png = tmp_path / "b.json", tmp_path / "b.png"
    argv = ["bench", "--backends", "numpy", "--check-examples", "0", "--batch-sizes", "64"]
    assert main([*argv, "--json", str(out), "--plot", str(png)]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"mlp-parity bench: interrupted; kept {out}"
    assert out.exists() and not png.exists()


def test_memory_error_is_one_line(monkeypatch, capsys):
    def no_memory(*a, **k):
        raise MemoryError("Unable to allocate 74.5 GiB")

    monkeypatch.setattr(mlp_parity, "check_gradients", no_memory)
    assert main(SMALL_CHECK) == 2
    assert _error(capsys).startswith("mlp-parity check: error: out of memory (Unable to")


# --- help -------------------------------------------------------------------------------------


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_top_level_help_lists_each_command_with_a_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "mlp-parity check" in out
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    helps = {a.dest: a.help for a in action._choices_actions}
    assert set(helps) == set(COMMANDS)
    for name, text in helps.items():
        assert text and "\n" not in text, name
        assert text in " ".join(out.split()), name


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_a_description_an_example_and_every_option_explained(command):
    p = _subparsers()[command]
    assert p.description and len(p.description) > 20, f"{command}: no description"
    assert p.epilog and f"mlp-parity {command}" in p.epilog, f"{command}: no example"
    text = p.format_help()
    assert f"  mlp-parity {command}" in text  # the example kept as written
    unexplained = [
        a.option_strings or a.dest
        for a in p._actions
        if not a.help or a.help == argparse.SUPPRESS or not a.help.strip()
    ]
    assert not unexplained, f"{command}: options without help: {unexplained}"
    for a in p._actions:
        for choice in a.choices or ():
            assert str(choice) in text, f"{command} {a.option_strings}: {choice} not listed"


def test_parse_errors_are_one_line_naming_the_option(capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["bench", "--samples", "0"])
    assert e.value.code == 2
    assert _error(capsys) == (
        "mlp-parity bench: error: argument --samples: must be an int >= 1, got '0' "
        "(see mlp-parity bench --help)"
    )


def test_help_wraps_descriptions_and_keeps_examples_as_written():
    from mlp_parity.cli._args import HelpFormatter

    text = "word " * 40 + "\nmore of the same paragraph\n\n  mlp-parity check --sizes " + "9," * 40
    filled = HelpFormatter("x", width=60)._fill_text(text, 60, "")
    lines = filled.splitlines()
    assert all(len(line) <= 60 for line in lines if not line.startswith("  "))
    assert "paragraph" in lines[-3] and lines[-2] == ""
    assert lines[-1] == "  mlp-parity check --sizes " + "9," * 40
