"""The property tests: on drawn problems (depth 1-5, widths 1-10, batch 1-6, every
activation x loss, exact zeros and large magnitudes) every engine's loss and gradients equal an
independent float64 reference: <= 1e-9 relative in float64, <= 2e-4 in float32."""

import numpy as np
import pytest
from conftest import HAS_JAX, HAS_TF
from hypothesis import HealthCheck, assume, given, settings

from mlp_parity import strategies as mst
from mlp_parity.backends import get_backend
from mlp_parity.gradcheck import FD_RTOL, compare_grads, magnitude_bounds, rtol_for
from mlp_parity.params import as_pairs, cast_params
from mlp_parity.spec import MLPSpec
from mlp_parity.spec.conventions import divisor
from mlp_parity.tolerance import eps

# Each engine against a reference engine written independently of it.
PAIRS = [("numpy", "jax"), ("keras", "jax"), ("jax", "keras"), ("numpy", "keras")]
PAIRS = [p for p in PAIRS if (HAS_JAX or "jax" not in p) and (HAS_TF or "keras" not in p)]
if not PAIRS:  # no framework installed: the hand-written engine against the oracle only
    PAIRS = [("numpy", "finite_difference")]


def _assert_match(problem, backend, reference, dtype="float64"):
    """``backend``'s loss and gradients equal ``reference``'s in float64 within the tolerance
    of ``dtype`` (of finite differences against that oracle). The engines take pairs: a
    problem without biases is passed with zero ones, and only its weights are compared."""
    spec, params, x, y = problem
    pairs = as_pairs(spec, params)
    value, grads = get_backend(backend).loss_and_grad(spec, pairs, x, y)
    p64 = cast_params(pairs, "float64")
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    ref_value, ref = get_backend(reference).loss_and_grad(spec, p64, x64, y64)
    rtol = rtol_for(dtype) if reference != "finite_difference" else FD_RTOL
    # plus a few eps per term, absolute: categorical cross-entropy's clipped term
    # -log(1 - 1e-7) is 1.0e-7 in float64 but 1.2e-7 in float32
    floor = 8 * eps(np.dtype(dtype)) * spec.loss_scale * (np.abs(y64).sum() + y.size)
    atol = floor / divisor(spec, *y.shape)
    assert abs(value - ref_value) <= rtol * max(abs(ref_value), 1e-12) + atol, (value, ref_value)
    bounds = magnitude_bounds(spec, p64, x64, y64)
    bad = [t for t in compare_grads(spec, grads, ref, rtol=rtol, bounds=bounds) if not t.ok]
    assert not bad, f"{backend} vs {reference} on {spec}: {bad}"
    for (gW, gb), (W, _) in zip(grads, pairs):
        assert gW.dtype == W.dtype and gb.dtype == W.dtype
        assert gW.shape == W.shape and gb.shape == (W.shape[1],)


@pytest.mark.parametrize("backend, reference", PAIRS)
@given(problem=mst.problems())
def test_float64_gradients_match(backend, reference, problem):
    _assert_match(problem, backend, reference)


@pytest.mark.parametrize("backend, reference", PAIRS)
@given(problem=mst.problems(dtype="float32", large=False, max_depth=4))
def test_float32_gradients_match_float64_reference(backend, reference, problem):
    _assert_match(problem, backend, reference, dtype="float32")


def _min_abs_relu_preactivation(spec, params, x):
    from mlp_parity.backends.numpy_backprop import forward

    _, zs = forward(spec, params, x)
    acts = spec.hidden_activations
    vals = [np.abs(z).min() for z, a in zip(zs, acts) if a == "relu"]
    return min(vals, default=np.inf)


@settings(suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(problem=mst.problems(max_depth=4, max_width=6, max_batch=4))
def test_hand_written_backprop_matches_finite_differences(problem):
    """The oracle without autodiff: central differences. Away from ReLU's kink only (within a
    step of z = 0 a difference quotient sees both slopes)."""
    spec, params, x, _ = problem
    assume(_min_abs_relu_preactivation(spec, params, x) > 1e-2)
    _assert_match(problem, "numpy", "finite_difference")


def test_finite_differences_where_later_weights_amplify_the_step():
    """A problem the dev profile once drew: W1 = 20 multiplies b0's step twentyfold, and the
    oracle's former O(h^4) extrapolation was 1e-5 off there (now O(h^6): 4e-9)."""
    spec = MLPSpec((1, 1, 1, 3, 1), "tanh", "mse")
    params = [
        (np.array([[0.12573022]]), np.zeros(1)),
        (np.array([[20.40919121]]), np.zeros(1)),
        (np.array([[1.25730221, -1.32104863, 6.4042265]]), np.zeros(3)),
        (np.array([[0.07259038], [-0.07627078], [0.36974819]]), np.zeros(1)),
    ]
    problem = (spec, params, np.zeros((1, 1)), np.array([[0.12573022]]))
    _assert_match(problem, "numpy", "finite_difference")


def test_strategies_reach_the_hard_places():
    """The drawn problems include what breaks naive code: exact zeros, large logits, batch 1,
    no hidden layer, square matrices."""
    from hypothesis import find

    find(mst.problems(), lambda p: p.x.shape[0] == 1 and p.spec.num_hidden == 0)
    find(mst.problems(), lambda p: any(W.shape[0] == W.shape[1] > 1 for W, _ in p.params))
    find(mst.problems(), lambda p: (p.x == 0).any() and not p.params[0][1].any())
    find(
        mst.problems(loss="softmax_cross_entropy"),
        lambda p: np.abs(get_backend("numpy").logits(p.spec, p.params, p.x)).max() > 800,
    )
    find(mst.problems(), lambda p: 0 < np.abs(p.x[p.x != 0]).min(initial=1) < 1e-2)
