"""Where a second ``mlp-parity compare`` spends its wall time (issue 18's target: at most 25 %
outside importing the frameworks and training).

Runs ``mlp-parity compare`` ``--runs + 1`` times as separate processes with one fresh cache
folder (``XDG_CACHE_HOME``), so the first run fills JAX's compilation cache and the others are
"second runs". For each it takes the process's wall time from outside and, from
``compare.json``, each backend's import and training seconds (steady epochs; compilation,
building and validation count as outside). Extra arguments go to ``mlp-parity compare``.
Usage: ``python benchmarks/compare_overhead.py [--runs 3] [-- --epochs 10 ...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(out: Path, env: dict[str, str], extra: list[str]) -> dict[str, float]:
    cmd = [sys.executable, "-m", "mlp_parity", "compare", "--out", str(out), *extra]
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    data = json.loads((out / "compare.json").read_text())
    parts = {"wall": wall, "import": 0.0, "train": 0.0, "compile": 0.0, "build": 0.0}
    for b in data["backends"].values():
        for k in ("import", "train", "compile", "build"):
            parts[k] += b["wall_clock_s"][k]
    parts["outside"] = wall - parts["import"] - parts["train"]
    parts["outside_fraction"] = parts["outside"] / wall
    return parts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("extra", nargs="*", help="arguments for mlp-parity compare (after --)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "XDG_CACHE_HOME": str(Path(tmp) / "cache")}
        rows = []
        for i in range(a.runs + 1):
            rows.append(one_run(Path(tmp) / f"run{i}", env, a.extra))
            label = "first (fills the cache)" if i == 0 else f"second #{i}"
            r = rows[-1]
            print(
                f"{label:<24} wall {r['wall']:5.1f} s: imports {r['import']:4.1f}, training "
                f"{r['train']:4.1f}, outside {r['outside']:4.1f} s = {r['outside_fraction']:.0%} "
                f"(compile {r['compile']:.1f}, build {r['build']:.1f})",
                flush=True,
            )
    later = sorted(r["outside_fraction"] for r in rows[1:])
    print(f"second runs: outside imports and training {later[0]:.0%}-{later[-1]:.0%} of wall")


if __name__ == "__main__":
    main()
