"""The tutorial's benchmark scripts run end to end on tiny settings, so they never rot (their
full runs, minutes long, are recorded in benchmarks/results/ and BENCHMARKS.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_tutorial_inits_ranks_the_published_log(tmp_path):
    out = _run(
        "tutorial_inits.py", "--runs", "6", "--rounds", "1", "--json", str(tmp_path / "i.json")
    )
    assert "per-run: 6 runs; per round [1]" in out
    assert "Each of the 7 logs against the mean" in out
    assert "of a random 5 others' mean at every logged round" in out
    data = json.loads((tmp_path / "i.json").read_text())
    assert set(data) == {"per-run", "seed42", "seed42-shuffled"}
    c = data["per-run"]["consistency"]
    assert c["logs"] == 7 and 0 <= c["five_run_criterion"] <= 1
    assert 1 / 7 <= c["p_mean_abs"] <= 1


def test_tutorial_round1_tabulates_each_data_subset():
    out = _run("tutorial_round1.py", "--runs", "2", "--half-runs", "2")
    rows = [line for line in out.splitlines()[1:] if line.strip()]
    assert [r.split("  ")[0] for r in rows][:1] == ["mnist-sample"]
    assert len(rows) == 5 and all("%" in r for r in rows)
