"""train() under issue 14's conventions (output activation, reduction, loss_scale, l2, no biases):
numpy follows the documented algorithm on the spec's loss, jax (one device and data-parallel)
and keras follow numpy's trajectory, metrics and evaluate() measure the spec's whole loss, and
params without biases stay a plain list of weight matrices."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import requires_jax, requires_keras
from test_train import AUTODIFF

import mlp_parity as mp
from mlp_parity.train import batch_order, compare_backends, evaluate, param_divergence, train

#: One spec per convention (several at once where they combine), with its kind of targets; the
#: first has one output unit (the threshold) and sums over a partial last batch.
CONVENTIONS = {
    "sigmoid-out mse sum x0.5 (one output)": (
        dict(
            sizes=(6, 5, 1),
            activation="sigmoid",
            loss="mse",
            output_activation="sigmoid",
            reduction="sum",
            loss_scale=0.5,
        ),
        "binary",
    ),
    "softmax-out mse": (
        dict(sizes=(6, 5, 4), activation="tanh", loss="mse", output_activation="softmax"),
        "real",
    ),
    "categorical CE on sigmoid outputs, l2": (
        dict(
            sizes=(6, 5, 4),
            activation="sigmoid",
            loss="categorical_cross_entropy",
            output_activation="sigmoid",
            l2=0.01,
        ),
        "labels",
    ),
    "no bias, l2, two hidden layers": (
        dict(sizes=(6, 5, 4, 3), activation="relu", loss="mse", use_bias=False, l2=0.003),
        "real",
    ),
    "sigmoid CE batch_mean x2": (
        dict(
            sizes=(6, 5, 3),
            activation="tanh",
            loss="sigmoid_cross_entropy",
            reduction="batch_mean",
            loss_scale=2.0,
        ),
        "binary",
    ),
}
KW = dict(epochs=2, batch_size=8, learning_rate=0.05, momentum=0.5, seed=3)


def _problem(name: str, n: int = 45, seed: int = 0):
    kwargs, targets = CONVENTIONS[name]
    spec = mp.MLPSpec(**kwargs)
    rng = np.random.default_rng(seed)
    x, k = rng.random((n, spec.sizes[0])), spec.sizes[-1]
    if targets == "labels":
        y = rng.integers(0, k, n)
    elif targets == "binary":
        y = (rng.random((n, k)) > 0.5).astype(float)
    else:
        y = rng.random((n, k))
    return spec, mp.init_params(spec, seed=seed), x, y


def _reference_sgd(spec, params, x, y, *, epochs, batch_size, learning_rate, momentum, seed):
    """The documented algorithm written plainly on mp.loss_and_grad (the spec's whole loss, in
    its layout): final params and each epoch's size-weighted mean batch loss."""
    p = [np.array(t, copy=True) for t in _tensors(params)]
    v = [np.zeros_like(t) for t in p]
    losses = []
    for order in batch_order(len(x), epochs, seed=seed):
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            value, grads = mp.loss_and_grad(spec, _layout(spec, p), x[idx], y[idx])
            total += value * len(idx)
            for i, g in enumerate(_tensors(grads)):
                v[i] = momentum * v[i] - learning_rate * g
                p[i] = p[i] + v[i]
        losses.append(total / len(x))
    return _layout(spec, p), losses


def _tensors(params) -> list[np.ndarray]:
    return [t for layer in params for t in ((layer,) if isinstance(layer, np.ndarray) else layer)]


def _layout(spec, flat):
    return (
        list(flat)
        if not spec.use_bias
        else [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
    )


@pytest.mark.parametrize("name", list(CONVENTIONS))
def test_numpy_follows_the_documented_algorithm_on_the_spec_loss(name):
    """The loop's output delta (the spec's reference formulas or the loss row's fused one,
    rescaled), its 2 l2 W and its bias-free buffers follow plain SGD on loss_and_grad; the
    history's loss is the spec's whole loss, penalty included."""
    spec, params, x, y = _problem(name)
    got = train(spec, params, x, y, backend="numpy", **KW)
    want, losses = _reference_sgd(spec, params, x, y, **KW)
    assert param_divergence(got.params, want) <= 1e-12
    np.testing.assert_allclose(got.history["loss"], losses, rtol=1e-12)


@pytest.mark.parametrize("backend", AUTODIFF)
@pytest.mark.parametrize("name", list(CONVENTIONS))
def test_trajectory_parity_under_conventions(backend, name):
    spec, params, x, y = _problem(name)
    val = (x[:20], y[:20])
    ref = train(spec, params, x, y, backend="numpy", validation=val, **KW)
    got = train(spec, params, x, y, backend=backend, validation=val, **KW)
    assert param_divergence(got.params, ref.params) <= 1e-8
    assert param_divergence(ref.params, params) > 1e-3  # and training did move them
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(got.history[key], ref.history[key], rtol=1e-10)
    for key in ("accuracy", "val_accuracy"):
        assert got.history[key] == ref.history[key]


@requires_jax
@pytest.mark.parametrize(
    "name", ["sigmoid-out mse sum x0.5 (one output)", "no bias, l2, two hidden layers"]
)
def test_sharded_loop_on_one_device_mesh_under_conventions(name):
    import jax

    spec, params, x, y = _problem(name)
    one = train(spec, params, x, y, backend="jax", **KW)
    mesh = train(spec, params, x, y, backend="jax", devices=[jax.devices()[0]], **KW)
    assert param_divergence(mesh.params, one.params) <= 1e-12
    assert mesh.history["accuracy"] == one.history["accuracy"]


_DATA_PARALLEL = """
import json, sys
import jax
jax.config.update("jax_num_cpu_devices", 3)
sys.path.insert(0, "tests")
from test_train_conventions import KW, _problem
from mlp_parity.train import param_divergence, train
out = {}
for name in ("sigmoid-out mse sum x0.5 (one output)", "no bias, l2, two hidden layers"):
    spec, params, x, y = _problem(name)
    ref = train(spec, params, x, y, backend="numpy", **KW)
    got = train(spec, params, x, y, backend="jax", devices=3, **KW)
    same = got.history["accuracy"] == ref.history["accuracy"]
    out[name] = [param_divergence(got.params, ref.params), same]
print(json.dumps(out))
"""


@requires_jax
def test_data_parallel_under_conventions_pads_uneven_batches_exactly():
    """Three devices, batches of 8 (and 5) padded to 9 (and 6): the padding rows weigh
    nothing under the sum reduction too, and the penalty is added once."""
    done = subprocess.run(
        [sys.executable, "-c", _DATA_PARALLEL], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for name, (divergence, same_accuracy) in json.loads(done.stdout.splitlines()[-1]).items():
        assert divergence <= 1e-12 and same_accuracy, name


def test_without_biases_params_stay_a_list_of_weights():
    """Params in, result.params and what grad_fn sees and returns: [W0, W1, ...]; pairs with
    zero biases are accepted too."""
    spec, params, x, y = _problem("no bias, l2, two hidden layers")
    assert all(isinstance(W, np.ndarray) for W in params)
    got = train(spec, params, x, y, backend="numpy", **KW)
    assert [W.shape for W in got.params] == [W.shape for W in params]
    pairs = [(W, np.zeros(W.shape[1])) for W in params]
    assert param_divergence(train(spec, pairs, x, y, backend="numpy", **KW).params, got.params) == 0
    seen = []

    def grad_fn(p, xb, yb):
        seen.append([W.shape for W in p])
        return mp.loss_and_grad(spec, p, xb, yb)[1]

    via = train(spec, params, x, y, backend="numpy", grad_fn=grad_fn, **KW)
    assert seen[0] == [W.shape for W in params]
    assert param_divergence(via.params, got.params) <= 1e-12
    assert via.history["loss"] == pytest.approx(got.history["loss"], rel=1e-12)
    with pytest.raises(ValueError, match="grad_fn must return grads shaped like params"):
        train(spec, params, x, y, backend="numpy", grad_fn=lambda p, xb, yb: p[:1], **KW)


def test_a_zero_epoch_result_keeps_the_layout():
    spec, params, x, y = _problem("no bias, l2, two hidden layers")
    r = train(spec, params, x, y, backend="numpy", **{**KW, "epochs": 0})
    assert all(isinstance(W, np.ndarray) for W in r.params)
    assert all(np.array_equal(a, b) for a, b in zip(r.params, params))


def test_evaluate_measures_the_spec_loss_with_its_penalty():
    spec, params, x, y = _problem("categorical CE on sigmoid outputs, l2")
    loss, acc = evaluate(spec, params, x, y, chunk=16)
    assert loss == pytest.approx(mp.loss_and_grad(spec, params, x, y)[0], rel=1e-12)
    assert acc == np.mean(mp.forward(spec, params, x).argmax(1) == y)
    # batch-averaging reductions: the per-sample mean, whatever the batches
    assert evaluate(spec, params, x, y, batch_size=8)[0] == pytest.approx(loss, rel=1e-12)


def test_evaluate_with_the_sum_reduction_means_the_batch_sums():
    """With ``sum``, validation is measured as the train loss is: the size-weighted mean of
    the losses of batches of batch_size rows (Keras' validation_batch_size default)."""
    spec, params, x, y = _problem("sigmoid-out mse sum x0.5 (one output)")
    whole = evaluate(spec, params, x, y)[0]
    assert whole == pytest.approx(mp.loss_and_grad(spec, params, x, y)[0], rel=1e-12)
    sums = [mp.loss_and_grad(spec, params, x[s : s + 8], y[s : s + 8])[0] for s in range(0, 45, 8)]
    sizes = [len(x[s : s + 8]) for s in range(0, 45, 8)]
    batched = evaluate(spec, params, x, y, batch_size=8)[0]
    assert batched == pytest.approx(np.dot(sums, sizes) / 45, rel=1e-12)
    r = train(spec, params, x, y, backend="numpy", validation=(x, y), **{**KW, "epochs": 1})
    assert r.history["val_loss"][0] == pytest.approx(
        evaluate(spec, r.params, x, y, batch_size=8)[0], rel=1e-12
    )


def test_one_output_unit_predicts_by_the_output_activations_threshold():
    """A sigmoid output unit says class 1 when sigmoid(z) > 0.5, i.e. z > 0 (identity-output
    mse keeps its 0.5 on the output itself)."""
    spec, params, x, y = _problem("sigmoid-out mse sum x0.5 (one output)")
    z = mp.forward(spec, params, x)
    labels = (y[:, 0] > 0.5).astype(int)
    assert evaluate(spec, params, x, y)[1] == np.mean((z[:, 0] > 0) == labels)
    plain = mp.MLPSpec(spec.sizes, spec.activation, "mse")
    assert evaluate(plain, params, x, y)[1] == np.mean((z[:, 0] > 0.5) == labels)


@requires_jax
@requires_keras
def test_compare_backends_on_the_tutorial_network():
    """The tutorial's Keras model: sigmoid outputs + categorical cross-entropy, Keras' default
    SGD (lr 0.01, no momentum), batch 128, the three frameworks on one trajectory."""
    spec = mp.MLPSpec(
        (20, 16, 10), "sigmoid", "categorical_cross_entropy", output_activation="sigmoid"
    )
    rng = np.random.default_rng(1)

    class Data:
        x_train, y_train = rng.random((256, 20)), rng.integers(0, 10, 256)
        x_val, y_val = rng.random((50, 20)), rng.integers(0, 10, 50)

    params = mp.init_params(spec, seed=0)
    out = compare_backends(
        spec,
        params,
        Data,
        backends=["numpy", "jax", "keras"],
        epochs=2,
        batch_size=128,
        learning_rate=0.01,
        momentum=0.0,
    )
    assert out["reference"] == "numpy"
    assert max(out["divergence"].values()) <= 1e-8
    results = out["results"]
    assert results["keras"].history["val_accuracy"] == results["numpy"].history["val_accuracy"]
    assert results["keras"].history["loss"] == pytest.approx(results["numpy"].history["loss"])
