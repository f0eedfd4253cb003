"""Each backend's training loop and its engine options (``train(engine_options=...)``): jax's
scan unroll, keras' XLA switch and graph-executor fallback, keras' progress chunks. Options
change speed, never the trajectory."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import requires_jax, requires_keras
from test_train import SETTINGS, _problem, _rel

from mlp_parity.data import one_hot
from mlp_parity.train import SGD, Progress, train


@requires_jax
@pytest.mark.parametrize("unroll", [1, 3, 8])
def test_jax_scan_unroll_follows_the_same_trajectory(monkeypatch, unroll):
    """Unrolling the epoch's scan (the GPU default is 8; 3 does not divide the 6 full batches)
    trains the same trajectory."""
    import jax

    from mlp_parity.train import jax_loop

    spec, params, x, y = _problem()
    ref = train(spec, params, x, y, backend="numpy", **SETTINGS)
    scan, seen = jax.lax.scan, []

    def spy(*args, **kwargs):
        seen.append(kwargs.get("unroll", 1))
        return scan(*args, **kwargs)

    monkeypatch.setattr(jax.lax, "scan", spy)
    jax_loop._epoch_fn.cache_clear()  # trace anew, through the spy
    got = train(
        spec, params, x, y, backend="jax", engine_options={"scan_unroll": unroll}, **SETTINGS
    )
    assert seen == [unroll]
    assert got.settings["engine_options"] == {"scan_unroll": unroll}
    assert _rel(got.params, ref.params) <= 1e-8
    np.testing.assert_allclose(got.history["loss"], ref.history["loss"], rtol=1e-10)


@requires_jax
def test_jax_scan_unroll_default_and_bad_values():
    import jax

    from mlp_parity.train.jax_loop import resolve_scan_unroll

    want = 1 if jax.default_backend() == "cpu" else 8
    assert resolve_scan_unroll() == resolve_scan_unroll(None) == want
    assert resolve_scan_unroll(np.int64(2)) == 2 and type(resolve_scan_unroll(np.int64(2))) is int
    spec, params, x, y = _problem(n=20)
    for bad, err in [(0, ValueError), (2.0, TypeError), (True, TypeError)]:
        with pytest.raises(err, match="scan_unroll"):
            resolve_scan_unroll(bad)
        with pytest.raises(err, match="scan_unroll"):
            train(
                spec, params, x, y, backend="jax", engine_options={"scan_unroll": bad}, **SETTINGS
            )


@pytest.mark.parametrize(
    "backend,options,err,match",
    [
        (
            "jax",
            {"unroll": 8},
            ValueError,
            r"'unroll' is not an option of backend 'jax'.*scan_unroll",
        ),
        ("numpy", {"scan_unroll": 8}, ValueError, r"backend 'numpy' \(its options: none\)"),
        ("keras", {"scan_unroll": 8}, ValueError, r"backend 'keras'.*'jit_compile'"),
        ("keras", {"jit_compile": "no"}, TypeError, "jit_compile must be True or False"),
        ("jax", [("scan_unroll", 8)], TypeError, "engine_options must be a dict"),
    ],
)
def test_bad_engine_options_are_named_before_any_work(backend, options, err, match):
    """Checked up front, without importing the framework, even for zero epochs."""
    spec, params, x, y = _problem(n=20)
    with pytest.raises(err, match=match):
        train(
            spec, params, x, y, backend=backend, engine_options=options, **{**SETTINGS, "epochs": 0}
        )


@requires_keras
def test_keras_without_xla_follows_the_same_trajectory():
    """The graph executor (jit_compile=False, and the fallback where XLA is missing) trains the
    same trajectory."""
    spec, params, x, y = _problem(n=70)
    ref = train(spec, params, x, y, backend="numpy", **SETTINGS)
    got = train(
        spec, params, x, y, backend="keras", engine_options={"jit_compile": False}, **SETTINGS
    )
    assert _rel(got.params, ref.params) <= 1e-8
    np.testing.assert_allclose(got.history["loss"], ref.history["loss"], rtol=1e-10)


@requires_keras
def test_keras_falls_back_to_the_graph_executor_when_xla_is_missing():
    import tensorflow as tf

    from mlp_parity.train.keras_loop import KerasLoop

    spec, params, x, y = _problem(n=70)
    targets = one_hot(y, 10).astype(np.float64)

    def failing(message):
        def run(*args):
            raise tf.errors.InvalidArgumentError(None, None, message)

        return run

    loop = KerasLoop(spec, params, x, targets, 32, SGD(0.1, 0.9))
    loop.run = failing("XLA compilation requested, but XLA is not available for this device")
    with pytest.warns(RuntimeWarning, match="XLA is unavailable"):
        loss_sum, correct = loop.epoch(np.arange(70), None)
    assert loop.run is loop._plain and np.isfinite(loss_sum) and 0 <= correct <= 70

    loop = KerasLoop(spec, params, x, targets, 32, SGD(0.1, 0.9))
    loop.run = failing("indices[3] = 99 is not in [0, 70)")  # anything else propagates
    with pytest.raises(tf.errors.InvalidArgumentError, match="not in"):
        loop.epoch(np.arange(70), None)


@requires_keras
def test_keras_training_in_a_loop_does_not_warn_of_retracing():
    """Each train() call traces its own model's loop by design; TensorFlow counts the traces of
    all its closures together and would call a sweep of a few models "excessive retracing"."""
    import logging

    import tensorflow as tf

    class Recorder(logging.Handler):
        def __init__(self):
            super().__init__()
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    recorder = Recorder()
    tf.get_logger().addHandler(recorder)
    try:
        spec, params, x, y = _problem(n=40, sizes=(6, 5, 3))
        for _ in range(3):  # two traced shapes each (full batches, the partial one)
            train(
                spec,
                params,
                x,
                y,
                backend="keras",
                epochs=1,
                batch_size=16,
                learning_rate=0.1,
                engine_options={"jit_compile": False},  # the same traces, no XLA
            )
    finally:
        tf.get_logger().removeHandler(recorder)
    assert not [m for m in recorder.messages if "retracing" in m]


@requires_keras
def test_keras_reports_progress_between_compiled_calls():
    from mlp_parity.train import KERAS_STEPS_PER_EXECUTION as K

    spec, params, x, y = _problem(n=2 * K + 6)
    seen: list[Progress] = []
    kw = {**SETTINGS, "epochs": 1, "batch_size": 1}
    train(spec, params, x, y, backend="keras", progress=seen.append, **kw)
    assert [p.step for p in seen] == [K, 2 * K, 2 * K + 6, 2 * K + 6]
    assert [p.record is None for p in seen] == [True, True, True, False]
