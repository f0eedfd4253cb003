"""Reading and validating IDX files (the format MNIST and Fashion-MNIST are published in), and
the sha256 checks every loader shares.

A damaged file raises ``ValueError`` naming the file, instead of training on silently wrong
data: the IDX magic, header dims against the file size, image size and label range are all
checked.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

from .dataset import IMAGE_SHAPE, NUM_CLASSES

# IDX type code -> big-endian numpy dtype.
_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str], *, expected_sha256: str | None = None) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) into an array of the shape its header gives.

    The header is ``0x00 0x00 <type> <ndim>`` then ``ndim`` big-endian uint32 dims; the data
    must be exactly ``prod(dims)`` items, so truncated files or trailing bytes are rejected.
    ``expected_sha256`` is checked against the bytes on disk (the .gz as published).
    Returns a writable array in native byte order (uint8 for MNIST). Raises ``ValueError``
    naming the file on any inconsistency.
    """
    path = Path(path)
    raw = path.read_bytes()
    if expected_sha256 is not None:
        check_sha256(path, hashlib.sha256(raw).hexdigest(), expected_sha256)
    if raw[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    elif path.suffix == ".gz":
        raise ValueError(f"{path}: expected gzip data (magic 1f 8b), got {raw[:2].hex(' ')}")
    else:
        data = raw
    if len(data) < 4:
        raise ValueError(f"{path}: truncated IDX file ({len(data)} bytes, header needs >= 4)")
    type_code, ndim = data[2], data[3]
    if data[:2] != b"\0\0" or type_code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(
            f"{path}: bad IDX magic number 0x{data[:4].hex()}; expected 0x0000TTNN with type TT "
            f"in {sorted(f'{t:02x}' for t in _IDX_DTYPES)} and NN >= 1 dims "
            "(MNIST: 0x00000803 images, 0x00000801 labels)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} bytes, need {header})")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        what = "truncated" if actual < expected else "trailing bytes"
        raise ValueError(
            f"{path}: header dims {dims} need {expected} data bytes but the file has {actual} "
            f"({what})"
        )
    arr = np.frombuffer(data, dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # copy: writable, native byte order


def read_images(path: Path, sha256: str | None) -> np.ndarray:
    """An MNIST-style image file: uint8 ``(n, 28, 28)``."""
    arr = read_idx(path, expected_sha256=sha256)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[1:] != IMAGE_SHAPE:
        raise ValueError(
            f"{path}: expected an MNIST image file (magic 0x00000803, uint8, N x 28 x 28), "
            f"got {arr.dtype} with shape {arr.shape}"
        )
    return arr


def read_labels(path: Path, sha256: str | None) -> np.ndarray:
    """An MNIST-style label file: uint8 ``(n,)`` in ``0..9``."""
    arr = read_idx(path, expected_sha256=sha256)
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise ValueError(
            f"{path}: expected an MNIST label file (magic 0x00000801, uint8, N labels), "
            f"got {arr.dtype} with shape {arr.shape}"
        )
    check_labels(path, arr)
    return arr


def check_labels(path: Path | str, labels: np.ndarray) -> None:
    """Reject a label ``>= NUM_CLASSES``, naming the file and the first bad index."""
    if labels.size and int(labels.max()) >= NUM_CLASSES:
        bad = int(np.flatnonzero(labels >= NUM_CLASSES)[0])
        raise ValueError(
            f"{path}: label {int(labels[bad])} at index {bad}; expected labels in "
            f"0..{NUM_CLASSES - 1}"
        )


def check_label_set(path: Path | str, labels: np.ndarray, split: str) -> None:
    """Refuse a degenerate set of labels, naming the file: none at all, labels outside
    ``0..9``, or a single class (all-zero labels, say) where a set should hold several
    (training on one class learns nothing; validating on one measures nothing)."""
    check_labels(path, labels)
    if labels.size == 0:
        raise ValueError(f"{path}: no {split} labels; expected one label in 0..9 per image")
    classes = np.unique(labels)
    if classes.size < 2 and (split == "training" or labels.size > 1):
        raise ValueError(
            f"{path}: all {labels.size} {split} labels are {int(classes[0])}: a single class "
            f"is a degenerate label set; expected labels of several classes in "
            f"0..{NUM_CLASSES - 1}"
        )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


REDOWNLOAD = "the file is damaged or not the published one (delete it to download it again)"


def check_sha256(path: Path, actual: str, expected: str, advice: str = REDOWNLOAD) -> None:
    """``ValueError`` naming ``path`` with ``advice`` when the sha256 ``actual`` is not the
    ``expected`` one (the default advice suits a downloaded file; the shipped sample's says
    to reinstall the package)."""
    if actual.lower() != expected.lower():
        raise ValueError(
            f"{path}: sha256 {actual} does not match the expected {expected}; {advice}"
        )
