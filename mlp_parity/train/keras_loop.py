"""The Keras training loop: the Keras model and ``keras.optimizers.SGD(momentum=...)`` in a custom
training loop, one XLA-compiled ``tf.function`` running a whole epoch's full batches per call (or
``KERAS_STEPS_PER_EXECUTION`` of them, to report progress), gathering them from the data.

Why not ``model.fit``: it runs the same step (tape gradient of the compiled loss,
``optimizer.apply``) but spends most of a small step in its per-step machinery and input
pipeline; in TensorFlow's graph executor each of a step's ~150 small ops pays dispatch, which XLA
fuses away (BENCHMARKS.md). TensorFlow is imported on first use."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..params import Params
from ..spec import MLPSpec
from ._common import Loop, numpy_pairs
from .metrics import class_labels, one_output_threshold
from .optim import SGD

#: Keras steps per compiled call when a progress callback wants to hear between calls (each call
#: costs a few milliseconds of launch); without one, a whole epoch is one call.
KERAS_STEPS_PER_EXECUTION = 128


class _ExpectedRetracing(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning for the loops made by
    :func:`_tf_loop` (their qualified names in ``loops``). Each ``train`` call (or ceiling
    measurement) traces its own model's loop, once per batch shape, by design; TensorFlow counts
    the traces of every closure of one function together, so a learning-rate sweep would warn
    of "excessive" retracing that is not happening."""

    def __init__(self) -> None:
        super().__init__()
        self.loops: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "retracing" not in message or not any(loop in message for loop in self.loops)


def _tf_loop(tf, fn: Callable, jit_compile: bool = True):
    """``(compiled, plain)`` tf.functions of the loop ``fn``: XLA-compiled if ``jit_compile``
    (else the plain one twice), and the graph executor's, for :func:`_xla_or_graph` to fall
    back to. ``fn``'s retracing warnings are silenced."""
    logger = tf.get_logger()
    quiet = next((f for f in logger.filters if isinstance(f, _ExpectedRetracing)), None)
    if quiet is None:
        quiet = _ExpectedRetracing()
        logger.addFilter(quiet)
    quiet.loops.add(fn.__qualname__)
    plain = tf.function(fn)
    return (tf.function(fn, jit_compile=True) if jit_compile else plain), plain


def _xla_or_graph(tf, compiled, plain, args: tuple, what: str):
    """``(compiled(*args), compiled)``; where this TensorFlow build has no XLA for the device,
    a ``RuntimeWarning`` and ``(plain(*args), plain)``, so that callers keep the one that ran.
    Any other error propagates."""
    if compiled is plain:
        return plain(*args), plain
    try:
        return compiled(*args), compiled
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as e:
        if "xla" not in str(e).lower() or "compil" not in str(e).lower():
            raise
        warnings.warn(
            f"{what}: XLA is unavailable here ({str(e).splitlines()[0]}); running in "
            "TensorFlow's graph executor instead (slower)",
            RuntimeWarning,
            stacklevel=4,
        )
        return plain(*args), plain


def _keras_sgd(keras, tf, optimizer: SGD):
    """``keras.optimizers.SGD`` with ``optimizer``'s exact scalars. Keras' SGD is exactly
    :class:`SGD`'s update but rounds both scalars to float32 (float64 parity needs them exact):
    a float learning rate lives in a floatx variable (0.1 -> 0.10000000149), and
    ``tf.cast(0.9, float64)`` goes through float32. A callable returning a float64 constant,
    and a ``np.float64`` momentum (a float subclass that ``tf.cast`` converts exactly), keep
    them exact; in float32 they round as numpy does."""
    lr_const = tf.constant(optimizer.learning_rate, dtype=tf.float64)
    return keras.optimizers.SGD(
        learning_rate=lambda: lr_const, momentum=np.float64(optimizer.momentum)
    )


def _forward_with_logits(model) -> Callable:
    """``f(x) -> (logits, output)`` of a ``Sequential`` of ``Dense`` layers: the last layer's
    own ops (kernel, bias, activation, as its ``call``) taken apart, so that the accuracy sees
    the logits whatever the output activation."""
    from keras import ops

    *hidden, last = model.layers

    def forward(x):
        for layer in hidden:
            x = layer(x, training=True)
        z = ops.matmul(x, last.kernel)
        if last.use_bias:
            z = ops.add(z, last.bias)
        return z, last.activation(z)

    return forward


class KerasLoop(Loop):
    """Engine option ``jit_compile`` (default True): compile the loop with XLA. Either way,
    where this TensorFlow build has no XLA for the device it runs (with a warning) in
    TensorFlow's graph executor, which trains the same trajectory."""

    options = ("jit_compile",)

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(options)
        if "jit_compile" in out and not isinstance(out["jit_compile"], (bool, np.bool_)):
            raise TypeError(f"jit_compile must be True or False, got {out['jit_compile']!r}")
        return {k: bool(v) for k, v in out.items()}

    def __init__(
        self,
        spec: MLPSpec,
        params: Params,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        optimizer: SGD,
        *,
        jit_compile: bool = True,
    ) -> None:
        from ..backends import get_backend

        kt = get_backend("keras")
        import keras
        import tensorflow as tf

        self.tf = tf
        self.batch_size = batch_size
        self.spec = spec
        # the engine's model: output activation in its last Dense, no biases without them
        self.model = model = kt.to_keras(spec, params, compile=False)
        variables = model.trainable_variables
        sgd = _keras_sgd(keras, tf, optimizer)
        sgd.build(variables)
        loss_fn = kt.keras_loss(spec, str(x.dtype))
        forward = _forward_with_logits(model)
        # Arguments, not captured constants: XLA would otherwise fold the data into the program.
        self.data = (tf.constant(x), tf.constant(y), tf.constant(class_labels(spec, y)))
        threshold = one_output_threshold(spec)

        def run(X, Y, labels, batches):
            """SGD steps on ``batches`` (k, m), rows of indices into the data: the sums of the
            batch losses times their sizes and of the correct predictions. XLA compiles once
            per shape of ``batches`` (the trip count is a compile-time constant to it)."""
            loss_sum = tf.constant(0.0, tf.float64)
            correct = tf.constant(0, tf.int64)
            m = tf.cast(tf.shape(batches)[1], tf.float64)
            for i in tf.range(tf.shape(batches)[0]):
                idx = batches[i]
                xb, yb = tf.gather(X, idx), tf.gather(Y, idx)
                with tf.GradientTape() as tape:
                    z, out = forward(xb)
                    value = loss_fn(yb, out)
                    if spec.l2:  # the engine's exact-l2 penalty on the kernels
                        value += kt.penalty(spec, model)
                sgd.apply(tape.gradient(value, variables), variables)
                loss_sum += tf.cast(value, tf.float64) * m
                if threshold is not None:
                    pred = tf.cast(z[:, 0] > threshold, tf.int64)
                else:
                    pred = tf.argmax(z, axis=1)
                correct += tf.reduce_sum(tf.cast(pred == tf.gather(labels, idx), tf.int64))
            return loss_sum, correct

        jit_compile = self.check_options({"jit_compile": jit_compile})["jit_compile"]
        self.run, self._plain = _tf_loop(tf, run, jit_compile)

    def _call(self, batches: np.ndarray):
        args = (*self.data, self.tf.constant(batches))
        result, self.run = _xla_or_graph(
            self.tf, self.run, self._plain, args, "keras backend: training"
        )
        return result

    def epoch(self, order: np.ndarray, on_step: Callable[[int], None] | None) -> tuple[float, int]:
        n, B = order.shape[0], self.batch_size
        order = order.astype(np.int64, copy=False)
        full = n // B
        # One call per epoch (one compilation), or chunks of K steps to report progress (one
        # more compilation for a shorter last chunk); a partial last batch is one more shape.
        K = KERAS_STEPS_PER_EXECUTION if on_step is not None else max(full, 1)
        chunks = [order[f * B : min(f + K, full) * B].reshape(-1, B) for f in range(0, full, K)]
        if n % B:
            chunks.append(order[full * B :].reshape(1, -1))
        loss_sum, correct, steps = 0.0, 0, 0
        for batches in chunks:
            ls, c = self._call(batches)
            loss_sum, correct, steps = loss_sum + float(ls), correct + int(c), steps + len(batches)
            if on_step is not None:
                on_step(steps)
        return loss_sum, correct

    def params(self) -> Params:
        w = [np.array(v.value.numpy()) for v in self.model.weights]  # kernel (, bias) per layer
        per_layer = 2 if self.spec.use_bias else 1
        layers = [w[i : i + per_layer] for i in range(0, len(w), per_layer)]
        return numpy_pairs(self.spec, layers if self.spec.use_bias else [W for (W,) in layers])
