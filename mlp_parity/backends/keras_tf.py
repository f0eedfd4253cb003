"""Keras 3 engine on TensorFlow: a ``keras.Sequential`` of ``Dense`` layers built from the spec,
weights loaded with ``set_weights``, gradients from ``tf.GradientTape`` — an autodiff
independent of JAX.

The spec's loss in Keras' own terms: the last ``Dense`` applies the output activation, the
loss is a Keras loss on its values (the cross-entropies with a built-in nonlinearity on the
logits, ``from_logits=True``), the reduction and ``loss_scale`` are a weight on Keras'
per-example losses (:func:`keras_loss`), and L2 is each kernel's regularizer (:class:`L2`,
``l2 * sum(W**2)``), which ``fit`` adds; :func:`loss_and_grad` adds :func:`penalty`, the same
formula in TF ops.

Keras fixes its backend at first import; this module asks for TensorFlow (``KERAS_BACKEND``)
and refuses, with an explanation, a Keras already imported on another backend. TF32 is turned
off so GPU matmuls keep full float32 precision, and oneDNN (``TF_ENABLE_ONEDNN_OPTS=0``, unless
set) so small CPU matmuls run on Eigen's faster kernels.
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict

import numpy as np

from ..params import Params
from ..spec import LOSSES as LOSS_FACTS
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
KERAS_OUTPUTS = {"identity": "linear", "sigmoid": "sigmoid", "softmax": "softmax"}
_CACHE: OrderedDict[tuple, keras.Model] = OrderedDict()
_CACHE_SIZE = 64


def _base_loss(spec: MLPSpec, dtype: str) -> keras.losses.Loss:
    if spec.loss == "softmax_cross_entropy":
        return keras.losses.CategoricalCrossentropy(from_logits=True, dtype=dtype)
    if spec.loss == "sigmoid_cross_entropy":
        return keras.losses.BinaryCrossentropy(from_logits=True, dtype=dtype)
    if spec.loss == "categorical_cross_entropy":
        return keras.losses.CategoricalCrossentropy(from_logits=False, dtype=dtype)
    return keras.losses.MeanSquaredError(dtype=dtype)


@keras.saving.register_keras_serializable(package="mlp_parity")
class ScaledLoss(keras.losses.Loss):
    """A Keras loss ``inner`` with its per-example values times ``weight``, reduced by
    ``reduction`` (``"sum_over_batch_size"`` or ``"sum"``), on the model's output values.

    Keras' per-example losses are ``sum_k e / m`` (``m`` = outputs for mse and binary
    cross-entropy, which average them, else 1), averaged over the batch; so ``weight`` =
    ``loss_scale`` for the spec's ``"mean"``, ``loss_scale * m`` for ``"batch_mean"``, and
    with ``"sum"`` the batch is summed too. The output is passed on through ``tf.identity``: a
    Keras sigmoid or softmax attaches its logits to its output, and Keras' categorical
    cross-entropy then silently computes softmax cross-entropy of those logits instead of
    renormalising and clipping the values it is given."""

    def __init__(self, inner, weight=1.0, reduction="sum_over_batch_size", name=None, dtype=None):
        if isinstance(inner, dict):
            inner = keras.losses.deserialize(inner)
        super().__init__(name=name or inner.name, reduction=reduction, dtype=dtype)
        self.inner = inner
        self.weight = float(weight)

    def call(self, y_true, y_pred):
        values = self.inner.call(y_true, tf.identity(y_pred))
        # tf.constant, not tf.cast: a Python float cast to float64 goes through float32
        return values if self.weight == 1.0 else values * tf.constant(self.weight, values.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(inner=keras.losses.serialize(self.inner), weight=self.weight)
        return config


@keras.saving.register_keras_serializable(package="mlp_parity")
class L2(keras.regularizers.Regularizer):
    """A kernel's ``l2 * sum(W**2)`` for ``fit``, computed in the kernel's dtype with ``l2``
    exact (``keras.regularizers.L2`` casts its Python float through float32:
    ``tf.cast(0.01, float64)`` is 0.009999999776), then cast to Keras' floatx: Keras adds
    regularization losses to the compiled loss, which it casts to floatx, and cannot add a
    float64 to a float32. The cast passes the gradient through exactly."""

    def __init__(self, l2: float):
        self.l2 = float(l2)

    def __call__(self, x):
        value = tf.constant(self.l2, dtype=x.dtype) * tf.reduce_sum(tf.square(x))
        return tf.cast(value, keras.config.floatx())

    def get_config(self):
        return {"l2": self.l2}


def penalty(spec: MLPSpec, model: keras.Model):
    """``l2 * sum of kernel**2`` of a :func:`build_model` model in TF ops, in the model's dtype
    with ``l2`` exact (``0.0`` without L2): what a training step adds to :func:`keras_loss`
    (``fit`` adds the kernels' :class:`L2` regularizers, the same formula)."""
    if spec.l2 == 0:
        return 0.0
    kernels = [layer.kernel for layer in model.layers]
    squares = tf.add_n([tf.reduce_sum(tf.square(W)) for W in kernels])
    return tf.constant(spec.l2, dtype=kernels[0].dtype) * squares


def keras_loss(spec: MLPSpec, dtype: str = "float64") -> keras.losses.Loss:
    """The spec's data loss as a Keras loss of ``(y, model output)`` for a model from
    :func:`build_model`, computed in ``dtype`` (Keras would otherwise cast to its floatx,
    float32). The default conventions get Keras' own loss object, as before; the total loss
    adds :func:`penalty` (L2)."""
    base = _base_loss(spec, dtype)
    averaged_outputs = spec.sizes[-1] if LOSS_FACTS[spec.loss].averages_outputs else 1
    weight = spec.loss_scale * (1 if spec.reduction == "mean" else averaged_outputs)
    reduction = "sum" if spec.reduction == "sum" else "sum_over_batch_size"
    if weight == 1.0 and reduction == "sum_over_batch_size" and not _on_values(spec):
        return base
    return ScaledLoss(base, weight, reduction, dtype=dtype)


def _on_values(spec: MLPSpec) -> bool:
    # a Keras cross-entropy on probabilities: it must not see the logits Keras attaches
    return spec.loss == "categorical_cross_entropy"


def build_model(
    spec: MLPSpec, dtype: str = "float64", *, logits: bool = False, regularize: bool = True
) -> keras.Sequential:
    """A fresh, uncompiled ``Sequential``: one ``Dense(use_bias=spec.use_bias)`` per layer, the
    last one applying the spec's output activation (linear with ``logits=True``), each kernel
    with :class:`L2` (``spec.l2``) when ``l2 > 0`` and ``regularize`` (so that ``model.losses``,
    and ``fit``, include the penalty; a custom step adds :func:`penalty` instead)."""
    acts = [KERAS_ACTIVATIONS[a] for a in spec.hidden_activations]
    acts.append("linear" if logits else KERAS_OUTPUTS[spec.output_activation])
    regularizer = L2(spec.l2) if spec.l2 > 0 and regularize else None
    layers: list = [keras.Input(shape=(spec.sizes[0],), dtype=dtype)]
    for i, (width, act) in enumerate(zip(spec.sizes[1:], acts, strict=True)):
        layers.append(
            keras.layers.Dense(
                width,
                activation=act,
                use_bias=spec.use_bias,
                kernel_regularizer=regularizer,
                dtype=dtype,
                name=f"dense_{i}",
            )
        )
    return keras.Sequential(layers)


def _weights(spec: MLPSpec, params) -> list[np.ndarray]:
    """The model's ``set_weights`` list from ``[(W, b), ...]`` pairs or, without biases, a
    plain ``[W0, W1, ...]``."""
    out = []
    for layer in params:
        W, b = (layer, None) if isinstance(layer, np.ndarray) else layer
        out += [W, b] if spec.use_bias else [W]
    return out


def _dtype(params) -> str:
    first = params[0] if isinstance(params[0], np.ndarray) else params[0][0]
    return str(first.dtype)


def to_keras(
    spec: MLPSpec,
    params,
    *,
    compile: bool = True,
    learning_rate: float = 0.01,
    momentum: float = 0.0,
) -> keras.Sequential:
    """A new Keras model with ``params`` loaded (``[(W, b), ...]``, or ``[W0, W1, ...]`` without
    biases; Keras kernels are (fan_in, fan_out) already), compiled with SGD and the spec's loss
    (:func:`keras_loss`; L2 through the kernels' regularizers), in the params' dtype. Its
    ``get_weights()`` is the params' layout: kernels and biases in turn, kernels only without
    biases."""
    dtype = _dtype(params)
    model = build_model(spec, dtype)
    model.set_weights(_weights(spec, params))
    if compile:
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum),
            loss=keras_loss(spec, dtype),
            metrics=["accuracy"] if spec.loss != "mse" else [],
        )
    return model


def _cached_model(spec: MLPSpec, dtype: str, *, logits: bool = False) -> keras.Sequential:
    out = "linear" if logits else spec.output_activation
    key = (spec.sizes, spec.hidden_activations, out, spec.use_bias, dtype)
    model = _CACHE.get(key)
    if model is None:  # L2 is added by the caller (penalty): no l2 in the key
        model = build_model(spec, dtype, logits=logits, regularize=False)
        _CACHE[key] = model
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return model


def logits(spec: MLPSpec, params: Params, x: np.ndarray) -> np.ndarray:
    model = _cached_model(spec, _dtype(params), logits=True)
    model.set_weights(_weights(spec, params))
    return np.asarray(model(x, training=False))


def loss_and_grad(
    spec: MLPSpec, params: Params, x: np.ndarray, y: np.ndarray
) -> tuple[float, Params]:
    """The spec's loss and its gradients for internal ``[(W, b), ...]`` pairs; without biases
    the model has none and the bias gradients come back as zeros (dropped at the boundary)."""
    dtype = _dtype(params)
    model = _cached_model(spec, dtype)
    model.set_weights(_weights(spec, params))
    loss = keras_loss(spec, dtype)
    xt = tf.constant(x)
    yt = tf.constant(y)
    with tf.GradientTape() as tape, warnings.catch_warnings():
        # a softmax over one output (a degenerate network the strategies draw on purpose)
        warnings.filterwarnings("ignore", "You are using a softmax over axis", UserWarning)
        warnings.filterwarnings("ignore", "In loss categorical_crossentropy", SyntaxWarning)
        value = loss(yt, model(xt, training=False))
        if spec.l2 > 0:
            value = value + penalty(spec, model)
    kernels = [layer.kernel for layer in model.layers]
    biases = [layer.bias for layer in model.layers] if spec.use_bias else []
    grads = [np.asarray(g) for g in tape.gradient(value, kernels + biases)]
    gW, gb = grads[: len(kernels)], grads[len(kernels) :]
    if not gb:
        gb = [np.zeros_like(b) for _, b in params]
    return float(value), list(zip(gW, gb))


def device() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    return "gpu" if gpus else "cpu"
