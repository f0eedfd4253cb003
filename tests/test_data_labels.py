"""Issue 15 in mlp_parity.data: degenerate label sets are refused naming the file, a damaged
install says to reinstall, and a folder given with the shipped sample is an error, not ignored."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from data_fakes import fake_set, idx_bytes, isolate, npz_bytes, write, write_idx_set

from mlp_parity import data
from mlp_parity.data import sources


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate(monkeypatch, tmp_path)


@pytest.mark.parametrize(
    "role, labels, words",
    [
        ("y_train", np.zeros(6, np.uint8), "all 6 training labels are 0: a single class"),
        ("y_train", np.full(6, 7, np.uint8), "all 6 training labels are 7"),
        ("y_val", np.full(4, 3, np.uint8), "all 4 validation labels are 3"),
        ("y_train", np.array([1, 2, 3, 4, 5, 11], np.uint8), "label 11 at index 5"),
        ("y_train", np.zeros(0, np.uint8), "no training labels"),
    ],
)
def test_idx_files_with_degenerate_labels_are_refused(tmp_path, role, labels, words):
    arrays = fake_set()
    arrays[role] = labels
    arrays["x" + role[1:]] = np.zeros((len(labels), 28, 28), np.uint8)
    write_idx_set(tmp_path / "d", arrays)
    stem = sources.IDX_FILES[role]
    with pytest.raises(ValueError, match=re.escape(f"{stem}.gz: ") + ".*" + re.escape(words)):
        data.load_dataset("mnist", data_dir=tmp_path / "d")


def test_npz_with_all_zero_labels_is_refused(tmp_path):
    arrays = fake_set()
    arrays["y_train"] = np.zeros(6, np.uint8)
    write(tmp_path / "d" / "mnist.npz", npz_bytes(arrays))
    with pytest.raises(ValueError, match=r"mnist\.npz y_train: all 6 training labels are 0"):
        data.load_dataset("mnist", data_dir=tmp_path / "d")


def test_a_single_validation_image_is_allowed(tmp_path):
    arrays = fake_set(n_val=1)
    write_idx_set(tmp_path / "d", arrays)
    assert data.load_dataset("mnist", data_dir=tmp_path / "d").x_val.shape == (1, 784)


def test_data_dir_with_the_sample_is_an_error_not_ignored(tmp_path):
    write_idx_set(tmp_path / "d", fake_set())
    with pytest.raises(
        ValueError, match="read only for the datasets mnist and fashion-mnist, not for mnist-sample"
    ):
        data.load_dataset("mnist-sample", data_dir=tmp_path / "d")


@pytest.fixture
def sample_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped sample copied into a folder the test may damage."""
    folder = tmp_path / "package-data"
    shutil.copytree(sources.SAMPLE_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__py*"))
    monkeypatch.setattr(sources, "SAMPLE_DIR", folder)
    sources.sample_arrays.cache_clear()
    yield folder
    sources.sample_arrays.cache_clear()


def test_damaged_sample_says_reinstall_not_delete(sample_copy):
    labels = sample_copy / "t10k-labels-idx1-ubyte.gz"
    write(labels, idx_bytes(np.zeros(10000, np.uint8)))
    with pytest.raises(ValueError) as info:
        data.load_dataset("mnist-sample")
    message = str(info.value)
    assert str(labels) in message and "sha256" in message
    assert "package install is damaged" in message and "reinstall mlp_parity" in message
    assert "delete it" not in message


def test_missing_sample_says_reinstall(sample_copy):
    (sample_copy / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(ValueError, match="is missing: the mlp_parity package install is damaged"):
        data.load_dataset("mnist-sample")
