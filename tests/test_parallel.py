"""Data parallelism in this process (JAX has one CPU device here): argument checks, the error
that says how to get more devices, and the sharded loop on a one-device mesh."""

import numpy as np
import pytest

import mlp_parity as mp
from mlp_parity.train import param_divergence, train
from mlp_parity.train.sharded import check_devices, padded_size


def _problem():
    rng = np.random.default_rng(0)
    spec = mp.MLPSpec((4, 3, 2), "sigmoid", "sigmoid_cross_entropy")
    x, y = rng.standard_normal((23, 4)), rng.integers(0, 2, (23, 2)).astype(float)
    return spec, mp.init_params(spec, seed=0, dtype="float64"), x, y


KW = dict(epochs=2, batch_size=5, learning_rate=0.1, momentum=0.9)


def test_devices_is_checked():
    assert check_devices("jax", 1) == 1 and check_devices("jax", "all") == "all"
    with pytest.raises(ValueError, match="backend='jax' only"):
        check_devices("numpy", 2)
    with pytest.raises(ValueError, match="devices must be"):
        check_devices("jax", "some")
    with pytest.raises(TypeError, match="devices must be an int"):
        check_devices("jax", 2.0)
    with pytest.raises(ValueError, match="devices must be >= 1"):
        check_devices("jax", 0)
    spec, params, x, y = _problem()
    with pytest.raises(ValueError, match="backend='jax' only"):
        train(spec, params, x, y, backend="keras", devices=2, **KW)


def test_padded_size():
    assert [padded_size(r, 4) for r in (1, 4, 5, 8)] == [4, 4, 8, 8]


def test_too_few_devices_says_how_to_get_more():
    spec, params, x, y = _problem()
    with pytest.raises(ValueError, match="jax_num_cpu_devices"):
        train(spec, params, x, y, backend="jax", devices=64, **KW)


def test_checker_needs_enough_devices():
    from mlp_parity.parallel import check_data_parallel, reference_make_grad_fn

    with pytest.raises(ValueError, match="xla_force_host_platform_device_count"):
        check_data_parallel(
            reference_make_grad_fn("tanh", "mse"), activation="tanh", loss="mse",
            device_counts=(1, 64),
        )  # fmt: skip


def test_sharded_loop_on_one_device_mesh_is_the_one_device_trajectory():
    import jax

    spec, params, x, y = _problem()
    one = train(spec, params, x, y, backend="jax", **KW)
    mesh = train(spec, params, x, y, backend="jax", devices=[jax.devices()[0]], **KW)
    assert param_divergence(mesh.params, one.params) <= 1e-12
    assert mesh.history["accuracy"] == one.history["accuracy"]
    assert mesh.settings["devices"] == 1
    assert (
        train(spec, params, x, y, backend="jax", devices="all", **KW).settings["devices"] == "all"
    )


def test_checker_in_process_on_one_device():
    from mlp_parity.parallel import check_data_parallel, reference_make_grad_fn

    r = check_data_parallel(
        reference_make_grad_fn("relu", "mse"), activation="relu", loss="mse",
        device_counts=(1,), max_examples=3, seed=0,
    )  # fmt: skip
    assert r.ok, str(r)
    assert "OK" in str(r)
