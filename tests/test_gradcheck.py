"""check_gradients, its report, and `mlp-parity check`."""

import json

import numpy as np
import pytest

import mlp_parity as mp
from mlp_parity.backends import numpy_backprop
from mlp_parity.cli import main
from mlp_parity.gradcheck import check_gradients


def _problem(sizes=(5, 4, 3), activation="tanh", loss="softmax_cross_entropy", batch=3):
    spec = mp.MLPSpec(sizes, activation, loss)
    rng = np.random.default_rng(0)
    return (
        spec,
        mp.init_params(spec, seed=1),
        rng.normal(size=(batch, sizes[0])),
        rng.integers(0, sizes[-1], batch),
    )


def test_all_engines_agree_and_report_per_tensor():
    spec, p, x, y = _problem()
    report = check_gradients(spec, p, x, y)
    assert report.ok and not report.failures
    names = {r.backend for r in report.results}
    assert {"numpy", "finite_difference"} <= names
    for r in report.results:
        assert [t.name for t in r.tensors] == ["W0", "b0", "W1", "b1"]
    text = str(report)
    assert "all backends agree" in text and "W1" in text
    json.dumps(report.to_dict())  # every number is JSON-ready


def test_a_wrong_engine_is_named_per_tensor(monkeypatch):
    spec, p, x, y = _problem()
    real = numpy_backprop.loss_and_grad

    def scaled(spec, params, x, y):
        value, grads = real(spec, params, x, y)
        return value, [(10 * gW, gb) for gW, gb in grads]

    monkeypatch.setattr(numpy_backprop, "loss_and_grad", scaled)
    report = check_gradients(spec, p, x, y, backends=["numpy"], reference="finite_difference")
    assert not report.ok
    assert report.failures == [("numpy", "W0"), ("numpy", "W1")]
    w0 = report.results[0].tensors[0]
    assert w0.scale == pytest.approx(10) and w0.cosine == pytest.approx(1)
    assert "MISMATCH" in str(report)


def test_finite_differences_sample_big_networks():
    spec, p, x, y = _problem(sizes=(60, 40, 10), batch=2)
    report = check_gradients(
        spec,
        p,
        x,
        y,
        backends=["numpy", "finite_difference"],
        reference="numpy",
        fd_max_entries=200,
    )
    assert report.ok
    fd = next(r for r in report.results if r.backend == "finite_difference")
    assert "sampled entries" in fd.note


def test_float32_params_are_checked_against_float64_reference():
    spec, p, x, y = _problem()
    p32 = [(W.astype(np.float32), b.astype(np.float32)) for W, b in p]
    report = check_gradients(spec, p32, x, y, backends=["numpy"], reference="finite_difference")
    assert report.ok and report.results[0].dtype == "float32"
    assert report.results[0].rtol == pytest.approx(2e-4)


def test_bad_backend_is_rejected_before_computing():
    spec, p, x, y = _problem()
    with pytest.raises(ValueError, match="unknown backend 'torch'"):
        check_gradients(spec, p, x, y, backends=["numpy", "torch"])


def test_check_command_prints_table_and_exit_codes(capsys, monkeypatch):
    assert (
        main(
            [
                "check",
                "--sizes",
                "6,4,3",
                "--backends",
                "numpy,finite_difference",
                "--reference",
                "finite_difference",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "gradient check: 6-4-3 sigmoid softmax_cross_entropy" in out
    assert "all backends agree" in out
    real = numpy_backprop.loss_and_grad
    monkeypatch.setattr(
        numpy_backprop,
        "loss_and_grad",
        lambda *a: (lambda v, g: (v, [(-gW, gb) for gW, gb in g]))(*real(*a)),
    )
    assert (
        main(
            ["check", "--sizes", "6,4,3", "--backends", "numpy", "--reference", "finite_difference"]
        )
        == 1
    )
    assert main(["check", "--sizes", "6,4,3", "--backends", "numpy,tf"]) == 2
    assert "unknown backend 'tf'" in capsys.readouterr().err
    assert main(["check", "--sizes", "6,4,3", "--activation", "swish"]) == 2


def test_finite_differences_of_a_transposed_weight():
    """A Fortran-order W (a transposed view) is differentiated, not silently given zeros."""
    spec = mp.MLPSpec((3, 3), "identity", "mse")
    params = [(W.T, b) for W, b in mp.init_params(spec, seed=1)]
    x, y = np.random.default_rng(0).normal(size=(2, 3)), np.zeros((2, 3))
    _, fd = mp.loss_and_grad(spec, params, x, y, backend="finite_difference")
    _, exact = mp.loss_and_grad(spec, params, x, y, backend="numpy")
    np.testing.assert_allclose(fd[0][0], exact[0][0], rtol=1e-6, atol=1e-9)
    report = mp.check_gradients(
        spec, params, x, y, backends=["numpy"], reference="finite_difference"
    )
    assert report.ok, str(report)


def test_no_bias_networks_are_checked_per_weight_tensor():
    spec = mp.MLPSpec((3, 4, 2), "tanh", "mse", output_activation="sigmoid", use_bias=False)
    params = mp.init_params(spec, seed=0)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3, 3)), rng.standard_normal((3, 2))
    report = check_gradients(spec, params, x, y, ["numpy"], reference="finite_difference")
    assert report.ok, str(report)
    assert [t.name for t in report.results[0].tensors] == ["W0", "W1"]
    assert report.to_dict()["spec"]["use_bias"] is False
    assert "out=sigmoid no-bias" in str(report)


def test_compare_grads_takes_either_layout():
    from mlp_parity.gradcheck import compare_grads

    spec = mp.MLPSpec((3, 2), use_bias=False)
    W = np.ones((3, 2))
    assert [t.name for t in compare_grads(spec, [W], [(W, np.zeros(2))])] == ["W0"]
    assert all(t.ok for t in compare_grads(spec, [W], [W]))


@pytest.mark.parametrize(
    "kw, err, match",
    [
        ({"reference": "torch"}, ValueError, "reference must be one of jax, keras"),
        ({"fd_max_entries": 0}, ValueError, "fd_max_entries must be >= 1, got 0"),
        ({"fd_max_entries": 2.5}, TypeError, "fd_max_entries must be an int"),
    ],
)
def test_bad_reference_and_sample_size_are_named(kw, err, match):
    spec, p, x, y = _problem()
    with pytest.raises(err, match=match):  # not silently clamped to a few sampled entries
        check_gradients(spec, p, x, y, backends=["numpy"], **kw)
