"""mlp-parity train / compare / tutorial: the default model's accuracy, --save/--load round
trips, output files, and one-line errors (exit 2) that leave no partial file behind.

Offline throughout: MLP_PARITY_OFFLINE=1, datasets come from the shipped mnist-sample."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import HAS_JAX, HAS_TF

import mlp_parity as mp
from mlp_parity import _io
from mlp_parity.cli import main
from mlp_parity.cli._console import EpochProgress
from mlp_parity.data import load_dataset
from mlp_parity.train import Progress, evaluate, trajectories

SMALL = ["--sizes", "784,16,10", "--epochs", "1"]


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLP_PARITY_OFFLINE", "1")
    monkeypatch.setenv("MLP_PARITY_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_default_train_reaches_94_percent_and_round_trips(tmp_path, capsys):
    """Issue 4: `mlp-parity train --backend numpy --dataset mnist-sample --epochs 10` with the
    default settings reaches >= 94 % on the validation digits; --save/--load round-trips."""
    argv = ["train", "--backend", "numpy", "--dataset", "mnist-sample", "--epochs", "10"]
    assert main([*argv, "--save", "model.npz"]) == 0
    out = capsys.readouterr().out
    assert len(re.findall(r"^epoch +\d+/10 ", out, re.M)) == 10
    spec, params = mp.load_params(tmp_path / "model.npz")
    assert spec == mp.MLPSpec((784, 128, 10), "relu", "softmax_cross_entropy")
    assert params[0][0].dtype == np.float32
    ds = load_dataset("mnist-sample")
    _, acc = evaluate(spec, params, ds.x_val, ds.y_val)
    assert acc >= 0.94
    assert f"validation acc {100 * acc:.2f}%" in out

    # --epochs 0 with --load evaluates the saved model: the same validation accuracy
    assert main(["train", "--load", "model.npz", "--epochs", "0"]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"validation loss [\d.]+  acc +{100 * acc:.2f}%", out)


def test_save_load_round_trip_float64(tmp_path):
    assert main(["train", *SMALL, "--dtype", "float64", "--save", "a.npz"]) == 0
    spec, params = mp.load_params(tmp_path / "a.npz")
    assert main(["train", "--load", "a.npz", "--epochs", "0", "--save", "b.npz"]) == 0
    spec_b, params_b = mp.load_params(tmp_path / "b.npz")
    assert spec_b == spec and params_b[0][0].dtype == np.float64
    assert all(np.array_equal(p, q) for pair, qp in zip(params, params_b) for p, q in zip(pair, qp))
    # --load continues training from the file (its spec), --save writes the new model
    assert main(["train", "--load", "a.npz", "--epochs", "1", "--save", "more"]) == 0
    spec_c, params_c = mp.load_params(tmp_path / "more.npz")
    assert spec_c == spec and not np.array_equal(params_c[0][0], params[0][0])


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize(
    "argv,match",
    [
        (["train", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["train", "--sizes", "784,16,5"], "10 classes but --sizes gives the network 5 outputs"),
        (["train", "--sizes", "100,10"], "784 features but --sizes gives the network 100 inputs"),
        (["train", "--lr", "-1"], "learning_rate must be > 0"),
        (["train", "--momentum", "1.5"], "momentum must lie in"),
        (["train", "--batch-size", "0"], "batch_size must be >= 1"),
        (["train", "--epochs", "-2"], "--epochs: must be an int >= 0"),
        (["compare", "--epochs", "0"], "--epochs: must be an int >= 1"),
        (["tutorial", "--epochs", "0"], "--epochs: must be an int >= 1"),
        (["train", "--data", "."], "--data/data_dir is read only for .* to read \\."),
        (["compare", "--data", ".", "--backends", "numpy"], "--data/data_dir is read only"),
        (["train", "--load", "missing.npz"], "cannot load missing.npz: no such file"),
        (["compare", "--backends", "numpy,torch"], "--backends takes"),
        (["compare", "--dataset", "nope", "--backends", "numpy"], "unknown dataset"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, match, capsys, tmp_path):
    assert main(argv) == 2
    assert re.search(match, _error(capsys))
    assert _files(tmp_path) <= {"cache"}


def test_load_refuses_a_clashing_spec(tmp_path, capsys):
    assert main(["train", *SMALL, "--epochs", "0", "--save", "m.npz"]) == 0
    capsys.readouterr()
    assert main(["train", "--load", "m.npz", "--sizes", "784,32,10"]) == 2
    assert "--sizes differs from the network in m.npz" in _error(capsys)


@pytest.mark.parametrize("target", ["no/such/folder/m.npz", "afile/m.npz", "adir"])
def test_unwritable_save_fails_before_training(target, tmp_path, capsys, monkeypatch):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir.npz").mkdir()  # --save adir -> adir.npz, a folder

    def no_training(*a, **k):
        raise AssertionError("trained before checking --save")

    monkeypatch.setattr("mlp_parity.train.train", no_training)
    monkeypatch.setattr("mlp_parity.data.load_dataset", no_training)
    assert main(["train", *SMALL, "--save", target]) == 2
    assert "cannot write --save file" in _error(capsys)
    assert _files(tmp_path) == {"afile", "adir.npz"}
    assert list((tmp_path / "adir.npz").iterdir()) == []


def test_failed_json_write_leaves_nothing(tmp_path):
    with pytest.raises(TypeError):
        _io.write_json(tmp_path / "r.json", {"bad": object()})
    assert _files(tmp_path) == set()
    _io.write_json(tmp_path / "r.json", {"nan": float("nan"), "x": np.float32(1.5)})
    assert json.loads((tmp_path / "r.json").read_text()) == {"nan": None, "x": 1.5}


def test_compare_writes_table_json_and_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    backends = ["numpy"] + (["jax"] if HAS_JAX else []) + (["keras"] if HAS_TF else [])
    argv = ["compare", *SMALL, "--dtype", "float64", "--out", "out"]
    assert main([*argv, "--backends", ",".join(backends)]) == 0
    out = capsys.readouterr().out
    table = out[out.index("backend  train loss") :]
    for name in backends:
        assert re.search(rf"^{name} +[\d.]+ +[\d.]+% .* [\d.]+e[+-]\d+$", table, re.M), table
    assert _files(tmp_path / "out") == {"compare.json", "compare.png"}
    data = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert list(data["backends"]) == backends
    assert data["dataset"]["name"] == "mnist-sample" and data["settings"]["dtype"] == "float64"
    for name in backends:
        b = data["backends"][name]
        assert set(b["history"]) == {"loss", "accuracy", "val_loss", "val_accuracy", "time"}
        assert b["max_rel_param_divergence"] <= 1e-8  # float64: the same trajectory
        clock = b["wall_clock_s"]  # where the wall time went (issue 18)
        assert set(clock) == {"import", "build", "compile", "train", "total"}
        assert all(v >= 0 for v in clock.values()) and clock["total"] >= clock["train"]
        assert b["samples_per_second"] is None  # 1 epoch: only a figure with compilation
    assert re.search(r"^numpy .* n/a  ", table, re.M), table
    assert "(samples/s n/a: measured from epoch 2 on, as epoch 1 includes compilation" in out
    assert "on " + ", ".join(backends) + ": 1 epoch, batch" in out
    assert (tmp_path / "out" / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "same trajectory: max relative parameter divergence" in out
    split = data["run_wall_clock_s"]  # the whole run, for issue 18's overhead target
    assert set(split) == {
        "imports",
        "training",
        "compilation",
        "build",
        "other",
        "total",
        "outside_fraction",
    }
    assert 0.0 <= split["outside_fraction"] <= 1.0 and split["total"] >= split["training"]
    assert re.search(r"^time: [\d.]+ s = imports .*% outside imports and training$", out, re.M)


def test_compare_fails_when_backends_diverge(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(trajectories, "param_divergence", lambda a, b: 1e-3)
    assert main(["compare", "--backends", "numpy", *SMALL, "--out", "o"]) == 1
    assert "DIVERGED: max relative parameter divergence 1.0e-03 > 1e-08" in capsys.readouterr().out
    assert json.loads((tmp_path / "o" / "compare.json").read_text())["parity_rtol"] == 1e-8


def test_compare_out_not_writable(tmp_path, capsys):
    (tmp_path / "taken").write_text("a file, not a folder")
    assert main(["compare", "--backends", "numpy", *SMALL, "--out", "taken"]) == 2
    assert "cannot create output folder taken" in _error(capsys)
    assert _files(tmp_path) == {"taken"}


def test_tutorial_prints_published_beside_reproduced(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    argv = ["tutorial", "--seeds", "1", "--rounds", "1", "--epochs", "1", "--backends", "numpy"]
    assert main([*argv, "--out", "o"]) == 0
    out = capsys.readouterr().out
    assert "numpy half, original backprop: published / ours" in out
    assert re.search(r"published \(tutorial\) +90\.06% +86\.48%", out)
    assert "scale bug only" in out and "derivative bug only" in out and "retuned" in out
    data = json.loads((tmp_path / "o" / "tutorial.json").read_text())
    assert data["reproduced"]["numpy_original"]["rounds"] == [1]
    assert data["dataset"]["keras_train"] == 8000  # all of mnist-sample's training digits
    assert _files(tmp_path / "o") == {"tutorial.json", "tutorial.png"}


def test_vectorized_original_backprop_equals_the_tutorials_loop():
    from mlp_parity.examples import tutorial

    spec = mp.MLPSpec((7, 6, 5, 4), "sigmoid", "sigmoid_cross_entropy")
    params = mp.init_params(spec, seed=1)
    rng = np.random.default_rng(1)
    x, y = rng.random((9, 7)), np.eye(4)[rng.integers(0, 4, 9)]
    want = tutorial.original_backprop(params, x, y)
    got = tutorial.original_backprop_vectorized(params, x, y)
    for (gW, gb), (wW, wb) in zip(got, want):
        np.testing.assert_allclose(gW, wW, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(gb, wb, rtol=1e-12, atol=1e-15)


def test_epoch_progress_bar_draws_and_erases():
    stream = io.StringIO()
    lines = []
    bar = EpochProgress("numpy", lambda e, n, r: lines.append((e, n)), stream=stream)
    assert not bar.enabled  # not a terminal
    bar = EpochProgress("numpy", lambda e, n, r: lines.append((e, n)), stream=stream, enabled=True)
    bar(Progress(1, 2, 5, 10, None))
    bar(Progress(1, 2, 10, 10, None))
    bar(Progress(1, 2, 10, 10, {"loss": 1.0, "accuracy": 0.5, "time": 0.1}))
    text = stream.getvalue()
    assert "numpy epoch 1/2" in text and "10/10" in text and text.endswith("\r")
    assert text.rsplit("\r", 2)[-2].strip() == ""  # the bar is erased for the epoch line
    assert lines == [(1, 2)]
    assert bar.bar is None


def test_epoch_progress_without_a_terminal_writes_nothing():
    stream = io.StringIO()
    lines = []
    bar = EpochProgress("jax", lambda e, n, r: lines.append((e, n)), stream=stream)
    bar(Progress(1, 1, 3, 10, None))
    bar(Progress(1, 1, 10, 10, {"loss": 1.0, "accuracy": 0.5, "time": 0.1}))
    assert stream.getvalue() == "" and lines == [(1, 1)]


@pytest.mark.parametrize("loss", ["mse", "sigmoid_cross_entropy", "softmax_cross_entropy"])
def test_check_draws_targets_the_loss_takes(loss, capsys):
    """Integer labels for the losses that take labels, real-valued targets for the others."""
    assert main(["check", "--sizes", "4,3", "--batch", "2", "--loss", loss]) == 0
    assert "all backends agree" in capsys.readouterr().out


def test_training_modules_import_numpy_only():
    import subprocess
    import sys

    code = (
        "import sys, mlp_parity.cli, mlp_parity.train, mlp_parity.plots;"
        "mlp_parity.cli.build_parser();"
        "heavy = ('jax', 'tensorflow', 'keras', 'matplotlib', 'tqdm');"
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_lists_the_training_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("train", "compare", "tutorial", "check"):
        assert cmd in out


def test_one_epoch_says_epoch_and_no_speed_with_compilation(capsys):
    """Issue 15: "1 epochs" read wrong, and one epoch's samples/s includes JIT compilation."""
    assert main(["train", *SMALL]) == 0
    out = capsys.readouterr().out
    assert ": 1 epoch, batch 64" in out
    assert "samples/s" in out and "n/a (measured from epoch 2 on, for every backend alike" in out
    assert main(["train", "--sizes", "784,16,10", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert ": 2 epochs, batch" in out and re.search(r"training, [\d,]+ samples/s", out)


def test_tutorial_says_one_epoch(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    argv = ["tutorial", "--epochs", "1", "--seeds", "1", "--rounds", "1", "--backends", "numpy"]
    assert main([*argv, "--out", "o"]) == 0
    out = capsys.readouterr().out
    assert ", 1 epoch (the tutorial: 100)" in out and "1 round of 128 (the tutorial: 100)" in out


@pytest.mark.parametrize("command", ["train", "compare", "tutorial"])
def test_every_option_has_help_and_the_command_an_example(command):
    from mlp_parity.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    assert sub.description and "\n" not in sub.description and len(sub.description) < 100
    assert sub.epilog and f"mlp-parity {command}" in sub.epilog
    for action in sub._actions:
        if action.dest == "help":
            continue
        assert action.help and action.help.strip("() "), action.dest
        assert "(default" in action.help or action.default in (None, False), action.dest
    finite = {a.dest: a.choices for a in sub._actions if a.dest in ("backend", "dtype", "loss")}
    assert all(choices for choices in finite.values()), finite
