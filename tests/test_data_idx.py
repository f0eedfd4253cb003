"""Tests for mlp_parity.data.idx: IDX parsing and its validation (no dataset, no network)."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from data_fakes import idx_bytes, write

from mlp_parity import data
from mlp_parity.data import idx


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_tiny_files(tmp_path: Path, suffix: str) -> None:
    images = np.arange(3 * 2 * 2, dtype=np.uint8).reshape(3, 2, 2)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    img_path = write(tmp_path / f"img{suffix}", idx_bytes(images))
    lbl_path = write(tmp_path / f"lbl{suffix}", idx_bytes(labels))
    got = idx.read_idx(img_path)
    assert got.dtype == np.uint8 and got.shape == (3, 2, 2) and got.flags.writeable
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(idx.read_idx(str(lbl_path)), labels)
    sha = hashlib.sha256(lbl_path.read_bytes()).hexdigest()
    np.testing.assert_array_equal(idx.read_idx(lbl_path, expected_sha256=sha), labels)


def test_read_idx_other_types(tmp_path: Path) -> None:
    values = np.array([[1, -2], [300000, 4]], dtype=">i4")
    path = write(
        tmp_path / "ints", (0x0C02).to_bytes(4, "big") + b"\0\0\0\2" * 2 + values.tobytes()
    )
    got = idx.read_idx(path)
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
        idx.read_idx(path)


def test_read_idx_checksum_mismatch(tmp_path: Path) -> None:
    path = write(tmp_path / "lbl", _good_labels())
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*sha256"):
        idx.read_idx(path, expected_sha256="0" * 64)


def test_read_idx_is_the_public_one() -> None:
    assert data.read_idx is idx.read_idx


def test_image_and_label_readers_check_the_mnist_layout(tmp_path: Path) -> None:
    labels = write(tmp_path / "lbl.gz", idx_bytes(np.array([1, 9, 0], np.uint8)))
    images = write(tmp_path / "img.gz", idx_bytes(np.zeros((2, 28, 28), np.uint8)))
    assert idx.read_labels(labels, None).tolist() == [1, 9, 0]
    assert idx.read_images(images, None).shape == (2, 28, 28)
    with pytest.raises(ValueError, match="lbl.gz.*expected an MNIST image file"):
        idx.read_images(labels, None)
    with pytest.raises(ValueError, match="img.gz.*expected an MNIST label file"):
        idx.read_labels(images, None)
    bad = write(tmp_path / "bad.gz", idx_bytes(np.array([3, 10], np.uint8)))
    with pytest.raises(ValueError, match="label 10 at index 1"):
        idx.read_labels(bad, None)


def test_sha256_helpers(tmp_path: Path) -> None:
    path = write(tmp_path / "f", b"abc")
    assert idx.sha256_file(path) == hashlib.sha256(b"abc").hexdigest()
    idx.check_sha256(path, "AB", "ab")  # hex digests compare case-insensitively
    with pytest.raises(ValueError, match="delete it to download it again"):
        idx.check_sha256(path, "ab", "cd")
