"""mlp-parity train's --load/--save files (issue 15): every wrong file or path is one line on
stderr naming it and what was expected (exit 2), before any training; nothing is left behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mlp_parity as mp
from mlp_parity.cli import main

SMALL = ["--sizes", "784,16,10", "--epochs", "1"]


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLP_PARITY_OFFLINE", "1")
    monkeypatch.setenv("MLP_PARITY_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*a, **k):
        raise AssertionError("trained before the error")

    monkeypatch.setattr("mlp_parity.train.train", fail)


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.mark.parametrize(
    "name, payload, words",
    [
        (
            "x.npz",
            np.random.default_rng(0).bytes(300),
            "cannot load x.npz: it is not a parameter file saved by save_params (not a zip",
        ),
        ("junk.npz", b"not a zip file at all", "junk.npz: it is not a parameter file"),
        ("x.npy", None, "x.npy: it is not a parameter file saved by save_params (it holds a "),
        ("other.npz", "savez", "other.npz: it is not a parameter file saved by save_params (it "),
    ],
)
def test_load_of_a_file_that_is_not_a_params_file(name, payload, words, capsys, no_training):
    if payload is None:
        np.save(name, np.zeros(3))
    elif payload == "savez":
        np.savez(name, a=np.zeros(3))
    else:
        Path(name).write_bytes(payload)
    assert main(["train", "--load", name, "--epochs", "1"]) == 2
    err = _error(capsys)
    assert words in err and "allow_pickle" not in err
    assert "expected an .npz archive holding W0, b0, W1, b1, ..., sizes, activation, loss" in err


def test_load_finds_the_npz_that_save_wrote(tmp_path, capsys):
    assert main(["train", *SMALL, "--save", "mymodel"]) == 0
    assert _files(tmp_path) >= {"mymodel.npz"}
    capsys.readouterr()
    assert main(["train", "--load", "mymodel", "--epochs", "0"]) == 0
    assert "loaded mymodel.npz: 784-16-10 relu" in capsys.readouterr().out


def test_load_of_a_missing_name_says_which_files_it_tried(capsys):
    assert main(["train", "--load", "gone", "--epochs", "0"]) == 2
    assert _error(capsys).endswith("cannot load gone: no such file (nor gone.npz)")


def test_load_of_a_network_for_other_data_advises_what_works(tmp_path, capsys, no_training):
    spec = mp.MLPSpec((100, 8, 10))
    mp.save_params(tmp_path / "small.npz", spec, mp.init_params(spec))
    assert main(["train", "--load", "small.npz", "--epochs", "1"]) == 2
    err = _error(capsys)
    assert (
        "mnist-sample has 784 features but the network loaded from small.npz has 100 inputs" in err
    )
    assert "--load a network made for this data" in err


def test_save_under_a_file_says_it_is_a_file(tmp_path, capsys, no_training):
    (tmp_path / "afile").write_text("x")
    assert main(["train", *SMALL, "--save", "afile/m.npz"]) == 2
    assert _error(capsys).endswith(
        "cannot write --save file afile/m.npz: afile is a file, not a folder"
    )
    assert (tmp_path / "afile").read_text() == "x"


def test_save_to_a_folder_names_a_file_instead(tmp_path, capsys, no_training):
    (tmp_path / "results").mkdir()
    assert main(["train", *SMALL, "--save", "results/"]) == 2
    assert _error(capsys).endswith(
        "cannot save to results/: it is a folder; name a file, e.g. results/params.npz"
    )
    assert _files(tmp_path) == {"results"}  # no results.npz beside it
    spec = mp.MLPSpec((4, 3, 2), "relu", "mse")
    with pytest.raises(ValueError, match="it is a folder; name a file"):
        mp.save_params(tmp_path / "results", spec, mp.init_params(spec, seed=0))


def test_out_under_a_file_says_it_is_a_file(tmp_path, capsys, no_training):
    (tmp_path / "afile").write_text("x")
    assert main(["compare", "--backends", "numpy", *SMALL, "--out", "afile/sub"]) == 2
    assert "cannot create output folder afile/sub: afile is a file, not a folder" in _error(capsys)
    assert _files(tmp_path) == {"afile"}


def test_sizes_too_large_for_memory_fail_before_allocating(capsys, monkeypatch, no_training):
    monkeypatch.setattr("mlp_parity.params.available_memory", lambda: 20 * 2**30)
    assert main(["train", "--sizes", "784,100000,100000,10", "--dtype", "float64"]) == 2
    err = _error(capsys)
    assert "sizes 784,100000,100000,10 need 375.9 GiB of parameters, velocities" in err
    assert "this machine has 20.0 GiB available" in err
    assert main(["compare", "--backends", "numpy", "--sizes", "784,100000,100000,10"]) == 2
    assert "this machine has 20.0 GiB available" in _error(capsys)


def test_training_estimate_counts_the_batch_buffers(capsys, monkeypatch, no_training):
    """Parameters that fit can still leave no room for training's buffers: refused too."""
    spec = mp.MLPSpec((784, 1000, 10))
    params = mp.params.params_bytes(spec, "float32")
    monkeypatch.setattr("mlp_parity.params.available_memory", lambda: 2 * params)
    assert main(["train", "--sizes", "784,1000,10", "--epochs", "1"]) == 2
    assert "of parameters, velocities, gradients and batch buffers for training" in _error(capsys)
    # --epochs 0 only evaluates: the parameters fit, so it runs
    assert main(["train", "--sizes", "784,1000,10", "--epochs", "0"]) == 0
