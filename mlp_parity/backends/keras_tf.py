"""Keras 3 engine on TensorFlow: a ``keras.Sequential`` of ``Dense`` layers built from the spec,
weights loaded with ``set_weights``, gradients from ``tf.GradientTape`` — an autodiff
independent of JAX.

Keras fixes its backend at first import; this module asks for TensorFlow (``KERAS_BACKEND``)
and refuses, with an explanation, a Keras already imported on another backend. TF32 is turned
off so GPU matmuls keep full float32 precision, and oneDNN (``TF_ENABLE_ONEDNN_OPTS=0``, unless
set) so small CPU matmuls run on Eigen's faster kernels.
"""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np

from ..params import Params
from ..spec import MLPSpec

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow's oneDNN kernels are slower than its Eigen ones on this project's small matmuls
# (BENCHMARKS.md); read at TensorFlow's import, so a TensorFlow imported earlier keeps it.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        f"the keras backend needs Keras on TensorFlow, but Keras was already imported with "
        f"backend {keras.backend.backend()!r}; set KERAS_BACKEND=tensorflow before importing keras"
    )

tf.config.experimental.enable_tensor_float_32_execution(False)

NAME = "keras"
KERAS_ACTIVATIONS = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "relu", "identity": "linear"}
_CACHE: OrderedDict[tuple, keras.Model] = OrderedDict()
_CACHE_SIZE = 64


def keras_loss(spec: MLPSpec, dtype: str = "float64") -> keras.losses.Loss:
    """The spec's loss as a Keras loss on logits (``from_logits=True``, no clipping), computed
    in ``dtype`` (Keras would otherwise cast to its floatx, float32)."""
    if spec.loss == "softmax_cross_entropy":
        return keras.losses.CategoricalCrossentropy(from_logits=True, dtype=dtype)
    if spec.loss == "sigmoid_cross_entropy":
        return keras.losses.BinaryCrossentropy(from_logits=True, dtype=dtype)
    return keras.losses.MeanSquaredError(dtype=dtype)


def build_model(spec: MLPSpec, dtype: str = "float64") -> keras.Sequential:
    """A fresh, uncompiled ``Sequential``: one ``Dense`` per layer, the last one linear."""
    acts = list(spec.hidden_activations) + ["identity"]
    layers: list = [keras.Input(shape=(spec.sizes[0],), dtype=dtype)]
    for i, (width, act) in enumerate(zip(spec.sizes[1:], acts, strict=True)):
        layers.append(
            keras.layers.Dense(
                width, activation=KERAS_ACTIVATIONS[act], dtype=dtype, name=f"dense_{i}"
            )
        )
    return keras.Sequential(layers)


def to_keras(
    spec: MLPSpec,
    params: Params,
    *,
    compile: bool = True,
    learning_rate: float = 0.01,
    momentum: float = 0.0,
) -> keras.Sequential:
    """A new Keras model with ``params`` loaded (Keras kernels are (fan_in, fan_out) already),
    compiled with the spec's loss on logits and SGD, in the params' dtype."""
    dtype = str(params[0][0].dtype)
    model = build_model(spec, dtype)
    model.set_weights([t for pair in params for t in pair])
    if compile:
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum),
            loss=keras_loss(spec, dtype),
            metrics=["accuracy"] if spec.loss != "mse" else [],
        )
    return model


def _cached_model(spec: MLPSpec, dtype: str) -> keras.Sequential:
    key = (spec.sizes, spec.hidden_activations, dtype)
    model = _CACHE.get(key)
    if model is None:
        model = build_model(spec, dtype)
        _CACHE[key] = model
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return model


def logits(spec: MLPSpec, params: Params, x: np.ndarray) -> np.ndarray:
    model = _cached_model(spec, str(params[0][0].dtype))
    model.set_weights([t for pair in params for t in pair])
    return np.asarray(model(x, training=False))


def loss_and_grad(
    spec: MLPSpec, params: Params, x: np.ndarray, y: np.ndarray
) -> tuple[float, Params]:
    dtype = str(params[0][0].dtype)
    model = _cached_model(spec, dtype)
    model.set_weights([t for pair in params for t in pair])
    loss = keras_loss(spec, dtype)
    xt = tf.constant(x)
    yt = tf.constant(y)
    with tf.GradientTape() as tape:
        value = loss(yt, model(xt, training=False))
    variables = [v for layer in model.layers for v in (layer.kernel, layer.bias)]
    grads = tape.gradient(value, variables)
    flat = [np.asarray(g) for g in grads]
    return float(value), [(flat[2 * i], flat[2 * i + 1]) for i in range(len(params))]


def device() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    return "gpu" if gpus else "cpu"
