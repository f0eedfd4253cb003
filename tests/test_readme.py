"""README.md's Python examples, executed as a reader would run them, so no example can rot.

Plain blocks run in one namespace, top to bottom. Blocks that define pytest tests are written
to a file and run by pytest in a fresh folder, with no conftest: Hypothesis' *default* settings
(200 ms deadline, 100 examples), which users get and the project's own profiles relax. The
placeholder ``my_grad_fn`` gets a real, user-style implementation: a correct one must pass and
a buggy one must fail.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import requires_jax, requires_keras

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[str]:
    return BLOCK.findall(README.read_text())


def _is_test_module(block: str) -> bool:
    return re.search(r"^def test_", block, re.MULTILINE) is not None


# A user's hand-written backprop for ReLU hidden layers and softmax cross-entropy (mean over the
# batch), in the README's layout: params [(W, b), ...], W (fan_in, fan_out), x (batch, in).
MY_GRAD_FN = """
import numpy as np


def _my_grad_fn(params, x, y, batch_scale):
    acts, zs = [x], []
    for i, (W, b) in enumerate(params):
        z = acts[-1] @ W + b
        zs.append(z)
        if i < len(params) - 1:
            acts.append(np.maximum(z, 0))
    z = zs[-1]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    delta = (p * y.sum(axis=1, keepdims=True) - y) / batch_scale(x)
    grads = []
    for i in range(len(params) - 1, -1, -1):
        grads.append((acts[i].T @ delta, delta.sum(axis=0)))
        if i > 0:
            delta = (delta @ params[i][0].T) * (zs[i - 1] > 0)
    return grads[::-1]


def my_grad_fn(params, x, y):
    return _my_grad_fn(params, x, y, {batch_scale})
"""
CORRECT = "lambda x: x.shape[0]"
BUGGY = "lambda x: 1.0"  # summed over the batch while the loss is its mean


def test_readme_has_python_examples():
    blocks = python_blocks()
    assert len(blocks) >= 4
    assert any(_is_test_module(b) for b in blocks)


@requires_jax
@requires_keras
def test_plain_examples_run(tmp_path):
    """Every block that is not a test module runs, in order, in one namespace, in a fresh
    process whose JAX has 4 simulated CPU devices (the data-parallel examples need them, and
    JAX fixes its device count when it first initialises)."""
    script = ["import jax", 'jax.config.update("jax_num_cpu_devices", 4)']
    script += [b for b in python_blocks() if not _is_test_module(b)]
    # The examples' own claims.
    script += [
        "assert report.ok is False",
        'assert result.history["val_accuracy"][-1] > 0.9',
        "assert dp_report.ok",
        "assert byob.ok and byob_defaults.ok is False",
        "assert byob_defaults.matching_convention == "
        "{'output_activation': 'sigmoid', 'reduction': 'sum', 'loss_scale': 0.5}",
        'assert len(dp_result.history["loss"]) == 2',
        'print("README examples ran")',
    ]
    (tmp_path / "readme_examples.py").write_text("\n\n".join(script))
    out = subprocess.run(
        [sys.executable, "readme_examples.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env={"MLP_PARITY_OFFLINE": "1", **os.environ},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "README examples ran" in out.stdout


def _run_pytest(tmp_path: Path, batch_scale: str) -> subprocess.CompletedProcess:
    body = MY_GRAD_FN.format(batch_scale=batch_scale)
    body += "\n\n" + "\n\n".join(b for b in python_blocks() if _is_test_module(b))
    (tmp_path / "test_users_backprop.py").write_text(textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env={k: v for k, v in os.environ.items() if k != "HYPOTHESIS_PROFILE"},
    )


@pytest.mark.slow
@pytest.mark.skipif(not importlib.util.find_spec("jax"), reason="the reference needs JAX")
def test_pytest_examples_pass_a_correct_backprop_under_default_settings(tmp_path):
    out = _run_pytest(tmp_path, CORRECT)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "DeadlineExceeded" not in out.stdout


@pytest.mark.slow
@pytest.mark.skipif(not importlib.util.find_spec("jax"), reason="the reference needs JAX")
def test_pytest_examples_fail_a_buggy_backprop(tmp_path):
    out = _run_pytest(tmp_path, BUGGY)
    assert out.returncode == 1, out.stdout[-4000:]
    assert "batch size" in out.stdout  # the diagnosis names the factor
    assert "DeadlineExceeded" not in out.stdout


@requires_jax
@requires_keras
@pytest.mark.slow
def test_readme_check_output_is_what_the_command_prints(capsys):
    """The `mlp-parity check` output shown in the README: its header (the reference loss) and
    table head are what the command prints today; the per-entry round-off may differ."""
    from mlp_parity.cli import main

    text = README.read_text()
    start = text.index("    gradient check: ")
    shown = [line[4:] for line in text[start:].splitlines()[:3]]
    assert main(["check"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[:3] == shown
    assert printed[-1] == "all backends agree"
