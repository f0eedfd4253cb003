"""JAX engine: ``jax.value_and_grad`` of the same loss, jitted, float64 honoured.

Importing this module turns on JAX's x64 mode (float64 arrays stay float64) and the highest
matmul precision (no TF32 on GPUs), as parity checks need. It runs on JAX's default device: the
GPU where jaxlib has CUDA.

Compiling costs far more than running a small network (about 0.3 s against microseconds), and
property tests draw a new shape almost every example. So small problems (every width <= 32,
batch <= 64) are padded into buckets: every layer becomes (B, B) with B the next power of two
>= max(8, widest layer), the batch the next power of two >= 8. Padded weights and biases are
zero, so padded units add exact zeros to every real sum; padded rows and outputs are masked out
of the loss. One compilation then serves every problem of that depth, activations, loss and
bucket. Larger problems (training) compile once for their exact shape.
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


def _masked_loss(params, x, y, row_mask, out_mask, n_rows, n_out, activations, loss):
    """The spec's loss over the real rows and outputs of a padded problem; the same formulas
    as ``LOSSES`` (log-softmax with a stopped-gradient max, log-sigmoid, squared error)."""
    z = apply(params, x, activations)
    mask = row_mask[:, None] & out_mask[None, :]
    if loss == "softmax_cross_entropy":
        zs = jnp.where(out_mask[None, :], z, -jnp.inf)
        m = jax.lax.stop_gradient(jnp.max(zs, axis=-1, keepdims=True))
        logp = zs - m - jnp.log(jnp.sum(jnp.exp(zs - m), axis=-1, keepdims=True))
        return -jnp.sum(y * jnp.where(mask, logp, 0.0)) / n_rows
    if loss == "sigmoid_cross_entropy":
        e = -(y * jax.nn.log_sigmoid(z) + (1 - y) * jax.nn.log_sigmoid(-z))
    else:
        e = (z - y) ** 2
    return jnp.sum(jnp.where(mask, e, 0.0)) / (n_rows * n_out)


@functools.cache
def _compiled_padded(activations: tuple[str, ...], loss: str):
    return jax.jit(
        jax.value_and_grad(functools.partial(_masked_loss, activations=activations, loss=loss))
    )


MAX_PADDED_WIDTH = 32
MAX_PADDED_BATCH = 64


def _bucket(n: int) -> int:
    return max(8, 1 << (n - 1).bit_length())


def _padded_loss_and_grad(spec: MLPSpec, params: Params, x: np.ndarray, y: np.ndarray):
    B = _bucket(max(spec.sizes))
    nb = _bucket(x.shape[0])
    dt = x.dtype
    padded = []
    for W, b in params:
        Wp = np.zeros((B, B), dt)
        Wp[: W.shape[0], : W.shape[1]] = W
        bp = np.zeros(B, dt)
        bp[: b.shape[0]] = b
        padded.append((Wp, bp))
    xp = np.zeros((nb, B), dt)
    xp[: x.shape[0], : x.shape[1]] = x
    yp = np.zeros((nb, B), dt)
    yp[: y.shape[0], : y.shape[1]] = y
    row_mask = np.arange(nb) < x.shape[0]
    out_mask = np.arange(B) < y.shape[1]
    fn = _compiled_padded(spec.hidden_activations, spec.loss)
    value, grads = fn(padded, xp, yp, row_mask, out_mask, dt.type(x.shape[0]), dt.type(y.shape[1]))
    out = []
    for (gW, gb), (W, b) in zip(grads, params):
        out.append((np.asarray(gW)[: W.shape[0], : W.shape[1]], np.asarray(gb)[: b.shape[0]]))
    return float(value), out


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
    if max(spec.sizes) <= MAX_PADDED_WIDTH and x.shape[0] <= MAX_PADDED_BATCH:
        return _padded_loss_and_grad(spec, params, x, y)
    fn = compiled_value_and_grad(spec.hidden_activations, spec.loss)
    value, grads = fn(to_device(params), jnp.asarray(x), jnp.asarray(y))
    return float(value), to_numpy(grads)


def device() -> str:
    """The device JAX computes on, e.g. ``cpu`` or ``cuda:0 (NVIDIA H100)``."""
    d = jax.devices()[0]
    kind = getattr(d, "device_kind", "")
    return f"{d.platform}:{d.id}" + (f" ({kind})" if kind and d.platform != "cpu" else "")
