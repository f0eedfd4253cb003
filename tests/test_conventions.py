"""The loss conventions of issue 14 on the numpy side: the spec's fields and their validation,
the reference formulas (spec.conventions), the hand-written engine and finite differences on
every option and combination, the layout without biases, and the file format."""

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings

import mlp_parity as mp
from mlp_parity import strategies as mst
from mlp_parity.gradcheck import check_gradients
from mlp_parity.params import as_pairs, from_pairs
from mlp_parity.spec import conventions as cv
from mlp_parity.spec.losses import EPSILON

#: Every valid (loss, output activation).
OUTPUTS = [(loss, o) for loss in mp.LOSSES for o in mp.LOSSES[loss].output_activations]
COMBINATIONS = [
    (loss, out, red, bias)
    for (loss, out), red, bias in itertools.product(OUTPUTS, mp.REDUCTIONS, (True, False))
]


def _problem(spec, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    params = mp.init_params(spec, seed=seed)
    x = rng.standard_normal((batch, spec.sizes[0]))
    y = np.asarray(mp.LOSSES[spec.loss].targets(rng, batch, spec.sizes[-1], 0), np.float64)
    return params, x, y


# ---------------------------------------------------------------------------------------------
# The spec


def test_defaults_are_todays_spec():
    spec = mp.MLPSpec((3, 2))
    assert spec.conventions == {
        "output_activation": "identity",
        "reduction": "mean",
        "loss_scale": 1.0,
        "l2": 0.0,
        "use_bias": True,
    }
    assert spec.non_default_conventions == {} and str(spec) == "3-2 sigmoid softmax_cross_entropy"


def test_str_and_dict_name_the_conventions():
    spec = mp.MLPSpec(
        (784, 30, 10),
        "sigmoid",
        "mse",
        output_activation="sigmoid",
        reduction="sum",
        loss_scale=0.5,
        l2=0.001,
        use_bias=False,
    )
    assert str(spec) == "784-30-10 sigmoid mse out=sigmoid sum x0.5 l2=0.001 no-bias"
    d = spec.to_dict()
    assert d["output_activation"] == "sigmoid" and d["reduction"] == "sum"
    assert d["loss_scale"] == 0.5 and d["l2"] == 0.001 and d["use_bias"] is False
    assert spec.num_params == 784 * 30 + 30 * 10
    assert spec.tensor_names == ["W0", "W1"]
    assert spec.replace(use_bias=True).tensor_names == ["W0", "b0", "W1", "b1"]


def test_keyword_values_are_normalised():
    spec = mp.MLPSpec((3, 2), loss_scale=2, l2=np.float32(0.5), use_bias=np.bool_(False))
    assert type(spec.loss_scale) is float and type(spec.l2) is float
    assert spec.use_bias is False
    assert hash(spec) == hash(mp.MLPSpec((3, 2), loss_scale=2.0, l2=0.5, use_bias=False))


@pytest.mark.parametrize(
    "kwargs, err, words",
    [
        (dict(output_activation="tanh"), ValueError, "unknown output_activation"),
        (dict(reduction="max"), ValueError, "unknown reduction"),
        (dict(loss_scale=0.0), ValueError, "loss_scale must be a finite float > 0"),
        (dict(loss_scale=-1.0), ValueError, "loss_scale"),
        (dict(loss_scale=float("nan")), ValueError, "loss_scale"),
        (dict(loss_scale="1"), TypeError, "loss_scale"),
        (dict(loss_scale=True), TypeError, "loss_scale"),
        (dict(l2=-0.1), ValueError, "l2 must be a finite float >= 0"),
        (dict(l2=float("inf")), ValueError, "l2"),
        (dict(l2=None), TypeError, "l2"),
        (dict(use_bias=1), TypeError, "use_bias"),
        (dict(use_bias="no"), TypeError, "use_bias"),
    ],
)
def test_bad_conventions_are_refused_by_name(kwargs, err, words):
    with pytest.raises(err, match=words):
        mp.MLPSpec((3, 2), "relu", "mse", **kwargs)


@pytest.mark.parametrize(
    "loss, output",
    [
        (loss, o)
        for loss in mp.LOSSES
        for o in mp.OUTPUT_ACTIVATIONS
        if o not in mp.LOSSES[loss].output_activations
    ],
)
def test_invalid_combinations_name_both_arguments(loss, output):
    with pytest.raises(ValueError) as info:
        mp.MLPSpec((3, 2), "relu", loss, output_activation=output)
    assert f"output_activation={output!r}" in str(info.value)
    assert f"loss={loss!r}" in str(info.value)


def test_every_valid_combination_is_accepted():
    for (loss, out), red in itertools.product(OUTPUTS, mp.REDUCTIONS):
        assert mp.MLPSpec((3, 2), "relu", loss, output_activation=out, reduction=red)
    assert {o for _, o in OUTPUTS} == set(mp.OUTPUT_ACTIVATIONS)


def test_every_loss_row_has_its_convention_facts():
    for loss in mp.LOSSES.values():
        assert loss.terms and loss.terms_grad and loss.terms_magnitude and loss.terms_roundoff
        assert loss.output_activations and set(loss.output_activations) <= set(
            mp.OUTPUT_ACTIVATIONS
        )
        if loss.on_probabilities:
            assert all(mp.OUTPUT_ACTIVATIONS[o].probabilities for o in loss.output_activations)


# ---------------------------------------------------------------------------------------------
# The reference formulas


@pytest.mark.parametrize("loss", sorted(mp.LOSSES))
def test_default_conventions_are_the_loss_rows_bit_for_bit(loss):
    row = mp.LOSSES[loss]
    spec = mp.MLPSpec((3, 4), loss=loss, output_activation=row.output_activations[0])
    rng = np.random.default_rng(3)
    z = rng.standard_normal((5, 4))
    y = np.asarray(row.targets(rng, 5, 4, 0), np.float64)
    u = cv.loss_input(spec, z)
    assert cv.data_loss(spec, z, y) == row.value(u, y)
    if row.output_activations[0] == "identity":
        np.testing.assert_array_equal(cv.data_loss_grad(spec, z, y), row.grad(z, y))
        np.testing.assert_array_equal(cv.data_loss_magnitude(spec, z, y), row.magnitude(z, y))
        e_z = np.abs(z)
        np.testing.assert_array_equal(
            cv.data_loss_roundoff(spec, z, y, e_z), row.roundoff(z, y, e_z)
        )


def test_textbook_sigmoid_half_squared_error():
    """sigmoid outputs + 1/2 ||a - y||^2 summed: delta = (a - y) a (1 - a)."""
    spec = mp.MLPSpec(
        (3, 2), "sigmoid", "mse", output_activation="sigmoid", reduction="sum", loss_scale=0.5
    )
    rng = np.random.default_rng(4)
    z, y = rng.standard_normal((3, 2)), rng.random((3, 2))
    a = 1 / (1 + np.exp(-z))
    assert cv.data_loss(spec, z, y) == pytest.approx(0.5 * ((a - y) ** 2).sum(), rel=1e-14)
    np.testing.assert_allclose(cv.data_loss_grad(spec, z, y), (a - y) * a * (1 - a), rtol=1e-13)


def test_softmax_squared_error_batch_mean():
    spec = mp.MLPSpec((3, 3), "relu", "mse", output_activation="softmax", reduction="batch_mean")
    rng = np.random.default_rng(5)
    z, y = rng.standard_normal((4, 3)), np.eye(3)[[0, 1, 2, 0]]
    a = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert cv.data_loss(spec, z, y) == pytest.approx(((a - y) ** 2).sum() / 4, rel=1e-14)
    g = 2 * (a - y) / 4
    want = a * (g - (g * a).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(cv.data_loss_grad(spec, z, y), want, rtol=1e-12)


def test_categorical_cross_entropy_is_keras_formula():
    """Renormalised, clipped to [1e-7, 1 - 1e-7], -sum y log p, mean over the batch; the
    gradient through the clip is 0."""
    spec = mp.MLPSpec((3, 3), "relu", "categorical_cross_entropy", output_activation="sigmoid")
    z = np.array([[0.3, -1.0, 2.0], [40.0, -40.0, 0.0]])
    y = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    a = 1 / (1 + np.exp(-z))
    p = np.clip(a / a.sum(axis=1, keepdims=True), EPSILON, 1 - EPSILON)
    assert cv.data_loss(spec, z, y) == pytest.approx(-(y * np.log(p)).sum() / 2, rel=1e-14)
    g = cv.data_loss_grad(spec, z, y)
    # row 2: the target's probability ~4e-18 is clipped: no gradient flows through it
    assert np.all(g[1] == 0)
    assert np.all(np.isfinite(g)) and np.any(g[0] != 0)


def test_penalty_and_its_gradient():
    spec = mp.MLPSpec((3, 2), l2=0.25)
    Ws = [np.ones((3, 2)), 2 * np.ones((2, 1))]
    assert cv.penalty(spec, Ws) == 0.25 * (6 + 8)
    np.testing.assert_array_equal(cv.penalty_grad(spec, Ws[1]), 0.5 * Ws[1])
    assert cv.penalty(mp.MLPSpec((3, 2)), Ws) == 0.0


def test_divisors_of_each_reduction():
    for loss, n_k in [("mse", 12), ("sigmoid_cross_entropy", 12), ("softmax_cross_entropy", 4)]:
        spec = mp.MLPSpec((2, 3), loss=loss)
        assert cv.divisor(spec, 4, 3) == n_k
        assert cv.divisor(spec.replace(reduction="sum"), 4, 3) == 1
        assert cv.divisor(spec.replace(reduction="batch_mean"), 4, 3) == 4


def test_network_output_and_one_output_threshold():
    z = np.array([[-1.0, 2.0]])
    sig = mp.MLPSpec((2, 2), loss="mse", output_activation="sigmoid")
    np.testing.assert_allclose(cv.network_output(sig, z), 1 / (1 + np.exp(-z)))
    soft = mp.MLPSpec((2, 2), loss="softmax_cross_entropy")
    np.testing.assert_allclose(cv.network_output(soft, z).sum(), 1.0)
    np.testing.assert_array_equal(cv.network_output(mp.MLPSpec((2, 2), loss="mse"), z), z)
    one = mp.MLPSpec((2, 1), loss="mse")
    assert cv.one_output_threshold(one) == 0.5
    assert cv.one_output_threshold(one.replace(output_activation="sigmoid")) == 0.0
    assert cv.one_output_threshold(mp.MLPSpec((2, 1), loss="sigmoid_cross_entropy")) == 0.0
    assert cv.one_output_threshold(sig) is None


@pytest.mark.parametrize("loss, output", OUTPUTS)
def test_fused_gradient_for_training_loops(loss, output):
    spec = mp.MLPSpec((3, 3), loss=loss, output_activation=output, reduction="sum", loss_scale=2)
    rng = np.random.default_rng(6)
    z = rng.standard_normal((4, 3))
    y = np.asarray(mp.LOSSES[loss].targets(rng, 4, 3, 0), np.float64)
    out, work = np.empty_like(z), np.empty((4, 5))
    value = cv.data_loss_and_grad_into(spec, z, y, out, -0.1, work)
    np.testing.assert_allclose(out, -0.1 * cv.data_loss_grad(spec, z, y), rtol=1e-13)
    assert value is None or value == pytest.approx(cv.data_loss(spec, z, y), rel=1e-13)


# ---------------------------------------------------------------------------------------------
# The hand-written engine and finite differences


@pytest.mark.parametrize("loss, output, reduction, use_bias", COMBINATIONS)
def test_numpy_engine_matches_finite_differences_on_every_combination(
    loss, output, reduction, use_bias
):
    spec = mp.MLPSpec(
        (3, 4, 3),
        "tanh",
        loss,
        output_activation=output,
        reduction=reduction,
        loss_scale=0.5,
        l2=0.05,
        use_bias=use_bias,
    )
    params, x, y = _problem(spec)
    report = check_gradients(spec, params, x, y, ["numpy"], reference="finite_difference")
    assert report.ok, str(report)
    assert [t.name for t in report.results[0].tensors] == spec.tensor_names


@settings(suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(mst.problems(max_depth=3, max_width=5, max_batch=4, **mst.ALL_CONVENTIONS))
def test_numpy_engine_matches_finite_differences_on_drawn_conventions(problem):
    spec, params, x, y = problem
    from mlp_parity.backends.numpy_backprop import forward

    _, zs = forward(spec, as_pairs(spec, params), x)
    kinks = [z for z, a in zip(zs, spec.hidden_activations) if mp.ACTIVATIONS[a].has_kink]
    assume(all(np.abs(z).min() > 1e-2 for z in kinks))
    report = check_gradients(spec, params, x, y, ["numpy"], reference="finite_difference")
    assert report.ok, str(report)
    assert [t.name for t in report.results[0].tensors] == spec.tensor_names


def test_the_conventions_change_the_gradient_as_the_maths_says():
    """sum vs mean is a factor n*k for mse; loss_scale multiplies; l2 adds 2 l2 W."""
    base = mp.MLPSpec((3, 2), "tanh", "mse")
    params, x, y = _problem(base)
    v, g = mp.loss_and_grad(base, params, x, y)
    v2, g2 = mp.loss_and_grad(base.replace(reduction="sum", loss_scale=0.5), params, x, y)
    assert v2 == pytest.approx(v * 8 * 0.5)
    np.testing.assert_allclose(g2[0][0], g[0][0] * 4, rtol=1e-14)
    v3, g3 = mp.loss_and_grad(base.replace(l2=0.1), params, x, y)
    assert v3 == pytest.approx(v + 0.1 * (params[0][0] ** 2).sum())
    np.testing.assert_allclose(g3[0][0], g[0][0] + 0.2 * params[0][0], rtol=1e-14)
    np.testing.assert_array_equal(g3[0][1], g[0][1])


def test_predict_is_the_network_output():
    spec = mp.MLPSpec((3, 2), "tanh", "mse", output_activation="sigmoid", use_bias=False)
    params, x, _ = _problem(spec)
    z = mp.forward(spec, params, x)
    np.testing.assert_allclose(mp.predict(spec, params, x), 1 / (1 + np.exp(-z)))
    np.testing.assert_allclose(z, x @ params[0])


# ---------------------------------------------------------------------------------------------
# No biases: the user layout


def test_no_bias_params_and_gradients_are_plain_weight_lists():
    spec = mp.MLPSpec((3, 4, 2), "relu", "mse", use_bias=False)
    params = mp.init_params(spec, seed=0)
    with_bias = mp.init_params(spec.replace(use_bias=True), seed=0)
    assert all(isinstance(W, np.ndarray) for W in params)
    assert all(np.array_equal(W, Wb) for W, (Wb, _) in zip(params, with_bias))
    _, x, y = _problem(spec)
    for backend in ("numpy", "finite_difference"):
        _, grads = mp.loss_and_grad(spec, params, x, y, backend=backend)
        assert [g.shape for g in grads] == [(3, 4), (4, 2)]
    pairs = as_pairs(spec, params)
    assert all(not b.any() and b.shape == (W.shape[1],) for W, b in pairs)
    assert [W for W, _ in pairs] == params
    assert from_pairs(spec, pairs) == params


def test_no_bias_accepts_zero_bias_pairs_and_refuses_others():
    spec = mp.MLPSpec((3, 2), use_bias=False)
    W = np.ones((3, 2))
    assert as_pairs(spec, [(W, np.zeros(2))])[0][0] is not None
    with pytest.raises(ValueError, match="use_bias=False"):
        as_pairs(spec, [(W, np.ones(2))])
    with pytest.raises(ValueError, match=r"needs 1 weight matrices \(use_bias=False\)"):
        as_pairs(spec, [W, W])
    with pytest.raises(ValueError, match="W0 has shape"):
        as_pairs(spec, [np.ones((2, 3))])
    with pytest.raises(TypeError, match="pair"):
        as_pairs(spec.replace(use_bias=True), [W])


def test_no_bias_save_load_round_trip(tmp_path):
    spec = mp.MLPSpec(
        (3, 4, 2),
        "relu",
        "categorical_cross_entropy",
        output_activation="softmax",
        reduction="batch_mean",
        loss_scale=0.5,
        l2=0.01,
        use_bias=False,
    )
    params = mp.init_params(spec, seed=1, dtype="float32")
    path = mp.save_params(tmp_path / "m", spec, params)
    with np.load(path) as z:
        assert "b0" not in z.files and {"W0", "W1", "use_bias", "l2"} <= set(z.files)
    spec2, params2 = mp.load_params(path)
    assert spec2 == spec
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(params, params2))


def test_old_files_without_conventions_load_with_the_defaults(tmp_path):
    spec = mp.MLPSpec((3, 2), "tanh", "mse")
    ((W, b),) = mp.init_params(spec)
    path = tmp_path / "old.npz"
    np.savez(
        path, W0=W, b0=b, sizes=np.array([3, 2]), activation=np.array("tanh"), loss=np.array("mse")
    )
    spec2, params2 = mp.load_params(path)
    assert spec2 == spec and np.array_equal(params2[0][0], W)


def test_a_bad_convention_in_a_file_is_a_clean_error(tmp_path):
    ((W, b),) = mp.init_params(mp.MLPSpec((3, 2)))
    path = tmp_path / "bad.npz"
    np.savez(
        path,
        W0=W,
        b0=b,
        sizes=np.array([3, 2]),
        activation=np.array("tanh"),
        loss=np.array("mse"),
        reduction=np.array("max"),
    )
    with pytest.raises(ValueError, match=r"cannot load .*unknown reduction"):
        mp.load_params(path)


# ---------------------------------------------------------------------------------------------
# Strategies


def test_strategies_keep_todays_conventions_by_default():
    @settings(max_examples=30)
    @given(mst.specs())
    def check(spec):
        assert spec.non_default_conventions.keys() <= {"output_activation"}
        assert spec.output_activation == mp.LOSSES[spec.loss].output_activations[0]

    check()


def test_strategies_reach_every_convention():
    from hypothesis import find

    for loss, out in OUTPUTS:
        find(
            mst.specs(**mst.ALL_CONVENTIONS),
            lambda s, lo=loss, o=out: (s.loss, s.output_activation) == (lo, o),
        )
    for red in mp.REDUCTIONS:
        find(mst.specs(reduction=None), lambda s, r=red: s.reduction == r)
    find(
        mst.problems(use_bias=None),
        lambda p: not p.spec.use_bias and isinstance(p.params[0], np.ndarray),
    )
    find(mst.specs(l2=None, loss_scale=None), lambda s: s.l2 > 0 and s.loss_scale != 1)


def test_use_bias_stays_a_bool_after_floats_equal_to_it_were_sampled():
    """Regression: the strategies' cache took (1.0, 0.0), the arrays' zero fractions, for
    (True, False), so specs drawn after any problem (any check_backprop) had use_bias=1.0
    and failed validation."""
    from hypothesis import find

    find(mst.problems(), lambda p: True)  # draws zero fractions from (1.0, 0.0)
    for value in (True, False):
        spec = find(mst.specs(use_bias=None), lambda s, v=value: s.use_bias is v)
        assert type(spec.use_bias) is bool


def test_strategies_fix_or_restrict_each_convention():
    @settings(max_examples=20)
    @given(
        mst.specs(
            output_activation="sigmoid",
            reduction=("sum", "batch_mean"),
            l2=0.5,
            loss_scale=0.5,
            use_bias=False,
        )
    )
    def check(spec):
        assert spec.output_activation == "sigmoid" and spec.reduction in ("sum", "batch_mean")
        assert spec.loss in ("mse", "categorical_cross_entropy")
        assert (spec.l2, spec.loss_scale, spec.use_bias) == (0.5, 0.5, False)

    check()

    @given(mst.specs(loss="softmax_cross_entropy", output_activation="sigmoid"))
    def impossible(spec):
        pass

    with pytest.raises(ValueError, match="output_activation"):
        impossible()


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"loss": "xent"}, "unknown loss 'xent'; expected one of mse,"),
        ({"activation": "relux"}, "unknown activation 'relux'"),
        ({"output_activation": "tanh"}, "unknown output_activation 'tanh'"),
        ({"reduction": ("sum", "avg")}, "unknown reduction 'avg'"),
        ({"max_depth": 0}, r"max_depth must be an int >= 1, got 0"),
        ({"min_width": 3, "max_width": 2}, r"min_width \(3\) must be <= max_width \(2\)"),
        ({"max_batch": 0}, r"max_batch must be an int >= 1, got 0"),
    ],
)
def test_strategy_arguments_are_checked_by_name(kw, match):
    @given(mst.problems(**kw))
    def draw(problem):
        pass

    with pytest.raises(ValueError, match=match):
        draw()
