"""The tutorial's data: its split, its ``[::4]`` subsets, and its ``next_batch`` stream.

The tutorial read MNIST with TensorFlow's old ``input_data`` reader: of the official 60,000
training digits the first 5,000 validate and the other 55,000 train; pixels in [0, 1], one-hot
labels. The numpy half draws ``next_batch(128)`` from each, the Keras half fits on every 4th
digit of each. :func:`tutorial_split` reproduces that from ``load_dataset("mnist")``; the offline
``mnist-sample`` (8,000 train / 2,000 validation digits) is used as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .tutorial import SUBSET_STEP, VALIDATION_SIZE

FULL_MNIST_TRAIN = 60_000


@dataclass(frozen=True, eq=False)
class TutorialData:
    """Arrays for both halves; labels are integer classes (n,).

    ``x_train``/``y_train`` and ``x_val``/``y_val``: what the numpy half's ``next_batch``
    streams draw from. ``keras_*``: what the Keras half fits and validates on. ``note`` says in
    one line how this differs from the tutorial's data (empty when it does not).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    keras_x_train: np.ndarray
    keras_y_train: np.ndarray
    keras_x_val: np.ndarray
    keras_y_val: np.ndarray
    note: str

    def sizes(self) -> dict[str, int]:
        return {
            "numpy_train": int(self.x_train.shape[0]),
            "numpy_validation": int(self.x_val.shape[0]),
            "keras_train": int(self.keras_x_train.shape[0]),
            "keras_validation": int(self.keras_x_val.shape[0]),
        }


def tutorial_split(ds: Any) -> TutorialData:
    """The tutorial's data from a :class:`~mlp_parity.data.Dataset`.

    Full MNIST (60,000 training digits in file order): validation = the first 5,000, train =
    the other 55,000; the Keras half takes ``[::4]`` of each (13,750 / 1,250), as the tutorial.
    Anything else (``mnist-sample``: 8,000 / 2,000) keeps its own split; the numpy half streams
    from it, and the Keras half fits on all of it: ``[::4]`` would leave 2,000 digits, 16
    steps an epoch, where the tutorial took 108.
    """
    if ds.name == "mnist" and ds.x_train.shape[0] == FULL_MNIST_TRAIN:
        x_val, y_val = ds.x_train[:VALIDATION_SIZE], ds.y_train[:VALIDATION_SIZE]
        x_tr, y_tr = ds.x_train[VALIDATION_SIZE:], ds.y_train[VALIDATION_SIZE:]
        k = SUBSET_STEP
        return TutorialData(
            ds.name,
            x_tr,
            y_tr,
            x_val,
            y_val,
            x_tr[::k],
            y_tr[::k],
            x_val[::k],
            y_val[::k],
            "",
        )
    n_tr, n_val = ds.x_train.shape[0], ds.x_val.shape[0]
    note = (
        f"{ds.name}: {n_tr:,} train / {n_val:,} validation digits, not the tutorial's "
        f"55,000 / 5,000 (Keras: all {n_tr:,} / {n_val:,}, not [::4]'s 13,750 / 1,250)"
    )
    return TutorialData(
        ds.name,
        ds.x_train,
        ds.y_train,
        ds.x_val,
        ds.y_val,
        ds.x_train,
        ds.y_train,
        ds.x_val,
        ds.y_val,
        note,
    )


class BatchStream:
    """``next_batch(n)`` as TensorFlow's reader served it: the rows in a random order, drawn
    afresh at the first call and whenever the rows run out (a batch that crosses the end takes
    the old order's rest, then the head of the new one). The order comes from
    ``np.random.default_rng(seed)``; the tutorial's came from numpy's global generator, not
    reproducible here, so ``seed`` stands for it.
    """

    def __init__(self, x: np.ndarray, labels: np.ndarray, seed: int, num_classes: int = 10):
        if len(x) != len(labels) or len(x) == 0:
            raise ValueError(
                f"x and labels need the same nonzero length, got {len(x)}, {len(labels)}"
            )
        self._x = np.asarray(x)
        self._t = np.eye(num_classes)[np.asarray(labels)]  # one-hot float64, as the reader's
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(len(x))
        self._pos = 0

    def next_indices(self, n: int) -> np.ndarray:
        """The row indices of the next ``n`` examples (advancing the stream)."""
        out = []
        while n > 0:
            if self._pos == len(self._order):
                self._order, self._pos = self._rng.permutation(len(self._x)), 0
            take = min(n, len(self._order) - self._pos)
            out.append(self._order[self._pos : self._pos + take])
            self._pos += take
            n -= take
        return np.concatenate(out)

    def next_batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(x (n, 784), one-hot targets (n, 10))``, the next ``n`` examples."""
        idx = self.next_indices(n)
        return self._x[idx], self._t[idx]
