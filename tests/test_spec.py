import numpy as np
import pytest

from mlp_parity import ACTIVATIONS, LOSSES, OUTPUT_ACTIVATIONS, MLPSpec


def _loss_input(loss, z):
    """What the loss row sees: the logits, or its default output activation's values."""
    return OUTPUT_ACTIVATIONS[loss.output_activations[0]].value(z)


def test_spec_basics():
    spec = MLPSpec((784, 128, 128, 10))
    assert spec.num_layers == 3 and spec.num_hidden == 2
    assert spec.num_params == 118_282
    assert spec.tensor_names == ["W0", "b0", "W1", "b1", "W2", "b2"]
    assert MLPSpec((5, 3)).num_hidden == 0
    assert MLPSpec([4, 3, 2], ("relu",), "mse").activation == ("relu",)


def test_spec_is_frozen_and_hashable():
    spec = MLPSpec((3, 2))
    with pytest.raises(AttributeError):
        spec.sizes = (1, 1)  # type: ignore[misc]
    assert hash(spec) == hash(MLPSpec((3, 2)))


@pytest.mark.parametrize(
    "kwargs, err, words",
    [
        (dict(sizes=(5,)), ValueError, "at least an input and an output"),
        (dict(sizes=(5, 0)), ValueError, ">= 1"),
        (dict(sizes=(5, 2.5)), TypeError, "ints"),
        (dict(sizes="5,3"), TypeError, "sequence of ints"),
        (dict(sizes=(5, 3), activation="softplus"), ValueError, "unknown activation"),
        (dict(sizes=(5, 4, 3), activation=("relu", "tanh")), ValueError, "one name per hidden"),
        (dict(sizes=(5, 3), loss="hinge"), ValueError, "unknown loss"),
    ],
)
def test_spec_rejects_bad_input(kwargs, err, words):
    with pytest.raises(err, match=words):
        MLPSpec(**kwargs)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_derivatives_match_finite_differences(name):
    act = ACTIVATIONS[name]
    z = np.linspace(-5, 5, 41) + 0.0123  # avoid the relu kink
    h = 1e-6
    fd = (act.value(z + h) - act.value(z - h)) / (2 * h)
    np.testing.assert_allclose(act.grad(z), fd, rtol=1e-6, atol=1e-9)


def test_relu_derivative_is_zero_at_zero():
    assert ACTIVATIONS["relu"].grad(np.zeros(3)).tolist() == [0, 0, 0]


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradients_match_finite_differences(name):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(3, 4))
    loss = LOSSES[name]
    y = np.eye(4)[[0, 2, 3]] if loss.takes_labels else rng.normal(size=(3, 4))
    z = _loss_input(loss, z)
    g = loss.grad(z, y)
    h = 1e-6
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        assert abs((loss.value(zp, y) - loss.value(zm, y)) / (2 * h) - g[idx]) < 1e-8


def test_losses_are_stable_for_huge_logits():
    z = np.array([[1e5, -1e5, 0.0]])
    y = np.array([[0.0, 1.0, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for loss in LOSSES.values():
            u = _loss_input(loss, z)
            assert np.isfinite(loss.value(u, y))
            assert np.all(np.isfinite(loss.grad(u, y)))
        for act in ACTIVATIONS.values():
            assert np.all(np.isfinite(act.value(z))) and np.all(np.isfinite(act.grad(z)))
    assert LOSSES["softmax_cross_entropy"].value(z, y) == pytest.approx(2e5)


def test_sigmoid_cross_entropy_gradient_keeps_its_digits_far_in_the_tail():
    """Regression (a Hypothesis draw): at z = -56 the tanh-form sigmoid rounds to 0, so the
    numpy engine's whole gradient, sigmoid(z) - y with y = 0, was 0 against 4.7e-25."""
    from mlp_parity import loss_and_grad
    from mlp_parity.spec.activations import sigmoid_relative

    z = np.array([-800.0, -56.0, -30.0, 0.0, 30.0, 800.0])
    exact = np.array(
        [0.0, np.exp(-56.0) / (1 + np.exp(-56.0)), np.exp(-30.0) / (1 + np.exp(-30.0)), 0.5]
    )
    np.testing.assert_allclose(sigmoid_relative(z)[:4], exact, rtol=1e-15, atol=0)
    assert sigmoid_relative(z)[-1] == 1.0
    spec = MLPSpec((1, 1), "identity", "sigmoid_cross_entropy")
    grads = loss_and_grad(spec, [(np.array([[1.0]]), np.array([0.0]))], np.array([[-56.0]]),
                          np.array([[0.0]]), backend="numpy")[1]  # fmt: skip
    assert grads[0][1][0] == pytest.approx(exact[1], rel=1e-14)
