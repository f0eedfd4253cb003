"""JAX engine: ``jax.value_and_grad`` of the same loss, jitted, float64 honoured.

Importing this module turns on JAX's x64 mode (float64 arrays stay float64) and the highest
matmul precision (no TF32 on GPUs), as parity checks need. It runs on JAX's default device: the
GPU where jaxlib has CUDA.

Compiling costs far more than running a small network (about 0.3 s against microseconds), and
property tests draw a new shape almost every example. So every small problem (widths <= 32,
batch <= 64, depth <= 6) is padded to one shape: each layer (32, 32), the batch 64, six layers
(the ones past the real output are identities), with the activations and the loss passed as
data. Padded weights and biases are zero, so padded units add exact zeros to every real sum;
padded rows and outputs are masked out of the loss. One compilation per dtype then serves every
small problem, whatever its shape, activations or loss. Larger problems (training) compile once
for their exact shape.
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


#: Every small problem is padded to this one shape, so that a single compilation (per dtype)
#: serves all of them: what keeps a first call inside Hypothesis' default 200 ms deadline.
PAD_WIDTH = 32
PAD_BATCH = 64
PAD_DEPTH = 6
_ACTIVATION_CODES = {name: i for i, name in enumerate(ACTIVATIONS)}
_LINEAR = len(ACTIVATIONS)  # the code of a layer with no activation (the output, padding)
_LOSS_CODES = {name: i for i, name in enumerate(LOSSES)}


def _any_activation(z, code):
    """``ACTIVATIONS[code](z)``, or ``z`` for ``_LINEAR``, with the code a traced int: every
    branch is computed and one selected (all are finite, so unselected ones add exact zero
    gradients)."""
    branches = [f(z) for f in ACTIVATIONS.values()] + [z]
    return jnp.select([code == i for i in range(len(branches))], branches)


def _padded_loss(params, x, y, row_mask, out_mask, n_rows, n_out, act_codes, loss_code):
    """The spec's loss over the real rows and outputs of a padded problem, the same formulas as
    ``LOSSES``; activations and loss are data (``act_codes`` per layer, ``loss_code``), so
    one compilation serves every network. Layers past the real output layer are identities."""
    z = x
    for i, (W, b) in enumerate(params):
        z = _any_activation(z @ W + b, act_codes[i])
    mask = row_mask[:, None] & out_mask[None, :]
    zs = jnp.where(out_mask[None, :], z, -jnp.inf)
    m = jax.lax.stop_gradient(jnp.max(zs, axis=-1, keepdims=True))
    logp = zs - m - jnp.log(jnp.sum(jnp.exp(zs - m), axis=-1, keepdims=True))
    softmax_ce = -jnp.sum(y * jnp.where(mask, logp, 0.0)) / n_rows
    bce = -(y * jax.nn.log_sigmoid(z) + (1 - y) * jax.nn.log_sigmoid(-z))
    per_output = [bce, (z - y) ** 2]
    per_output = [jnp.sum(jnp.where(mask, e, 0.0)) / (n_rows * n_out) for e in per_output]
    values = [softmax_ce, *per_output]
    return jnp.select([loss_code == i for i in range(len(values))], values)


@functools.cache
def _compiled_padded():
    return jax.jit(jax.value_and_grad(_padded_loss))


def fits_padding(spec: MLPSpec, batch: int) -> bool:
    """Whether a problem is small enough for the one padded compilation."""
    return max(spec.sizes) <= PAD_WIDTH and batch <= PAD_BATCH and spec.num_layers <= PAD_DEPTH


def _padded_loss_and_grad(spec: MLPSpec, params: Params, x: np.ndarray, y: np.ndarray):
    B, dt = PAD_WIDTH, x.dtype
    padded = []
    for W, b in params:
        Wp = np.zeros((B, B), dt)
        Wp[: W.shape[0], : W.shape[1]] = W
        bp = np.zeros(B, dt)
        bp[: b.shape[0]] = b
        padded.append((Wp, bp))
    padded += [(np.eye(B, dtype=dt), np.zeros(B, dt))] * (PAD_DEPTH - len(params))
    xp = np.zeros((PAD_BATCH, B), dt)
    xp[: x.shape[0], : x.shape[1]] = x
    yp = np.zeros((PAD_BATCH, B), dt)
    yp[: y.shape[0], : y.shape[1]] = y
    codes = [_ACTIVATION_CODES[a] for a in spec.hidden_activations]
    codes += [_LINEAR] * (PAD_DEPTH - len(codes))
    value, grads = _compiled_padded()(
        padded,
        xp,
        yp,
        np.arange(PAD_BATCH) < x.shape[0],
        np.arange(B) < y.shape[1],
        dt.type(x.shape[0]),
        dt.type(y.shape[1]),
        np.asarray(codes, np.int32),
        np.int32(_LOSS_CODES[spec.loss]),
    )
    out = []
    for (gW, gb), (W, b) in zip(grads, params):  # the padding's gradients are dropped
        out.append((np.asarray(gW)[: W.shape[0], : W.shape[1]], np.asarray(gb)[: b.shape[0]]))
    return float(value), out


def warm_up(dtype: str = "float64") -> None:
    """Compile the padded value-and-grad for ``dtype`` now (about a second), so that no later
    small problem pays for it: ``mlp_parity.testing`` calls this on import, outside any
    Hypothesis deadline."""
    spec = MLPSpec((1, 1))
    one = np.ones((1, 1), dtype)
    _padded_loss_and_grad(spec, [(one, np.zeros(1, dtype))], one, one)


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
    if fits_padding(spec, x.shape[0]):
        return _padded_loss_and_grad(spec, params, x, y)
    fn = compiled_value_and_grad(spec.hidden_activations, spec.loss)
    value, grads = fn(to_device(params), jnp.asarray(x), jnp.asarray(y))
    return float(value), to_numpy(grads)


def device() -> str:
    """The device JAX computes on, e.g. ``cpu`` or ``cuda:0 (NVIDIA H100)``."""
    d = jax.devices()[0]
    kind = getattr(d, "device_kind", "")
    return f"{d.platform}:{d.id}" + (f" ({kind})" if kind and d.platform != "cpu" else "")
