"""Checks the buggy-gradient fixtures and the tutorial's backprops against finite differences."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from backprop_bugs import ACTIVATIONS, BUGS, LOSSES, RELU_PRIME_ONE_AT_ZERO, Bug, correct_grad_fn

from mlp_parity.examples import tutorial

# Bugs that only show for some batch sizes or some data.
ONLY_BATCH_GT_1 = {
    "loss_summed_over_batch",
    "bias_grad_mean_over_batch",
    "single_layer_path_no_mean",
}
ONLY_BATCH_1 = {"batch_counted_after_squeeze"}
ONLY_SPECIAL_DATA = {"naive_softmax", "relu_prime_at_zero"}  # large logits / exact zeros

DEFAULT_SIZES = [(3, 4, 2), (4, 3), (3, 3, 4, 2), (2, 3, 1)]
BATCHES = (1, 3)
SEEDS = (0, 1)


# --------------------------------------------------------------------------------------------
# An independent reference: the spec'd loss and its central finite-difference gradient
# --------------------------------------------------------------------------------------------


def _activate(name: str, z: np.ndarray) -> np.ndarray:
    return {
        "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
        "tanh": np.tanh,
        "relu": lambda v: np.maximum(v, 0),
        "identity": lambda v: v,
    }[name](z)


def _loss(params, x: np.ndarray, y: np.ndarray, activation: str, loss: str) -> float:
    a = x
    for w, b in params[:-1]:
        a = _activate(activation, a @ w + b)
    z = a @ params[-1][0] + params[-1][1]
    if loss == "softmax_cross_entropy":
        m = z.max(axis=1, keepdims=True)
        log_p = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
        return float(np.mean(-(y * log_p).sum(axis=1)))
    if loss == "sigmoid_cross_entropy":
        return float(np.mean(np.logaddexp(0, z) - y * z))
    return float(np.mean((z - y) ** 2))


def _fd_grad(params, x, y, activation: str, loss: str, h: float = 1e-6):
    params = [(np.array(w, np.float64), np.array(b, np.float64)) for w, b in params]
    grads = []
    for w, b in params:
        pair = []
        for t in (w, b):
            g = np.zeros_like(t)
            for idx in np.ndindex(t.shape):
                old = t[idx]
                t[idx] = old + h
                up = _loss(params, x, y, activation, loss)
                t[idx] = old - h
                down = _loss(params, x, y, activation, loss)
                t[idx] = old
                g[idx] = (up - down) / (2 * h)
            pair.append(g)
        grads.append(tuple(pair))
    return grads


def _wrong(grads, reference) -> frozenset[str]:
    """Names of the tensors of ``grads`` that differ from ``reference`` (or are not finite)."""
    out = set()
    for i, ((gw, gb), (rw, rb)) in enumerate(zip(grads, reference, strict=True)):
        for name, g, r in ((f"W{i}", gw, rw), (f"b{i}", gb, rb)):
            assert g.shape == r.shape, name
            if not (np.all(np.isfinite(g)) and np.allclose(g, r, rtol=1e-5, atol=1e-6)):
                out.add(name)
    return frozenset(out)


def _problem(sizes, batch: int, loss: str, seed: int):
    rng = np.random.default_rng(seed)
    params = [
        (rng.normal(size=(m, n)), rng.normal(size=n))
        for m, n in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    x = rng.normal(size=(batch, sizes[0]))
    out = sizes[-1]
    if loss == "softmax_cross_entropy":
        y = np.eye(out)[rng.integers(out, size=batch)]
    elif loss == "sigmoid_cross_entropy":
        y = rng.uniform(size=(batch, out))
    else:
        y = rng.normal(size=(batch, out))
    return params, x, y


def _visible(bug: Bug, batch: int) -> bool:
    if bug.name in ONLY_SPECIAL_DATA:
        return False
    if bug.name in ONLY_BATCH_GT_1:
        return batch > 1
    if bug.name in ONLY_BATCH_1:
        return batch == 1
    return True


# --------------------------------------------------------------------------------------------
# The correct base and the fixture library
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("sizes", [(3, 2), (3, 4, 2), (3, 4, 3, 2), (2, 3, 4, 3, 3)])
def test_correct_grad_fn_matches_finite_differences(activation, loss, sizes):
    for batch in BATCHES:
        params, x, y = _problem(sizes, batch, loss, seed=batch)
        grads = correct_grad_fn(activation, loss)(params, x, y)
        assert _wrong(grads, _fd_grad(params, x, y, activation, loss)) == frozenset()


def test_correct_grad_fn_preserves_dtype_and_is_stable():
    params, x, y = _problem((3, 4, 3), 2, "softmax_cross_entropy", seed=0)
    params32 = [(w.astype(np.float32), b.astype(np.float32)) for w, b in params]
    for activation, loss in itertools.product(ACTIVATIONS, LOSSES):
        grads = correct_grad_fn(activation, loss)(params32, x, y)
        assert all(g.dtype == np.float32 for pair in grads for g in pair)
    params[-1] = (params[-1][0], np.array([1000.0, -1000.0, 0.0]))  # huge logits
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        grads = correct_grad_fn("sigmoid", "softmax_cross_entropy")(params, x, y)
    fd = _fd_grad(params, x, y, "sigmoid", "softmax_cross_entropy")
    assert _wrong(grads, fd) == frozenset()


def test_correct_relu_derivative_is_zero_at_zero():
    w0, b0 = np.eye(2), np.zeros(2)
    params = [(w0, b0), (np.ones((2, 1)), np.zeros(1))]
    x, y = np.zeros((1, 2)), np.ones((1, 1))
    (gw0, gb0), _ = correct_grad_fn("relu", "mse")(params, x, y)
    assert np.all(gb0 == 0) and np.all(gw0 == 0)


def test_library_is_well_formed():
    names = [bug.name for bug in BUGS]
    assert len(names) >= 14 and len(set(names)) == len(names)
    for bug in BUGS:
        assert bug.activation in ACTIVATIONS and bug.loss in LOSSES and bug.description


@pytest.mark.parametrize("bug", BUGS, ids=lambda bug: bug.name)
def test_bug_wrong_tensors_match_expected(bug: Bug):
    sizes_list = DEFAULT_SIZES + ([bug.sizes] if bug.sizes else [])
    seen_wrong = False
    for sizes, batch, seed in itertools.product(sizes_list, BATCHES, SEEDS):
        params, x, y = _problem(sizes, batch, bug.loss, seed)
        fd = _fd_grad(params, x, y, bug.activation, bug.loss)
        wrong = _wrong(bug.grad_fn(params, x, y), fd)
        expected = bug.expected_wrong(sizes) if _visible(bug, batch) else frozenset()
        assert wrong == expected, (sizes, batch, seed)
        seen_wrong |= bool(wrong)
    assert seen_wrong or bug.name in ONLY_SPECIAL_DATA


@pytest.mark.parametrize("bug", BUGS, ids=lambda bug: bug.name)
def test_bug_is_deterministic_and_keeps_layout(bug: Bug):
    sizes = bug.sizes or (3, 4, 2)
    params, x, y = _problem(sizes, 3, bug.loss, seed=5)
    first, second = bug.grad_fn(params, x, y), bug.grad_fn(params, x, y)
    for (gw, gb), (hw, hb), (w, b) in zip(first, second, params, strict=True):
        assert gw.shape == w.shape and gb.shape == b.shape
        np.testing.assert_array_equal(gw, hw)
        np.testing.assert_array_equal(gb, hb)


@pytest.mark.parametrize("sizes", DEFAULT_SIZES)
@pytest.mark.parametrize("logit", [1000.0, -1000.0])
def test_naive_softmax_overflows_on_large_logits(sizes, logit):
    bug = next(b for b in BUGS if b.name == "naive_softmax")
    for batch in BATCHES:
        params, x, y = _problem(sizes, batch, bug.loss, seed=batch)
        params[-1] = (params[-1][0], np.full(sizes[-1], logit))
        fd = _fd_grad(params, x, y, bug.activation, bug.loss)
        assert _wrong(bug.grad_fn(params, x, y), fd) == bug.expected_wrong(sizes)
    # float32 overflows much earlier (exp(100) is inf)
    params32 = [(w.astype(np.float32), b.astype(np.float32)) for w, b in params]
    params32[-1] = (params32[-1][0], np.full(sizes[-1], 100.0, np.float32))
    grads = bug.grad_fn(params32, x, y)
    assert all(not np.all(np.isfinite(g)) for pair in grads for g in pair)


def test_relu_kink_bug():
    bug = RELU_PRIME_ONE_AT_ZERO
    good = correct_grad_fn(bug.activation, bug.loss)
    # the finite-difference slope at a kink is 1/2, so the autodiff convention relu'(0) = 0,
    # implemented (and checked against finite differences elsewhere) by correct_grad_fn, is
    # the reference here
    for batch, seed in itertools.product(BATCHES, SEEDS):
        params, x, y = _problem(bug.sizes, batch, bug.loss, seed)
        params[0][0][:, 1] = 0.0  # unit 1 has z = 0 for every sample
        params[0][1][1] = 0.0
        assert _wrong(bug.grad_fn(params, x, y), good(params, x, y)) == bug.expected_wrong(
            bug.sizes
        )
        # kinks only on an all-zero input row: W0's gradient is untouched, only b0 is wrong
        params, x, y = _problem(bug.sizes, batch, bug.loss, seed)
        params[0][1][:] = 0.0
        x[0] = 0.0
        wrong = _wrong(bug.grad_fn(params, x, y), good(params, x, y))
        assert wrong == {"b0"} and wrong <= bug.expected_wrong(bug.sizes)


# --------------------------------------------------------------------------------------------
# The tutorial's backprops
# --------------------------------------------------------------------------------------------


def test_tutorial_constants():
    assert tutorial.SIZES == (784, 128, 128, 10)
    assert (tutorial.ACTIVATION, tutorial.LOSS) == ("sigmoid", "sigmoid_cross_entropy")
    assert tutorial.EPOCHS == tutorial.PUBLISHED["epochs"] == 100
    assert tutorial.TRAIN_FRACTION == 0.25
    assert 0 < tutorial.LEARNING_RATE < 1 and 0 <= tutorial.MOMENTUM < 1
    assert isinstance(tutorial.BATCH_SIZE, int) and tutorial.BATCH_SIZE > 0


@pytest.mark.parametrize("sizes", [(6, 5, 4, 10), (6, 10), (3, 4, 2)])
@pytest.mark.parametrize("batch", BATCHES)
def test_corrected_backprops_match_finite_differences(sizes, batch):
    params, x, y = _problem(sizes, batch, "sigmoid_cross_entropy", seed=batch)
    fd = _fd_grad(params, x, y, "sigmoid", "sigmoid_cross_entropy")
    assert _wrong(tutorial.corrected_backprop(params, x, y), fd) == frozenset()
    assert _wrong(tutorial.corrected_backprop_vectorized(params, x, y), fd) == frozenset()


@pytest.mark.parametrize("batch", BATCHES)
def test_original_backprop_bugs(batch):
    sizes = (6, 5, 4, 10)
    params, x, y = _problem(sizes, batch, "sigmoid_cross_entropy", seed=7)
    fd = _fd_grad(params, x, y, "sigmoid", "sigmoid_cross_entropy")
    truth = tutorial.corrected_backprop_vectorized(params, x, y)
    assert _wrong(truth, fd) == frozenset()
    original = tutorial.original_backprop(params, x, y)
    assert _wrong(original, fd) == {"W0", "b0", "W1", "b1", "W2", "b2"}
    # the output layer is a pure scale, the number of outputs
    np.testing.assert_allclose(original[2][0], 10 * truth[2][0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(original[2][1], 10 * truth[2][1], rtol=1e-12, atol=1e-15)
    # the hidden layers are not a mere rescaling by 10 (the sigmoid'(z) bug)
    scaled = [(10 * gw, 10 * gb) for gw, gb in truth]
    assert _wrong(original, scaled) == {"W0", "b0", "W1", "b1"}
    # without a hidden layer only the 1/n_outputs bug is left
    params1, x, y = _problem((6, 10), batch, "sigmoid_cross_entropy", seed=8)
    orig1 = tutorial.original_backprop(params1, x, y)
    true1 = tutorial.corrected_backprop(params1, x, y)
    for g, t in zip(orig1[0], true1[0], strict=True):
        np.testing.assert_allclose(g, 10 * t, rtol=1e-12, atol=1e-15)


def test_tutorial_backprops_keep_float32_and_large_inputs():
    params, x, y = _problem((6, 5, 10), 2, "sigmoid_cross_entropy", seed=3)
    params = [(1e3 * w.astype(np.float32), b.astype(np.float32)) for w, b in params]
    with np.errstate(over="raise"):
        for fn in (
            tutorial.original_backprop,
            tutorial.corrected_backprop,
            tutorial.corrected_backprop_vectorized,
        ):
            grads = fn(params, x, y)
            assert all(g.dtype == np.float32 and np.all(np.isfinite(g)) for p in grads for g in p)
