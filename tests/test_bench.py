"""The benchmark harness runs and reports ratios; speed itself is never asserted here.
``pytest tests/test_bench.py --benchmark-enable`` times the steps with pytest-benchmark."""

import importlib.util
import json
import os

import numpy as np
import pytest
from conftest import requires_jax, requires_keras

import mlp_parity as mp
from mlp_parity import bench
from mlp_parity.cli import main


def test_matmul_peak_is_a_positive_rate():
    assert bench.matmul_peak(n=256, repeats=2) > 0


@requires_jax
def test_jax_matmul_ceiling_is_a_positive_rate():
    assert bench.jax_matmul_ceiling((32, 16, 4), batch_size=8, steps=4) > 0


@requires_keras
def test_tf_matmul_ceiling_is_a_positive_rate():
    assert bench.tf_matmul_ceiling((32, 16, 4), batch_size=8, steps=4) > 0


@requires_keras
def test_tf_matmul_ceiling_falls_back_to_the_graph_executor_without_xla(monkeypatch):
    """As the keras training loop does: a TensorFlow build without XLA still gets a ceiling."""
    import tensorflow as tf

    real_function = tf.function

    def function_without_xla(fn, **kwargs):
        if not kwargs.get("jit_compile"):
            return real_function(fn, **kwargs)

        def compiled(*args):
            message = "XLA compilation requested, but XLA is not available for this device"
            raise tf.errors.InvalidArgumentError(None, None, message)

        return compiled

    monkeypatch.setattr(tf, "function", function_without_xla)
    with pytest.warns(RuntimeWarning, match="tf_matmul_ceiling: XLA is unavailable"):
        assert bench.tf_matmul_ceiling((32, 16, 4), batch_size=8, steps=4) > 0


def test_bench_command_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = main(
        [
            "bench",
            "--quick",
            "--backends",
            "numpy",
            "--samples",
            "512",
            "--batch-sizes",
            "64",
            "--scaling-samples",
            "300",
            "--check-examples",
            "0",
            "--json",
            str(out),
            "--plot",
            str(tmp_path / "scaling.png"),
        ]
    )
    assert rc == 0
    assert (tmp_path / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = json.loads(out.read_text())
    mask = os.umask(0o022)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600
    assert r["parameters"] == 118_282 and r["peak_samples_per_s"] > 0
    assert set(r["training"]) == {"numpy"}
    assert 0 < r["training"]["numpy"]["fraction_of_peak"]
    assert 0 < r["matmul_ceiling"]["fraction_of_peak"]
    assert set(r["batch_scaling"]["numpy"]) == {"64"}
    text = capsys.readouterr().out
    assert "of peak" in text and "tutorial loop" in text
    # numpy again in a subprocess without the kernel pinning: its own row, its kernel named
    own = r["numpy_own_kernel"]
    assert own["training"]["fraction_of_limit"] > 0 and own["matmul_ceiling"]["samples_per_s"] > 0
    assert set(own["pinned"]) <= {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"} and not own["notes"]
    assert "numpy (OpenBLAS own kernel)" in text and "matmuls only, own kernel" in text
    if importlib.util.find_spec("threadpoolctl"):
        assert own["architecture"] and f"kernel {own['architecture']}" in text


@requires_jax
def test_bench_reports_the_jax_scan_unroll(monkeypatch):
    """The JSON and the table say how jax's epoch was unrolled (it differs by device), and
    jax's training runs with that unroll."""
    import jax

    calls = []
    monkeypatch.setattr(bench, "matmul_peak", lambda *a, **k: 100.0)
    monkeypatch.setattr(bench, "matmul_ceiling", lambda *a, **k: 1000.0)
    monkeypatch.setattr(bench, "jax_matmul_ceiling", lambda *a, **k: 1000.0)
    monkeypatch.setattr(bench, "training_throughput", lambda *a, **k: calls.append(k) or 1e3)
    monkeypatch.setattr(bench, "tutorial_loop_throughput", lambda *a, **k: 10.0)
    monkeypatch.setattr(bench, "machine_limit", _fake_limit)
    quiet = dict(check_examples=0, log=lambda *a: None)
    r = bench.run(("jax",), batch_sizes=(64,), jax_scan_unroll=4, **quiet)
    assert r["jax_scan_unroll"] == 4
    assert "epoch scan unroll 4" in bench.format_table(r).splitlines()[2]
    assert [k["engine_options"] for k in calls] == [{"scan_unroll": 4}] * 2
    default = bench.run(("jax",), batch_sizes=(), **quiet)["jax_scan_unroll"]
    assert default == (1 if jax.default_backend() == "cpu" else 8)


def test_training_throughput_passes_engine_options(monkeypatch):
    import mlp_parity.train as train_module

    seen = []
    real = train_module.train

    def spy(*args, **kwargs):
        seen.append(kwargs["engine_options"])
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "train", spy)
    sps = bench.training_throughput("numpy", sizes=(8, 4, 3), n=64, engine_options={})
    assert sps > 0 and seen == [{}]


@pytest.mark.parametrize("flag", ["--json", "--plot"])
def test_bench_output_to_unwritable_folder_fails_before_measuring(tmp_path, capsys, flag):
    rc = main(["bench", "--quick", flag, str(tmp_path / "nope" / "b.out")])
    err = capsys.readouterr().err
    assert rc == 2 and f"cannot write {flag} file" in err and "does not exist" in err


def test_bench_plot_needs_the_batch_size_table(tmp_path, capsys):
    rc = main(["bench", "--quick", "--batch-sizes", "", "--plot", str(tmp_path / "p.png")])
    assert rc == 2 and "--batch-sizes" in capsys.readouterr().err


def test_batch_scaling_figure_marks_each_backend():
    pytest.importorskip("matplotlib")
    from mlp_parity.plots import batch_scaling

    result = {
        "batch_size": 128,
        "batch_scaling": {"numpy": {"32": 0.2, "128": 0.5}, "jax": {"32": 0.4, "128": 0.6}},
        "batch_scaling_peak": {"numpy": "cpu matmul", "jax": "jax device"},
        "matmul_ceiling": {"fraction_of_best_peak": 0.7},
    }
    ax = batch_scaling(result).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["numpy", "jax (of the device's peak)"]
    numpy_line = ax.get_lines()[0]
    assert list(numpy_line.get_xdata()) == [32, 128]
    assert list(numpy_line.get_ydata()) == [0.2, 0.5]
    with pytest.raises(ValueError, match="batch_scaling"):
        batch_scaling({"batch_scaling": {}})


def _step_problem(dtype="float32"):
    spec = mp.MLPSpec((784, 128, 128, 10), "relu", "softmax_cross_entropy")
    rng = np.random.default_rng(0)
    x = rng.random((128, 784)).astype(dtype)
    y = rng.integers(0, 10, 128)
    return spec, mp.init_params(spec, dtype=dtype), x, y


@pytest.mark.parametrize("backend", ["numpy", pytest.param("jax", marks=requires_jax)])
def test_benchmark_gradient_step(benchmark, backend):
    spec, params, x, y = _step_problem()
    mp.loss_and_grad(spec, params, x, y, backend=backend)  # compile outside the timing
    loss, grads = benchmark(mp.loss_and_grad, spec, params, x, y, backend=backend)
    assert np.isfinite(loss) and grads[0][0].dtype == np.float32


@pytest.mark.parametrize(
    "flag, value",
    [("--samples", "0"), ("--scaling-samples", "0"), ("--epochs", "0"), ("--repeats", "0")],
)
def test_bench_rejects_empty_measurements(flag, value, capsys):
    rc = main(["bench", "--quick", flag, value])
    assert rc == 2 and f"argument {flag}: must be an int >= 1" in capsys.readouterr().err


def test_bench_divides_each_measurement_by_its_bracketing_peaks(monkeypatch):
    # Peaks: start, after the ceiling, after numpy, (round 2) after the ceiling, after numpy, end.
    peaks = iter([100.0, 120.0, 90.0, 150.0, 80.0, 110.0])
    monkeypatch.setattr(bench, "matmul_peak", lambda *a, **k: next(peaks))
    monkeypatch.setattr(bench, "matmul_ceiling", lambda *a, **k: 1000.0)
    monkeypatch.setattr(bench, "tutorial_loop_throughput", lambda *a, **k: 10.0)
    monkeypatch.setattr(bench, "machine_limit", _fake_limit)
    speeds = iter([3000.0, 1000.0, 5000.0])  # numpy round 1, round 2, then batch scaling
    monkeypatch.setattr(bench, "training_throughput", lambda b, **k: next(speeds))
    monkeypatch.setattr(bench, "numpy_own_kernel", _fake_own_kernel)
    r = bench.run(["numpy"], batch_sizes=(64,), check_examples=0, repeats=2, log=lambda m: None)
    sps = lambda gflops: gflops * 1e9 / (6 * 118_282)  # noqa: E731
    assert r["matmul_peak_gflops"] == 150.0
    assert r["matmul_peak_gflops_measurements"] == [100.0, 120.0, 90.0, 150.0, 80.0, 110.0]
    numpy = r["training"]["numpy"]
    # Round 1 between 120 and 90 -> 120; round 2 between 150 and 80 -> 150.
    assert [x["local_peak_gflops"] for x in numpy["rounds"]] == [120.0, 150.0]
    assert numpy["samples_per_s"] == 2000.0
    assert numpy["fraction_of_peak"] == pytest.approx((3000 / sps(120) + 1000 / sps(150)) / 2)
    assert numpy["fraction_of_best_peak"] == pytest.approx(2000 / sps(150))
    assert r["batch_scaling"]["numpy"]["64"] == pytest.approx(5000 / sps(150))
    assert r["batch_scaling_peak"]["numpy"] == "cpu matmul"
    assert "of best" in bench.format_table(r)


def _limit_row(gflops, source="openblas"):
    return {
        "gflops": gflops,
        "source": source,
        "xla_gflops": gflops / 2,
        "openblas_gflops": gflops,
        "openblas_architecture": "SkylakeX",
        "numpy_gflops": gflops / 4,
        "numpy_architecture": "Haswell",
        "pinned": {},
        "notes": [],
    }


def _fake_limit(*args, **kwargs):
    return {"float32": _limit_row(300.0), "float64": _limit_row(150.0)}


def _fake_own_kernel(*args, **kwargs):
    pinned = {"OPENBLAS_CORETYPE": "Haswell"}
    return {"training": 4000.0, "ceiling": 8000.0, "architecture": "SkylakeX", "pinned": pinned}


def _fake_measurements(monkeypatch, own_kernel=None):
    """Every measurement of ``bench.run`` faked: numpy's peak 100 GFLOP/s, its ceiling 1000
    samples/s, the tutorial loop 10, training 2000, the limit :func:`_fake_limit`, numpy's
    own-kernel subprocess ``own_kernel`` (default :func:`_fake_own_kernel`)."""
    monkeypatch.setattr(bench, "matmul_peak", lambda *a, **k: 100.0)
    monkeypatch.setattr(bench, "matmul_ceiling", lambda *a, **k: 1000.0)
    monkeypatch.setattr(bench, "tutorial_loop_throughput", lambda *a, **k: 10.0)
    monkeypatch.setattr(bench, "training_throughput", lambda b, **k: 2000.0)
    monkeypatch.setattr(bench, "machine_limit", _fake_limit)
    monkeypatch.setattr(bench, "numpy_own_kernel", own_kernel or _fake_own_kernel)


def test_bench_reports_numpy_under_openblas_own_kernel_beside_the_pinned_one(monkeypatch):
    """numpy is measured again, right after its own measurement in each round, by a subprocess
    without the pinning variables (here faked); its rows sit beside numpy's in the JSON and the
    table, with the kernel each ran."""
    calls = []
    _fake_measurements(monkeypatch, lambda *a: calls.append(a) or _fake_own_kernel())
    r = bench.run(["numpy"], batch_sizes=(), check_examples=0, repeats=2, n=512, log=print)
    assert calls == [((784, 128, 128, 10), 128, 512, 2)] * 2  # sizes, batch, samples, epochs
    own = r["numpy_own_kernel"]
    sps = lambda gflops: gflops * 1e9 / (6 * 118_282)  # noqa: E731
    assert own["training"]["samples_per_s"] == 4000.0
    assert own["training"]["fraction_of_limit"] == pytest.approx(4000 / sps(300))
    assert own["matmul_ceiling"]["fraction_of_limit"] == pytest.approx(8000 / sps(300))
    assert len(own["training"]["rounds"]) == 2 and own["notes"] == []
    assert own["architecture"] == "SkylakeX" and own["pinned"] == {"OPENBLAS_CORETYPE": "Haswell"}
    lines = bench.format_table(r).splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("numpy "))
    assert lines[row + 1].startswith("numpy (OpenBLAS own kernel)")
    assert "kernel Haswell, pinned by OPENBLAS_CORETYPE" in lines[row]
    assert "kernel SkylakeX" in lines[row + 1]
    assert lines[row + 1].split()[5:6] == [f"{4000 / sps(300):.2f}"]  # of limit


def test_bench_notes_a_failed_own_kernel_measurement(monkeypatch):
    def fails(*a):
        raise RuntimeError("the own-kernel numpy subprocess failed: boom")

    _fake_measurements(monkeypatch, fails)
    r = bench.run(["numpy"], batch_sizes=(), check_examples=0, log=lambda m: None)
    assert "training" not in r["numpy_own_kernel"]
    assert r["numpy_own_kernel"]["notes"] == ["the own-kernel numpy subprocess failed: boom"]
    text = bench.format_table(r)
    assert "numpy (OpenBLAS own kernel): the own-kernel numpy subprocess failed" in text


def test_numpy_own_kernel_runs_in_a_subprocess_without_the_pinning(monkeypatch):
    """The subprocess's environment lacks the pinning variables (and can import the package);
    this process's environment is untouched; it trains and names its kernel."""
    from mlp_parity import _limit

    monkeypatch.setenv("OPENBLAS_CORETYPE", os.environ.get("OPENBLAS_CORETYPE", "Haswell"))
    env = _limit._unpinned_env()
    assert not set(_limit.PINNING_VARIABLES) & set(env)
    assert os.path.dirname(os.path.dirname(mp.__file__)) in env["PYTHONPATH"].split(os.pathsep)
    before = dict(os.environ)
    got = _limit.numpy_own_kernel((32, 16, 4), batch_size=8, n=64, epochs=2)
    assert dict(os.environ) == before
    assert got["training"] > 0 and got["ceiling"] > 0
    assert got["pinned"]["OPENBLAS_CORETYPE"] == os.environ["OPENBLAS_CORETYPE"]
    if importlib.util.find_spec("threadpoolctl"):
        assert got["architecture"]  # the kernel OpenBLAS chose itself


def test_machine_limit_is_the_best_of_each_kernel_and_leaves_the_environment():
    """XLA, OpenBLAS's own kernel (a subprocess without the pinning variables) and numpy's:
    the limit is the best; the kernel each BLAS ran is named; this process keeps its
    environment."""
    from mlp_parity import _limit

    before = dict(os.environ)
    limits = _limit.machine_limit(("float32", "float64"), n=128, repeats=1, use_jax=False)
    assert dict(os.environ) == before
    for row in limits.values():
        measured = {k: row[f"{k}_gflops"] for k in ("xla", "openblas", "numpy")}
        assert row["xla_gflops"] is None and row["openblas_gflops"] > 0
        assert row["gflops"] == max(v for v in measured.values() if v is not None)
        assert row["gflops"] == measured[row["source"]]
        assert set(row["pinned"]) <= set(_limit.PINNING_VARIABLES)
    pytest.importorskip("threadpoolctl")
    assert limits["float32"]["openblas_architecture"]  # e.g. "SkylakeX"
    assert limits["float32"]["numpy_architecture"] == _limit.blas_kernel()


@requires_jax
def test_xla_cpu_matmul_peak_is_a_positive_rate():
    from mlp_parity._limit import xla_cpu_matmul_peak

    assert xla_cpu_matmul_peak("float64", n=64, repeats=1) > 0


def test_merge_limits_keeps_each_best_figure():
    from mlp_parity._limit import merge_limits

    a, b = _fake_limit(), _fake_limit()
    b["float32"].update(xla_gflops=400.0, openblas_gflops=100.0, gflops=400.0, source="xla")
    merged = merge_limits(a, b)["float32"]
    assert merged["source"] == "xla" and merged["gflops"] == 400.0
    assert merged["openblas_gflops"] == 300.0 and merged["measurements"] == [300.0, 400.0]


def test_bench_reports_every_ratio_against_the_machine_limit(monkeypatch):
    _fake_measurements(monkeypatch)
    r = bench.run(["numpy"], batch_sizes=(64,), check_examples=0, log=lambda m: None)
    sps = lambda gflops: gflops * 1e9 / (6 * 118_282)  # noqa: E731
    assert r["limit_gflops"] == 300.0 and r["limit_samples_per_s"] == pytest.approx(sps(300))
    assert r["machine_limit"]["float32"]["measurements"] == [300.0, 300.0]
    assert r["training"]["numpy"]["fraction_of_limit"] == pytest.approx(2000 / sps(300))
    assert r["training"]["numpy"]["fraction_of_peak"] == pytest.approx(2000 / sps(100))
    assert r["matmul_ceiling"]["fraction_of_limit"] == pytest.approx(1000 / sps(300))
    assert r["tutorial_loop"]["fraction_of_limit"] == pytest.approx(10 / sps(150))
    assert r["batch_scaling_of_limit"]["numpy"]["64"] == pytest.approx(2000 / sps(300))
    text = bench.format_table(r)
    assert "float32 machine limit 300.0 GFLOP/s (openblas)" in text
    assert "[SkylakeX]" in text and "numpy pinned 75.0 [Haswell]" in text
    assert "of limit" in text.splitlines()[6]
