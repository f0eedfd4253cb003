"""Tests for mlp_parity.data: the shipped sample, IDX parsing, validation, search order, cache.

No test touches the network: HOME, the caches and the downloader are redirected per test.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import time
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from mlp_parity import data

# Published class counts of the 10,000 MNIST test images (mlp_parity/data/README.md).
README_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
STEMS = data._IDX_FILES


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point HOME, the caches and system dirs at tmp_path; make any network use fail loudly."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MLP_PARITY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MLP_PARITY_OFFLINE", "1")
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setattr(data, "_SYSTEM_FASHION_DIRS", (tmp_path / "system-fashion",))

    def no_network(url: str, timeout: float) -> None:
        raise AssertionError(f"test tried to open {url}")

    monkeypatch.setattr(data, "_urlopen", no_network)
    return tmp_path


# --------------------------------------------------------------------------- helpers


def idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    """Encode a uint8 array as IDX (type 0x08)."""
    magic = 0x0800 | arr.ndim if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + np.ascontiguousarray(arr, dtype=np.uint8).tobytes()


def write(path: Path, payload: bytes, *, gz: bool | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    gz = path.suffix == ".gz" if gz is None else gz
    path.write_bytes(gzip.compress(payload, mtime=0) if gz else payload)
    return path


def fake_set(n_train: int = 6, n_val: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
        "x_val": rng.integers(0, 256, (n_val, 28, 28), dtype=np.uint8),
        "y_val": rng.integers(0, 10, n_val).astype(np.uint8),
    }


def write_idx_set(directory: Path, arrays: dict[str, np.ndarray], gz: bool = True) -> None:
    for role, stem in STEMS.items():
        write(directory / (stem + (".gz" if gz else "")), idx_bytes(arrays[role]))


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(
        buf,
        x_train=arrays["x_train"],
        y_train=arrays["y_train"],
        x_test=arrays["x_val"],
        y_test=arrays["y_val"],
    )
    return buf.getvalue()


def assert_matches(ds: data.Dataset, arrays: dict[str, np.ndarray]) -> None:
    for split in ("train", "val"):
        x, y = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
        n = len(arrays[f"x_{split}"])
        assert x.shape == (n, 784) and x.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int64
        np.testing.assert_array_equal(x, arrays[f"x_{split}"].reshape(n, 784) / np.float32(255))
        np.testing.assert_array_equal(y, arrays[f"y_{split}"])


class FakeResponse(io.BytesIO):
    def __init__(self, payload: bytes) -> None:
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))}


def serve(monkeypatch: pytest.MonkeyPatch, payloads: dict[str, bytes]) -> list[str]:
    """Allow downloads and answer them from ``payloads`` (by file name); return the URLs hit."""
    hits: list[str] = []

    def fake_urlopen(url: str, timeout: float) -> FakeResponse:
        hits.append(url)
        return FakeResponse(payloads[url.rsplit("/", 1)[1]])

    monkeypatch.delenv("MLP_PARITY_OFFLINE")
    monkeypatch.setattr(data, "_urlopen", fake_urlopen)
    return hits


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


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
    images, labels, train_idx, val_idx = data._sample_arrays()
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
    data._sample_arrays.cache_clear()
    start = time.perf_counter()
    first = data.load_dataset("mnist-sample")
    assert time.perf_counter() - start < 1.0
    first.x_train[:] = -1  # callers get their own arrays: the in-process cache stays intact
    start = time.perf_counter()
    second = data.load_dataset("mnist-sample")
    assert time.perf_counter() - start < 0.5
    assert second.x_train.min() == 0.0
    train2, val2 = data.stratified_split(data._sample_arrays()[1], 2000, seed=data.SAMPLE_SEED)
    np.testing.assert_array_equal(val2, data._sample_arrays()[3])


def test_stratified_split_exact_sizes() -> None:
    labels = np.array([0] * 7 + [1] * 3 + [2] * 1)
    train, val = data.stratified_split(labels, 4, seed=1)
    assert len(val) == 4 and len(train) == 7 and np.intersect1d(train, val).size == 0
    with pytest.raises(ValueError):
        data.stratified_split(labels, 12)


# --------------------------------------------------------------------------- read_idx


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_tiny_files(tmp_path: Path, suffix: str) -> None:
    images = np.arange(3 * 2 * 2, dtype=np.uint8).reshape(3, 2, 2)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    img_path = write(tmp_path / f"img{suffix}", idx_bytes(images))
    lbl_path = write(tmp_path / f"lbl{suffix}", idx_bytes(labels))
    got = data.read_idx(img_path)
    assert got.dtype == np.uint8 and got.shape == (3, 2, 2) and got.flags.writeable
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(data.read_idx(str(lbl_path)), labels)
    sha = hashlib.sha256(lbl_path.read_bytes()).hexdigest()
    np.testing.assert_array_equal(data.read_idx(lbl_path, expected_sha256=sha), labels)


def test_read_idx_other_types(tmp_path: Path) -> None:
    values = np.array([[1, -2], [300000, 4]], dtype=">i4")
    path = write(
        tmp_path / "ints", (0x0C02).to_bytes(4, "big") + b"\0\0\0\2" * 2 + values.tobytes()
    )
    got = data.read_idx(path)
    assert got.dtype == np.int32 and got.dtype.isnative
    np.testing.assert_array_equal(got, values)


def _good_labels() -> bytes:
    return idx_bytes(np.array([1, 2, 3], dtype=np.uint8))


CORRUPT_FILES = {
    "corrupt-gz": lambda: gzip.compress(_good_labels())[:10] + b"\xff" * 20,
    "truncated-gz": lambda: gzip.compress(idx_bytes(np.zeros((50, 28, 28), np.uint8)))[:-30],
    "not-gz-with-gz-name": lambda: _good_labels(),
    "truncated-raw": lambda: _good_labels()[:-1],
    "trailing-bytes": lambda: _good_labels() + b"\0",
    "short-header": lambda: b"\0\0\x08",
    "wrong-magic": lambda: b"\x12\x34\x56\x78" + _good_labels()[4:],
    "unknown-type": lambda: b"\0\0\x42\x01" + _good_labels()[4:],
}


@pytest.mark.parametrize("case", sorted(CORRUPT_FILES))
def test_read_idx_rejects_corruption(tmp_path: Path, case: str) -> None:
    name = f"{case}.gz" if "gz" in case else case
    path = tmp_path / name
    path.write_bytes(CORRUPT_FILES[case]())
    with pytest.raises(ValueError, match=re.escape(str(path))):
        data.read_idx(path)


def test_read_idx_checksum_mismatch(tmp_path: Path) -> None:
    path = write(tmp_path / "lbl", _good_labels())
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*sha256"):
        data.read_idx(path, expected_sha256="0" * 64)


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


# --------------------------------------------------------------------------- fallback, download


def test_mnist_falls_back_to_sample_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    ds = data.load_dataset("mnist")
    assert ds.name == "mnist-sample" and ds.x_train.shape == (8000, 784)
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "MLP_PARITY_OFFLINE" in err and "--data DIR" in err and "mnist.npz" in err


def test_mnist_network_failure_falls_back_and_leaves_no_file(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MLP_PARITY_OFFLINE")
    urls: list[str] = []

    def unreachable(url: str, timeout: float) -> None:
        urls.append(url)
        assert timeout <= 30
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(data, "_urlopen", unreachable)
    ds = data.load_dataset("mnist")
    assert ds.name == "mnist-sample" and urls
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no network" in err
    assert files_under(isolated / "cache") == []


def test_download_false_never_downloads(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MLP_PARITY_OFFLINE")  # _urlopen still raises if called
    assert data.load_dataset("mnist", download=False).name == "mnist-sample"
    assert "download=False" in capsys.readouterr().err


def test_download_verifies_caches_and_reuses(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    arrays = fake_set(seed=8)
    payload = npz_bytes(arrays)
    monkeypatch.setattr(data, "_MNIST_NPZ_SHA256", hashlib.sha256(payload).hexdigest())
    hits = serve(monkeypatch, {"mnist.npz": payload})
    ds = data.load_dataset("mnist", progress=True)
    assert ds.name == "mnist" and ds.source.startswith("downloaded to")
    assert_matches(ds, arrays)
    assert files_under(isolated / "cache") == [isolated / "cache" / "mnist.npz"]
    assert "mnist.npz" in capsys.readouterr().err  # the progress bar
    again = data.load_dataset("mnist")
    assert len(hits) == 1 and again.source.startswith("cache")


def test_downloaded_checksum_mismatch_rejected(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve(monkeypatch, {"mnist.npz": npz_bytes(fake_set())})  # valid npz, not the published one
    with pytest.raises(ValueError, match="sha256.*does not match"):
        data.load_dataset("mnist", progress=False)
    assert files_under(isolated / "cache") == []


def test_cached_file_with_wrong_checksum_rejected(isolated: Path) -> None:
    cached = write(isolated / "cache" / "mnist.npz", npz_bytes(fake_set()))
    with pytest.raises(ValueError, match=re.escape(str(cached)) + ".*sha256"):
        data.load_dataset("mnist")


def test_fashion_download_checksum_mismatch_leaves_nothing(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrays = fake_set()
    serve(
        monkeypatch,
        {f"{stem}.gz": gzip.compress(idx_bytes(arrays[r])) for r, stem in STEMS.items()},
    )
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz.*sha256"):
        data.load_dataset("fashion-mnist", progress=False)
    assert files_under(isolated / "cache") == []


def test_fashion_download_success(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = fake_set(seed=9)
    payloads = {f"{stem}.gz": gzip.compress(idx_bytes(arrays[r])) for r, stem in STEMS.items()}
    sums = {name[:-3]: hashlib.sha256(p).hexdigest() for name, p in payloads.items()}
    monkeypatch.setattr(data, "_FASHION_IDX_SHA256", sums)
    serve(monkeypatch, payloads)
    ds = data.load_dataset("fashion-mnist", progress=False)
    assert_matches(ds, arrays)
    assert len(files_under(isolated / "cache" / "fashion-mnist")) == 4


def test_fashion_unavailable_raises_without_fallback() -> None:
    with pytest.raises(data.DatasetUnavailableError, match="Fashion-MNIST not available"):
        data.load_dataset("fashion-mnist")


def test_incomplete_download_is_a_network_failure(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def short(url: str, timeout: float) -> FakeResponse:
        response = FakeResponse(b"abc")
        response.headers = {"Content-Length": "1000"}
        return response

    monkeypatch.delenv("MLP_PARITY_OFFLINE")
    monkeypatch.setattr(data, "_urlopen", short)
    assert data.load_dataset("mnist", progress=False).name == "mnist-sample"
    assert "incomplete download" in capsys.readouterr().err
    assert files_under(isolated / "cache") == []


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


def test_progress_bar_format() -> None:
    out = io.StringIO()
    bar = data._ProgressBar("f.gz", 2_000_000, stream=out)
    bar.update(1_000_000, force=True)
    bar.close(2_000_000)
    text = out.getvalue()
    assert "f.gz" in text and "100.0%" in text and text.endswith("\n") and "\r" in text
