"""Datasets: MNIST, an offline MNIST sample shipped with the package, and Fashion-MNIST.

Every loader returns a :class:`Dataset` with images flattened row-major to ``(n, 784)`` floats
in ``[0, 1]`` (pixel / 255) and ``int64`` labels in ``0..9``. Every file read is validated
(IDX magic, header dims against file size, image size, label range, image/label counts, and
sha256 where a published one applies) so a damaged file raises ``ValueError`` naming the file
instead of training on silently wrong data.

Only numpy is imported at module import time; urllib is imported when a download starts.

Environment variables:

* ``MLP_PARITY_CACHE``: download cache (default ``~/.cache/mlp_parity``).
* ``MLP_PARITY_OFFLINE``: any value except ``""``, ``0``, ``false``, ``no`` forbids downloads.
* ``KERAS_HOME``: where Keras keeps ``datasets/`` (default ``~/.keras``).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetUnavailableError",
    "load_dataset",
    "one_hot",
    "read_idx",
    "stratified_split",
]

DATASETS = ("mnist", "mnist-sample", "fashion-mnist")
IMAGE_SHAPE = (28, 28)
NUM_FEATURES = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
NUM_CLASSES = 10

SAMPLE_N_VAL = 2000  # the shipped 10,000 test images split 8,000 train / 2,000 validation
SAMPLE_SEED = 20240229
DOWNLOAD_TIMEOUT_S = 10.0  # per connect / per read; short so an offline machine fails fast

_SAMPLE_DIR = Path(__file__).resolve().parent / "data"
# (file stem without .gz, role). Train = the official training set, val = the official test set.
_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_val": "t10k-images-idx3-ubyte",
    "y_val": "t10k-labels-idx1-ubyte",
}
# Published sha256 of the gzipped IDX files, keyed by stem (same bytes on the usual mirrors).
_MNIST_IDX_SHA256 = {
    "train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
_FASHION_IDX_SHA256 = {
    "train-images-idx3-ubyte": "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
    "train-labels-idx1-ubyte": "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
    "t10k-images-idx3-ubyte": "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
    "t10k-labels-idx1-ubyte": "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
}
_KERAS_BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# The same file and sha256 that keras.datasets.mnist.load_data() uses.
_MNIST_NPZ = "mnist.npz"
_MNIST_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
_MNIST_NPZ_URLS = (_KERAS_BASE_URL,)
_FASHION_URLS = (_KERAS_BASE_URL, "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/")
# Debian's dataset-fashion-mnist installs the four .gz files here (recompressed: other sha256).
_SYSTEM_FASHION_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)

# IDX type code -> big-endian numpy dtype.
_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DatasetUnavailableError(FileNotFoundError):
    """The requested dataset is on no searched path and could not be downloaded."""


class _DownloadError(OSError):
    """A download failed for a network reason (not a checksum mismatch)."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/validation split of 28x28 grey images, flattened.

    ``x_*`` are ``(n, 784)`` float arrays in ``[0, 1]`` (row-major flattened 28x28 images);
    ``y_*`` are ``(n,)`` int64 labels in ``0..num_classes-1``. ``source`` says where the data
    came from, so a caller can report it (and notice a fallback, which also changes ``name``).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    source: str
    num_classes: int = NUM_CLASSES

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, x_train={self.x_train.shape} {self.x_train.dtype}, "
            f"x_val={self.x_val.shape}, num_classes={self.num_classes}, source={self.source!r})"
        )


# --------------------------------------------------------------------------- public helpers


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
        _check_sha256(path, hashlib.sha256(raw).hexdigest(), expected_sha256)
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


def one_hot(
    labels: np.ndarray, num_classes: int = NUM_CLASSES, dtype: Any = "float64"
) -> np.ndarray:
    """One-hot encode integer ``labels`` of shape ``s`` into ``s + (num_classes,)``.

    Float64 by default because the gradient-parity checks compare in float64.
    Raises ``ValueError`` for non-integer labels or labels outside ``0..num_classes-1``.
    """
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"one_hot needs integer labels, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"one_hot labels must lie in 0..{num_classes - 1}, got {labels.min()}..{labels.max()}"
        )
    return np.eye(num_classes, dtype=dtype)[labels]


def stratified_split(
    labels: np.ndarray, n_val: int, *, seed: int = SAMPLE_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices ``0..len(labels)-1`` into disjoint sorted ``(train_idx, val_idx)``.

    Each class gets ``n_val * class_count / n`` validation items (largest-remainder rounding,
    so exactly ``n_val`` in total). The order within a class comes from the raw PCG64 bit
    stream, which numpy keeps stable across versions, so the split is reproducible.
    """
    labels = np.asarray(labels).ravel()
    n = labels.size
    if not 0 <= n_val <= n:
        raise ValueError(f"n_val must be in 0..{n}, got {n_val}")
    classes, counts = np.unique(labels, return_counts=True)
    quota = n_val * counts / max(n, 1)
    take = np.floor(quota).astype(np.int64)
    short = n_val - int(take.sum())
    take[np.argsort(-(quota - take), kind="stable")[:short]] += 1
    keys = np.random.PCG64(seed).random_raw(n)
    val_parts = []
    for cls, k in zip(classes, take, strict=True):
        idx = np.flatnonzero(labels == cls)
        val_parts.append(idx[np.argsort(keys[idx], kind="stable")[:k]])
    val_idx = np.sort(np.concatenate(val_parts)) if val_parts else np.empty(0, np.int64)
    mask = np.ones(n, dtype=bool)
    mask[val_idx] = False
    return np.flatnonzero(mask), val_idx


# --------------------------------------------------------------------------- load_dataset


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    dtype: str = "float32",
    progress: bool = True,
) -> Dataset:
    """Load ``name`` (one of :data:`DATASETS`) as a :class:`Dataset` of ``dtype`` pixels.

    ``mnist``: 60,000 train / 10,000 validation (the official test set). Looked for in
    ``data_dir`` (or ``data_dir/mnist``: the four IDX files, ``.gz`` or raw, or ``mnist.npz``),
    then Keras' ``~/.keras/datasets/mnist.npz``, then our cache, then downloaded once
    (``mnist.npz``, sha256 checked) unless ``download=False`` or ``MLP_PARITY_OFFLINE`` is set.
    If none works, prints one line to stderr and returns ``mnist-sample`` (``name`` says so).

    ``mnist-sample``: the shipped 10,000 MNIST test images split 8,000 / 2,000 (stratified,
    fixed seed, disjoint); offline, decoded once per process. ``data_dir`` is ignored.

    ``fashion-mnist``: ``data_dir`` (or ``data_dir/fashion-mnist``), Keras'
    ``~/.keras/datasets/fashion-mnist/``, Debian's ``/usr/share/datasets/fashion-mnist/``,
    our cache, then a checked download. If all fail it raises :class:`DatasetUnavailableError`
    rather than substitute digits, which would be silently wrong data.

    A ``data_dir`` that is given but holds no complete set raises ``ValueError`` (a typo in
    ``--data`` should not quietly load something else). Local files are validated structurally;
    sha256 is enforced on downloads and on our cache. Damaged files raise ``ValueError``.
    """
    key = name.strip().lower().replace("_", "-") if isinstance(name, str) else name
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    np_dtype = np.dtype(dtype)
    if np_dtype.kind != "f":
        raise ValueError(f"dtype must be a float type such as 'float32', got {dtype!r}")
    if key == "mnist-sample":
        return _load_sample(np_dtype)
    if key == "mnist":
        return _load_mnist(data_dir, download, np_dtype, progress)
    return _load_fashion(data_dir, download, np_dtype, progress)


def _load_sample(dtype: np.dtype) -> Dataset:
    images, labels, train_idx, val_idx = _sample_arrays()
    return _make_dataset(
        "mnist-sample",
        images[train_idx],
        labels[train_idx],
        images[val_idx],
        labels[val_idx],
        f"package sample: {_SAMPLE_DIR} (official MNIST test set, split "
        f"{train_idx.size}/{val_idx.size} stratified, seed {SAMPLE_SEED})",
        dtype,
    )


@lru_cache(maxsize=1)
def _sample_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Decode the shipped files once: uint8 images (10000, 28, 28), labels, split indices."""
    images = _read_images(
        _SAMPLE_DIR / "t10k-images-idx3-ubyte.gz",
        _MNIST_IDX_SHA256["t10k-images-idx3-ubyte"],
    )
    labels = _read_labels(
        _SAMPLE_DIR / "t10k-labels-idx1-ubyte.gz",
        _MNIST_IDX_SHA256["t10k-labels-idx1-ubyte"],
    )
    train_idx, val_idx = stratified_split(labels, SAMPLE_N_VAL, seed=SAMPLE_SEED)
    for arr in (images, labels, train_idx, val_idx):
        arr.setflags(write=False)
    return images, labels, train_idx, val_idx


def _load_mnist(
    data_dir: str | os.PathLike[str] | None, download: bool, dtype: np.dtype, progress: bool
) -> Dataset:
    if data_dir is not None:
        return _from_data_dir("mnist", Path(data_dir), dtype, allow_npz=True)
    keras_npz = _keras_datasets_dir() / _MNIST_NPZ
    if keras_npz.is_file():
        return _from_npz("mnist", keras_npz, f"Keras cache {keras_npz}", dtype)
    cached = _cache_dir() / _MNIST_NPZ
    if cached.is_file():
        _check_sha256(cached, _sha256_file(cached), _MNIST_NPZ_SHA256)
        return _from_npz("mnist", cached, f"cache {cached} (sha256 verified)", dtype)
    why = _download_blocker(download)
    if why is None:
        try:
            path = _download(_MNIST_NPZ, _MNIST_NPZ_URLS, _cache_dir(), _MNIST_NPZ_SHA256, progress)
        except _DownloadError as exc:
            why = f"download failed: {exc}"
        else:
            return _from_npz("mnist", path, f"downloaded to {path} (sha256 verified)", dtype)
    message = (
        f"mlp_parity: full MNIST not available ({why}); using the bundled 10,000-image "
        f"'mnist-sample' instead. For full MNIST pass --data DIR (the four IDX files) or put "
        f"mnist.npz in {_keras_datasets_dir()}"
    )
    print(" ".join(message.split()), file=sys.stderr)
    return _load_sample(dtype)


def _load_fashion(
    data_dir: str | os.PathLike[str] | None, download: bool, dtype: np.dtype, progress: bool
) -> Dataset:
    name = "fashion-mnist"
    if data_dir is not None:
        return _from_data_dir(name, Path(data_dir), dtype, allow_npz=False)
    for directory in (_keras_datasets_dir() / name, *_SYSTEM_FASHION_DIRS):
        found = _find_idx_set(directory)
        complete = None if found is None else _complete(found)
        if complete is not None:
            return _from_idx(name, complete, f"IDX files in {directory}", dtype, None)
    cache = _cache_dir() / name
    why = _download_blocker(download)
    paths: dict[str, Path] = {}
    for role, stem in _IDX_FILES.items():
        target = cache / f"{stem}.gz"
        if not target.is_file() and why is None:
            try:
                _download(target.name, _FASHION_URLS, cache, _FASHION_IDX_SHA256[stem], progress)
            except _DownloadError as exc:
                why = f"download failed: {exc}"
        if target.is_file():
            paths[role] = target
    if len(paths) == len(_IDX_FILES):
        return _from_idx(
            name, paths, f"cache {cache} (sha256 verified)", dtype, _FASHION_IDX_SHA256
        )
    looked = [_keras_datasets_dir() / name, *_SYSTEM_FASHION_DIRS, cache]
    raise DatasetUnavailableError(
        f"Fashion-MNIST not available ({why or 'not found'}); looked in "
        f"{', '.join(map(str, looked))}. Pass --data DIR with the four IDX files, install "
        "Debian's dataset-fashion-mnist, or run once with network access (download=True, "
        "MLP_PARITY_OFFLINE unset). "
        "Not substituting MNIST digits."
    )


# --------------------------------------------------------------------------- file readers


def _from_data_dir(name: str, data_dir: Path, dtype: np.dtype, *, allow_npz: bool) -> Dataset:
    if not data_dir.is_dir():
        raise ValueError(f"data_dir {data_dir} is not a directory")
    for directory in (data_dir, data_dir / name):
        found = _find_idx_set(directory)
        if found is None:
            if allow_npz and (directory / _MNIST_NPZ).is_file():
                npz = directory / _MNIST_NPZ
                return _from_npz(name, npz, str(npz), dtype)
            continue
        complete = _complete(found)
        if complete is None:
            missing = [f"{_IDX_FILES[r]}[.gz]" for r, p in found.items() if p is None]
            raise ValueError(f"data_dir {directory} is missing {', '.join(missing)}")
        return _from_idx(name, complete, f"IDX files in {directory}", dtype, None)
    wanted = ", ".join(f"{stem}[.gz]" for stem in _IDX_FILES.values())
    also = f" (or {_MNIST_NPZ})" if allow_npz else ""
    raise ValueError(f"data_dir {data_dir} has no {name} files: expected {wanted}{also}")


def _find_idx_set(directory: Path) -> dict[str, Path | None] | None:
    """Map role -> IDX path (``.gz`` preferred) in ``directory``; None if none of them exist."""
    found: dict[str, Path | None] = {}
    for role, stem in _IDX_FILES.items():
        found[role] = next(
            (p for p in (directory / f"{stem}.gz", directory / stem) if p.is_file()), None
        )
    return None if all(p is None for p in found.values()) else found


def _complete(found: dict[str, Path | None]) -> dict[str, Path] | None:
    """``found`` if all four files are present, else None."""
    paths = {role: p for role, p in found.items() if p is not None}
    return paths if len(paths) == len(_IDX_FILES) else None


def _from_idx(
    name: str,
    paths: dict[str, Path],
    source: str,
    dtype: np.dtype,
    sha256: dict[str, str] | None,
) -> Dataset:
    def sha(path: Path) -> str | None:
        return None if sha256 is None else sha256[path.name.removesuffix(".gz")]

    x_train = _read_images(paths["x_train"], sha(paths["x_train"]))
    y_train = _read_labels(paths["y_train"], sha(paths["y_train"]))
    x_val = _read_images(paths["x_val"], sha(paths["x_val"]))
    y_val = _read_labels(paths["y_val"], sha(paths["y_val"]))
    for x, y, px, py in (
        (x_train, y_train, paths["x_train"], paths["y_train"]),
        (x_val, y_val, paths["x_val"], paths["y_val"]),
    ):
        if len(x) != len(y):
            raise ValueError(
                f"{px} has {len(x)} images but {py} has {len(y)} labels; expected equal counts"
            )
    return _make_dataset(name, x_train, y_train, x_val, y_val, source, dtype)


def _read_images(path: Path, sha256: str | None) -> np.ndarray:
    arr = read_idx(path, expected_sha256=sha256)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[1:] != IMAGE_SHAPE:
        raise ValueError(
            f"{path}: expected an MNIST image file (magic 0x00000803, uint8, N x 28 x 28), "
            f"got {arr.dtype} with shape {arr.shape}"
        )
    return arr


def _read_labels(path: Path, sha256: str | None) -> np.ndarray:
    arr = read_idx(path, expected_sha256=sha256)
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise ValueError(
            f"{path}: expected an MNIST label file (magic 0x00000801, uint8, N labels), "
            f"got {arr.dtype} with shape {arr.shape}"
        )
    _check_labels(path, arr)
    return arr


def _check_labels(path: Path, labels: np.ndarray) -> None:
    if labels.size and int(labels.max()) >= NUM_CLASSES:
        bad = int(np.flatnonzero(labels >= NUM_CLASSES)[0])
        raise ValueError(
            f"{path}: label {int(labels[bad])} at index {bad}; expected labels in "
            f"0..{NUM_CLASSES - 1}"
        )


def _from_npz(name: str, path: Path, source: str, dtype: np.dtype) -> Dataset:
    """Read a Keras-style ``mnist.npz`` (uint8 x_* (n, 28, 28), integer y_* (n,))."""
    import zipfile  # stdlib; only needed for the error type

    keys = ("x_train", "y_train", "x_test", "y_test")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not hasattr(loaded, "files"):  # a bare .npy array, not an archive
            raise ValueError(f"{path}: expected an .npz archive with keys {list(keys)}")
        with loaded as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise ValueError(f"{path}: missing arrays {missing}; expected keys {list(keys)}")
            arrays = {k: npz[k] for k in keys}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
        if str(path) in str(exc):
            raise
        raise ValueError(f"{path}: not a readable .npz file ({exc})") from None
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE:
            raise ValueError(
                f"{path}: x_{split} must be uint8 (N, 28, 28), got {x.dtype} {x.shape}"
            )
        if y.dtype.kind not in "iu" or y.ndim != 1 or (y.size and int(y.min()) < 0):
            raise ValueError(
                f"{path}: y_{split} must be non-negative integers (N,), got {y.dtype} {y.shape}"
            )
        _check_labels(path, y)
        if len(x) != len(y):
            raise ValueError(
                f"{path}: x_{split} has {len(x)} images but y_{split} has {len(y)} labels; "
                "expected equal counts"
            )
    return _make_dataset(
        name,
        arrays["x_train"],
        arrays["y_train"],
        arrays["x_test"],
        arrays["y_test"],
        source,
        dtype,
    )


def _make_dataset(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    source: str,
    dtype: np.dtype,
) -> Dataset:
    """uint8 (n, 28, 28) images -> (n, 784) ``dtype`` in [0, 1]; labels -> int64 copies."""

    def scale(x: np.ndarray) -> np.ndarray:
        out = x.reshape(len(x), NUM_FEATURES).astype(dtype)
        out /= dtype.type(255)
        return out

    return Dataset(
        name=name,
        x_train=scale(x_train),
        y_train=y_train.astype(np.int64),
        x_val=scale(x_val),
        y_val=y_val.astype(np.int64),
        source=source,
    )


# --------------------------------------------------------------------------- paths, hashes


def _cache_dir() -> Path:
    env = os.environ.get("MLP_PARITY_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mlp_parity"


def _keras_datasets_dir() -> Path:
    env = os.environ.get("KERAS_HOME")
    return (Path(env).expanduser() if env else Path.home() / ".keras") / "datasets"


def _download_blocker(download: bool) -> str | None:
    """Why a download must not be tried now, or None if it may."""
    if not download:
        return "download=False"
    if os.environ.get("MLP_PARITY_OFFLINE", "").strip().lower() not in ("", "0", "false", "no"):
        return "MLP_PARITY_OFFLINE is set"
    return None


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_sha256(path: Path, actual: str, expected: str) -> None:
    if actual.lower() != expected.lower():
        raise ValueError(
            f"{path}: sha256 {actual} does not match the expected {expected}; the file is "
            "damaged or not the published one (delete it to download it again)"
        )


# --------------------------------------------------------------------------- downloading


def _download(
    filename: str, base_urls: Sequence[str], dest_dir: Path, sha256: str, progress: bool
) -> Path:
    """Fetch ``filename`` from the first base URL that answers into ``dest_dir``.

    Writes to a temporary file in ``dest_dir`` and renames it into place only after the
    sha256 matches, so the cache never holds a partial or unverified file. A mismatch raises
    ``ValueError``; network failures on every mirror raise ``_DownloadError``.
    """
    from http.client import HTTPException  # stdlib, imported only when downloading

    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / filename
    errors = []
    for base in base_urls:
        url = base + filename
        fd, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=dest_dir)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                _fetch(url, out, label=filename, progress=progress)
            actual = _sha256_file(tmp)
            if actual != sha256:
                raise ValueError(
                    f"{dest} (downloaded from {url}): sha256 {actual} does not match the "
                    f"published {sha256}; discarded the file"
                )
            os.replace(tmp, dest)
            return dest
        except (OSError, HTTPException) as exc:
            errors.append(f"{url}: {exc}")
        finally:
            tmp.unlink(missing_ok=True)
    raise _DownloadError("; ".join(errors))


def _urlopen(url: str, timeout: float) -> Any:
    """Open ``url`` (the one network call; tests replace it)."""
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "mlp_parity"})
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (https URLs only)


def _fetch(url: str, out: IO[bytes], *, label: str, progress: bool) -> None:
    """Stream ``url`` into ``out``, drawing a progress bar on stderr if asked."""
    with _urlopen(url, DOWNLOAD_TIMEOUT_S) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        bar = _ProgressBar(label, total) if progress else None
        received = 0
        try:
            while chunk := response.read(1 << 16):
                out.write(chunk)
                received += len(chunk)
                if bar is not None:
                    bar.update(received)
        finally:
            if bar is not None:
                bar.close(received)
    if total is not None and received != total:
        raise _DownloadError(f"incomplete download: {received} of {total} bytes")


class _ProgressBar:
    """A one-line text progress bar on stderr (no tqdm), redrawn at most 10 times a second."""

    def __init__(self, label: str, total: int | None, stream: IO[str] | None = None) -> None:
        self.label, self.total = label, total
        self.stream = stream if stream is not None else sys.stderr
        self.start = self.last = time.monotonic()

    def update(self, done: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        mb, rate = done / 1e6, done / 1e6 / max(now - self.start, 1e-9)
        if self.total:
            frac = min(done / self.total, 1.0)
            bar = "#" * int(30 * frac)
            text = (
                f"{self.label} {100 * frac:5.1f}% [{bar:<30}] {mb:.1f}/{self.total / 1e6:.1f} MB"
                f" {rate:.1f} MB/s"
            )
        else:
            text = f"{self.label} {mb:.1f} MB {rate:.1f} MB/s"
        self.stream.write("\r" + text)
        self.stream.flush()

    def close(self, done: int) -> None:
        self.update(done, force=True)
        self.stream.write("\n")
        self.stream.flush()
