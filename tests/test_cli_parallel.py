"""The data-parallel command-line options, each in a fresh process: ``--devices N`` gives JAX
N simulated CPU devices before it initialises, which this test process can no longer do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import requires_jax

TESTS = Path(__file__).resolve().parent
pytestmark = [requires_jax, pytest.mark.slow]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlp_parity", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={"MLP_PARITY_OFFLINE": "1", **__import__("os").environ},
    )


def test_compare_devices_shows_the_same_trajectory(tmp_path):
    out = _cli(
        "compare", "--devices", "2", "--backends", "numpy,jax", "--sizes", "784,16,10",
        "--epochs", "2", "--out", str(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "data-parallel on 2 devices" in out.stdout
    report = json.loads((tmp_path / "compare.json").read_text())
    assert report["settings"]["jax_devices"] == 2
    assert report["backends"]["jax"]["max_rel_param_divergence"] <= 1e-12


def test_compare_devices_needs_the_jax_backend(tmp_path):
    out = _cli("compare", "--devices", "2", "--backends", "numpy", cwd=tmp_path)
    assert out.returncode == 2
    assert "include jax in --backends" in out.stderr


@pytest.mark.parametrize(
    "target, verdict",
    [("averaged_twice", "averaged twice"), ("jit_with_shardings", None)],
)
def test_debug_data_parallel(tmp_path, target, verdict):
    out = _cli(
        "debug", "--data-parallel", f"{TESTS / 'dp_bugs.py'}:{target}", "--activation", "tanh",
        "--loss", "softmax_cross_entropy", "--device-counts", "1,2", "--max-examples", "5",
        "--seed", "0", cwd=tmp_path,
    )  # fmt: skip
    if verdict is None:
        assert out.returncode == 0, out.stdout + out.stderr
    else:
        assert out.returncode == 1, out.stdout + out.stderr
        assert verdict in out.stdout


def test_debug_data_parallel_refuses_the_single_device_flags(tmp_path):
    out = _cli(
        "debug", "--data-parallel", f"{TESTS / 'dp_bugs.py'}:averaged_twice", "--activation",
        "tanh", "--loss", "mse", "--layout", "columns", "--reduction", "sum", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 2
    assert "--reduction, --layout do not apply with --data-parallel" in out.stderr


def test_train_devices_with_numpy_fails_before_any_output(tmp_path):
    out = _cli("train", "--devices", "2", "--backend", "numpy", "--epochs", "1", cwd=tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    assert "--devices works with --backend jax only, not 'numpy'" in out.stderr
