"""The tutorial reproduced (issue 17): its per-example update rule against a hand computation,
its initialisation, its data stream and split, the Keras half in several frameworks, and the
``mlp-parity tutorial`` JSON schema."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import mlp_parity as mp
from mlp_parity.cli import main
from mlp_parity.data.dataset import Dataset
from mlp_parity.examples import tutorial as tut
from mlp_parity.examples import tutorial_loop as tl
from mlp_parity.examples import tutorial_published as published
from mlp_parity.examples.tutorial_data import BatchStream, tutorial_split


def _s(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def _hand_grad(p: dict, x: list, t: list, *, mean_over_outputs: bool, true_derivative: bool):
    """Scalar-by-scalar gradient of a 2-1-2 sigmoid network (one hidden unit), as the tutorial:
    output delta y - t (divided by 2 outputs when ``mean_over_outputs``), hidden derivative
    s (or s (1 - s) when ``true_derivative``)."""
    zh = x[0] * p["u"][0] + x[1] * p["u"][1] + p["bu"]
    h = _s(zh)
    y = [_s(h * p["w"][k] + p["bw"][k]) for k in range(2)]
    ew = [(y[k] - t[k]) / (2 if mean_over_outputs else 1) for k in range(2)]
    slope = h * (1 - h) if true_derivative else h
    ev = slope * (p["w"][0] * ew[0] + p["w"][1] * ew[1])
    return {"u": [x[0] * ev, x[1] * ev], "bu": ev, "w": [h * ew[0], h * ew[1]], "bw": ew}


def _as_params(p: dict) -> list:
    return [
        (np.array([[p["u"][0]], [p["u"][1]]]), np.array([p["bu"]])),
        (np.array([p["w"]]), np.array(p["bw"])),
    ]


def _step(p: dict, d: dict, factor: float) -> dict:
    """p - factor * d, entry by entry."""
    out = {}
    for k, v in p.items():
        out[k] = (
            [a - factor * b for a, b in zip(v, d[k])] if isinstance(v, list) else v - factor * d[k]
        )
    return out


P0 = {"u": [0.3, -0.8], "bu": 0.1, "w": [1.2, -0.5], "bw": [0.05, -0.2]}
X = [[1.0, 0.5], [0.2, 0.9], [0.7, 0.0]]
T = [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]


def _run(examples: int, gradient: tl.Gradient, lr: float, momentum: float) -> list:
    flat = [a.copy() for pair in _as_params(P0) for a in pair]
    tl.run_round(
        flat,
        np.array(X[:examples]),
        np.array(T[:examples]),
        learning_rate=lr,
        momentum=momentum,
        gradient=gradient,
    )
    return flat


@pytest.mark.parametrize(
    "gradient", [tl.ORIGINAL, tl.CORRECTED, tl.SCALE_BUG_ONLY, tl.DERIVATIVE_BUG_ONLY]
)
def test_two_examples_apply_only_the_first_update(gradient):
    """Example 2's gradient is taken before example 1's update lands, and its own update is
    dropped by the reset: after a two-example round, p = p0 - lr * g1(p0)."""
    kw = dict(
        mean_over_outputs=gradient.mean_over_outputs, true_derivative=gradient.true_derivative
    )
    g1 = _hand_grad(P0, X[0], T[0], **kw)
    want = _as_params(_step(P0, g1, 0.5))
    got = _run(2, gradient, lr=0.5, momentum=0.9)
    for a, b in zip(got, [x for pair in want for x in pair]):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)


def test_three_examples_pin_the_late_momentum():
    """Round of 3: g1 and g2 at p0 (the first update lands after g2 is taken), g3 at
    p0 - lr g1; applied: u1 = lr g1, then u2 = lr g2 + m u1; u3 is dropped."""
    lr, m = 0.5, 0.9
    kw = dict(mean_over_outputs=False, true_derivative=False)
    g1 = _hand_grad(P0, X[0], T[0], **kw)
    g2 = _hand_grad(P0, X[1], T[1], **kw)
    p = _step(_step(_step(P0, g1, lr), g2, lr), g1, lr * m)
    got = _run(3, tl.ORIGINAL, lr=lr, momentum=m)
    for a, b in zip(got, [x for pair in _as_params(p) for x in pair]):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)


def test_round_log_is_measured_before_the_updates():
    x, t = np.array(X[:2]), np.array(T[:2])
    flat = [a.copy() for pair in _as_params(P0) for a in pair]
    loss, acc = tl.run_round(flat, x, t, learning_rate=5.0, momentum=0.9, gradient=tl.ORIGINAL)
    want = [tl.example_gradient(_as_params(P0), x[i], t[i])[1] for i in range(2)]  # both at p0
    assert loss == pytest.approx(np.mean(want), rel=1e-14)
    y0 = [_s(_s(0.3 * 1.0 - 0.8 * 0.5 + 0.1) * w + b) for w, b in zip(P0["w"], P0["bw"])]
    bce = -np.mean([math.log(y0[0]), math.log(1 - y0[1])])  # example 1: t = (1, 0)
    assert want[0] == pytest.approx(bce, rel=1e-12)
    assert 0.0 <= acc <= 1.0


def test_example_gradients_match_the_tutorial_backprop_and_the_library():
    spec = mp.MLPSpec((6, 5, 4, 3), "sigmoid", "sigmoid_cross_entropy")
    params = mp.init_params(spec, seed=3)
    rng = np.random.default_rng(3)
    x, t = rng.random(6), np.eye(3)[1]
    flat = lambda grads: [a for pair in grads for a in pair]  # noqa: E731
    _, _, original = tl.example_gradient(params, x, t, tl.ORIGINAL)
    for a, b in zip(original, flat(tut.original_backprop(params, x[None], t[None]))):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    loss, grads = mp.loss_and_grad(spec, params, x[None], t[None], backend="numpy")
    _, ours, corrected = tl.example_gradient(params, x, t, tl.CORRECTED)
    assert ours == pytest.approx(loss, rel=1e-12)
    for a, b in zip(corrected, flat(grads)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-15)
    _, _, scaled = tl.example_gradient(params, x, t, tl.SCALE_BUG_ONLY)  # the sum's gradient
    for a, b in zip(scaled, corrected):
        np.testing.assert_allclose(a, 3 * b, rtol=1e-12, atol=1e-15)


def test_initialisation_is_numpys_legacy_seed_42_draws_with_or_without_the_readers_shuffle():
    state = np.random.get_state()  # noqa: NPY002
    shapes = ((784, 128), (128, 128), (128, 10))
    try:
        np.random.seed(42)  # noqa: NPY002
        first = [np.random.normal(size=s) for s in shapes]  # noqa: NPY002
        np.random.seed(42)  # noqa: NPY002
        np.random.shuffle(np.arange(55_000))  # noqa: NPY002
        after_shuffle = [np.random.normal(size=s) for s in shapes]  # noqa: NPY002
    finally:
        np.random.set_state(state)  # noqa: NPY002
    for (w, b), v in zip(tut.tutorial_init(), first):
        np.testing.assert_array_equal(w, v)
        assert not b.any() and b.shape == (v.shape[1],)
    for (w, _), v in zip(tut.tutorial_init(shuffled_rows=55_000), after_shuffle):
        np.testing.assert_array_equal(w, v)


def test_initial_params_by_reader_version():
    first = tut.tutorial_init(42)
    for run in (0, 3):  # seed42: the same draws in every run
        for (w, _), (v, _) in zip(tut.initial_params("seed42", run), first):
            np.testing.assert_array_equal(w, v)
    shuffled = tut.tutorial_init(42, shuffled_rows=published.N_TRAIN)
    for (w, _), (v, _) in zip(tut.initial_params("seed42-shuffled", 5), shuffled):
        np.testing.assert_array_equal(w, v)
    a, b = tut.initial_params("per-run", 0), tut.initial_params("per-run", 1)
    assert not np.array_equal(a[0][0], b[0][0])  # each run its own weights ...
    legacy = np.random.RandomState(tut.INIT_SEED_OFFSET + 1)  # noqa: NPY002
    np.testing.assert_array_equal(b[0][0], legacy.normal(size=(784, 128)))  # ... reproducibly
    assert [w.shape for w, _ in a] == [(784, 128), (128, 128), (128, 10)]
    assert not any(bias.any() for _, bias in a)
    with pytest.raises(ValueError, match="init must be one of per-run, seed42, seed42-shuffled"):
        tut.initial_params("seed7")


def test_closeness_measures_the_published_run_in_single_run_deviations():
    from mlp_parity.examples.tutorial_report import closeness

    runs = [
        {
            "rounds": [1],
            "train_loss": [v],
            "train_accuracy": [0.5],
            "eval_loss": [v],
            "eval_accuracy": [0.5],
        }
        for v in (0.6, 0.8)
    ]
    ours = {
        "rounds": [1],
        "train_loss": [0.7],
        "train_accuracy": [0.5],
        "eval_loss": [0.7],
        "eval_accuracy": [0.5],
    }
    theirs = {
        "rounds": [1],
        "train_loss": [0.7 + 0.2 * math.sqrt(0.5)],
        "train_accuracy": [0.5],
        "eval_loss": [0.7],
        "eval_accuracy": [0.5],
    }
    close = closeness(ours, theirs, runs)
    assert close["train_loss"]["run_sd"][0] == pytest.approx(0.2 * math.sqrt(0.5))  # ddof=1
    assert close["train_loss"]["z"][0] == pytest.approx(1.0)
    assert close["eval_loss"]["z"][0] == pytest.approx(0.0)
    assert close["train_accuracy"]["z"] == [None]  # no spread: no z
    assert "z" not in closeness(ours, theirs)  # without runs: differences only
    assert "z" not in closeness(ours, theirs, runs[:1])["train_loss"]


def test_consistency_ranks_the_published_log_among_our_runs():
    from mlp_parity.examples.tutorial_report import consistency

    def log(train: float, evaluation: float) -> dict:
        return {"rounds": [1], "train_accuracy": [train], "eval_accuracy": [evaluation]}

    runs = [log(0.5, 0.5), log(0.6, 0.5), log(0.7, 0.5)]
    theirs = log(0.6, 0.9)
    c = consistency(theirs, runs, few=0.05)
    # published vs the runs' mean (0.6, 0.5): |0|, |0.4| -> mean 0.2, max 0.4
    assert c["published"] == pytest.approx({"mean_abs_difference": 0.2, "max_abs_difference": 0.4})
    # run 0 vs mean of (published, run 1, run 2) = (0.633.., 0.633..): 0.133.., 0.133..
    assert c["runs_max_abs_difference"][0] == pytest.approx(0.4 / 3)
    assert c["runs_mean_abs_difference"][1] == pytest.approx((0.0 + 0.4 / 3) / 2)
    assert c["p_max_abs"] == pytest.approx(0.25)  # only the published log is that far
    assert c["runs_within_few"] == 0.0 and c["logs"] == 4
    same = consistency(runs[1], runs)  # a log that is one of ours ranks in the middle
    assert same["p_mean_abs"] > 0.25
    assert consistency(theirs, runs, few=0.2)["runs_within_few"] == 1.0
    assert consistency(theirs, runs[:1]) is None  # one run: no spread to rank against


def test_batch_stream_serves_permutations_and_carries_the_remainder():
    x, y = np.arange(10.0)[:, None], np.arange(10) % 3
    stream = BatchStream(x, y, seed=0, num_classes=3)
    idx = np.concatenate([stream.next_indices(4) for _ in range(5)])  # 20 = two passes
    assert sorted(idx[:10]) == list(range(10)) and sorted(idx[10:]) == list(range(10))
    xb, tb = BatchStream(x, y, seed=0, num_classes=3).next_batch(4)
    np.testing.assert_array_equal(xb[:, 0], idx[:4])
    np.testing.assert_array_equal(tb.argmax(axis=1), y[idx[:4]])


def test_full_mnist_split_is_the_tutorials():
    n = 60_000
    x = np.arange(n, dtype=np.float32)[:, None]
    y = np.arange(n) % 10
    ds = Dataset("mnist", x, y, x[:10], y[:10], "test")
    d = tutorial_split(ds)
    assert d.note == ""
    assert d.sizes() == {
        "numpy_train": published.N_TRAIN,
        "numpy_validation": published.N_VALIDATION,
        "keras_train": published.KERAS_N_TRAIN,
        "keras_validation": published.KERAS_N_VALIDATION,
    }
    assert d.x_val[0, 0] == 0 and d.x_train[0, 0] == 5000 and d.keras_x_train[1, 0] == 5004


def test_sample_split_says_how_it_differs():
    from mlp_parity.data import load_dataset

    d = tutorial_split(load_dataset("mnist-sample"))
    assert "8,000 train / 2,000 validation" in d.note and "55,000 / 5,000" in d.note


def test_a_run_skips_the_example_the_tutorial_drew_to_size_its_network():
    from mlp_parity.data import load_dataset
    from mlp_parity.examples.tutorial_report import EVAL_SEED_OFFSET, run_numpy

    d = tutorial_split(load_dataset("mnist-sample"))
    log = run_numpy(d, tl.ORIGINAL, tut.LEARNING_RATE, seed=3, rounds=1)
    stream = BatchStream(d.x_train, d.y_train, 3)
    stream.next_batch(1)  # sample = mnist.train.next_batch(1)
    _, want = tl.train_per_example(
        tut.initial_params("per-run", 3),
        stream,
        BatchStream(d.x_val, d.y_val, EVAL_SEED_OFFSET + 3),
        rounds=1,
    )
    assert log == want


def test_keras_half_spec_and_frameworks_agree():
    """The tutorial's Keras network in float64: numpy and JAX (and Keras when installed) on
    the same batches from one initialisation end equal to round-off."""
    from mlp_parity.backends import available_backends
    from mlp_parity.examples.tutorial_data import TutorialData
    from mlp_parity.examples.tutorial_keras import train_keras_half

    spec = tut.keras_spec()
    assert spec.sizes == (784, 128, 10) and spec.output_activation == "sigmoid"
    rng = np.random.default_rng(0)
    x, y = rng.random((300, 784)), rng.integers(0, 10, 300)
    data = TutorialData("t", x, y, x[:50], y[:50], x, y, x[:50], y[:50], "")
    backends = [b for b in ("numpy", "jax") if b == "numpy" or b in available_backends()]
    out = train_keras_half(data, backends=backends, epochs=1, seed=0)
    assert max(out["divergence"].values()) <= 1e-8


def test_published_figures_are_the_tutorials_log():
    assert published.NUMPY["rounds"] == list(tut.LOGGED_ROUNDS)
    assert all(len(v) == 5 for v in published.NUMPY.values())
    assert published.NUMPY["train_accuracy"][-1] == 94 / 128
    assert round(published.KERAS["val_accuracy"], 4) == 0.8648


LISTS = ("rounds", "train_accuracy", "eval_accuracy", "train_loss", "eval_loss")
FINAL = ("train_accuracy", "val_accuracy", "train_loss", "val_loss")


def test_cli_writes_the_json_schema(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    argv = ["tutorial", "--seeds", "2", "--rounds", "2", "--epochs", "1", "--backends", "numpy"]
    assert main([*argv, "--out", "o"]) == 0
    out = capsys.readouterr().out
    assert "published / ours (mean over 2 runs)" in out
    assert "in standard deviations of our single runs" in out
    assert "not the tutorial's 55,000 / 5,000" in out
    data = json.loads((tmp_path / "o" / "tutorial.json").read_text())
    for part in (data["published"]["numpy"], data["reproduced"]["numpy_original"]):
        assert set(LISTS) <= set(part) and all(isinstance(part[k], list) for k in LISTS)
    assert data["reproduced"]["numpy_original"]["rounds"] == [1]  # 2 rounds reach round 1
    for part in (data["published"]["keras"], data["reproduced"]["keras"]):
        assert set(FINAL) <= set(part) and all(isinstance(part[k], float) for k in FINAL)
    assert list(data["variants"]) == [
        "original",
        "scale_bug_only",
        "derivative_bug_only",
        "corrected",
        "corrected_retuned",
    ]
    assert data["variants"]["corrected_retuned"]["learning_rate"] == data["sweep"]["chosen"]
    assert data["variants"]["original"]["learning_rate"] == tut.LEARNING_RATE
    assert data["numpy_settings"]["data_seeds"] == [0, 1]
    assert data["numpy_settings"]["init"] == "per-run" == tut.DEFAULT_INIT
    assert len(data["variants"]["original"]["runs"]) == 2
    close = data["closeness"]["numpy_original"]["train_loss"]
    assert len(close["run_sd"]) == len(close["z"]) == 1
    assert data["consistency"]["numpy_original"]["logs"] == 3
    assert "one of our runs? Each of the 3 logs against" in out
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["tutorial.json", "tutorial.png"]


def test_cli_init_choice_reaches_the_report(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    argv = ["tutorial", "--seeds", "1", "--rounds", "1", "--epochs", "1", "--backends", "numpy"]
    assert main([*argv, "--init", "seed42", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "tutorial.json").read_text())
    assert data["numpy_settings"]["init"] == "seed42"
    assert "RandomState(42)" in data["numpy_settings"]["init_note"]
    assert "(seed42)" in capsys.readouterr().out
    assert main([*argv, "--init", "seed7"]) == 2
    assert "invalid choice: 'seed7'" in capsys.readouterr().err
