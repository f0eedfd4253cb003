"""Two processes x 2 CPU devices each, joined by ``jax.distributed`` over gloo on 127.0.0.1,
train data-parallel (each feeding its own slice of every batch) and end on the one-device
trajectory. Run as a script, this file is one of the two processes."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import mlp_parity as mp

TIMEOUT_S = 60


def problem():
    rng = np.random.default_rng(0)
    spec = mp.MLPSpec((6, 5, 3), "relu", "softmax_cross_entropy")
    x, y = rng.standard_normal((101, 6)), rng.integers(0, 3, 101)
    kw = dict(backend="jax", epochs=3, batch_size=10, learning_rate=0.1, momentum=0.9, seed=1)
    return spec, mp.init_params(spec, seed=0, dtype="float64"), x, y, kw


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_follow_the_one_device_trajectory(tmp_path):
    from mlp_parity.train import param_divergence, train

    port = _free_port()
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}
    me = str(Path(__file__).resolve())
    procs = [
        subprocess.Popen(
            [sys.executable, me, f"127.0.0.1:{port}", str(i), str(tmp_path / f"p{i}.json")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )  # fmt: skip
        for i in range(2)
    ]
    start = time.monotonic()
    try:
        for p in procs:
            p.wait(timeout=max(1.0, TIMEOUT_S - (time.monotonic() - start)))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    logs = [p.stdout.read()[-2000:] for p in procs]
    assert all(p.returncode == 0 for p in procs), logs
    spec, params, x, y, kw = problem()
    ref = train(spec, params, x, y, **kw)  # this process: one device
    for i in range(2):
        got = json.loads((tmp_path / f"p{i}.json").read_text())
        assert got["devices"] == 4 and got["local"] == 2
        mine = [(np.array(W), np.array(b)) for W, b in got["params"]]
        assert param_divergence(mine, ref.params) <= 1e-12
        assert np.allclose(got["loss"], ref.history["loss"], rtol=1e-12, atol=0)


def main(coordinator: str, process_id: int, out: str) -> None:
    from mlp_parity.parallel import initialize

    initialize(coordinator, 2, process_id, local_cpu_devices=2, timeout_s=TIMEOUT_S)
    import jax

    from mlp_parity.train import train

    spec, params, x, y, kw = problem()
    r = train(spec, params, x, y, devices="all", **kw)
    result = {
        "devices": jax.device_count(),
        "local": jax.local_device_count(),
        "params": [(W.tolist(), b.tolist()) for W, b in r.params],
        "loss": r.history["loss"],
    }
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
