"""JAX engine: ``jax.value_and_grad`` of the same loss, jitted, float64 honoured.

Importing this module turns on JAX's x64 mode (float64 arrays stay float64) and the highest
matmul precision (no TF32 on GPUs), as parity checks need. It runs on JAX's default device: the
GPU where jaxlib has CUDA.

The loss is the spec's (``mlp_parity.spec``): ``loss_scale * sum(e) / D + l2 * sum(W**2)``, with
the per-element terms ``e`` of the loss on the output activation's values (or, for the two
cross-entropies with a built-in nonlinearity, on the logits) and the divisor ``D`` of the
reduction, all spelled out here in JAX ops.

Compiling costs far more than running a small network (about 0.3 s against microseconds), and
property tests draw a new shape almost every example. So every small problem (widths <= 32,
batch <= 64, depth <= 6) is padded to one shape: each layer (32, 32), the batch 64, six layers
(the ones past the real output are identities), with the activations, the output activation,
the loss and its scalars (loss_scale, divisor, per-layer l2) passed as data. Padded weights and
biases are zero, so padded units add exact zeros to every real sum; padded rows and outputs are
masked out of the loss, and the padding's identity layers carry no l2. One compilation per dtype
then serves every small problem, whatever its shape, activations, loss or conventions. Larger
problems (training) compile once for their exact shape.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ..params import Params
from ..spec import LOSSES as LOSS_FACTS
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

OUTPUT_ACTIVATIONS = {
    "identity": lambda z: z,
    "sigmoid": jax.nn.sigmoid,
    "softmax": lambda z: jax.nn.softmax(z, axis=-1),
}

#: Keras' ``backend.epsilon()``: categorical cross-entropy clips probabilities to
#: [CCE_EPSILON, 1 - CCE_EPSILON].
CCE_EPSILON = 1e-7


def _clip(p, lo, hi):
    """``clip(p, lo, hi)`` whose gradient is 1 inside [lo, hi] (bounds included) and 0 outside,
    as TensorFlow's ``clip_by_value`` (``jnp.clip`` splits the gradient at a tie)."""
    return jnp.where(p < lo, lo, jnp.where(p > hi, hi, p))


def _cce_terms(a, y):
    p = a / jnp.sum(a, axis=-1, keepdims=True)
    return -y * jnp.log(_clip(p, CCE_EPSILON, 1 - CCE_EPSILON))


#: Per-element terms ``e(u, y)`` (batch, out) whose sum is the unnormalised loss; ``u`` is the
#: logits for the cross-entropies with a built-in nonlinearity, else the output activation's
#: values.
TERMS = {
    "softmax_cross_entropy": lambda z, y: -y * jax.nn.log_softmax(z, axis=-1),
    "sigmoid_cross_entropy": lambda z, y: (
        -(y * jax.nn.log_sigmoid(z) + (1 - y) * jax.nn.log_sigmoid(-z))
    ),
    "mse": lambda a, y: (a - y) ** 2,
    "categorical_cross_entropy": _cce_terms,
}


def _divisor(reduction: str, loss: str, n: int, k: int) -> int:
    if reduction == "sum":
        return 1
    if reduction == "batch_mean":
        return n
    return n * k if LOSS_FACTS[loss].averages_outputs else n


def divisor(spec: MLPSpec, n: int, k: int) -> int:
    """``D`` of the spec's reduction for a batch of ``n`` rows and ``k`` outputs: the loss's
    natural mean (``"mean"``), 1 (``"sum"``) or ``n`` (``"batch_mean"``)."""
    return _divisor(spec.reduction, spec.loss, n, k)


def apply(params, x, activations: tuple[str, ...]):
    """Logits of the network; ``params`` a list of ``(W, b)`` jax arrays."""
    a = x
    for i, (W, b) in enumerate(params):
        a = a @ W + b
        if i < len(activations):
            a = ACTIVATIONS[activations[i]](a)
    return a


def _data_loss(z, y, loss_scale, *, loss: str, output_activation: str, reduction: str):
    e = TERMS[loss](OUTPUT_ACTIVATIONS[output_activation](z), y)
    return loss_scale * jnp.sum(e) / _divisor(reduction, loss, *z.shape)


def data_loss(spec: MLPSpec, z, y):
    """The spec's data loss ``loss_scale * sum(e) / D`` of the logits ``z`` (n, k), in JAX
    ops (traceable: ``spec`` is a Python constant)."""
    return _data_loss(
        z,
        y,
        spec.loss_scale,
        loss=spec.loss,
        output_activation=spec.output_activation,
        reduction=spec.reduction,
    )


def _weights_squared(params):
    return sum(jnp.sum(W**2) for W, _ in params)


def penalty(spec: MLPSpec, params):
    """``l2 * sum_l sum(W_l**2)`` over the weight matrices of ``[(W, b), ...]`` (0 without
    L2)."""
    return spec.l2 * _weights_squared(params) if spec.l2 else 0.0


def objective(spec: MLPSpec):
    """``f(params, x, y) -> L``: the spec's total loss (data loss plus L2) of ``[(W, b), ...]``
    on a batch, pure JAX (jit, grad or scan it: a training loop's step); ``spec`` is baked in
    as constants."""

    def f(params, x, y):
        z = apply(params, x, spec.hidden_activations)
        return data_loss(spec, z, y) + penalty(spec, params)

    return f


def _default_loss(name: str):
    out = LOSS_FACTS[name].output_activations[0]
    return functools.partial(
        _data_loss, loss_scale=1.0, loss=name, output_activation=out, reduction="mean"
    )


#: ``LOSSES[name](z, y)``: each loss of the logits under the default conventions (mean
#: reduction, scale 1, the loss's default output activation).
LOSSES = {name: _default_loss(name) for name in TERMS}


def _exact_loss(
    params, x, y, loss_scale, l2, *, activations, loss, output_activation, reduction, has_l2
):
    z = apply(params, x, activations)
    value = _data_loss(
        z, y, loss_scale, loss=loss, output_activation=output_activation, reduction=reduction
    )
    return value + l2 * _weights_squared(params) if has_l2 else value


@functools.cache
def compiled_value_and_grad(
    activations: tuple[str, ...],
    loss: str,
    output_activation: str = "identity",
    reduction: str = "mean",
    has_l2: bool = False,
):
    """The jitted ``(params, x, y, loss_scale, l2) -> (L, grads)`` at the exact shape
    (``loss_scale`` and ``l2`` are data; ``l2`` is unused unless ``has_l2``)."""
    return jax.jit(
        jax.value_and_grad(
            functools.partial(
                _exact_loss,
                activations=activations,
                loss=loss,
                output_activation=output_activation,
                reduction=reduction,
                has_l2=has_l2,
            )
        )
    )


#: Every small problem is padded to this one shape, so that a single compilation (per dtype)
#: serves all of them: what keeps a first call inside Hypothesis' default 200 ms deadline.
PAD_WIDTH = 32
PAD_BATCH = 64
PAD_DEPTH = 6
_ACTIVATION_CODES = {name: i for i, name in enumerate(ACTIVATIONS)}
_LINEAR = len(ACTIVATIONS)  # the code of a layer with no activation (the output, padding)
_OUTPUT_CODES = {name: i for i, name in enumerate(OUTPUT_ACTIVATIONS)}
_LOSS_CODES = {name: i for i, name in enumerate(TERMS)}


def _select(code, branches):
    """``branches[code]`` with the code a traced int: every branch is computed and one selected
    (each is finite with finite derivatives, so unselected ones add exact zero gradients)."""
    return jnp.select([code == i for i in range(len(branches))], branches)


def _any_activation(z, code):
    """``ACTIVATIONS[code](z)``, or ``z`` for ``_LINEAR``."""
    return _select(code, [f(z) for f in ACTIVATIONS.values()] + [z])


def _padded_terms(z, y, row_mask, out_mask, out_code, loss_code):
    """Each loss's ``sum(e)`` over the real rows and outputs (z the padded logits), in
    ``TERMS``' order; the same formulas as ``TERMS``, with softmax over the real outputs only.
    Every loss and output activation is computed side by side, each written so that its value
    and gradient stay finite on padding and when another one is selected."""
    mask = row_mask[:, None] & out_mask[None, :]
    zs = jnp.where(out_mask[None, :], z, -jnp.inf)
    m = jax.lax.stop_gradient(jnp.max(zs, axis=-1, keepdims=True))
    ez = jnp.exp(zs - m)
    se = jnp.sum(ez, axis=-1, keepdims=True)
    logp = zs - m - jnp.log(se)
    a = _select(out_code, [z, jax.nn.sigmoid(z), ez / se])
    # categorical CE renormalises over the real outputs; where it is not the loss (and on
    # padded rows) it sees ones, so that its division stays finite and adds zero gradients.
    a_cce = jnp.where(out_mask[None, :], a, 0.0)
    a_cce = jnp.where(
        row_mask[:, None] & (loss_code == _LOSS_CODES["categorical_cross_entropy"]), a_cce, 1.0
    )
    terms = {
        "softmax_cross_entropy": -y * jnp.where(mask, logp, 0.0),
        "sigmoid_cross_entropy": TERMS["sigmoid_cross_entropy"](z, y),
        "mse": TERMS["mse"](a, y),
        "categorical_cross_entropy": _cce_terms(a_cce, y),
    }
    return [jnp.sum(jnp.where(mask, terms[name], 0.0)) for name in TERMS]


def _padded_loss(params, x, y, row_mask, out_mask, codes, scalars, l2):
    """The spec's loss over the real rows and outputs of a padded problem. Data, not
    constants: ``codes`` = (per-layer activation codes, output activation code, loss code),
    ``scalars`` = (loss_scale, divisor), ``l2`` per layer (0 on the padding's identities), so
    one compilation serves every network."""
    act_codes, out_code, loss_code = codes
    loss_scale, reduction_divisor = scalars
    z = x
    for i, (W, b) in enumerate(params):
        z = _any_activation(z @ W + b, act_codes[i])
    sums = _padded_terms(z, y, row_mask, out_mask, out_code, loss_code)
    value = loss_scale * _select(loss_code, sums) / reduction_divisor
    # gated, not multiplied, so that l2 = 0 adds an exact 0 (W**2 may overflow to inf)
    penalties = [
        jnp.where(l2[i] > 0, l2[i] * jnp.sum(W**2), 0.0) for i, (W, _) in enumerate(params)
    ]
    return value + sum(penalties)


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
    act_codes = [_ACTIVATION_CODES[a] for a in spec.hidden_activations]
    act_codes += [_LINEAR] * (PAD_DEPTH - len(act_codes))
    codes = (
        np.asarray(act_codes, np.int32),
        np.int32(_OUTPUT_CODES[spec.output_activation]),
        np.int32(_LOSS_CODES[spec.loss]),
    )
    scalars = (np.asarray(spec.loss_scale, dt), np.asarray(divisor(spec, *y.shape), dt))
    l2 = np.zeros(PAD_DEPTH, dt)
    l2[: len(params)] = spec.l2
    value, grads = _compiled_padded()(
        padded,
        xp,
        yp,
        np.arange(PAD_BATCH) < x.shape[0],
        np.arange(B) < y.shape[1],
        codes,
        scalars,
        l2,
    )
    out = []
    for (gW, gb), (W, b) in zip(grads, params):  # the padding's gradients are dropped
        out.append((np.asarray(gW)[: W.shape[0], : W.shape[1]], np.asarray(gb)[: b.shape[0]]))
    return float(value), out


def warm_up(dtype: str = "float64") -> None:
    """Compile the padded value-and-grad for ``dtype`` now (about a second), so that no later
    small problem pays for it: ``mlp_parity.testing`` calls this on import, outside any
    Hypothesis deadline. The output activation, loss and conventions are data: this one
    compilation serves every one of them."""
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
    """The spec's loss and its gradients for internal ``[(W, b), ...]`` pairs (zero biases
    without ``use_bias``: their gradients are computed and dropped at the boundary)."""
    if fits_padding(spec, x.shape[0]):
        return _padded_loss_and_grad(spec, params, x, y)
    has_l2 = spec.l2 > 0
    fn = compiled_value_and_grad(
        spec.hidden_activations, spec.loss, spec.output_activation, spec.reduction, has_l2
    )
    dt = x.dtype
    value, grads = fn(
        to_device(params),
        jnp.asarray(x),
        jnp.asarray(y),
        np.asarray(spec.loss_scale, dt),
        np.asarray(spec.l2, dt),
    )
    return float(value), to_numpy(grads)


def device() -> str:
    """The device JAX computes on, e.g. ``cpu`` or ``cuda:0 (NVIDIA H100)``."""
    d = jax.devices()[0]
    kind = getattr(d, "device_kind", "")
    return f"{d.platform}:{d.id}" + (f" ({kind})" if kind and d.platform != "cpu" else "")
