"""Every notebook under notebooks/ (jupytext percent-format ``.py``) runs top to bottom on a fresh
kernel, offline, headless, and draws at least one figure.

The kernel is this interpreter (``sys.executable``), registered in a temporary kernelspec, so
the test never picks up another environment's ``python`` from PATH. Two notebooks run at a
time, to keep the default test run within its budget. Skipped when jupytext,
nbclient, ipykernel or a framework the notebooks use is missing
(``pip install "mlp_parity[all]"``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9]*.py"))
CELL_TIMEOUT = 120  # seconds per cell
KERNEL_STARTUP_TIMEOUT = 180  # seconds; two kernels start at once on two busy cores
KERNEL_NAME = "mlp-parity-test"

# the notebook machinery, and what the notebooks import
_NEEDED = (
    "jupytext",
    "nbclient",
    "nbformat",
    "ipykernel",
    "matplotlib",
    "jax",
    "keras",
    "tensorflow",
    "hypothesis",
)
_MISSING = [m for m in _NEEDED if not importlib.util.find_spec(m)]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(_MISSING),
        reason=f'notebooks need {", ".join(_MISSING)}: pip install "mlp_parity[all]"',
    ),
]


def test_notebooks_exist():
    assert len(NOTEBOOKS) >= 3, f"expected at least three notebooks in {NOTEBOOKS_DIR}"


def _execute(path: Path, kernel_name: str, workdir: Path):
    """Run one notebook on a fresh kernel; return ``(notebook with outputs, seconds)``."""
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    for attempt in (1, 2):
        nb = jupytext.read(path)
        client = NotebookClient(
            nb,
            timeout=CELL_TIMEOUT,
            startup_timeout=KERNEL_STARTUP_TIMEOUT,
            kernel_name=kernel_name,
            resources={"metadata": {"path": str(workdir)}},  # the kernel's cwd
        )
        start = time.perf_counter()
        try:
            client.execute()  # raises CellExecutionError, naming the cell, on any error
        except (CellExecutionError, CellTimeoutError):
            raise  # the notebook's own failure: never retried
        except Exception:  # the kernel's start or death, not the notebook: one more try
            if attempt == 2:
                raise
            continue
        return nb, time.perf_counter() - start
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def executions(request, tmp_path_factory):
    """Every notebook, executed two at a time (each kernel mostly keeps one core busy: one BLAS
    thread, Python, compilation), started at the first test that asks. Maps a notebook's stem
    to a Future of ``(notebook, seconds)``, for the notebooks whose test was selected.
    Notebook 04's speed figures are therefore taken beside another notebook here; nothing
    asserts them."""
    selected = [
        item.callspec.params["path"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_notebook_runs"
    ]
    root = tmp_path_factory.mktemp("jupyter")
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "mlp_parity test kernel",
                "language": "python",
            }
        )
    )
    with pytest.MonkeyPatch.context() as mp:
        # A kernelspec whose argv is this interpreter, found through JUPYTER_PATH.
        mp.setenv("JUPYTER_PATH", str(root))
        # The kernels inherit this environment: offline data, a headless matplotlib backend.
        mp.setenv("MLP_PARITY_OFFLINE", "1")
        mp.setenv("MPLBACKEND", "Agg")
        mp.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        # One BLAS thread unless told otherwise: on a busy 2-core machine OpenBLAS threads
        # contend with each other and the other kernel (numpy steps run several times slower).
        for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            if var not in os.environ:
                mp.setenv(var, "1")
        with ThreadPoolExecutor(max_workers=2) as pool:
            yield {
                p.stem: pool.submit(_execute, p, KERNEL_NAME, tmp_path_factory.mktemp(p.stem))
                for p in selected
            }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    import jupytext

    nb = jupytext.read(path)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        f"{path.name} is stored with outputs"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, executions):
    nb, elapsed = executions[path.stem].result()  # re-raises the notebook's error, if any
    pngs = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    assert pngs, f"{path.name} drew no figure (no image/png output)"
    print(f"{path.name}: {elapsed:.1f} s, {len(pngs)} figure(s)")
