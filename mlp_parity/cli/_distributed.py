"""Options shared by the commands that can run data-parallel (``train``, ``compare``):
``--devices N|all`` and, for several hosts, ``--coordinator HOST:PORT --num-processes P
--process-id I``; :func:`init_from_args` sets JAX up before it initialises."""

from __future__ import annotations

import argparse
from typing import Any


def devices_arg(text: str) -> int | str:
    """``--devices``: a positive int or ``all``."""
    if text == "all":
        return text
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"--devices takes a positive int or 'all', got {text!r}")
    return n


def add_args(p: argparse.ArgumentParser) -> None:
    """``--devices``, ``--coordinator``, ``--num-processes``, ``--process-id``."""
    p.add_argument(
        "--devices",
        type=devices_arg,
        default=1,
        metavar="N|all",
        help="jax: train data-parallel over N devices (every process's, with several); on "
        "the CPU, N simulated devices are made (default 1)",
    )
    p.add_argument(
        "--coordinator",
        default=None,
        metavar="HOST:PORT",
        help="several hosts: process 0's address (jax.distributed.initialize)",
    )
    p.add_argument(
        "--num-processes", type=int, default=None, metavar="P", help="with --coordinator"
    )
    p.add_argument("--process-id", type=int, default=None, metavar="I", help="0..P-1")


def init_from_args(args: argparse.Namespace) -> Any:
    """Set JAX up for ``--devices`` / ``--coordinator`` before it initialises; return the
    ``devices=`` value for :func:`mlp_parity.train.train`. Call it first thing in a command.

    On the CPU, ``--devices N`` gives JAX N simulated devices (N / P per process with
    ``--num-processes P``); on a GPU machine the GPUs are used and this changes nothing."""
    from ..parallel import initialize, simulate_cpu_devices

    devices = getattr(args, "devices", 1)
    multi = [args.coordinator, args.num_processes, args.process_id]
    if any(v is not None for v in multi):
        if any(v is None for v in multi):
            raise ValueError("--coordinator, --num-processes and --process-id go together")
        local = None
        if isinstance(devices, int) and devices > 1:
            if devices % args.num_processes:
                raise ValueError(
                    f"--devices {devices} does not divide over {args.num_processes} processes"
                )
            local = devices // args.num_processes
        initialize(args.coordinator, args.num_processes, args.process_id, local_cpu_devices=local)
        return "all" if devices == 1 else devices
    if isinstance(devices, int) and devices > 1:
        simulate_cpu_devices(devices)
    return devices
