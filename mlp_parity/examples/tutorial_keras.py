"""The Keras half of the tutorial, trained with :func:`mlp_parity.train.train` in numpy, JAX and
Keras from one initialisation.

The tutorial's model: ``Sequential([Dense(128, sigmoid), Dense(10, sigmoid)])`` compiled with
``loss='categorical_crossentropy', optimizer='sgd'`` (Keras 2's ``SGD()``: learning rate 0.01,
momentum 0), fitted with ``batch_size=128, epochs=100`` (``fit`` shuffles every epoch) and
reporting each epoch's train loss and accuracy (means over its batches, measured before each
update) and the validation loss and accuracy after it. Keras 2 initialised ``Dense`` kernels
Glorot-uniform and biases at zero: :func:`mlp_parity.init_params`' scheme for this network.
In ``mlp_parity`` terms: ``MLPSpec((784, 128, 10), "sigmoid", "categorical_cross_entropy",
output_activation="sigmoid")`` and ``SGD(0.01, momentum=0)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

from .tutorial import KERAS_BATCH_SIZE, KERAS_EPOCHS, KERAS_LEARNING_RATE, KERAS_MOMENTUM
from .tutorial_data import TutorialData

FINAL_KEYS = {  # our history key -> the JSON key (the tutorial's Keras names, spelled out)
    "accuracy": "train_accuracy",
    "val_accuracy": "val_accuracy",
    "loss": "train_loss",
    "val_loss": "val_loss",
}


def train_keras_half(
    data: TutorialData,
    *,
    backends: Sequence[str] = ("numpy", "jax", "keras"),
    epochs: int = KERAS_EPOCHS,
    seed: int = 0,
    dtype: str = "float64",
    progress: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Train the tutorial's Keras network with each of ``backends`` from the same initial
    parameters (``init_params(spec, seed)``) on the same batches (order from ``seed``).

    Returns :func:`mlp_parity.train.compare_backends`' dict (``results``, ``wall``,
    ``divergence`` from the reference: numpy if it ran) plus ``spec``. In float64 the
    backends' parameters end equal to round-off: the tutorial's own setup, one trajectory.
    """
    from ..params import init_params
    from ..train import compare_backends
    from .tutorial import keras_spec

    spec = keras_spec()
    params = init_params(spec, seed=seed, dtype=dtype)
    arrays = SimpleNamespace(
        x_train=data.keras_x_train.astype(dtype, copy=False),
        y_train=data.keras_y_train,
        x_val=data.keras_x_val.astype(dtype, copy=False),
        y_val=data.keras_y_val,
    )
    out = compare_backends(
        spec,
        params,
        arrays,
        backends=list(backends),
        epochs=epochs,
        batch_size=KERAS_BATCH_SIZE,
        learning_rate=KERAS_LEARNING_RATE,
        momentum=KERAS_MOMENTUM,
        seed=seed,
        progress=progress,
    )
    out["spec"] = spec
    return out


def final_metrics(history: dict[str, list[float]]) -> dict[str, float]:
    """The last epoch's ``train_accuracy``, ``val_accuracy``, ``train_loss``, ``val_loss``."""
    return {key: float(history[ours][-1]) for ours, key in FINAL_KEYS.items()}
