"""The :class:`Dataset` every loader returns, and the helpers that shape labels and splits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

IMAGE_SHAPE = (28, 28)
NUM_FEATURES = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
NUM_CLASSES = 10
SAMPLE_SEED = 20240229  # the seed of the shipped sample's split (and stratified_split's default)


class DatasetUnavailableError(FileNotFoundError):
    """The requested dataset is on no searched path and could not be downloaded."""


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


def make_dataset(
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
