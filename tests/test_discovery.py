"""Convention discovery and the honest diagnoses on the new conventions: a gradient right for
other conventions names them (``report.matching_convention``) while the verdict stays not ok;
an L2 term is named with its lambda; a tiny error with cosine 1 is "slightly off"; the CLI
takes the conventions and loads ``Class.method`` and factory targets."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import mlp_parity as mp
from mlp_parity.cli import main
from mlp_parity.debug import check_backprop
from mlp_parity.params import as_pairs, from_pairs


def _correct(activation, loss, **conventions):
    """A correct grad_fn on pairs (the numpy engine) for these conventions."""

    def grad_fn(params, x, y):
        sizes = (x.shape[1], *(W.shape[1] for W, _ in params))
        spec = mp.MLPSpec(sizes, activation, loss, **conventions)
        return as_pairs(spec, mp.loss_and_grad(spec, from_pairs(spec, params), x, y)[1])

    return grad_fn


@pytest.mark.parametrize(
    "conventions",
    [
        {"reduction": "sum"},
        {"output_activation": "sigmoid", "reduction": "sum", "loss_scale": 0.5},
        {"l2": 0.05},
        {"loss_scale": 2.0, "reduction": "batch_mean"},
    ],
)
def test_discovery_names_the_conventions(conventions):
    fn = _correct("tanh", "mse", **conventions)
    report = check_backprop(fn, activation="tanh", loss="mse", max_examples=30, seed=0)
    assert not report.ok
    found = report.matching_convention
    assert found is not None and set(found) == set(conventions), str(report)
    for k, v in conventions.items():
        assert found[k] == (v if isinstance(v, str) else pytest.approx(v, rel=1e-6))
    first = str(report).splitlines()[1]
    assert first.startswith("=> grad_fn computes the gradient for")
    passing = check_backprop(fn, activation="tanh", loss="mse", max_examples=10, seed=0, **found)
    assert passing.ok, str(passing)


def test_output_activation_is_asked_about():
    fn = _correct("tanh", "mse", output_activation="sigmoid")
    report = check_backprop(fn, activation="tanh", loss="mse", max_examples=20, seed=0)
    assert report.matching_convention == {"output_activation": "sigmoid"}
    assert "does your output layer apply an activation?" in report.summary
    assert not any("sign flipped" in d for d in report.diagnoses.values())


def test_l2_difference_is_named_with_its_lambda():
    fn = _correct("tanh", "mse", l2=0.25)
    report = check_backprop(fn, activation="tanh", loss="mse", max_examples=20, seed=0)
    texts = [d for name, d in report.diagnoses.items() if name[0] == "W"]
    assert texts and all("right for l2=0.25 (see the summary)" in d for d in texts)
    fixed = check_backprop(fn, activation="tanh", loss="mse", sizes=(3, 4, 2), max_examples=5)
    texts = [d for name, d in fixed.diagnoses.items() if name[0] == "W"]
    assert texts and all("difference is exactly 0.5·W (an L2 term with l2=0.25" in d for d in texts)


def test_l2_without_its_factor_two_is_named_and_one_weight_is_not_called_l2():
    from mlp_parity.debug.diagnose import _l2_text

    W = np.array([[1.0, -2.0], [0.5, 3.0]])
    ref = np.ones_like(W)
    tol = np.full_like(W, 1e-12)
    half = _l2_text(ref - 0.05 * W, ref, W, tol, declared=0.05)
    assert "l2 * W, not 2 * l2 * W, with l2=0.05" in half
    assert "is left out" in _l2_text(ref - 0.1 * W, ref, W, tol, declared=0.05)
    assert "wrong sign" in _l2_text(ref - 0.1 * W, ref, W, tol, declared=0.0)
    one = np.array([[0.3]])
    assert _l2_text(one * 2, one, one, np.full_like(one, 1e-12), declared=0.0) == ""


def test_nothing_matches_a_real_bug():
    good = _correct("tanh", "mse")

    def grad_fn(params, x, y):
        grads = good(params, x, y)
        return [(gW, -gb) for gW, gb in grads]

    report = check_backprop(grad_fn, activation="tanh", loss="mse", max_examples=20, seed=0)
    assert not report.ok and report.matching_convention is None


def test_tiny_error_with_cosine_one_is_slightly_off():
    good = _correct("tanh", "mse")

    def grad_fn(params, x, y):
        grads = good(params, x, y)
        return [(gW + 1e-6 * np.abs(gW).max() * np.cos(np.arange(gW.size)).reshape(gW.shape), gb)
                for gW, gb in grads]  # fmt: skip

    report = check_backprop(
        grad_fn, activation="tanh", loss="mse", sizes=(4, 5, 3), max_examples=20, seed=0
    )
    assert not report.ok
    assert all("slightly off" in d for d in report.diagnoses.values()), str(report)


def test_cli_takes_conventions_and_class_method_and_factory_targets(tmp_path, capsys):
    src = tmp_path / "net.py"
    src.write_text(
        textwrap.dedent(
            """
            import numpy as np

            def sigmoid(z):
                return 1 / (1 + np.exp(-z))

            class Net:
                def grad(self, params, x, y):  # columns, sigmoid output, 1/2 summed error
                    (W0, b0), (W1, b1) = params
                    h = np.tanh(W0 @ x + b0)
                    a = sigmoid(W1 @ h + b1)
                    d1 = (a - y) * a * (1 - a)
                    d0 = (W1.T @ d1) * (1 - h * h)
                    return [(d0 @ x.T, d0.sum(1, keepdims=True)),
                            (d1 @ h.T, d1.sum(1, keepdims=True))]

            def make_grad_fn():
                return Net().grad
            """
        )
    )
    flags = ["--activation", "tanh", "--loss", "mse", "--output-activation", "sigmoid"]
    flags += ["--reduction", "sum", "--loss-scale", "0.5", "--layout", "columns"]
    flags += ["--min-depth", "2", "--max-depth", "2", "--max-examples", "10", "--seed", "0"]
    flags += ["--no-progress"]
    for target in (f"{src}:Net.grad", f"{src}:make_grad_fn()"):
        assert main(["debug", target, *flags]) == 0, capsys.readouterr().out
    capsys.readouterr()
    assert main(["debug", f"{src}:Net.grad", *flags[:4], *flags[10:]]) == 1
    assert "output_activation='sigmoid'" in capsys.readouterr().out


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_gradients_are_reported_not_raised(bad):
    def grad_fn(params, x, y):
        return [(np.full_like(W, bad), np.full_like(b, bad)) for W, b in params]

    report = check_backprop(grad_fn, activation="sigmoid", loss="mse", max_examples=3, seed=0)
    assert not report.ok and report.matching_convention is None
    assert all(d.startswith("non-finite") for d in report.diagnoses.values()), str(report)


def test_output_delta_without_the_activations_derivative_is_named():
    """The classic slip: delta = a - y with MSE on sigmoid outputs. That is the gradient of
    sigmoid cross-entropy on the logits, and the report says so."""
    output, twin = "sigmoid", "sigmoid_cross_entropy"

    def fn(params, x, y):  # tanh hidden layers, rows layout, loss summed over the batch
        acts = [x]
        for W, b in params[:-1]:
            acts.append(np.tanh(acts[-1] @ W + b))
        z = acts[-1] @ params[-1][0] + params[-1][1]
        a = 1 / (1 + np.exp(-z))
        delta, grads = a - y, []  # the slip: no derivative of the output activation
        for layer in range(len(params) - 1, -1, -1):
            grads.append((acts[layer].T @ delta, delta.sum(axis=0)))
            if layer:
                delta = (delta @ params[layer][0].T) * (1 - acts[layer] ** 2)
        return grads[::-1]

    report = check_backprop(
        fn,
        activation="tanh",
        loss="mse",
        output_activation=output,
        reduction="sum",
        loss_scale=0.5,
        max_examples=20,
        seed=0,
    )
    assert not report.ok
    assert report.matching_convention == {
        "loss": twin,
        "output_activation": "identity",
        "loss_scale": 1.0,
    }, str(report)
    assert f"its output delta is {output}(z) - y, the gradient of {twin}" in report.summary
    assert f"the declared mse on {output}(z) also multiplies by {output}'(z)" in report.summary


def test_an_l2_match_is_not_also_called_a_global_scale():
    fn = _correct("relu", "softmax_cross_entropy", l2=0.025)
    report = check_backprop(
        fn, activation="relu", loss="softmax_cross_entropy", l2=0.05, max_examples=20, seed=0
    )
    assert report.matching_convention == {"l2": pytest.approx(0.025)}
    assert "as declared" not in report.summary and "global factor" not in report.summary
