"""Datasets: MNIST, an offline MNIST sample shipped in this folder, and Fashion-MNIST.

Every loader returns a :class:`Dataset` with images flattened row-major to ``(n, 784)`` floats
in ``[0, 1]`` (pixel / 255) and ``int64`` labels in ``0..9``. Every file read is validated
(IDX magic, header dims against file size, image size, label range, image/label counts, and
sha256 where a published one applies) so a damaged file raises ``ValueError`` naming the file
instead of training on silently wrong data.

The modules: :mod:`.dataset` (the :class:`Dataset` type, ``one_hot``, ``stratified_split``),
:mod:`.idx` (reading IDX files), :mod:`.sources` (where each dataset is looked for, and
``load_dataset``), :mod:`.download` (checked downloads, with pooch when installed). The shipped
sample, ``t10k-*-ubyte.gz`` and its ``README.md``, lies beside them.

Only numpy is imported at import time; the downloader's libraries when a download starts.

Environment variables:

* ``MLP_PARITY_CACHE``: download cache (default ``~/.cache/mlp_parity``).
* ``MLP_PARITY_OFFLINE``: any value except ``""``, ``0``, ``false``, ``no`` forbids downloads.
* ``KERAS_HOME``: where Keras keeps ``datasets/`` (default ``~/.keras``).
"""

from __future__ import annotations

from .dataset import (
    IMAGE_SHAPE,
    NUM_CLASSES,
    NUM_FEATURES,
    SAMPLE_SEED,
    Dataset,
    DatasetUnavailableError,
    one_hot,
    stratified_split,
)
from .download import DOWNLOAD_TIMEOUT_S
from .idx import read_idx
from .sources import DATASETS, SAMPLE_N_VAL, load_dataset

__all__ = [
    "DATASETS",
    "DOWNLOAD_TIMEOUT_S",
    "Dataset",
    "DatasetUnavailableError",
    "IMAGE_SHAPE",
    "NUM_CLASSES",
    "NUM_FEATURES",
    "SAMPLE_N_VAL",
    "SAMPLE_SEED",
    "load_dataset",
    "one_hot",
    "read_idx",
    "stratified_split",
]
