"""Setting JAX up for several devices or hosts, before it initialises: simulated CPU devices,
and ``jax.distributed.initialize`` (over gloo on the CPU)."""

from __future__ import annotations

import os


def jax_initialised() -> bool:
    """Whether JAX has created its backends (after which the device count is fixed)."""
    import sys

    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):  # pragma: no cover - a JAX without the helper
        return False


def simulate_cpu_devices(count: int) -> bool:
    """Give JAX's CPU backend ``count`` devices (``jax_num_cpu_devices``); only possible before
    JAX initialises: returns False (and changes nothing) after. Harmless on a GPU machine: the
    GPU stays the default backend. Has no effect if ``XLA_FLAGS`` already sets
    ``--xla_force_host_platform_device_count``."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if jax_initialised():
        return False
    import jax

    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        jax.config.update("jax_num_cpu_devices", int(count))
    return True


def initialize(
    coordinator_address: str,
    num_processes: int,
    process_id: int,
    *,
    local_cpu_devices: int | None = None,
    timeout_s: int | None = None,
) -> None:
    """Join a multi-process JAX job: ``jax.distributed.initialize(coordinator_address,
    num_processes, process_id)``, with the CPU's collectives over gloo (so that several
    processes on one machine, or CPU hosts, can all-reduce) and, if given,
    ``local_cpu_devices`` simulated CPU devices in this process. Call it first, before JAX
    runs anything; process 0 serves at ``coordinator_address`` (``HOST:PORT``)."""
    if not (isinstance(coordinator_address, str) and ":" in coordinator_address):
        raise ValueError(f"coordinator must be HOST:PORT, got {coordinator_address!r}")
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise ValueError(
            f"need num_processes >= 1 and 0 <= process_id < num_processes, got "
            f"{num_processes} and {process_id}"
        )
    if jax_initialised():
        raise RuntimeError(
            "JAX is already initialised: call initialize() before JAX computes anything"
        )
    import jax

    if local_cpu_devices is not None:
        simulate_cpu_devices(local_cpu_devices)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kwargs = {} if timeout_s is None else {"initialization_timeout": int(timeout_s)}
    jax.distributed.initialize(coordinator_address, num_processes, process_id, **kwargs)
