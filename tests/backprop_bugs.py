"""A library of realistic buggy backprop gradient functions, used as test fixtures.

Every fixture mutates :func:`correct_grad_fn`, a vectorized, general backprop for the package's
MLP (``params = [(W0, b0), ...]``, ``W`` (fan_in, fan_out), ``b`` (fan_out,); hidden layers apply
one activation, the last layer is linear and the loss applies the output nonlinearity). Each
:class:`Bug` records the architecture-dependent set of tensors its gradient gets wrong, so a
checker that finds a failing example can be validated against it. All bugs are deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Params = list[tuple[np.ndarray, np.ndarray]]
GradFn = Callable[[Params, np.ndarray, np.ndarray], Params]

ACTIVATIONS = ("sigmoid", "tanh", "relu", "identity")
LOSSES = ("softmax_cross_entropy", "sigmoid_cross_entropy", "mse")


@dataclass(frozen=True)
class Bug:
    """One buggy ``grad_fn`` plus the tensors it gets wrong on a failing example."""

    name: str
    description: str
    grad_fn: Callable
    activation: str
    loss: str
    expected_wrong: Callable[[tuple[int, ...]], frozenset[str]]
    sizes: tuple[int, ...] | None = None


# --------------------------------------------------------------------------------------------
# Shared numerics
# --------------------------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """Overflow-free logistic function, same shape and dtype as ``z``."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits (batch, out) with max subtraction."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return _sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "identity":
        return z
    raise ValueError(f"unknown activation {name!r}")


def _act_prime(name: str, z: np.ndarray) -> np.ndarray:
    """Derivative of the activation at pre-activation ``z`` (relu'(0) = 0)."""
    if name == "sigmoid":
        s = _sigmoid(z)
        return s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(z) ** 2
    if name == "relu":
        return (z > 0).astype(z.dtype)
    if name == "identity":
        return np.ones_like(z)
    raise ValueError(f"unknown activation {name!r}")


def _output_delta(loss: str, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gradient of the batch-mean loss w.r.t. the logits ``z`` (batch, out)."""
    n, k = z.shape
    if loss == "softmax_cross_entropy":
        return (_softmax(z) * y.sum(axis=1, keepdims=True) - y) / n
    if loss == "sigmoid_cross_entropy":
        return (_sigmoid(z) - y) / (n * k)
    if loss == "mse":
        return 2 * (z - y) / (n * k)
    raise ValueError(f"unknown loss {loss!r}")


def _dtype(params: Params) -> np.dtype:
    dtype = np.asarray(params[0][0]).dtype
    return dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.float64)


def _prepare(params: Params, x: np.ndarray, y: np.ndarray):
    dtype = _dtype(params)
    return dtype, np.asarray(x, dtype), np.asarray(y, dtype)


def _forward(params: Params, x: np.ndarray, activation: str):
    """Return ``zs`` (pre-activations of every layer, logits last) and ``acts`` (layer inputs)."""
    acts, zs = [x], []
    for i, (w, b) in enumerate(params):
        z = acts[-1] @ w + b
        zs.append(z)
        if i < len(params) - 1:
            acts.append(_act(activation, z))
    return zs, acts


def _backward(
    params: Params,
    zs: list[np.ndarray],
    acts: list[np.ndarray],
    delta: np.ndarray,
    activation: str,
    *,
    prime: Callable[[int, np.ndarray, np.ndarray], np.ndarray] | None = None,
    weight_grad: Callable[[int, np.ndarray, np.ndarray], np.ndarray] | None = None,
    bias_grad: Callable[[int, np.ndarray], np.ndarray] | None = None,
) -> Params:
    """Backprop ``delta`` (batch, out) = dL/dlogits through the layers.

    Hooks, each given the layer index ``i``, default to the correct rule:
    ``prime(i, z_i, a_{i+1})`` the hidden derivative, ``weight_grad(i, a_i, delta_i)``,
    ``bias_grad(i, delta_i)``. ``zs[i]`` is (batch, sizes[i+1]), ``acts[i]`` (batch, sizes[i]).
    """
    prime = prime or (lambda _i, z, _a: _act_prime(activation, z))
    weight_grad = weight_grad or (lambda _i, a, d: a.T @ d)
    bias_grad = bias_grad or (lambda _i, d: d.sum(axis=0))
    grads: Params = []
    for i in range(len(params) - 1, -1, -1):
        grads.append((weight_grad(i, acts[i], delta), bias_grad(i, delta)))
        if i > 0:
            delta = (delta @ params[i][0].T) * prime(i - 1, zs[i - 1], acts[i])
    return grads[::-1]


def _cast(grads: Params, dtype) -> Params:
    return [(np.asarray(gw, dtype), np.asarray(gb, dtype)) for gw, gb in grads]


def correct_grad_fn(activation: str, loss: str) -> GradFn:
    """Vectorized backprop for ``activation`` hidden layers and ``loss``; any depth (0 hidden).

    The returned ``grad_fn(params, x (batch, in), y (batch, out))`` gives the gradient of the
    batch-mean loss in the layout and dtype of ``params``.
    """
    if activation not in ACTIVATIONS or loss not in LOSSES:
        raise ValueError(f"unsupported activation/loss {activation!r}/{loss!r}")

    def grad_fn(params: Params, x: np.ndarray, y: np.ndarray) -> Params:
        dtype, x, y = _prepare(params, x, y)
        zs, acts = _forward(params, x, activation)
        delta = _output_delta(loss, zs[-1], y)
        return _cast(_backward(params, zs, acts, delta, activation), dtype)

    return grad_fn


# --------------------------------------------------------------------------------------------
# expected_wrong rules
# --------------------------------------------------------------------------------------------


def _names(layers, kinds: str = "Wb") -> frozenset[str]:
    return frozenset(f"{k}{i}" for i in layers for k in kinds)


def _all(sizes: tuple[int, ...]) -> frozenset[str]:
    return _names(range(len(sizes) - 1))


def _hidden_layers(sizes: tuple[int, ...]) -> frozenset[str]:
    """W_l, b_l of every layer that feeds a hidden activation (all but the output layer)."""
    return _names(range(len(sizes) - 2))


def _biases(sizes: tuple[int, ...]) -> frozenset[str]:
    return _names(range(len(sizes) - 1), "b")


def _unless_one_class(rule: Callable[[tuple[int, ...]], frozenset[str]]):
    """Softmax over a single output is constant: its gradient is identically zero, and so is
    that of any bug that only rescales or reroutes it."""
    return lambda sizes: rule(sizes) if sizes[-1] > 1 else frozenset()


# --------------------------------------------------------------------------------------------
# The bugs
# --------------------------------------------------------------------------------------------


def _with_prime(activation: str, loss: str, prime) -> GradFn:
    def grad_fn(params: Params, x: np.ndarray, y: np.ndarray) -> Params:
        dtype, x, y = _prepare(params, x, y)
        zs, acts = _forward(params, x, activation)
        delta = _output_delta(loss, zs[-1], y)
        return _cast(_backward(params, zs, acts, delta, activation, prime=prime), dtype)

    return grad_fn


def _with_delta(activation: str, loss: str, output_delta) -> GradFn:
    """Correct backprop except for the output delta, ``output_delta(z, y)``."""

    def grad_fn(params: Params, x: np.ndarray, y: np.ndarray) -> Params:
        dtype, x, y = _prepare(params, x, y)
        zs, acts = _forward(params, x, activation)
        return _cast(_backward(params, zs, acts, output_delta(zs[-1], y), activation), dtype)

    return grad_fn


def _scaled(activation: str, loss: str, scale: Callable[[np.ndarray], float]) -> GradFn:
    """Correct gradient times ``scale(x)`` (a mis-normalised loss)."""
    good = correct_grad_fn(activation, loss)

    def grad_fn(params: Params, x: np.ndarray, y: np.ndarray) -> Params:
        dtype = _dtype(params)
        s = scale(np.asarray(x))
        return _cast([(gw * s, gb * s) for gw, gb in good(params, x, y)], dtype)

    return grad_fn


def _sigmoid_prime_as_sigmoid() -> Bug:
    return Bug(
        name="sigmoid_prime_as_sigmoid",
        description="Hidden derivative written sigmoid(z) instead of sigmoid(z)*(1-sigmoid(z)).",
        grad_fn=_with_prime("sigmoid", "sigmoid_cross_entropy", lambda _i, z, _a: _sigmoid(z)),
        activation="sigmoid",
        loss="sigmoid_cross_entropy",
        expected_wrong=_hidden_layers,
    )


def _tanh_prime_missing_square() -> Bug:
    return Bug(
        name="tanh_prime_missing_square",
        description="Hidden derivative written 1 - tanh(z) instead of 1 - tanh(z)**2.",
        grad_fn=_with_prime("tanh", "mse", lambda _i, z, _a: 1 - np.tanh(z)),
        activation="tanh",
        loss="mse",
        expected_wrong=_hidden_layers,
    )


def _relu_prime_at_zero() -> Bug:
    return Bug(
        name="relu_prime_at_zero",
        description=(
            "ReLU derivative written (z >= 0): differs from relu'(0) = 0 only where a hidden"
            " pre-activation is exactly 0 (the kink). Not a bug: relu'(0) = 1 is the other valid"
            " subgradient, and check_backprop accepts it (issue 14), noting which one grad_fn"
            " uses. Where it differs: b0 always, W0 too unless every sample with a zero"
            " pre-activation has an all-zero input row."
        ),
        grad_fn=_with_prime(
            "relu", "softmax_cross_entropy", lambda _i, z, _a: (z >= 0).astype(z.dtype)
        ),
        activation="relu",
        loss="softmax_cross_entropy",
        expected_wrong=_unless_one_class(_hidden_layers),
        sizes=(3, 4, 3),
    )


def _loss_summed_over_batch() -> Bug:
    return Bug(
        name="loss_summed_over_batch",
        description="Gradient of the batch SUM, not mean: every tensor x batch (fine at batch 1).",
        grad_fn=_scaled("tanh", "softmax_cross_entropy", lambda x: x.shape[0]),
        activation="tanh",
        loss="softmax_cross_entropy",
        expected_wrong=_unless_one_class(_all),
    )


def _mse_missing_factor_two() -> Bug:
    return Bug(
        name="mse_missing_factor_two",
        description="MSE output delta (z - y)/n instead of 2(z - y)/n: every tensor halved.",
        grad_fn=_with_delta("identity", "mse", lambda z, y: (z - y) / z.size),
        activation="identity",
        loss="mse",
        expected_wrong=_all,
    )


def _sigmoid_ce_summed_over_outputs() -> Bug:
    return Bug(
        name="sigmoid_ce_summed_over_outputs",
        description=(
            "Sigmoid cross-entropy delta (sigmoid(z) - y)/batch, the gradient of the SUM over"
            " outputs: every tensor x n_outputs (invisible with one output)."
        ),
        grad_fn=_with_delta(
            "tanh", "sigmoid_cross_entropy", lambda z, y: (_sigmoid(z) - y) / z.shape[0]
        ),
        activation="tanh",
        loss="sigmoid_cross_entropy",
        expected_wrong=lambda sizes: _all(sizes) if sizes[-1] > 1 else frozenset(),
    )


def _bias_grad_mean_over_batch() -> Bug:
    activation, loss = "sigmoid", "mse"

    def grad_fn(params: Params, x: np.ndarray, y: np.ndarray) -> Params:
        dtype, x, y = _prepare(params, x, y)
        zs, acts = _forward(params, x, activation)
        delta = _output_delta(loss, zs[-1], y)
        grads = _backward(
            params, zs, acts, delta, activation, bias_grad=lambda _i, d: d.mean(axis=0)
        )
        return _cast(grads, dtype)

    return Bug(
        name="bias_grad_mean_over_batch",
        description=(
            "Bias gradient delta.mean(0) although delta already carries 1/batch: every b is"
            " divided by batch again (invisible at batch 1)."
        ),
        grad_fn=grad_fn,
        activation=activation,
        loss=loss,
        expected_wrong=_biases,
    )


def _bias_grad_missing() -> Bug:
    activation, loss = "tanh", "sigmoid_cross_entropy"

    def grad_fn(params: Params, x: np.ndarray, y: np.ndarray) -> Params:
        dtype, x, y = _prepare(params, x, y)
        zs, acts = _forward(params, x, activation)
        delta = _output_delta(loss, zs[-1], y)
        grads = _backward(
            params, zs, acts, delta, activation, bias_grad=lambda i, _d: np.zeros_like(params[i][1])
        )
        return _cast(grads, dtype)

    return Bug(
        name="bias_grad_missing",
        description="Bias gradients never computed (left as zeros): every b tensor wrong.",
        grad_fn=grad_fn,
        activation=activation,
        loss=loss,
        expected_wrong=_biases,
    )


def _weight_grad_transposed_when_square() -> Bug:
    activation, loss = "sigmoid", "softmax_cross_entropy"

    def weight_grad(_i: int, a: np.ndarray, d: np.ndarray) -> np.ndarray:
        g = d.T @ a  # (fan_out, fan_in): the "math" layout
        return g if g.shape == (a.shape[1], d.shape[1]) else g.T  # "fix" the shape mismatch

    def grad_fn(params: Params, x: np.ndarray, y: np.ndarray) -> Params:
        dtype, x, y = _prepare(params, x, y)
        zs, acts = _forward(params, x, activation)
        delta = _output_delta(loss, zs[-1], y)
        return _cast(_backward(params, zs, acts, delta, activation, weight_grad=weight_grad), dtype)

    return Bug(
        name="weight_grad_transposed_when_square",
        description=(
            "W gradient computed as delta.T @ a and transposed only when its shape does not match"
            " W: square layers (fan_in == fan_out) get the transposed gradient."
        ),
        grad_fn=grad_fn,
        activation=activation,
        loss=loss,
        expected_wrong=_unless_one_class(
            lambda sizes: frozenset(
                f"W{i}" for i in range(len(sizes) - 1) if sizes[i] == sizes[i + 1]
            )
        ),
        sizes=(4, 4, 4, 3),
    )


def _output_delta_sign_flipped() -> Bug:
    return Bug(
        name="output_delta_sign_flipped",
        description="Output delta y - sigmoid(z) instead of sigmoid(z) - y: every tensor negated.",
        grad_fn=_with_delta(
            "identity", "sigmoid_cross_entropy", lambda z, y: (y - _sigmoid(z)) / z.size
        ),
        activation="identity",
        loss="sigmoid_cross_entropy",
        expected_wrong=_all,
    )


def _naive_softmax() -> Bug:
    def delta(z: np.ndarray, y: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        return (p * y.sum(axis=1, keepdims=True) - y) / z.shape[0]

    return Bug(
        name="naive_softmax",
        description=(
            "softmax as exp(z)/sum(exp(z)) without subtracting the max: a row of large logits"
            " (> ~88 in float32, ~709 in float64) gives inf/inf = nan, which reaches every tensor"
            " (nan * 0 is nan). Right for moderate logits."
        ),
        grad_fn=_with_delta("relu", "softmax_cross_entropy", delta),
        activation="relu",
        loss="softmax_cross_entropy",
        expected_wrong=_all,
    )


def _forgot_prime_first_hidden() -> Bug:
    return Bug(
        name="forgot_prime_first_hidden",
        description=(
            "Activation derivative omitted for the first hidden layer only: W0, b0 wrong (needs a"
            " hidden layer; deeper layers are right)."
        ),
        grad_fn=_with_prime(
            "sigmoid",
            "softmax_cross_entropy",
            lambda i, z, _a: np.ones_like(z) if i == 0 else _act_prime("sigmoid", z),
        ),
        activation="sigmoid",
        loss="softmax_cross_entropy",
        expected_wrong=_unless_one_class(
            lambda sizes: _names([0]) if len(sizes) > 2 else frozenset()
        ),
    )


def _single_layer_path_no_mean() -> Bug:
    activation, loss = "tanh", "softmax_cross_entropy"
    good = correct_grad_fn(activation, loss)

    def grad_fn(params: Params, x: np.ndarray, y: np.ndarray) -> Params:
        if len(params) == 1:  # "fast path" for logistic regression, forgets the 1/batch
            dtype, x, y = _prepare(params, x, y)
            d = _softmax(x @ params[0][0] + params[0][1]) - y
            return _cast([(x.T @ d, d.sum(axis=0))], dtype)
        return good(params, x, y)

    return Bug(
        name="single_layer_path_no_mean",
        description=(
            "Special-cased no-hidden-layer path that forgets to divide by batch: only for"
            " sizes (in, out), where W0, b0 are x batch (invisible at batch 1)."
        ),
        grad_fn=grad_fn,
        activation=activation,
        loss=loss,
        expected_wrong=_unless_one_class(
            lambda sizes: _names([0]) if len(sizes) == 2 else frozenset()
        ),
        sizes=(5, 3),
    )


def _batch_counted_after_squeeze() -> Bug:
    return Bug(
        name="batch_counted_after_squeeze",
        description=(
            "Batch size taken as len(np.squeeze(x)) to 'accept single samples': at batch 1 that"
            " counts the inputs, so every tensor is divided by n_inputs (only at batch 1)."
        ),
        grad_fn=_scaled("tanh", "mse", lambda x: x.shape[0] / len(np.atleast_1d(np.squeeze(x)))),
        activation="tanh",
        loss="mse",
        expected_wrong=lambda sizes: _all(sizes) if sizes[0] > 1 else frozenset(),
    )


def _sigmoid_prime_of_activation() -> Bug:
    activation, loss = "sigmoid", "sigmoid_cross_entropy"

    def grad_fn(params: Params, x: np.ndarray, y: np.ndarray) -> Params:
        last_hidden = len(params) - 2

        def prime(i: int, z: np.ndarray, a: np.ndarray) -> np.ndarray:
            # the last hidden layer is handed its activation a where z was expected
            return _act_prime(activation, a if i == last_hidden else z)

        return _with_prime(activation, loss, prime)(params, x, y)

    return Bug(
        name="sigmoid_prime_of_activation",
        description=(
            "Last hidden layer's derivative computed as sigmoid_prime(a) = sigmoid(a)(1-sigmoid(a))"
            " with a = sigmoid(z) already the activation: that layer and all upstream wrong."
        ),
        grad_fn=grad_fn,
        activation="sigmoid",
        loss="sigmoid_cross_entropy",
        expected_wrong=_hidden_layers,
    )


def _weight_grad_from_pre_activation() -> Bug:
    activation, loss = "tanh", "softmax_cross_entropy"

    def grad_fn(params: Params, x: np.ndarray, y: np.ndarray) -> Params:
        dtype, x, y = _prepare(params, x, y)
        zs, acts = _forward(params, x, activation)
        delta = _output_delta(loss, zs[-1], y)
        # zs[i - 1] has the shape of acts[i], so indexing the wrong list goes unnoticed
        layer_input = [x] + zs[:-1]
        grads = _backward(
            params,
            zs,
            acts,
            delta,
            activation,
            weight_grad=lambda i, _a, d: layer_input[i].T @ d,
        )
        return _cast(grads, dtype)

    return Bug(
        name="weight_grad_from_pre_activation",
        description=(
            "W_i gradient uses the previous layer's pre-activation z_{i-1} instead of its"
            " activation a_i (same shape): W1..W_last wrong, biases and W0 right."
        ),
        grad_fn=grad_fn,
        activation=activation,
        loss=loss,
        expected_wrong=_unless_one_class(
            lambda sizes: frozenset(f"W{i}" for i in range(1, len(sizes) - 1))
        ),
    )


def _last_sample_dropped() -> Bug:
    activation, loss = "sigmoid", "mse"

    def grad_fn(params: Params, x: np.ndarray, y: np.ndarray) -> Params:
        dtype, x, y = _prepare(params, x, y)
        n = x.shape[0]
        grads = [(np.zeros_like(w), np.zeros_like(b)) for w, b in params]
        for i in range(n - 1):  # off by one: the last sample never contributes
            zs, acts = _forward(params, x[i : i + 1], activation)
            delta = _output_delta(loss, zs[-1], y[i : i + 1]) / n
            sample = _backward(params, zs, acts, delta, activation)
            grads = [(gw + sw, gb + sb) for (gw, gb), (sw, sb) in zip(grads, sample, strict=True)]
        return _cast(grads, dtype)

    return Bug(
        name="last_sample_dropped",
        description=(
            "Per-sample loop over range(batch - 1): the last sample is skipped (all zeros at"
            " batch 1), every tensor wrong."
        ),
        grad_fn=grad_fn,
        activation=activation,
        loss=loss,
        expected_wrong=_all,
    )


def _output_sigmoid_prime_applied() -> Bug:
    def delta(z: np.ndarray, y: np.ndarray) -> np.ndarray:
        s = _sigmoid(z)
        return (s - y) * s * (1 - s) / z.size  # MSE-on-sigmoid habit

    return Bug(
        name="output_sigmoid_prime_applied",
        description=(
            "Sigmoid cross-entropy delta multiplied by sigmoid'(z) (the MSE-on-sigmoid formula):"
            " every tensor wrong."
        ),
        grad_fn=_with_delta("identity", "sigmoid_cross_entropy", delta),
        activation="identity",
        loss="sigmoid_cross_entropy",
        expected_wrong=_all,
    )


def _weight_decay_in_grad() -> Bug:
    activation, loss = "relu", "softmax_cross_entropy"
    good = correct_grad_fn(activation, loss)

    def grad_fn(params: Params, x: np.ndarray, y: np.ndarray) -> Params:
        return [
            (gw + 0.01 * w, gb)
            for (gw, gb), (w, _b) in zip(good(params, x, y), params, strict=True)
        ]

    return Bug(
        name="weight_decay_in_grad",
        description=(
            "An L2 term 0.01 * W (from the optimiser) added to the W gradients although the loss"
            " has no regulariser: every W wrong (unless W is all zeros), biases right."
        ),
        grad_fn=grad_fn,
        activation=activation,
        loss=loss,
        expected_wrong=lambda sizes: _names(range(len(sizes) - 1), "W"),
    )


#: relu'(0) = 1: differs from the reference's convention at exact zeros, yet valid.
RELU_PRIME_ONE_AT_ZERO = _relu_prime_at_zero()

BUGS: list[Bug] = [
    _sigmoid_prime_as_sigmoid(),
    _tanh_prime_missing_square(),
    _loss_summed_over_batch(),
    _mse_missing_factor_two(),
    _sigmoid_ce_summed_over_outputs(),
    _bias_grad_mean_over_batch(),
    _bias_grad_missing(),
    _weight_grad_transposed_when_square(),
    _output_delta_sign_flipped(),
    _naive_softmax(),
    _forgot_prime_first_hidden(),
    _single_layer_path_no_mean(),
    _batch_counted_after_squeeze(),
    _sigmoid_prime_of_activation(),
    _weight_grad_from_pre_activation(),
    _last_sample_dropped(),
    _output_sigmoid_prime_applied(),
    _weight_decay_in_grad(),
]
