"""The machine's matmul limit: the best of XLA's matmul on the CPU and OpenBLAS's own kernel.

numpy's matmul is not the machine's limit when the environment pins OpenBLAS to an older
kernel (``OPENBLAS_CORETYPE``, e.g. Haswell's AVX2 kernel on an AVX-512 CPU). So the limit is
measured two more ways, and the best kept:

* **xla**: JAX's jitted ``n x n @ n x n`` on its CPU device (whatever device JAX defaults to);
* **openblas**: numpy's matmul in a subprocess whose environment lacks ``OPENBLAS_CORETYPE``
  and ``OPENBLAS_L2_SIZE``, so OpenBLAS picks its own kernel; the kernel that ran is read back
  with threadpoolctl's ``threadpool_info()`` (``architecture``). This process's environment is
  never changed.

numpy's figure in this process (the pinned kernel) is measured beside them and reported, not
counted in the limit unless it is the best. :func:`numpy_own_kernel` measures numpy's training
and its step-matmul ceiling the same way, in a subprocess without the pinning variables.
:func:`machine_limit` returns, per dtype::

    {"gflops": best, "source": "xla" | "openblas" | "numpy",
     "xla_gflops": float | None, "openblas_gflops": float | None,
     "openblas_architecture": str | None, "numpy_gflops": float,
     "numpy_architecture": str | None, "notes": [str, ...]}
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from ._peaks import _best_seconds, matmul_peak

#: What the subprocess unsets so that OpenBLAS chooses its kernel itself.
PINNING_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

_OPENBLAS_SCRIPT = """
import json, sys, time
import numpy as np
n, repeats, dtypes = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(",")
out = {}
for dtype in dtypes:
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n)).astype(dtype), rng.random((n, n)).astype(dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    out[dtype] = 2 * n**3 / best / 1e9
try:
    from threadpoolctl import threadpool_info
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    out["architecture"] = blas[0].get("architecture") if blas else None
    out["internal_api"] = blas[0].get("internal_api") if blas else None
except ImportError:
    out["architecture"] = out["internal_api"] = None
print(json.dumps(out))
"""


_OWN_KERNEL_TRAINING_SCRIPT = """
import json, sys
from mlp_parity import bench
from mlp_parity._limit import blas_kernel
kw = json.loads(sys.argv[1])
ceiling = bench.matmul_ceiling(kw["sizes"], kw["batch_size"])
training = bench.training_throughput("numpy", **kw)
print(json.dumps({"ceiling": ceiling, "training": training, "architecture": blas_kernel()}))
"""


def _unpinned_env() -> dict[str, str]:
    """This process's environment less :data:`PINNING_VARIABLES`, with this package importable
    (a source checkout need not be installed)."""
    env = {k: v for k, v in os.environ.items() if k not in PINNING_VARIABLES}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _run_unpinned(args: list[str], what: str) -> dict[str, Any]:
    """The JSON that ``python args...`` prints last, run with :func:`_unpinned_env`, plus
    ``"pinned"`` (the variables it left out). ``RuntimeError`` when it fails."""
    done = subprocess.run(
        [sys.executable, *args], env=_unpinned_env(), capture_output=True, text=True, timeout=600
    )
    if done.returncode:
        tail = done.stderr.strip().splitlines()[-1:] or ["no message"]
        raise RuntimeError(f"the {what} subprocess failed: {tail[0]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["pinned"] = {k: os.environ[k] for k in PINNING_VARIABLES if k in os.environ}
    return out


def numpy_own_kernel(
    sizes: Sequence[int], batch_size: int, n: int, epochs: int, dtype: str = "float32"
) -> dict[str, Any]:
    """numpy's training (``bench.training_throughput``) and step-matmul ceiling
    (``bench.matmul_ceiling``), samples/s, under OpenBLAS's own kernel: one subprocess without
    :data:`PINNING_VARIABLES`. ``{"training": float, "ceiling": float, "architecture": str |
    None, "pinned": {var: value}}``; ``RuntimeError`` when the subprocess fails."""
    kw = dict(sizes=list(sizes), batch_size=batch_size, n=n, epochs=epochs, dtype=dtype)
    return _run_unpinned(["-c", _OWN_KERNEL_TRAINING_SCRIPT, json.dumps(kw)], "own-kernel numpy")


def blas_kernel() -> str | None:
    """The BLAS kernel numpy runs in this process (threadpoolctl's ``architecture``, e.g.
    ``"Haswell"``), or ``None`` when threadpoolctl is missing or does not say."""
    try:
        import numpy  # noqa: F401  (threadpoolctl lists only loaded libraries)
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return blas[0].get("architecture") if blas else None


def openblas_own_peak(
    dtypes: Sequence[str] = ("float32", "float64"), n: int = 2048, repeats: int = 10
) -> dict[str, Any]:
    """Best GFLOP/s per dtype of numpy's matmul in a subprocess without the pinning variables
    (:data:`PINNING_VARIABLES`), and the kernel that ran: ``{dtype: gflops, ...,
    "architecture": str | None, "internal_api": str | None, "pinned": {var: value}}``.
    ``RuntimeError`` when the subprocess fails."""
    args = ["-c", _OPENBLAS_SCRIPT, str(n), str(repeats), ",".join(dtypes)]
    return _run_unpinned(args, "OpenBLAS peak")


def xla_cpu_matmul_peak(dtype: str = "float32", n: int = 2048, repeats: int = 10) -> float:
    """Best GFLOP/s of a jitted ``n x n @ n x n`` matmul on JAX's CPU device (also where an
    accelerator is JAX's default), in ``dtype``. ``ImportError`` without JAX."""
    from .backends import get_backend

    get_backend("jax")  # x64 on (float64 works), highest matmul precision
    import jax
    import numpy as np

    cpu = jax.devices("cpu")[0]
    rng = np.random.default_rng(0)
    a = jax.device_put(rng.random((n, n)).astype(dtype), cpu)
    b = jax.device_put(rng.random((n, n)).astype(dtype), cpu)
    mm = jax.jit(lambda a, b: a @ b)
    mm(a, b).block_until_ready()  # compile, warm up
    return 2 * n**3 / _best_seconds(lambda: mm(a, b).block_until_ready(), repeats) / 1e9


def machine_limit(
    dtypes: Sequence[str] = ("float32", "float64"),
    n: int = 2048,
    repeats: int = 10,
    *,
    use_jax: bool = True,
) -> dict[str, dict[str, Any]]:
    """Per dtype, the machine's matmul limit and each measurement behind it (module
    docstring). A measurement that cannot run (no JAX, a failed subprocess) is ``None`` with
    a note; numpy's own figure is always there, so there is always a limit."""
    notes: list[str] = []
    try:
        own = openblas_own_peak(dtypes, n, repeats)
    except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as e:
        own = {}
        notes.append(f"OpenBLAS's own kernel not measured: {e}")
    if own and own.get("architecture") is None:
        notes.append("threadpoolctl not installed: the kernel OpenBLAS chose is unknown")
    pinned = blas_kernel()
    out: dict[str, dict[str, Any]] = {}
    for dtype in dtypes:
        xla = None
        if use_jax:
            try:
                xla = xla_cpu_matmul_peak(dtype, n, repeats)
            except ImportError as e:
                notes.append(f"XLA not measured: {e}")
                use_jax = False
        row: dict[str, Any] = {
            "xla_gflops": xla,
            "openblas_gflops": own.get(dtype),
            "openblas_architecture": own.get("architecture"),
            "numpy_gflops": matmul_peak(dtype, n=n, repeats=repeats),
            "numpy_architecture": pinned,
            "pinned": own.get("pinned", {}),
            "n": n,
        }
        sources = {k: row[f"{k}_gflops"] for k in ("xla", "openblas", "numpy")}
        row["source"] = max((v, k) for k, v in sources.items() if v is not None)[1]
        row["gflops"] = sources[row["source"]]
        row["notes"] = list(dict.fromkeys(notes))
        out[dtype] = row
    return out


def merge_limits(*limits: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The limits of several :func:`machine_limit` runs combined: each figure its best (the
    machine's speed drifts; a busy moment only lowers a figure)."""
    out: dict[str, dict[str, Any]] = {}
    for dtype in limits[0]:
        rows = [lim[dtype] for lim in limits]
        row = dict(rows[-1])
        for key in ("xla_gflops", "openblas_gflops", "numpy_gflops"):
            values = [r[key] for r in rows if r[key] is not None]
            row[key] = max(values) if values else None
        sources = {k: row[f"{k}_gflops"] for k in ("xla", "openblas", "numpy")}
        row["source"] = max((v, k) for k, v in sources.items() if v is not None)[1]
        row["gflops"] = sources[row["source"]]
        row["measurements"] = [r["gflops"] for r in rows]
        row["notes"] = list(dict.fromkeys(n for r in rows for n in r["notes"]))
        out[dtype] = row
    return out


def limit_lines(limits: dict[str, dict[str, Any]], samples_per_s: dict[str, float]) -> list[str]:
    """The table's lines for the limit: per dtype, the limit and what each engine measured."""
    lines = []
    for dtype, r in limits.items():

        def fig(key: str, arch_key: str | None = None, r: dict = r) -> str:
            v = r[key]
            arch = r.get(arch_key) if arch_key else None
            text = "-" if v is None else f"{v:.1f}"
            return text + (f" [{arch}]" if arch else "")

        lines.append(
            f"{dtype} machine limit {r['gflops']:.1f} GFLOP/s ({r['source']}) -> "
            f"{samples_per_s[dtype]:,.0f} samples/s; XLA {fig('xla_gflops')}, OpenBLAS own "
            f"{fig('openblas_gflops', 'openblas_architecture')}, numpy pinned "
            f"{fig('numpy_gflops', 'numpy_architecture')}"
        )
    for note in dict.fromkeys(n for r in limits.values() for n in r["notes"]):
        lines.append(f"  note: {note}")
    return lines
