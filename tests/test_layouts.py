"""check_backprop meets code where it is: columns and dict layouts, bias-free networks, layout
errors reported on the first example, a raising grad_fn's file:line, architecture limits."""

from __future__ import annotations

import numpy as np
import pytest

import mlp_parity as mp
from mlp_parity.debug import check_backprop
from mlp_parity.debug.layouts import LayoutError, UserLayout
from mlp_parity.params import as_pairs, from_pairs


def _pairs(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(a, b)), rng.normal(size=b)) for a, b in zip(sizes[:-1], sizes[1:])]


def _rows_grad(activation, loss, **conventions):
    """A correct grad_fn on pairs (the numpy engine) for these conventions."""

    def grad_fn(params, x, y):
        sizes = (x.shape[1], *(W.shape[1] for W, _ in params))
        spec = mp.MLPSpec(sizes, activation, loss, **conventions)
        grads = mp.loss_and_grad(spec, from_pairs(spec, params), x, y, backend="numpy")[1]
        return as_pairs(spec, grads)

    return grad_fn


def _in_layout(rows_grad, layout: UserLayout):
    """``rows_grad`` wrapped to take and return ``layout``."""

    def grad_fn(params, x, y):
        sizes = [x.shape[0] if layout.columns else x.shape[1]]
        ws = [params[f"W{i + 1}"] for i in range(len(params) // (2 if layout.use_bias else 1))] \
            if layout.keyed else [p[0] if layout.use_bias else p for p in params]  # fmt: skip
        sizes += [w.shape[0] if layout.out_in else w.shape[1] for w in ws]
        pairs = layout.params_from_user(params, sizes)
        grads = rows_grad(pairs, layout.data_from_user(x), layout.data_from_user(y))
        return layout.params_to_user([(np.asarray(w), np.asarray(b)) for w, b in grads])

    return grad_fn


@pytest.mark.parametrize("layout", ["rows", "columns", "torch"])
@pytest.mark.parametrize("params", ["list", "dict"])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("bias_shape", [None, "row"])
def test_round_trip(layout, params, use_bias, bias_shape):
    lay = UserLayout(layout, params, use_bias, bias_shape)
    sizes = (3, 4, 2)
    pairs = [(W, b if use_bias else np.zeros_like(b)) for W, b in _pairs(sizes)]
    back, bad = lay.read_grads(lay.params_to_user(pairs), sizes)
    assert not bad
    for (W, b), (W2, b2) in zip(pairs, back):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)


def test_dict_gradients_may_be_keyed_dW():
    lay = UserLayout("columns", "dict")
    sizes = (3, 2)
    user = lay.params_to_user(_pairs(sizes))
    grads = {"d" + k: v for k, v in user.items()}
    assert not lay.read_grads(grads, sizes)[1]


def test_wrong_shape_raises_layout_error():
    lay = UserLayout("rows")
    with pytest.raises(LayoutError, match="expected"):
        lay.grads_from_user([(np.zeros((3, 2)), np.zeros((2, 1)))], (3, 2))


@pytest.mark.parametrize("layout", ["rows", "columns", "torch"])
@pytest.mark.parametrize("params", ["list", "dict"])
def test_correct_code_passes_in_every_layout(layout, params):
    lay = UserLayout(layout, params, use_bias=False)
    fn = _in_layout(_rows_grad("tanh", "mse", use_bias=False), lay)
    report = check_backprop(
        fn, activation="tanh", loss="mse", use_bias=False, layout=layout, params=params,
        max_examples=15, seed=0,
    )  # fmt: skip
    assert report.ok, str(report)


def test_column_bias_in_rows_layout_is_reported_on_the_first_example():
    good = _rows_grad("tanh", "mse")

    def grad_fn(params, x, y):
        return [(gW, gb.reshape(-1, 1)) for gW, gb in good(params, x, y)]

    report = check_backprop(grad_fn, activation="tanh", loss="mse", max_examples=50, seed=0)
    assert not report.ok
    assert report.examples_searched == 1 and report.shrink_calls == 0
    assert report.wrong == {n for n in report.counterexample.spec.tensor_names if n[0] == "b"}
    assert "expected (" in str(report) and 'layout="rows"' in str(report)


@pytest.mark.parametrize(
    "layout, bias_shape",
    [("rows", "row"), ("torch", "row"), ("columns", "vector"), ("torch", None)],
)
def test_correct_code_passes_with_its_bias_shape(layout, bias_shape):
    lay = UserLayout(layout, "list", True, bias_shape)
    fn = _in_layout(_rows_grad("sigmoid", "softmax_cross_entropy"), lay)
    report = check_backprop(
        fn, activation="sigmoid", loss="softmax_cross_entropy", layout=layout,
        bias_shape=bias_shape, max_examples=15, seed=0,
    )  # fmt: skip
    assert report.ok, str(report)


def test_keepdims_biases_are_a_convention_to_declare_not_a_wrong_gradient():
    """Row biases (1, out) from sum(axis=0, keepdims=True): right values in another shape."""
    good = _rows_grad("tanh", "mse")

    def grad_fn(params, x, y):  # like the user's code: works with (out,) or (1, out) biases
        flat = [(W, np.reshape(b, -1)) for W, b in params]
        return [(gW, gb[None, :]) for gW, gb in good(flat, x, y)]

    report = check_backprop(grad_fn, activation="tanh", loss="mse", sizes=(3, 4, 2), seed=0)
    assert not report.ok
    assert report.summary.startswith('b0, b1: the wrong shape for layout="rows"; fix the shapes')
    assert (
        "their entries are right: a bias shape to declare, not a wrong gradient" in report.summary
    )
    assert 'if your biases are (1, 4), declare bias_shape="row"' in report.diagnoses["b0"]
    declared = check_backprop(grad_fn, activation="tanh", loss="mse", bias_shape="row", seed=0)
    assert declared.ok, str(declared)


@pytest.mark.parametrize("layout, formula", [("rows", "a0.T @ delta0"), ("torch", "delta0.T @ a0")])
def test_a_transposed_weight_gradient_is_a_bug_with_the_layouts_formula(layout, formula):
    """The forward pass ran on weights in the declared layout, so a weight gradient that comes
    back transposed is a bug to fix, not a layout to declare."""
    good = _in_layout(_rows_grad("tanh", "mse"), UserLayout(layout))

    def grad_fn(params, x, y):
        return [(gW.T, gb) for gW, gb in good(params, x, y)]

    report = check_backprop(
        grad_fn, activation="tanh", loss="mse", layout=layout, sizes=(3, 4, 2), seed=0
    )
    assert f"compute dW0 = {formula}" in report.diagnoses["W0"], str(report)
    assert "entries are right" not in report.summary


def test_bias_shape_is_checked():
    with pytest.raises(ValueError, match="bias_shape must be one of"):
        UserLayout("rows", "list", True, "flat")


def test_transposed_weight_in_columns_layout_is_not_shrunk_away():
    lay = UserLayout("columns", "dict")
    good = _in_layout(_rows_grad("tanh", "mse"), lay)

    def grad_fn(params, x, y):
        grads = good(params, x, y)
        return {k: (v.T if k == "W1" else v) for k, v in grads.items()}

    report = check_backprop(
        grad_fn, activation="tanh", loss="mse", layout="columns", params="dict",
        sizes=(3, 4, 2), max_examples=20, seed=0,
    )  # fmt: skip
    assert report.wrong == {"W1"} and report.shrink_calls == 0
    assert "transposed" in report.diagnoses["W1"]


def test_raising_grad_fn_is_reported_with_file_and_line():
    def grad_fn(params, x, y):
        raise KeyError("W3")

    report = check_backprop(grad_fn, activation="tanh", loss="mse", max_examples=5, seed=0)
    assert "KeyError" in report.error and "'W3'" in report.error
    assert "test_layouts.py:" in report.error


def test_architecture_limits_hold_while_drawing():
    good = _rows_grad("tanh", "mse")

    def grad_fn(params, x, y):  # code for one hidden layer and one output unit only
        assert len(params) == 2 and params[-1][0].shape[1] == 1
        grads = good(params, x, y)
        return [(gW * 1.5, gb) for gW, gb in grads[:1]] + grads[1:]

    report = check_backprop(
        grad_fn, activation="tanh", loss="mse", min_depth=2, max_depth=2, output_width=1,
        max_examples=30, seed=0,
    )  # fmt: skip
    assert report.error is None and report.wrong == {"W0"}
    assert len(report.counterexample.sizes) == 3 and report.counterexample.sizes[-1] == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_depth": 3, "max_depth": 2}, "min_depth"),
        ({"sizes": (2, 3), "output_width": 2}, "output_width"),
        ({"sizes": (2, 3, 3), "max_depth": 1}, "depth"),
        ({"layout": "cols"}, "layout"),
        ({"params": "tuple"}, "params"),
        ({"reduction": "avg"}, "reduction"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_backprop(lambda p, x, y: p, activation="tanh", loss="mse", **kwargs)


@pytest.mark.parametrize(
    "layout, formula",
    [
        ("rows", "delta0 = (delta1 @ W1.T) * sigmoid'(z0)"),
        ("columns", "(W1.T @ delta1)"),
        ("torch", "delta0 = (delta1 @ W1) * sigmoid'(z0)"),
    ],
)
def test_localisation_writes_its_formulas_in_the_users_layout(layout, formula):
    """The tutorial's derivative bug alone (its scale fixed), checked in rows and in columns:
    the line that says where the error enters uses the user's own products."""
    from mlp_parity.examples.tutorial import original_backprop_vectorized

    def derivative_bug_only(params, x, y):
        return [
            (w / y.shape[1], b / y.shape[1]) for w, b in original_backprop_vectorized(params, x, y)
        ]

    lay = UserLayout(layout, "list", True)
    report = check_backprop(
        _in_layout(derivative_bug_only, lay),
        activation="sigmoid",
        loss="sigmoid_cross_entropy",
        layout=layout,
        sizes=(4, 3, 2),
        seed=0,
    )
    assert not report.ok
    assert formula in str(report), str(report)


def test_dict_params_shape_summary_names_the_users_tensors():
    lay = UserLayout("rows", "dict")
    good = _in_layout(_rows_grad("tanh", "mse"), lay)

    def grad_fn(params, x, y):
        return {k: (v[None, :] if k[0] == "b" else v) for k, v in good(params, x, y).items()}

    report = check_backprop(grad_fn, activation="tanh", loss="mse", params="dict", sizes=(3, 4, 2))
    assert report.summary.startswith("b1, b2: the wrong shape"), report.summary
    assert 'declare bias_shape="row"' in report.diagnoses["b1"]
