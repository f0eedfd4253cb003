"""Sweeps: ``train_many`` trains K models in one compiled JAX program, each on its own
``train(backend="jax")`` trajectory; ``mlp-parity sweep`` end to end on tiny sizes."""

import json

import numpy as np
import pytest
from conftest import requires_jax

import mlp_parity as mp
from mlp_parity.cli import main
from mlp_parity.params import flatten
from mlp_parity.train import train, train_many

pytestmark = requires_jax


def _problem(spec, n=37):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, spec.sizes[0]))
    k = spec.sizes[-1]
    y = rng.integers(0, 2, (n, 1)).astype(float) if k == 1 else rng.integers(0, k, n)
    return x, y


SPECS = [
    mp.MLPSpec((5, 4, 3), "tanh", "softmax_cross_entropy"),
    mp.MLPSpec((5, 4, 1), "sigmoid", "sigmoid_cross_entropy"),  # one output: a threshold
    mp.MLPSpec((5, 4, 3), "relu", "mse", l2=0.01, use_bias=False),
]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_each_model_follows_its_own_train_run(spec):
    """float64, a partial last batch, momentum, shuffling: parameters and every history entry
    of each of the K models equal its separate run's to 1e-12."""
    x, y = _problem(spec)
    params = [mp.init_params(spec, seed=s, dtype="float64") for s in (0, 1, 2)]
    lrs = [0.05, 0.2, 0.1]
    kw = dict(epochs=3, batch_size=16, momentum=0.9, seed=7)
    val = (x[:10], y[:10])
    results = train_many(spec, params, x, y, learning_rates=lrs, validation=val, **kw)
    assert len(results) == 3
    for p, lr, got in zip(params, lrs, results):
        want = train(spec, p, x, y, backend="jax", learning_rate=lr, validation=val, **kw)
        expected, actual = flatten(want.params), flatten(got.params)
        assert list(actual) == list(expected)
        for name in expected:
            np.testing.assert_allclose(actual[name], expected[name], rtol=0, atol=1e-12)
        for key in ("loss", "val_loss"):
            np.testing.assert_allclose(got.history[key], want.history[key], rtol=1e-12)
        assert got.history["accuracy"] == want.history["accuracy"]
        assert got.settings["learning_rate"] == lr and got.settings["sweep"] == 3
        assert got.backend == "jax" and len(got.history["time"]) == 3


def test_train_many_checks_its_arguments():
    spec = SPECS[0]
    x, y = _problem(spec)
    p = mp.init_params(spec, dtype="float64")
    with pytest.raises(ValueError, match="learning_rates has 1 values for 2 models"):
        train_many(spec, [p, p], x, y, learning_rates=[0.1], epochs=1, batch_size=8)
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        train_many(spec, [p], x, y, learning_rates=[-1.0], epochs=1, batch_size=8)
    with pytest.raises(ValueError, match="params_list is empty"):
        train_many(spec, [], x, y, learning_rates=[], epochs=1, batch_size=8)
    p32 = mp.init_params(spec, dtype="float32")
    with pytest.raises(ValueError, match="mixes dtypes"):
        train_many(spec, [p, p32], x, y, learning_rates=[0.1, 0.1], epochs=1, batch_size=8)
    with pytest.raises(ValueError, match=r"model 0 \(learning_rate 1e\+30\) diverged"):
        relu = SPECS[2]
        w = mp.init_params(relu, dtype="float64")
        train_many(relu, [w], x, y, learning_rates=[1e30], epochs=2, batch_size=8)
    untouched = train_many(spec, [p], x, y, learning_rates=[0.1], epochs=0, batch_size=8)[0]
    assert untouched.epochs == 0


def test_sweep_command_end_to_end(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out, png = tmp_path / "sweep.json", tmp_path / "sweep.png"
    argv = ["sweep", "--lr", "0.05,0.2", "--seeds", "0,1", "--sizes", "784,4,10"]
    argv += ["--epochs", "2", "--batch-size", "256", "--json", str(out), "--plot", str(png)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "val acc" in text and "samples/s over all 4 models" in text
    r = json.loads(out.read_text())
    assert [(m["learning_rate"], m["seed"]) for m in r["models"]] == [
        (0.05, 0),
        (0.05, 1),
        (0.2, 0),
        (0.2, 1),
    ]
    assert all(len(m["history"]["val_accuracy"]) == 2 for m in r["models"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "flag, value, message",
    [("--lr", "0.1,-1", "every value must be a number > 0"), ("--seeds", "x", "--seeds")],
)
def test_sweep_rejects_bad_options(flag, value, message, capsys):
    assert main(["sweep", flag, value]) == 2
    assert message in capsys.readouterr().err
