"""Issue 14's conventions on the two autodiff engines: for every output activation, loss,
reduction, loss_scale, L2 and use_bias (and their combinations), JAX and Keras/TensorFlow equal
the hand-written numpy engine (float64 and float32) and finite differences; the padded JAX path
keeps one compilation per dtype for all of them and the exact path agrees; ``to_keras`` models
evaluate and train on the spec's loss."""

import itertools

import numpy as np
import pytest
from conftest import requires_jax, requires_keras
from hypothesis import HealthCheck, assume, given, settings
from test_parity import _assert_match

import mlp_parity as mp
from mlp_parity import strategies as mst
from mlp_parity.backends import get_backend
from mlp_parity.params import as_pairs
from mlp_parity.spec import LOSSES, OUTPUT_ACTIVATIONS, REDUCTIONS, MLPSpec
from mlp_parity.spec.conventions import loss_input

ENGINES = [pytest.param("jax", marks=requires_jax), pytest.param("keras", marks=requires_keras)]


def convention_problems(max_depth=4, max_width=8, **kwargs):
    """Problems with every convention drawn: each output activation with each loss that takes
    it, each reduction, loss_scale, l2 and use_bias (user layout: ``[W0, ...]`` without
    biases)."""
    return mst.problems(**mst.ALL_CONVENTIONS, max_depth=max_depth, max_width=max_width, **kwargs)


@pytest.mark.parametrize("backend", ENGINES)
@given(problem=convention_problems())
def test_float64_engines_equal_numpy_on_every_convention(backend, problem):
    _assert_match(problem, backend, "numpy")


@pytest.mark.parametrize("backend", ENGINES)
@given(problem=convention_problems(dtype="float32", large=False))
def test_float32_engines_equal_float64_numpy_on_every_convention(backend, problem):
    _assert_match(problem, backend, "numpy", dtype="float32")


def _away_from_kinks(spec, pairs, x) -> bool:
    """No ReLU pre-activation within a step of 0 and no clipped probability within a step of
    categorical cross-entropy's clip bounds: there a difference quotient sees both slopes."""
    from mlp_parity.backends.numpy_backprop import forward

    _, zs = forward(spec, pairs, x)
    relu = [np.abs(z).min() for z, a in zip(zs, spec.hidden_activations) if a == "relu"]
    if min(relu, default=np.inf) <= 1e-2:
        return False
    if spec.loss != "categorical_cross_entropy":
        return True
    a = loss_input(spec, zs[-1])
    p = a / a.sum(axis=1, keepdims=True)
    eps = 1e-7
    return bool(np.all((np.abs(p - eps) > 1e-2 * eps) & (np.abs(p - (1 - eps)) > 1e-2 * eps)))


@pytest.mark.parametrize("backend", ENGINES)
@settings(suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(problem=convention_problems(max_depth=3, max_width=5, large=False))
def test_engines_equal_finite_differences_on_every_convention(backend, problem):
    spec, params, x, _ = problem
    assume(_away_from_kinks(spec, as_pairs(spec, params), x))
    _assert_match(problem, backend, "finite_difference")


def _problem(spec, batch, seed=0, dtype="float64"):
    rng = np.random.default_rng(seed)
    pairs = [
        (W, (0.1 * rng.normal(size=b.shape) if spec.use_bias else np.zeros(b.shape)).astype(dtype))
        for W, b in mp.init_params(MLPSpec(spec.sizes), seed=seed, dtype=dtype)
    ]
    x = rng.normal(size=(batch, spec.sizes[0])).astype(dtype)
    y = LOSSES[spec.loss].targets(rng, batch, spec.sizes[-1], 1 % LOSSES[spec.loss].target_variants)
    return pairs, x, np.asarray(y, dtype)


def _every_option():
    """Each output activation with each loss that takes it, then each other convention on its
    own and all together: every option at least once."""
    for loss in sorted(LOSSES):
        for out in LOSSES[loss].output_activations:
            yield {"loss": loss, "output_activation": out}
            yield {"loss": loss, "output_activation": out, "reduction": "sum", "l2": 0.01}
    for reduction, scale, l2, bias in itertools.product(REDUCTIONS, (1.0, 0.5), (0.0, 0.2), (1, 0)):
        yield {
            "loss": "mse",
            "reduction": reduction,
            "loss_scale": scale,
            "l2": l2,
            "use_bias": bias == 1,
        }


EVERY_OPTION = list(_every_option())
#: Fewer, combined: every option at least once, for what compiles per combination.
COMBINED = [
    {"loss": "mse", "output_activation": "sigmoid", "reduction": "sum", "loss_scale": 0.5}
    | {"l2": 0.2, "use_bias": False},
    {"loss": "mse", "output_activation": "softmax", "reduction": "batch_mean"},
    {"loss": "categorical_cross_entropy", "output_activation": "sigmoid", "l2": 0.01},
    {"loss": "categorical_cross_entropy", "output_activation": "softmax", "reduction": "sum"}
    | {"loss_scale": 2.0},
    {"loss": "sigmoid_cross_entropy", "reduction": "batch_mean", "use_bias": False},
    {"loss": "softmax_cross_entropy", "reduction": "sum", "l2": 0.5},
]


@requires_jax
@pytest.mark.parametrize("sizes, batch", [((40, 33, 5), 3), ((6, 4, 3), 70)])
def test_jax_exact_path_equals_numpy_on_every_option(sizes, batch):
    """Width > 32 or batch > 64: the exact-shape path (a compilation per shape and
    loss/output/reduction), not the padded one."""
    ja = get_backend("jax")
    for conv in COMBINED:
        spec = MLPSpec(sizes, "tanh", **conv)
        assert not ja.fits_padding(spec, batch)
        pairs, x, y = _problem(spec, batch)
        ref_value, ref = get_backend("numpy").loss_and_grad(spec, pairs, x, y)
        value, grads = ja.loss_and_grad(spec, pairs, x, y)
        assert value == pytest.approx(ref_value, rel=1e-12), spec
        for (g, _), (r, _) in zip(grads, ref):
            np.testing.assert_allclose(
                g, r, rtol=1e-10, atol=1e-14 * np.abs(r).max(), err_msg=str(spec)
            )


@requires_jax
def test_jax_padded_path_compiles_once_for_every_convention():
    """Output activation, loss, reduction, loss_scale and l2 are data of the one padded
    compilation: no convention compiles anything new."""
    ja = get_backend("jax")
    ja.warm_up("float64")
    before = ja._compiled_padded()._cache_size()
    for conv in EVERY_OPTION:
        spec = MLPSpec((3, 4, 2), "relu", **conv)
        pairs, x, y = _problem(spec, 5)
        assert ja.fits_padding(spec, 5)
        ref_value, _ = get_backend("numpy").loss_and_grad(spec, pairs, x, y)
        assert ja.loss_and_grad(spec, pairs, x, y)[0] == pytest.approx(ref_value, rel=1e-12)
    assert ja._compiled_padded()._cache_size() == before


@requires_jax
def test_jax_l2_skips_the_padding_identities():
    """The padded network's identity layers (past the real output) carry no L2: a one-layer
    network's penalty is its one matrix's."""
    spec = MLPSpec((2, 2), loss="mse", l2=0.5)
    W = np.array([[1.0, 2.0], [3.0, 4.0]])
    value, grads = get_backend("jax").loss_and_grad(
        spec, [(W, np.zeros(2))], np.zeros((1, 2)), np.zeros((1, 2))
    )
    assert value == 0.5 * 30.0
    np.testing.assert_array_equal(grads[0][0], W)  # 2 * l2 * W


@requires_jax
@pytest.mark.parametrize("conv", COMBINED, ids=str)
def test_jax_objective_is_the_engines_loss(conv):
    """``objective(spec)``, for training loops, is the same loss as ``loss_and_grad``."""
    import jax

    ja = get_backend("jax")
    spec = MLPSpec((3, 4, 2), "sigmoid", **conv)
    pairs, x, y = _problem(spec, 4)
    value, grads = jax.value_and_grad(ja.objective(spec))(ja.to_device(pairs), x, y)
    ref_value, ref = ja.loss_and_grad(spec, pairs, x, y)
    assert float(value) == pytest.approx(ref_value, rel=1e-12)
    np.testing.assert_allclose(np.asarray(grads[0][0]), ref[0][0], rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("backend", ENGINES)
@pytest.mark.parametrize("out", sorted(OUTPUT_ACTIVATIONS))
def test_public_api_speaks_the_user_layout(backend, out):
    """No biases: params in and gradients out are a plain ``[W0, W1]``, equal to numpy's;
    ``forward`` returns the logits and ``predict`` the output activation's values."""
    spec = MLPSpec((3, 4, 2), "tanh", "mse", output_activation=out, use_bias=False, l2=0.1)
    pairs, x, y = _problem(spec, 4)
    weights = [W for W, _ in pairs]
    value, grads = mp.loss_and_grad(spec, weights, x, y, backend=backend)
    ref_value, ref = mp.loss_and_grad(spec, weights, x, y)
    assert value == pytest.approx(ref_value, rel=1e-12)
    assert len(grads) == 2 and all(isinstance(g, np.ndarray) for g in grads)
    for g, r in zip(grads, ref):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(mp.forward(spec, weights, x, backend), mp.forward(spec, weights, x))
    np.testing.assert_allclose(mp.predict(spec, weights, x, backend), mp.predict(spec, weights, x))


@requires_keras
def test_keras_categorical_cross_entropy_renormalises_and_clips_the_values():
    """Keras' sigmoid and softmax attach their logits to their output, and Keras'
    categorical cross-entropy then computes softmax cross-entropy of the logits; the engine's
    loss is the spec's: the values renormalised and clipped at Keras' epsilon."""
    import keras

    assert keras.config.epsilon() == 1e-7
    kt = get_backend("keras")
    spec = MLPSpec((3, 4), loss="categorical_cross_entropy", output_activation="sigmoid")
    pairs, x, y = _problem(spec, 5)
    model = kt.build_model(spec)
    model.set_weights([t for pair in pairs for t in pair])
    ours = float(kt.keras_loss(spec)(y, model(x)))
    keras_shortcut = float(keras.losses.CategoricalCrossentropy(dtype="float64")(y, model(x)))
    reference = mp.loss_and_grad(spec, pairs, x, y)[0]
    assert ours == pytest.approx(reference, rel=1e-12)
    softmax_ce = mp.loss_and_grad(MLPSpec((3, 4)), pairs, x, y)[0]  # of the logits
    assert keras_shortcut == pytest.approx(softmax_ce, rel=1e-12) and abs(ours - softmax_ce) > 1e-3


KERAS_MODELS = [
    {"loss": "softmax_cross_entropy"},
    {"loss": "mse", "output_activation": "sigmoid", "loss_scale": 0.5, "reduction": "sum"},
    {"loss": "mse", "output_activation": "softmax", "reduction": "batch_mean", "use_bias": False},
    {"loss": "categorical_cross_entropy", "output_activation": "sigmoid"},
    {"loss": "categorical_cross_entropy", "output_activation": "softmax", "reduction": "sum"},
    {"loss": "sigmoid_cross_entropy", "l2": 0.05, "use_bias": False, "loss_scale": 2.0},
    {"loss": "mse", "l2": 0.01, "reduction": "batch_mean"},
]


@requires_keras
@pytest.mark.parametrize("conv", KERAS_MODELS, ids=str)
def test_to_keras_evaluates_the_specs_loss(conv):
    """``to_keras``: the spec's layers (no bias variables without biases; its ``get_weights``
    is the user layout; its output is the output activation's values), and ``evaluate``'s
    loss (in a tf.function, L2 from the kernels' regularizers) is ``loss_and_grad``'s value."""
    spec = MLPSpec((3, 5, 4), "relu", **conv)
    pairs, x, y = _problem(spec, 6)
    params = pairs if spec.use_bias else [W for W, _ in pairs]
    model = mp.to_keras(spec, params)
    flat = [t for p in params for t in (p if spec.use_bias else (p,))]
    assert [w.shape for w in model.get_weights()] == [t.shape for t in flat]
    assert len(model.trainable_variables) == len(flat)
    a = loss_input(spec, mp.forward(spec, params, x))  # what the loss sees
    np.testing.assert_allclose(np.asarray(model(x)), a, rtol=1e-12, atol=1e-15)
    value = model.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)["loss"]
    # evaluate() averages its loss metric in float32, whatever the model dtype
    assert value == pytest.approx(mp.loss_and_grad(spec, params, x, y)[0], rel=1e-6)


@requires_keras
@pytest.mark.parametrize("conv", [KERAS_MODELS[3], KERAS_MODELS[5]], ids=str)
def test_to_keras_fit_steps_on_the_specs_gradient(conv):
    """One ``fit`` step of SGD on the whole batch moves the weights by ``-lr`` times
    ``loss_and_grad``'s gradients: fit trains on the spec's loss, L2 included."""
    spec = MLPSpec((3, 5, 4), "tanh", **conv)
    pairs, x, y = _problem(spec, 6)
    # fit's data adapter rounds float64 data through float32 (Keras' floatx): data it keeps
    x, y = (a.astype(np.float32).astype(np.float64) for a in (x, y))
    params = pairs if spec.use_bias else [W for W, _ in pairs]
    model = mp.to_keras(spec, params, learning_rate=0.1)
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    _, grads = mp.loss_and_grad(spec, params, x, y)
    flat_p = [t for p in params for t in (p if spec.use_bias else (p,))]
    flat_g = [t for g in grads for t in (g if spec.use_bias else (g,))]
    for w, p, g in zip(model.get_weights(), flat_p, flat_g):
        # Keras' SGD holds the learning rate in a float32 variable
        np.testing.assert_allclose(w, p - np.float32(0.1) * g, rtol=0, atol=1e-12)


@requires_keras
def test_to_keras_model_saves_and_loads_with_its_loss(tmp_path):
    """The conventions' loss and regularizer are registered Keras objects: a saved model loads
    back compiled with the same loss."""
    import keras

    spec = MLPSpec((3, 4), "tanh", **KERAS_MODELS[4], l2=0.1, use_bias=False)
    pairs, x, y = _problem(spec, 5)
    model = mp.to_keras(spec, [W for W, _ in pairs])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    before = model.evaluate(x, y, batch_size=5, verbose=0)
    after = loaded.evaluate(x, y, batch_size=5, verbose=0)
    assert (
        before[0]
        == after[0]
        == pytest.approx(mp.loss_and_grad(spec, [W for W, _ in pairs], x, y)[0], rel=1e-6)
    )
