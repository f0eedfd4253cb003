"""Each engine on fixed problems, bad input, and the lazy-import contract."""

import subprocess
import sys

import numpy as np
import pytest
from conftest import requires_jax, requires_keras

import mlp_parity as mp
from mlp_parity.backends import get_backend

ENGINES = [
    "numpy",
    pytest.param("jax", marks=requires_jax),
    pytest.param("keras", marks=requires_keras),
    "finite_difference",
]


def _default_output(loss):
    """The first output activation ``loss`` accepts (identity for all but categorical CE)."""
    return mp.LOSSES[loss].output_activations[0]


def _problem(spec, batch=4, seed=0, dtype="float64"):
    rng = np.random.default_rng(seed)
    p = mp.init_params(spec, seed=seed, dtype=dtype)
    p = [(W, rng.normal(size=b.shape).astype(dtype) * 0.1) for W, b in p]
    x = rng.normal(size=(batch, spec.sizes[0])).astype(dtype)
    if spec.loss in ("softmax_cross_entropy", "categorical_cross_entropy"):
        y = rng.integers(0, spec.sizes[-1], batch)
    elif spec.loss == "sigmoid_cross_entropy":
        y = rng.random((batch, spec.sizes[-1]))
    else:
        y = rng.normal(size=(batch, spec.sizes[-1]))
    return p, x, y


@pytest.mark.parametrize("backend", ENGINES)
@pytest.mark.parametrize("activation", sorted(mp.ACTIVATIONS))
@pytest.mark.parametrize("loss", sorted(mp.LOSSES))
def test_engine_matches_numpy_on_fixed_problem(backend, activation, loss):
    spec = mp.MLPSpec((4, 5, 3, 3), activation, loss, output_activation=_default_output(loss))
    p, x, y = _problem(spec)
    ref_loss, ref = mp.loss_and_grad(spec, p, x, y, backend="numpy")
    value, grads = mp.loss_and_grad(spec, p, x, y, backend=backend)
    tol = 1e-6 if backend == "finite_difference" else 1e-12
    assert value == pytest.approx(ref_loss, rel=1e-12)
    for (gW, gb), (rW, rb) in zip(grads, ref):
        assert gW.shape == rW.shape and gW.dtype == np.float64
        np.testing.assert_allclose(gW, rW, rtol=0, atol=tol * np.abs(rW).max() + 1e-15)
        np.testing.assert_allclose(gb, rb, rtol=0, atol=tol * np.abs(rb).max() + 1e-15)


@pytest.mark.parametrize("backend", ENGINES)
def test_engine_forward_and_predict(backend):
    spec = mp.MLPSpec((3, 4, 2), "tanh", "softmax_cross_entropy")
    p, x, _ = _problem(spec)
    z = mp.forward(spec, p, x, backend=backend)
    np.testing.assert_allclose(z, mp.forward(spec, p, x), rtol=1e-12)
    probs = mp.predict(spec, p, x, backend=backend)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


@pytest.mark.parametrize(
    "backend",
    ["numpy", pytest.param("jax", marks=requires_jax), pytest.param("keras", marks=requires_keras)],
)
def test_float32_engines_return_float32_close_to_float64(backend):
    spec = mp.MLPSpec((6, 5, 4), "sigmoid", "softmax_cross_entropy")
    p, x, y = _problem(spec, dtype="float32")
    value, grads = mp.loss_and_grad(spec, p, x, y, backend=backend)
    p64 = [(W.astype(np.float64), b.astype(np.float64)) for W, b in p]
    ref_value, ref = mp.loss_and_grad(spec, p64, x.astype(np.float64), y, backend="numpy")
    assert value == pytest.approx(ref_value, rel=1e-5)
    for pair, rpair in zip(grads, ref):
        for g, r in zip(pair, rpair):
            assert g.dtype == np.float32
            assert np.abs(g - r).max() <= 2e-4 * np.abs(r).max()


@pytest.mark.parametrize("backend", ENGINES)
def test_relu_derivative_at_zero_is_zero(backend):
    # x = 0 and b = 0 make every hidden pre-activation exactly 0: no gradient reaches W0, b0.
    spec = mp.MLPSpec((2, 3, 2), "relu", "mse")
    p = mp.init_params(spec, seed=1)
    if backend == "finite_difference":
        pytest.skip("finite differences see the one-sided slopes at the kink, by design")
    _, grads = mp.loss_and_grad(spec, p, np.zeros((2, 2)), np.ones((2, 2)), backend=backend)
    assert not grads[0][0].any() and not grads[0][1].any()
    assert not grads[1][0].any()  # the hidden activations are relu(0) = 0


@pytest.mark.parametrize(
    "backend",
    ["numpy", pytest.param("jax", marks=requires_jax), pytest.param("keras", marks=requires_keras)],
)
def test_no_overflow_warning_for_large_logits(backend):
    spec = mp.MLPSpec((2, 3), "sigmoid", "softmax_cross_entropy")
    p = [(np.array([[1e4, -1e4, 0.0], [0.0, 0.0, 0.0]]), np.zeros(3))]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise"):
            value, grads = mp.loss_and_grad(
                spec, p, np.array([[1.0, 0.0]]), np.array([1]), backend=backend
            )
    assert value == pytest.approx(2e4)
    assert np.all(np.isfinite(grads[0][0]))


def test_unknown_backend():
    spec = mp.MLPSpec((2, 2))
    with pytest.raises(ValueError, match="unknown backend 'torch'.*numpy"):
        mp.loss_and_grad(
            spec, mp.init_params(spec), np.zeros((1, 2)), np.array([0]), backend="torch"
        )


def test_missing_framework_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.split(".")[0] == "jax":
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.delitem(sys.modules, "mlp_parity.backends.jax_autodiff", raising=False)
    with pytest.raises(ImportError, match=r'pip install "mlp_parity\[jax\]"'):
        get_backend("jax")


def test_y_required():
    spec = mp.MLPSpec((2, 2))
    with pytest.raises(TypeError, match="y is required"):
        mp.loss_and_grad(spec, mp.init_params(spec), np.zeros((1, 2)), None)


def test_import_mlp_parity_imports_no_framework():
    code = (
        "import sys, mlp_parity, mlp_parity.gradcheck, mlp_parity.cli, mlp_parity.debug,"
        " mlp_parity.train, mlp_parity.data;"
        "bad = [m for m in ('jax', 'tensorflow', 'keras', 'hypothesis', 'matplotlib')"
        " if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@requires_keras
def test_to_keras_model_is_compiled_and_equivalent():
    spec = mp.MLPSpec((3, 4, 2), "relu", "softmax_cross_entropy")
    p, x, y = _problem(spec)
    model = mp.to_keras(spec, p)
    assert model.loss is not None and model.compiled
    np.testing.assert_allclose(np.asarray(model(x)), mp.forward(spec, p, x), rtol=1e-12)
    assert [w.shape for w in model.get_weights()] == [t.shape for pair in p for t in pair]
    onehot = np.eye(2)[y]
    keras_loss = model.evaluate(x, onehot, verbose=0, return_dict=True)["loss"]
    # evaluate() averages its loss metric in float32, whatever the model dtype.
    assert keras_loss == pytest.approx(mp.loss_and_grad(spec, p, x, y)[0], rel=1e-6)


@requires_jax
def test_jax_honours_float64():
    spec = mp.MLPSpec((2, 2))
    _, grads = mp.loss_and_grad(
        spec, mp.init_params(spec), np.ones((1, 2)), np.array([1]), backend="jax"
    )
    assert grads[0][0].dtype == np.float64


@requires_jax
@pytest.mark.parametrize("sizes, batch", [((40, 33, 5), 3), ((6, 4, 3), 70), ((3, 3), 1)])
def test_jax_padded_and_exact_paths_agree_with_numpy(sizes, batch):
    """Small problems are padded into shape buckets (one compile per bucket); wide or long
    ones run at their exact shape. Both must equal the hand-written engine."""
    for loss in sorted(mp.LOSSES):
        spec = mp.MLPSpec(sizes, "sigmoid", loss, output_activation=_default_output(loss))
        p, x, y = _problem(spec, batch=batch)
        ref_value, ref = mp.loss_and_grad(spec, p, x, y)
        value, grads = mp.loss_and_grad(spec, p, x, y, backend="jax")
        assert value == pytest.approx(ref_value, rel=1e-12)
        for pair, rpair in zip(grads, ref):
            for g, r in zip(pair, rpair):
                np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-15)


def test_compare_tensors_is_stable_for_huge_gradients():
    from mlp_parity.gradcheck import compare_tensors

    ref = np.array([1e200, -3e200])
    with np.errstate(over="raise"):
        c = compare_tensors("W0", 2 * ref, ref, rtol=1e-9, global_scale=3e200)
    assert c.cosine == pytest.approx(1.0) and c.scale == pytest.approx(2.0) and not c.ok
