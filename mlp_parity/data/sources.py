"""Where each dataset is looked for, in order, and :func:`load_dataset`, which walks that order.

Environment variables (besides the download ones in :mod:`.download`):

* ``KERAS_HOME``: where Keras keeps ``datasets/`` (default ``~/.keras``).
"""

from __future__ import annotations

import os
import sys
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from .dataset import (
    IMAGE_SHAPE,
    SAMPLE_SEED,
    Dataset,
    DatasetUnavailableError,
    make_dataset,
    stratified_split,
)
from .download import DownloadError, cache_dir, download_blocker, fetch
from .idx import check_label_set, check_sha256, read_images, read_labels, sha256_file

DATASETS = ("mnist", "mnist-sample", "fashion-mnist")
SAMPLE_N_VAL = 2000  # the shipped 10,000 test images split 8,000 train / 2,000 validation

REINSTALL = (
    "the mlp_parity package install is damaged (its shipped MNIST sample changed); reinstall "
    "mlp_parity (pip install --force-reinstall mlp_parity, or pip install -e . in a checkout)"
)
SAMPLE_DIR = Path(__file__).resolve().parent  # the shipped t10k-*.gz lie beside this loader
# Role -> file stem without .gz. Train = the official training set, val = the official test set.
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_val": "t10k-images-idx3-ubyte",
    "y_val": "t10k-labels-idx1-ubyte",
}
# Published sha256 of the gzipped IDX files, keyed by stem (same bytes on the usual mirrors).
MNIST_IDX_SHA256 = {
    "train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
FASHION_IDX_SHA256 = {
    "train-images-idx3-ubyte": "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
    "train-labels-idx1-ubyte": "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
    "t10k-images-idx3-ubyte": "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
    "t10k-labels-idx1-ubyte": "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
}
_KERAS_BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# The same file and sha256 that keras.datasets.mnist.load_data() uses.
MNIST_NPZ = "mnist.npz"
MNIST_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
MNIST_NPZ_URLS = (_KERAS_BASE_URL,)
FASHION_URLS = (_KERAS_BASE_URL, "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/")
# Debian's dataset-fashion-mnist installs the four .gz files here (recompressed: other sha256).
SYSTEM_FASHION_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)


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
    fixed seed, disjoint); offline, decoded once per process. It reads no folder: a
    ``data_dir`` with it raises ``ValueError`` (a folder given is meant to be read).

    ``fashion-mnist``: ``data_dir`` (or ``data_dir/fashion-mnist``), Keras'
    ``~/.keras/datasets/fashion-mnist/``, Debian's ``/usr/share/datasets/fashion-mnist/``,
    our cache, then a checked download. If all fail it raises :class:`DatasetUnavailableError`
    rather than substitute digits, which would be silently wrong data.

    A ``data_dir`` that is given but holds no complete set raises ``ValueError`` (a typo in
    ``--data`` should not quietly load something else). Local files are validated structurally,
    and their labels must be several classes in 0..9; sha256 is enforced on downloads, on our
    cache and on the shipped sample. Damaged files raise ``ValueError``.
    """
    key = name.strip().lower().replace("_", "-") if isinstance(name, str) else name
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    np_dtype = np.dtype(dtype)
    if np_dtype.kind != "f":
        raise ValueError(f"dtype must be a float type such as 'float32', got {dtype!r}")
    if key == "mnist-sample":
        if data_dir is not None:
            raise ValueError(
                "--data/data_dir is read only for the datasets mnist and fashion-mnist, not for "
                "mnist-sample (shipped inside the package, it reads no folder): pass --dataset "
                f"mnist (or fashion-mnist) to read {data_dir}, or leave --data out"
            )
        return _load_sample(np_dtype)
    if key == "mnist":
        return _load_mnist(data_dir, download, np_dtype, progress)
    return _load_fashion(data_dir, download, np_dtype, progress)


def keras_datasets_dir() -> Path:
    env = os.environ.get("KERAS_HOME")
    return (Path(env).expanduser() if env else Path.home() / ".keras") / "datasets"


# --------------------------------------------------------------------------- one per dataset


def _load_sample(dtype: np.dtype) -> Dataset:
    images, labels, train_idx, val_idx = sample_arrays()
    return make_dataset(
        "mnist-sample",
        images[train_idx],
        labels[train_idx],
        images[val_idx],
        labels[val_idx],
        f"package sample: {SAMPLE_DIR} (official MNIST test set, split "
        f"{train_idx.size}/{val_idx.size} stratified, seed {SAMPLE_SEED})",
        dtype,
    )


@lru_cache(maxsize=1)
def sample_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Decode the shipped files once: uint8 images (10000, 28, 28), labels, split indices.
    A missing or changed file means a damaged install: the error says to reinstall."""
    images_path = SAMPLE_DIR / "t10k-images-idx3-ubyte.gz"
    labels_path = SAMPLE_DIR / "t10k-labels-idx1-ubyte.gz"
    for path in (images_path, labels_path):
        if not path.is_file():
            raise ValueError(f"{path} is missing: {REINSTALL}")
        check_sha256(path, sha256_file(path), MNIST_IDX_SHA256[path.name[:-3]], REINSTALL)
    images = read_images(images_path, None)  # both checked just above
    labels = read_labels(labels_path, None)
    train_idx, val_idx = stratified_split(labels, SAMPLE_N_VAL, seed=SAMPLE_SEED)
    for arr in (images, labels, train_idx, val_idx):
        arr.setflags(write=False)  # shared by every call: callers get copies via make_dataset
    return images, labels, train_idx, val_idx


def _load_mnist(
    data_dir: str | os.PathLike[str] | None, download: bool, dtype: np.dtype, progress: bool
) -> Dataset:
    if data_dir is not None:
        return _from_data_dir("mnist", Path(data_dir), dtype, allow_npz=True)
    keras_npz = keras_datasets_dir() / MNIST_NPZ
    if keras_npz.is_file():
        return _from_npz("mnist", keras_npz, f"Keras cache {keras_npz}", dtype)
    cached = cache_dir() / MNIST_NPZ
    if cached.is_file():
        check_sha256(cached, sha256_file(cached), MNIST_NPZ_SHA256)
        return _from_npz("mnist", cached, f"cache {cached} (sha256 verified)", dtype)
    why = download_blocker(download)
    if why is None:
        try:
            path = fetch(MNIST_NPZ, MNIST_NPZ_URLS, cache_dir(), MNIST_NPZ_SHA256, progress)
        except DownloadError as exc:
            why = f"download failed: {exc}"
        else:
            return _from_npz("mnist", path, f"downloaded to {path} (sha256 verified)", dtype)
    message = (
        f"mlp_parity: full MNIST not available ({why}); using the bundled 10,000-image "
        f"'mnist-sample' instead. For full MNIST pass --data DIR (the four IDX files) or put "
        f"mnist.npz in {keras_datasets_dir()}"
    )
    print(" ".join(message.split()), file=sys.stderr)  # one line, whatever the error text holds
    return _load_sample(dtype)


def _load_fashion(
    data_dir: str | os.PathLike[str] | None, download: bool, dtype: np.dtype, progress: bool
) -> Dataset:
    name = "fashion-mnist"
    if data_dir is not None:
        return _from_data_dir(name, Path(data_dir), dtype, allow_npz=False)
    for directory in (keras_datasets_dir() / name, *SYSTEM_FASHION_DIRS):
        found = _find_idx_set(directory)
        complete = None if found is None else _complete(found)
        if complete is not None:
            return _from_idx(name, complete, f"IDX files in {directory}", dtype, None)
    cache = cache_dir() / name
    why = download_blocker(download)
    paths: dict[str, Path] = {}
    for role, stem in IDX_FILES.items():
        target = cache / f"{stem}.gz"
        if not target.is_file() and why is None:
            try:
                fetch(target.name, FASHION_URLS, cache, FASHION_IDX_SHA256[stem], progress)
            except DownloadError as exc:
                why = f"download failed: {exc}"
        if target.is_file():
            paths[role] = target
    if len(paths) == len(IDX_FILES):
        return _from_idx(name, paths, f"cache {cache} (sha256 verified)", dtype, FASHION_IDX_SHA256)
    looked = [keras_datasets_dir() / name, *SYSTEM_FASHION_DIRS, cache]
    raise DatasetUnavailableError(
        f"Fashion-MNIST not available ({why or 'not found'}); looked in "
        f"{', '.join(map(str, looked))}. Pass --data DIR with the four IDX files, install "
        "Debian's dataset-fashion-mnist, or run once with network access (download=True, "
        "MLP_PARITY_OFFLINE unset). "
        "Not substituting MNIST digits."
    )


# --------------------------------------------------------------------------- local files


def _from_data_dir(name: str, data_dir: Path, dtype: np.dtype, *, allow_npz: bool) -> Dataset:
    if not data_dir.is_dir():
        raise ValueError(f"data_dir {data_dir} is not a directory")
    for directory in (data_dir, data_dir / name):
        found = _find_idx_set(directory)
        if found is None:
            if allow_npz and (directory / MNIST_NPZ).is_file():
                npz = directory / MNIST_NPZ
                return _from_npz(name, npz, str(npz), dtype)
            continue
        complete = _complete(found)
        if complete is None:
            missing = [f"{IDX_FILES[r]}[.gz]" for r, p in found.items() if p is None]
            raise ValueError(f"data_dir {directory} is missing {', '.join(missing)}")
        return _from_idx(name, complete, f"IDX files in {directory}", dtype, None)
    wanted = ", ".join(f"{stem}[.gz]" for stem in IDX_FILES.values())
    also = f" (or {MNIST_NPZ})" if allow_npz else ""
    raise ValueError(f"data_dir {data_dir} has no {name} files: expected {wanted}{also}")


def _find_idx_set(directory: Path) -> dict[str, Path | None] | None:
    """Map role -> IDX path (``.gz`` preferred) in ``directory``; None if none of them exist."""
    found: dict[str, Path | None] = {}
    for role, stem in IDX_FILES.items():
        found[role] = next(
            (p for p in (directory / f"{stem}.gz", directory / stem) if p.is_file()), None
        )
    return None if all(p is None for p in found.values()) else found


def _complete(found: dict[str, Path | None]) -> dict[str, Path] | None:
    """``found`` if all four files are present, else None."""
    paths = {role: p for role, p in found.items() if p is not None}
    return paths if len(paths) == len(IDX_FILES) else None


def _from_idx(
    name: str,
    paths: dict[str, Path],
    source: str,
    dtype: np.dtype,
    sha256: dict[str, str] | None,
) -> Dataset:
    def sha(path: Path) -> str | None:
        return None if sha256 is None else sha256[path.name.removesuffix(".gz")]

    x_train = read_images(paths["x_train"], sha(paths["x_train"]))
    y_train = read_labels(paths["y_train"], sha(paths["y_train"]))
    x_val = read_images(paths["x_val"], sha(paths["x_val"]))
    y_val = read_labels(paths["y_val"], sha(paths["y_val"]))
    for x, y, px, py, split in (
        (x_train, y_train, paths["x_train"], paths["y_train"], "training"),
        (x_val, y_val, paths["x_val"], paths["y_val"], "validation"),
    ):
        check_label_set(py, y, split)
        if len(x) != len(y):
            raise ValueError(
                f"{px} has {len(x)} images but {py} has {len(y)} labels; expected equal counts"
            )
    return make_dataset(name, x_train, y_train, x_val, y_val, source, dtype)


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
        check_label_set(f"{path} y_{split}", y, "training" if split == "train" else "validation")
        if len(x) != len(y):
            raise ValueError(
                f"{path}: x_{split} has {len(x)} images but y_{split} has {len(y)} labels; "
                "expected equal counts"
            )
    arrays_in_order = (arrays[k] for k in keys)
    return make_dataset(name, *arrays_in_order, source, dtype)
