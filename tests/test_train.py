"""train(): the SGD-with-momentum trajectory, equal across numpy, jax and keras; its metrics,
grad_fn, progress, and the errors it raises for bad data and settings."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import requires_jax, requires_keras

import mlp_parity as mp
from mlp_parity.data import one_hot
from mlp_parity.train import SGD, Progress, batch_order, evaluate, train

AUTODIFF = [pytest.param("jax", marks=requires_jax), pytest.param("keras", marks=requires_keras)]
ALL = ["numpy", *AUTODIFF]
SETTINGS = dict(epochs=3, batch_size=32, learning_rate=0.1, momentum=0.9, seed=7)


def _problem(n=200, sizes=(20, 16, 10), activation="tanh", loss="softmax_cross_entropy", seed=0):
    spec = mp.MLPSpec(sizes, activation, loss)
    rng = np.random.default_rng(seed)
    x = rng.random((n, sizes[0]))
    if loss == "softmax_cross_entropy":
        y = rng.integers(0, sizes[-1], n)
    elif loss == "sigmoid_cross_entropy":
        y = (rng.random((n, sizes[-1])) > 0.5).astype(float)
    else:
        y = rng.normal(size=(n, sizes[-1]))
    return spec, mp.init_params(spec, seed=seed), x, y


def _rel(params, ref) -> float:
    return max(
        float(np.abs(p - r).max() / max(np.abs(r).max(), 1e-300))
        for pair, rpair in zip(params, ref)
        for p, r in zip(pair, rpair)
    )


def _reference_sgd(spec, params, x, y, *, epochs, batch_size, learning_rate, momentum, seed):
    """The documented algorithm, written plainly on top of mp.loss_and_grad."""
    p = [[W.copy(), b.copy()] for W, b in params]
    v = [[np.zeros_like(W), np.zeros_like(b)] for W, b in params]
    for order in batch_order(len(x), epochs, seed=seed):
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            _, grads = mp.loss_and_grad(spec, [tuple(t) for t in p], x[idx], y[idx])
            for layer, g in zip(range(len(p)), grads):
                for k in (0, 1):
                    v[layer][k] = momentum * v[layer][k] - learning_rate * g[k]
                    p[layer][k] = p[layer][k] + v[layer][k]
    return [tuple(t) for t in p]


def test_batch_order_is_seeded_and_shared():
    a = list(batch_order(10, 3, seed=1))
    b = list(batch_order(10, 3, seed=1))
    assert all(np.array_equal(i, j) for i, j in zip(a, b))
    assert not np.array_equal(a[0], a[1])  # a new permutation per epoch
    assert sorted(a[2]) == list(range(10))
    assert all(np.array_equal(o, np.arange(10)) for o in batch_order(10, 2, shuffle=False))


def test_numpy_follows_the_documented_algorithm():
    spec, params, x, y = _problem()  # 200 rows, batch 32: six full batches and one of 8
    got = train(spec, params, x, y, backend="numpy", **SETTINGS)
    want = _reference_sgd(spec, params, x, y, **SETTINGS)
    assert _rel(got.params, want) <= 1e-12
    assert got.params[0][0].dtype == np.float64


@pytest.mark.parametrize("backend", ALL)
def test_optimizer_object_equals_the_loose_keywords(backend):
    spec, params, x, y = _problem(n=70)
    kw = {k: v for k, v in SETTINGS.items() if k not in ("learning_rate", "momentum")}
    a = train(spec, params, x, y, backend=backend, optimizer=SGD(0.1, 0.9), **kw)
    b = train(spec, params, x, y, backend=backend, learning_rate=0.1, momentum=0.9, **kw)
    assert _rel(a.params, b.params) == 0 and a.history["loss"] == b.history["loss"]
    assert a.settings["learning_rate"] == 0.1 and a.settings["momentum"] == 0.9


@pytest.mark.parametrize(
    "kw,err,match",
    [
        ({}, TypeError, "needs learning_rate"),
        ({"momentum": 0.9}, TypeError, "needs learning_rate"),
        ({"optimizer": SGD(0.1), "learning_rate": 0.1}, ValueError, "either optimizer or"),
        ({"optimizer": SGD(0.1), "momentum": 0.0}, ValueError, "either optimizer or"),
        ({"optimizer": {"learning_rate": 0.1}}, TypeError, r"optimizer must be an SGD"),
    ],
)
def test_optimizer_or_learning_rate_exactly_once(kw, err, match):
    spec, params, x, y = _problem(n=20)
    with pytest.raises(err, match=match):
        train(spec, params, x, y, backend="numpy", epochs=1, batch_size=8, **kw)


@pytest.mark.parametrize(
    "activation,loss,targets",
    [
        ("relu", "softmax_cross_entropy", "soft"),  # rows that do not sum to 1
        ("sigmoid", "sigmoid_cross_entropy", "given"),
        ("identity", "mse", "given"),
    ],
)
def test_numpy_follows_the_documented_algorithm_for_each_loss(activation, loss, targets):
    """The fused softmax gradient, the flat momentum update and each activation's in-place
    derivative follow the plain algorithm, including for targets whose rows sum to 2."""
    spec, params, x, y = _problem(n=70, activation=activation, loss=loss)
    if targets == "soft":
        y = np.random.default_rng(3).random((70, 10)) * 0.4  # each row sums to about 2
    got = train(spec, params, x, y, backend="numpy", **SETTINGS)
    want = _reference_sgd(spec, params, x, y, **SETTINGS)
    assert _rel(got.params, want) <= 1e-12


@pytest.mark.parametrize("backend", AUTODIFF)
def test_trajectory_parity_float64(backend):
    """Issue 4: after 3 epochs (momentum 0.9, shuffled, partial last batch) every backend's
    parameters and per-epoch metrics equal numpy's to <= 1e-8 relative."""
    spec, params, x, y = _problem()
    val = (x[:50], y[:50])
    ref = train(spec, params, x, y, backend="numpy", validation=val, **SETTINGS)
    got = train(spec, params, x, y, backend=backend, validation=val, **SETTINGS)
    assert _rel(got.params, ref.params) <= 1e-8
    assert _rel(ref.params, params) > 0.05  # and training did move them
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(got.history[key], ref.history[key], rtol=1e-10)
    for key in ("accuracy", "val_accuracy"):
        assert got.history[key] == ref.history[key]


@pytest.mark.parametrize("backend", AUTODIFF)
@pytest.mark.parametrize(
    "loss,activation,sizes",
    [("sigmoid_cross_entropy", "sigmoid", (6, 5, 4)), ("mse", "relu", (6, 5, 1))],
)
def test_trajectory_parity_other_losses(backend, loss, activation, sizes):
    spec, params, x, y = _problem(n=45, sizes=sizes, activation=activation, loss=loss)
    kw = dict(epochs=2, batch_size=8, learning_rate=0.05, momentum=0.5, validation=(x, y))
    ref = train(spec, params, x, y, backend="numpy", **kw)
    got = train(spec, params, x, y, backend=backend, **kw)
    assert _rel(got.params, ref.params) <= 1e-8
    np.testing.assert_allclose(got.history["loss"], ref.history["loss"], rtol=1e-10)
    assert got.history["accuracy"] == ref.history["accuracy"]


@requires_jax
def test_float32_trains_in_float32_and_stays_close():
    spec, params, x, y = _problem()
    p32 = [(W.astype(np.float32), b.astype(np.float32)) for W, b in params]
    ref = train(spec, p32, x, y, backend="numpy", **SETTINGS)
    got = train(spec, p32, x, y, backend="jax", **SETTINGS)
    assert got.params[0][0].dtype == ref.params[0][0].dtype == np.float32
    assert _rel(got.params, ref.params) <= 1e-4


def test_one_hot_labels_equal_integer_labels():
    spec, params, x, y = _problem()
    a = train(spec, params, x, y, backend="numpy", **SETTINGS)
    b = train(spec, params, x, one_hot(y, 10), backend="numpy", **SETTINGS)
    assert _rel(a.params, b.params) == 0
    assert a.history["loss"] == b.history["loss"]


def test_history_metrics_and_inputs_untouched():
    spec, params, x, y = _problem()
    before = [(W.copy(), b.copy()) for W, b in params]
    r = train(spec, params, x, y, backend="numpy", validation=(x, y), **SETTINGS)
    assert all(np.array_equal(W, W0) for (W, _), (W0, _) in zip(params, before))
    assert set(r.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "time"}
    assert all(len(v) == 3 for v in r.history.values())
    assert r.history["loss"][-1] < r.history["loss"][0]
    # validation is a full pass after the epoch: evaluating the final params reproduces it
    assert evaluate(spec, r.params, x, y) == pytest.approx(
        (r.history["val_loss"][-1], r.history["val_accuracy"][-1]), rel=1e-12
    )
    assert r.samples_per_second > 0 and r.epochs == 3 and r.settings["n_train"] == 200
    r0 = train(spec, params, x, y, backend="numpy", **{**SETTINGS, "epochs": 0})
    assert r0.history["loss"] == [] and _rel(r0.params, params) == 0


def test_shuffle_false_keeps_order():
    spec, params, x, y = _problem()
    kw = {**SETTINGS, "epochs": 2}
    a = train(spec, params, x, y, backend="numpy", shuffle=False, **kw)
    b = train(spec, params, x, y, backend="numpy", shuffle=False, **{**kw, "seed": 99})
    c = train(spec, params, x, y, backend="numpy", **kw)
    assert _rel(a.params, b.params) == 0 and _rel(a.params, c.params) > 0


def test_evaluate_matches_a_direct_computation():
    spec, params, x, y = _problem()
    z = mp.forward(spec, params, x)
    loss, acc = evaluate(spec, params, x, y, chunk=64)
    assert loss == pytest.approx(mp.loss_and_grad(spec, params, x, y)[0], rel=1e-12)
    assert acc == np.mean(z.argmax(1) == y)


@pytest.mark.parametrize(
    "kw, err, match",
    [
        ({"chunk": -3}, ValueError, "chunk must be >= 1, got -3"),
        ({"chunk": 0}, ValueError, "chunk must be >= 1"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1, got 0"),
        ({"batch_size": -1}, ValueError, "batch_size must be >= 1"),
        ({"batch_size": 2.5}, TypeError, "batch_size must be an int"),
        ({"batch_size": "a"}, TypeError, "batch_size must be an int"),
    ],
)
def test_evaluate_rejects_bad_sizes_naming_them(kw, err, match):
    spec, params, x, y = _problem(n=20)
    with pytest.raises(err, match=match):  # not a silent (0.0, 1.0) from an empty loop
        evaluate(spec, params, x, y, **kw)


def test_grad_fn_replaces_the_gradient():
    spec, params, x, y = _problem()
    calls = []

    def hand_written(p, xb, yb):
        calls.append(xb.shape[0])
        assert yb.shape == (xb.shape[0], 10) and yb.dtype == np.float64
        return mp.loss_and_grad(spec, p, xb, yb)[1]

    a = train(spec, params, x, y, backend="numpy", grad_fn=hand_written, **SETTINGS)
    b = train(spec, params, x, y, backend="numpy", **SETTINGS)
    assert calls[:7] == [32] * 6 + [8] and len(calls) == 21
    assert _rel(a.params, b.params) <= 1e-13
    assert a.history["loss"] == pytest.approx(b.history["loss"], rel=1e-13)


def test_tutorial_original_backprop_trains_differently():
    from mlp_parity.examples import tutorial

    spec = mp.MLPSpec((12, 8, 4), "sigmoid", "sigmoid_cross_entropy")
    _, params, x, y = _problem(n=40, sizes=spec.sizes, activation="sigmoid", loss=spec.loss)
    kw = dict(epochs=2, batch_size=16, learning_rate=0.1, momentum=0.9)
    fixed = train(spec, params, x, y, backend="numpy", grad_fn=tutorial.corrected_backprop, **kw)
    buggy = train(spec, params, x, y, backend="numpy", grad_fn=tutorial.original_backprop, **kw)
    plain = train(spec, params, x, y, backend="numpy", **kw)
    assert _rel(fixed.params, plain.params) <= 1e-12
    assert _rel(buggy.params, plain.params) > 1e-3


def test_bad_grad_fn_result_is_named():
    spec, params, x, y = _problem()
    with pytest.raises(ValueError, match="grad_fn"):
        train(spec, params, x, y, backend="numpy", grad_fn=lambda p, a, b: p[:1], **SETTINGS)


@pytest.mark.parametrize("backend", ALL)
def test_progress_reports_steps_and_epochs(backend):
    spec, params, x, y = _problem(n=70)
    seen: list[Progress] = []
    train(spec, params, x, y, backend=backend, progress=seen.append, **{**SETTINGS, "epochs": 2})
    ends = [p for p in seen if p.record is not None]
    assert [(p.epoch, p.step, p.steps) for p in ends] == [(1, 3, 3), (2, 3, 3)]
    assert set(ends[0].record) == {"loss", "accuracy", "time"}
    if backend == "numpy":
        assert [p.step for p in seen if p.epoch == 1] == [1, 2, 3, 3]


@pytest.mark.parametrize("backend", ALL)
def test_batch_larger_than_the_data(backend):
    spec, params, x, y = _problem(n=20)
    kw = dict(epochs=2, batch_size=64, learning_rate=0.1, momentum=0.9)
    ref = _reference_sgd(spec, params, x, y, seed=0, **kw)
    got = train(spec, params, x, y, backend=backend, **kw)
    assert _rel(got.params, ref) <= 1e-8


def test_divergence_is_reported():
    spec, params, x, y = _problem(sizes=(20, 16, 1), activation="relu", loss="mse")
    with np.errstate(all="ignore"), pytest.raises(ValueError, match="diverged.*learning_rate"):
        train(spec, params, x * 100, y, backend="numpy", epochs=3, batch_size=8, learning_rate=10.0)


@pytest.mark.parametrize(
    "change,match",
    [
        ({"y": "labels_out_of_range"}, r"labels y must lie in \[0, 10\)"),
        ({"y": "short"}, "y has 199 labels but x has 200 rows"),
        ({"x": "nan"}, "x contains NaN"),
        ({"validation": "nan"}, "validation: x contains NaN"),
        ({"validation": "bad_labels"}, r"validation: integer labels"),
        ({"epochs": -1}, "epochs must be >= 0"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0"),
        ({"learning_rate": float("nan")}, "learning_rate must be finite"),
        ({"momentum": 1.0}, r"momentum must lie in \[0, 1\)"),
        ({"momentum": -0.1}, r"momentum must lie in \[0, 1\)"),
        ({"seed": -1}, "seed must be >= 0"),
        ({"backend": "torch"}, "backend must be one of"),
        ({"backend": "finite_difference"}, "backend must be one of"),
        ({"grad_fn": "jax"}, "grad_fn works with backend='numpy' only"),
    ],
)
def test_bad_input_raises_value_error_naming_it(change, match):
    spec, params, x, y = _problem()
    kw = dict(backend="numpy", **SETTINGS)
    if change.get("y") == "labels_out_of_range":
        y = y.copy()
        y[3] = 10
    elif change.get("y") == "short":
        y = y[:-1]
    elif change.get("x") == "nan":
        x = x.copy()
        x[5, 2] = np.nan
    elif change.get("validation") == "nan":
        xv = x.copy()
        xv[0, 0] = np.inf
        kw["validation"] = (xv, y)
    elif change.get("validation") == "bad_labels":
        kw["validation"] = (x, y - 1)
    elif change.get("grad_fn"):
        kw.update(backend="numpy" if change["grad_fn"] == "numpy" else "jax")
        kw["grad_fn"] = lambda p, a, b: p
    else:
        kw.update(change)
    with pytest.raises(ValueError, match=match):
        train(spec, params, x, y, **kw)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"epochs": 2.5}, "epochs must be an int"),
        ({"batch_size": True}, "batch_size must be an int"),
        ({"learning_rate": "0.1"}, "learning_rate must be a number"),
        ({"shuffle": "yes"}, "shuffle must be True or False"),
        ({"validation": (np.zeros((2, 20)),)}, "validation must be a pair"),
        ({"progress": 3}, "progress must be a callable"),
    ],
)
def test_bad_types_raise_type_error(kw, match):
    spec, params, x, y = _problem()
    with pytest.raises(TypeError, match=match):
        train(spec, params, x, y, backend="numpy", **{**SETTINGS, **kw})


def test_grad_fn_that_writes_into_its_inputs_cannot_change_the_model():
    """The loop's W and b are views of its flat buffers: grad_fn gets copies, so scratch use of
    its inputs (here: zeroing them, and the batch) leaves training as it would be."""
    spec, params, x, y = _problem()

    def destructive(p, xb, yb):
        grads = mp.loss_and_grad(spec, p, xb, yb)[1]
        for W, b in p:
            W[...] = 0
            b[...] = 0
        xb[...] = np.nan
        yb[...] = np.nan
        return grads

    a = train(spec, params, x, y, backend="numpy", grad_fn=destructive, **SETTINGS)
    b = train(spec, params, x, y, backend="numpy", **SETTINGS)
    assert _rel(a.params, b.params) <= 1e-13
    assert a.history["loss"] == pytest.approx(b.history["loss"], rel=1e-13)
