"""The tolerances shared by the gradient comparison and the debugger: dtype-aware relative
tolerances, the magnitude bound (backprop on absolute values) and the round-off bound."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings

import mlp_parity as mp
from mlp_parity import strategies as mst
from mlp_parity.gradcheck import check_gradients, compare_tensors
from mlp_parity.params import cast_params
from mlp_parity.tolerance import (
    FD_RTOL,
    ROUNDOFF_FACTOR,
    RTOL,
    SCALE_FLOOR,
    eps,
    magnitude_bounds,
    roundoff_bounds,
    rtol_for,
)

PAIRS = [(a, loss) for a in mp.ACTIVATIONS for loss in mp.LOSSES]
#: Every (loss, output activation) the spec accepts.
OUTPUTS = [(loss, o) for loss in mp.LOSSES for o in mp.LOSSES[loss].output_activations]


def _flat(params):
    """Every tensor of either layout (pairs, or plain weights)."""
    return [t for layer in params for t in ((layer,) if isinstance(layer, np.ndarray) else layer)]


def test_rtol_and_eps_by_dtype():
    assert rtol_for("float64") == 1e-9 and rtol_for(np.float32) == 2e-4
    assert rtol_for("float16") == rtol_for("float32")  # anything else: the loose one
    assert set(SCALE_FLOOR) == set(RTOL)
    assert RTOL[np.dtype("float64")] < FD_RTOL < RTOL[np.dtype("float32")]
    assert eps(np.dtype("float32")) == np.finfo(np.float32).eps
    assert eps(np.dtype("int64")) == np.finfo(np.float64).eps


def test_round_off_aware_error_ignores_a_saturated_output():
    # sigmoid(31) - 1 = -3.4e-14 is known only to about eps: a different rounding of it is
    # not a mismatch, while a wrong factor still is.
    spec = mp.MLPSpec((1, 1), "identity", "sigmoid_cross_entropy")
    p = [(np.array([[31.0]]), np.zeros(1))]
    x, y = np.ones((1, 1)), np.ones((1, 1))
    _, ref = mp.loss_and_grad(spec, p, x, y)
    bounds = magnitude_bounds(spec, p, x, y)
    noisy = ref[0][0] + 1e-17
    ok = compare_tensors("W0", noisy, ref[0][0], rtol=1e-9, global_scale=1.0, bound=bounds[0][0])
    assert ok.ok
    bad = compare_tensors(
        "W0", 10 * ref[0][0] + 1.0, ref[0][0], rtol=1e-9, global_scale=1.0, bound=bounds[0][0]
    )
    assert not bad.ok


@given(mst.problems(max_depth=3, **mst.ALL_CONVENTIONS))
def test_magnitude_bound_covers_the_true_gradient(problem):
    """|a sum of products| <= the sum of their magnitudes, every |f'| <= 1 here: each gradient
    entry lies within its bound, which has the gradient's shapes."""
    spec, params, x, y = problem
    _, grads = mp.loss_and_grad(spec, params, x, y)
    bounds = magnitude_bounds(spec, params, x, y)
    for g, bd in zip(_flat(grads), _flat(bounds)):
        assert bd.shape == g.shape and bd.dtype == np.float64
        assert np.all(np.abs(g) <= bd * (1 + 1e-12) + 1e-300)


@given(mst.problems(max_depth=3, large=False, **mst.ALL_CONVENTIONS))
def test_correct_float32_backprop_is_within_the_roundoff_bound(problem):
    """The bound holds for *any* correct implementation: the package's numpy backprop run in
    float32 stays within it (with the debugger's slack), against float64, whatever the
    conventions."""
    spec, params, x, y = problem
    _, ref = mp.loss_and_grad(spec, params, x, y)
    p32 = cast_params(params, "float32")
    _, g32 = mp.loss_and_grad(spec, p32, x.astype(np.float32), y.astype(np.float32))
    bounds = roundoff_bounds(spec, params, x, y)
    assert len(bounds) == len(spec.tensor_names) and all(b >= 0 for b in bounds)
    slack = ROUNDOFF_FACTOR * np.sqrt(max(*spec.sizes, x.shape[0]))
    for g, r, bound in zip(_flat(g32), _flat(ref), bounds):
        err = float(np.abs(g.astype(np.float64) - r).max())
        assert err <= slack * eps(np.dtype("float32")) * bound


@pytest.mark.parametrize("activation, loss", PAIRS)
def test_every_table_row_has_its_bounds(activation, loss):
    """Both bounds come from the spec tables alone: every activation and loss row works."""
    out = mp.LOSSES[loss].output_activations[0]
    spec = mp.MLPSpec((3, 4, 2), activation, loss, output_activation=out)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3))
    y = np.asarray(mp.LOSSES[loss].targets(rng, 2, 2, 0), np.float64)
    params = mp.init_params(spec, seed=0)
    assert all(np.all(np.isfinite(t)) for t in _flat(magnitude_bounds(spec, params, x, y)))
    assert all(b > 0 for b in roundoff_bounds(spec, params, x, y))


def test_roundoff_bound_is_absolute_near_saturation():
    """A saturated sigmoid output: the true gradient sigmoid(31) - 1 is ~3e-14, its round-off
    ~eps. The bound allows that absolute error, far beyond any relative tolerance of the
    tiny true value, yet below the value itself: an all-zero or doubled gradient still fails."""
    spec = mp.MLPSpec((1, 1), "identity", "sigmoid_cross_entropy")
    p = [(np.array([[31.0]]), np.zeros(1))]
    x, y = np.ones((1, 1)), np.ones((1, 1))
    _, ref = mp.loss_and_grad(spec, p, x, y)
    true = abs(ref[0][0].item())
    bound_W, bound_b = roundoff_bounds(spec, p, x, y)
    assert bound_W >= 1.0 and bound_b >= 1.0  # in eps: at least the eps of |y| = 1
    allowed = ROUNDOFF_FACTOR * eps(np.dtype("float64")) * bound_W
    assert 1e6 * rtol_for("float64") * true < allowed < true


def test_roundoff_bound_is_zero_when_not_finite():
    spec = mp.MLPSpec((1, 1), "identity", "mse")
    p = [(np.array([[1e300]]), np.zeros(1))]
    x, y = np.full((1, 1), 1e300), np.zeros((1, 1))
    assert roundoff_bounds(spec, p, x, y) == [0.0, 0.0]


@pytest.mark.parametrize("loss, output", OUTPUTS)
@pytest.mark.parametrize("reduction", sorted(mp.REDUCTIONS))
def test_every_convention_has_its_bounds(loss, output, reduction):
    spec = mp.MLPSpec(
        (3, 4, 2),
        "tanh",
        loss,
        output_activation=output,
        reduction=reduction,
        l2=0.1,
        use_bias=False,
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3))
    y = np.asarray(mp.LOSSES[loss].targets(rng, 2, 2, 0), np.float64)
    params = mp.init_params(spec, seed=0)
    bounds = magnitude_bounds(spec, params, x, y)
    assert [b.shape for b in bounds] == [W.shape for W in params]  # plain weights in and out
    assert all(np.all(np.isfinite(b)) for b in bounds)
    assert len(roundoff_bounds(spec, params, x, y)) == 2
    assert all(b > 0 for b in roundoff_bounds(spec, params, x, y))


def test_bounds_scale_with_the_reduction_and_loss_scale():
    """A sum is n*k times the mean of mse: so are the magnitudes; loss_scale multiplies them."""
    base = mp.MLPSpec((3, 2), "identity", "mse")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    params = mp.init_params(base, seed=0)
    mean = magnitude_bounds(base, params, x, y)
    summed = magnitude_bounds(base.replace(reduction="sum", loss_scale=0.5), params, x, y)
    for m, s in zip(_flat(mean), _flat(summed)):
        np.testing.assert_allclose(s, m * 8 * 0.5, rtol=1e-12)


def test_l2_adds_its_term_to_the_weights_magnitude():
    spec = mp.MLPSpec((3, 2), "identity", "mse")
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    params = mp.init_params(spec, seed=0)
    plain = magnitude_bounds(spec, params, x, y)
    with_l2 = magnitude_bounds(spec.replace(l2=0.3), params, x, y)
    np.testing.assert_allclose(with_l2[0][0], plain[0][0] + np.abs(0.6 * params[0][0]))
    np.testing.assert_array_equal(with_l2[0][1], plain[0][1])  # never the biases


def _min_abs_relu_preactivation(spec, params, x):
    from mlp_parity.backends.numpy_backprop import forward

    _, zs = forward(spec, mp.params.as_pairs(spec, params), x)
    kinks = [z for z, a in zip(zs, spec.hidden_activations) if mp.ACTIVATIONS[a].has_kink]
    return min((float(np.abs(z).min()) for z in kinks), default=np.inf)


@settings(suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(mst.problems(max_depth=3, max_width=5, max_batch=4, large=False, **mst.ALL_CONVENTIONS))
def test_numpy_backprop_is_within_the_bounds_of_finite_differences(problem):
    """For random conventions, the hand-written gradients stay within FD_RTOL of central
    differences relative to the magnitude bounds (away from ReLU's kink)."""
    spec, params, x, y = problem
    assume(_min_abs_relu_preactivation(spec, params, x) > 1e-2)
    report = check_gradients(spec, params, x, y, ["numpy"], reference="finite_difference")
    assert report.ok, str(report)
