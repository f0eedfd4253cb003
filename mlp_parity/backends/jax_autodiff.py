"""JAX engine: ``jax.value_and_grad`` of the same loss, jitted, float64 honoured.

Importing this module turns on JAX's x64 mode (float64 arrays stay float64) and the highest
matmul precision (no TF32 on GPUs), as parity checks need. It runs on JAX's default device: the
GPU where jaxlib has CUDA. One compiled function per (activations, loss) and input shape; JAX's
own cache reuses it for every later call of that shape.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ..params import Params
from ..spec import MLPSpec

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_default_matmul_precision", "highest")

NAME = "jax"

ACTIVATIONS = {
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,  # custom JVP: relu'(0) = 0
    "identity": lambda z: z,
}


def _softmax_ce(z, y):
    return -jnp.sum(y * jax.nn.log_softmax(z, axis=-1)) / z.shape[0]


def _sigmoid_ce(z, y):
    return -jnp.mean(y * jax.nn.log_sigmoid(z) + (1 - y) * jax.nn.log_sigmoid(-z))


def _mse(z, y):
    return jnp.mean((z - y) ** 2)


LOSSES = {"softmax_cross_entropy": _softmax_ce, "sigmoid_cross_entropy": _sigmoid_ce, "mse": _mse}


def apply(params, x, activations: tuple[str, ...]):
    """Logits of the network; ``params`` a list of ``(W, b)`` jax arrays."""
    a = x
    for i, (W, b) in enumerate(params):
        a = a @ W + b
        if i < len(activations):
            a = ACTIVATIONS[activations[i]](a)
    return a


def loss_fn(params, x, y, activations: tuple[str, ...], loss: str):
    return LOSSES[loss](apply(params, x, activations), y)


@functools.cache
def compiled_value_and_grad(activations: tuple[str, ...], loss: str):
    return jax.jit(
        jax.value_and_grad(functools.partial(loss_fn, activations=activations, loss=loss))
    )


@functools.cache
def _compiled_logits(activations: tuple[str, ...]):
    return jax.jit(functools.partial(apply, activations=activations))


def to_device(params: Params):
    return [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]


def to_numpy(tree) -> Params:
    return [(np.asarray(W), np.asarray(b)) for W, b in tree]


def logits(spec: MLPSpec, params: Params, x: np.ndarray) -> np.ndarray:
    return np.asarray(_compiled_logits(spec.hidden_activations)(to_device(params), x))


def loss_and_grad(
    spec: MLPSpec, params: Params, x: np.ndarray, y: np.ndarray
) -> tuple[float, Params]:
    fn = compiled_value_and_grad(spec.hidden_activations, spec.loss)
    value, grads = fn(to_device(params), jnp.asarray(x), jnp.asarray(y))
    return float(value), to_numpy(grads)


def device() -> str:
    """The device JAX computes on, e.g. ``cpu`` or ``cuda:0 (NVIDIA H100)``."""
    d = jax.devices()[0]
    kind = getattr(d, "device_kind", "")
    return f"{d.platform}:{d.id}" + (f" ({kind})" if kind and d.platform != "cpu" else "")
