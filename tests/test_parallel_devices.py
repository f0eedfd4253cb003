"""Data-parallel training and the checker on 8 simulated CPU devices, in one subprocess (this
process's JAX already has 1 device): trajectories at 1/2/4/8 devices equal to one device, to
numpy and to Keras; the checker catches every bug fixture with its diagnosis and passes the
correct implementations. Run as a script, this file is that subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
#: float64: every device count's final parameters within this of one device's (relative).
F64_RTOL = 1e-12
#: float32: the documented tolerance after the same few epochs (sums in another order).
F32_RTOL = 1e-4


@pytest.fixture(scope="module")
def results():
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve())],
        capture_output=True, text=True, timeout=240, env=env, cwd=HERE.parent,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_float64_trajectories_equal_at_1_2_4_8_devices(results):
    for key in ("2", "4", "8", "[dev0]", "4/uneven", "8/uneven", "3/uneven"):
        assert results["f64"][key]["div"] <= F64_RTOL, (key, results["f64"][key])
        assert results["f64"][key]["acc_same"], key
        assert abs(results["f64"][key]["loss"]) <= 1e-12, key


def test_float64_multidevice_equals_numpy_and_keras(results):
    assert results["numpy_vs_jax8"] <= 1e-8
    assert results["keras_vs_jax4"] <= 1e-8


def test_float32_within_documented_tolerance(results):
    assert results["f32_div"] <= F32_RTOL


def test_checker_catches_every_bug_with_its_diagnosis(results):
    from dp_bugs import BUGS

    for name, (_, words) in BUGS.items():
        r = results["bugs"][name]
        assert not r["ok"], name
        assert r["first_broken"] == 2, (name, r)
        assert words in r["diagnosis"], (name, r["diagnosis"])


def test_checker_passes_correct_implementations(results):
    for name, r in results["correct"].items():
        assert r["ok"], (name, r["text"])
    assert results["correct"]["jit_with_shardings@1,2,4"]["uneven"]


def test_checker_reports_where_it_first_breaks_at_4(results):
    r = results["bugs@4"]
    assert r["by_count"] == {"1": "ok", "2": r["by_count"]["2"], "4": r["by_count"]["4"]}
    assert "× 4" in r["by_count"]["4"] and "× 2" in r["by_count"]["2"]


# ------------------------------------------------------------------------------------------
# The subprocess.


def _trajectories():
    import numpy as np

    import mlp_parity as mp
    from mlp_parity.train import param_divergence, train

    rng = np.random.default_rng(0)
    spec = mp.MLPSpec((6, 5, 3), "tanh", "softmax_cross_entropy")
    x, y = rng.standard_normal((101, 6)), rng.integers(0, 3, 101)
    p64 = mp.init_params(spec, seed=0, dtype="float64")
    kw = dict(backend="jax", epochs=3, learning_rate=0.1, momentum=0.9, seed=1)
    out = {"f64": {}}
    for bs, label in ((8, ""), (10, "/uneven")):
        ref = train(spec, p64, x, y, batch_size=bs, **kw)
        runs = {"2": 2, "4": 4, "8": 8, "3": 3} if label else {"2": 2, "4": 4, "8": 8}
        if not label:
            import jax

            runs["[dev0]"] = [jax.devices()[0]]
        for key, d in runs.items():
            r = train(spec, p64, x, y, batch_size=bs, devices=d, **kw)
            out["f64"][key + label] = {
                "div": param_divergence(r.params, ref.params),
                "acc_same": r.history["accuracy"] == ref.history["accuracy"],
                "loss": r.history["loss"][-1] - ref.history["loss"][-1],
            }
        if label:
            jax8 = train(spec, p64, x, y, batch_size=bs, devices=8, **kw).params
            npy = train(spec, p64, x, y, batch_size=bs, **{**kw, "backend": "numpy"})
            out["numpy_vs_jax8"] = param_divergence(jax8, npy.params)
            keras = train(spec, p64, x, y, batch_size=bs, **{**kw, "backend": "keras"})
            jax4 = train(spec, p64, x, y, batch_size=bs, devices=4, **kw).params
            out["keras_vs_jax4"] = param_divergence(jax4, keras.params)
    p32 = mp.init_params(spec, seed=0, dtype="float32")
    one = train(spec, p32, x, y, batch_size=10, **kw).params
    four = train(spec, p32, x, y, batch_size=10, devices=4, **kw).params
    out["f32_div"] = param_divergence(four, one)
    return out


def _checks():
    import dp_bugs

    from mlp_parity.parallel import check_data_parallel, reference_make_grad_fn

    def check(make, counts=(1, 2), n=5):
        r = check_data_parallel(
            make, activation=dp_bugs.ACTIVATION, loss=dp_bugs.LOSS, device_counts=counts,
            max_examples=n, seed=0,
        )  # fmt: skip
        return {
            "ok": r.ok, "first_broken": r.first_broken, "diagnosis": r.diagnosis,
            "by_count": {str(k): v for k, v in r.by_count.items()}, "text": str(r),
            "uneven": r.uneven_tested,
        }  # fmt: skip

    out = {"bugs": {k: check(make) for k, (make, _) in dp_bugs.BUGS.items()}}
    correct = {k: check(make) for k, make in dp_bugs.CORRECT.items()}
    ref = reference_make_grad_fn(dp_bugs.ACTIVATION, dp_bugs.LOSS)
    correct["train's own (reference_make_grad_fn)"] = check(ref)
    correct["jit_with_shardings@1,2,4"] = check(dp_bugs.jit_with_shardings, (1, 2, 4), 4)
    out["correct"] = correct
    out["bugs@4"] = check(dp_bugs.psum_of_grads, (1, 2, 4), 3)
    return out


def main() -> None:
    import jax

    jax.config.update("jax_num_cpu_devices", 8)
    print(json.dumps({**_trajectories(), **_checks()}))


if __name__ == "__main__":
    main()
