"""Tests for mlp_parity.data: the shipped sample, local files and caches, the search order, the
offline fallback and the public API. IDX parsing is in test_data_idx.py, downloads in
test_data_download.py.

No test touches the network: HOME, the caches and the downloaders are redirected per test.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import numpy as np
import pytest
from data_fakes import (
    assert_matches,
    fake_set,
    idx_bytes,
    isolate,
    npz_bytes,
    write,
    write_idx_set,
)

from mlp_parity import data
from mlp_parity.data import sources

# Published class counts of the 10,000 MNIST test images (mlp_parity/data/README.md).
README_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate(monkeypatch, tmp_path)


# --------------------------------------------------------------------------- the sample


def test_sample_shapes_dtypes_ranges() -> None:
    ds = data.load_dataset("mnist-sample")
    assert ds.name == "mnist-sample" and ds.num_classes == 10
    assert ds.source.startswith("package sample")
    assert ds.x_train.shape == (8000, 784) and ds.x_val.shape == (2000, 784)
    assert ds.y_train.shape == (8000,) and ds.y_val.shape == (2000,)
    assert ds.x_train.dtype == ds.x_val.dtype == np.float32
    assert ds.y_train.dtype == ds.y_val.dtype == np.int64
    for x in (ds.x_train, ds.x_val):
        assert x.min() == 0.0 and x.max() == 1.0
    for y in (ds.y_train, ds.y_val):
        assert y.min() == 0 and y.max() == 9
    ds64 = data.load_dataset("mnist-sample", dtype="float64")
    assert ds64.x_train.dtype == np.float64
    np.testing.assert_allclose(ds64.x_train, ds.x_train, rtol=1e-7)


def test_sample_split_disjoint_stratified_and_counts() -> None:
    images, labels, train_idx, val_idx = sources.sample_arrays()
    assert images.shape == (10000, 28, 28)
    assert np.intersect1d(train_idx, val_idx).size == 0
    np.testing.assert_array_equal(np.union1d(train_idx, val_idx), np.arange(10000))
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), README_COUNTS)
    ds = data.load_dataset("mnist-sample")
    counts = np.bincount(ds.y_train, minlength=10) + np.bincount(ds.y_val, minlength=10)
    np.testing.assert_array_equal(counts, README_COUNTS)
    assert counts.sum() == 10000
    # stratified: each class puts its 20 % share (+-1) in validation
    assert np.all(np.abs(np.bincount(ds.y_val, minlength=10) - 0.2 * np.array(README_COUNTS)) <= 1)
    # the dataset rows are exactly the indexed images
    np.testing.assert_array_equal(ds.x_val, images[val_idx].reshape(-1, 784) / np.float32(255))


def test_sample_is_fast_deterministic_and_cache_safe() -> None:
    sources.sample_arrays.cache_clear()
    start = time.perf_counter()
    first = data.load_dataset("mnist-sample")
    assert time.perf_counter() - start < 1.0
    first.x_train[:] = -1  # callers get their own arrays: the in-process cache stays intact
    start = time.perf_counter()
    second = data.load_dataset("mnist-sample")
    assert time.perf_counter() - start < 0.5
    assert second.x_train.min() == 0.0
    train2, val2 = data.stratified_split(sources.sample_arrays()[1], 2000, seed=data.SAMPLE_SEED)
    np.testing.assert_array_equal(val2, sources.sample_arrays()[3])


def test_stratified_split_exact_sizes() -> None:
    labels = np.array([0] * 7 + [1] * 3 + [2] * 1)
    train, val = data.stratified_split(labels, 4, seed=1)
    assert len(val) == 4 and len(train) == 7 and np.intersect1d(train, val).size == 0
    with pytest.raises(ValueError):
        data.stratified_split(labels, 12)


# --------------------------------------------------------------------------- data_dir


def test_data_dir_with_idx_files(tmp_path: Path) -> None:
    arrays = fake_set()
    write_idx_set(tmp_path / "d", arrays, gz=True)
    (tmp_path / "d" / "t10k-labels-idx1-ubyte.gz").unlink()  # mix: one raw file
    write(tmp_path / "d" / "t10k-labels-idx1-ubyte", idx_bytes(arrays["y_val"]))
    ds = data.load_dataset("mnist", data_dir=tmp_path / "d")
    assert ds.name == "mnist" and str(tmp_path / "d") in ds.source
    assert_matches(ds, arrays)


def test_data_dir_subdirectory_and_fashion(tmp_path: Path) -> None:
    arrays = fake_set(seed=3)
    write_idx_set(tmp_path / "d" / "fashion-mnist", arrays, gz=False)
    ds = data.load_dataset("fashion-mnist", data_dir=str(tmp_path / "d"))
    assert ds.name == "fashion-mnist"
    assert_matches(ds, arrays)


def test_data_dir_with_npz(tmp_path: Path) -> None:
    arrays = fake_set(seed=4)
    write(tmp_path / "d" / "mnist.npz", npz_bytes(arrays))
    assert_matches(data.load_dataset("mnist", data_dir=tmp_path / "d"), arrays)


def test_data_dir_missing_or_incomplete_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a directory"):
        data.load_dataset("mnist", data_dir=tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        data.load_dataset("mnist", data_dir=tmp_path / "empty")
    write_idx_set(tmp_path / "part", fake_set())
    (tmp_path / "part" / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ValueError, match="missing train-labels-idx1-ubyte"):
        data.load_dataset("mnist", data_dir=tmp_path / "part")


@pytest.mark.parametrize("case", ["label-10", "count-mismatch", "labels-as-images", "wrong-size"])
def test_data_dir_rejects_bad_sets(tmp_path: Path, case: str) -> None:
    arrays = fake_set()
    bad_file = {
        "label-10": "train-labels-idx1-ubyte.gz",
        "count-mismatch": "t10k-labels-idx1-ubyte.gz",
        "labels-as-images": "train-images-idx3-ubyte.gz",
        "wrong-size": "t10k-images-idx3-ubyte.gz",
    }[case]
    if case == "label-10":
        arrays["y_train"][2] = 10
    elif case == "count-mismatch":
        arrays["y_val"] = arrays["y_val"][:-1]
    elif case == "labels-as-images":
        arrays["x_train"] = arrays["y_train"]
    else:
        arrays["x_val"] = np.zeros((4, 27, 28), np.uint8)
    write_idx_set(tmp_path / "d", arrays)
    with pytest.raises(ValueError, match=re.escape(bad_file)):
        data.load_dataset("mnist", data_dir=tmp_path / "d")


# --------------------------------------------------------------------------- caches


def test_keras_npz_cache(isolated: Path) -> None:
    arrays = fake_set(seed=5)
    npz = write(isolated / "home" / ".keras" / "datasets" / "mnist.npz", npz_bytes(arrays))
    ds = data.load_dataset("mnist")
    assert ds.name == "mnist" and str(npz) in ds.source
    assert_matches(ds, arrays)


def test_keras_home_env_and_fashion_keras_dir(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(isolated / "kh"))
    arrays = fake_set(seed=6)
    write_idx_set(isolated / "kh" / "datasets" / "fashion-mnist", arrays)
    assert_matches(data.load_dataset("fashion-mnist"), arrays)


def test_debian_fashion_dir(isolated: Path) -> None:
    arrays = fake_set(seed=7)
    write_idx_set(isolated / "system-fashion", arrays)
    ds = data.load_dataset("fashion-mnist")
    assert str(isolated / "system-fashion") in ds.source
    assert_matches(ds, arrays)


def _npy_bytes() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.zeros(3))
    return buf.getvalue()


def _npz_missing_key() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x_train=np.zeros((1, 28, 28), np.uint8))
    return buf.getvalue()


@pytest.mark.parametrize(
    "payload",
    [b"PK\x03\x04 not really a zip", b"\0" * 10, _npy_bytes(), _npz_missing_key()],
    ids=["bad-zip", "zeros", "npy", "missing-key"],
)
def test_corrupt_npz_rejected(isolated: Path, payload: bytes) -> None:
    npz = write(isolated / "home" / ".keras" / "datasets" / "mnist.npz", payload)
    with pytest.raises(ValueError, match=re.escape(str(npz))):
        data.load_dataset("mnist")


def test_npz_with_bad_labels_rejected(isolated: Path) -> None:
    arrays = fake_set()
    arrays["y_val"][0] = 12
    npz = write(isolated / "home" / ".keras" / "datasets" / "mnist.npz", npz_bytes(arrays))
    with pytest.raises(ValueError, match=re.escape(str(npz)) + ".*label 12"):
        data.load_dataset("mnist")


# --------------------------------------------------------------------------- offline fallback


def test_mnist_falls_back_to_sample_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    ds = data.load_dataset("mnist")
    assert ds.name == "mnist-sample" and ds.x_train.shape == (8000, 784)
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "MLP_PARITY_OFFLINE" in err and "--data DIR" in err and "mnist.npz" in err


# --------------------------------------------------------------------------- misc API


def test_unknown_name_lists_datasets() -> None:
    with pytest.raises(ValueError, match="mnist, mnist-sample, fashion-mnist"):
        data.load_dataset("cifar10")
    assert data.DATASETS == ("mnist", "mnist-sample", "fashion-mnist")


def test_bad_dtype_rejected() -> None:
    with pytest.raises(ValueError, match="float"):
        data.load_dataset("mnist-sample", dtype="int32")


def test_one_hot() -> None:
    y = np.array([0, 3, 9])
    oh = data.one_hot(y)
    assert oh.shape == (3, 10) and oh.dtype == np.float64
    np.testing.assert_array_equal(oh.argmax(axis=1), y)
    np.testing.assert_array_equal(oh.sum(axis=1), 1.0)
    assert data.one_hot(y, 12, dtype="float32").shape == (3, 12)
    with pytest.raises(ValueError):
        data.one_hot(np.array([10]))
    with pytest.raises(ValueError):
        data.one_hot(np.array([0.5]))


def test_public_names_import_from_the_package() -> None:
    from mlp_parity.data import (  # noqa: F401 (the import is the test)
        DATASETS,
        Dataset,
        DatasetUnavailableError,
        load_dataset,
        one_hot,
        read_idx,
        stratified_split,
    )

    assert issubclass(DatasetUnavailableError, FileNotFoundError)
    assert data.SAMPLE_SEED == 20240229 and data.SAMPLE_N_VAL == 2000


def test_sample_lies_beside_its_loader() -> None:
    folder = Path(data.__file__).parent
    assert sources.SAMPLE_DIR == folder.resolve()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "README.md"):
        assert (folder / name).is_file()
    assert str(folder.resolve()) in data.load_dataset("mnist-sample").source
