"""Data parallelism: proof and checking.

- :func:`check_data_parallel`: a checker for anyone's data-parallel gradient code. It runs
  ``make_grad_fn(mesh)``'s ``grad_fn`` on meshes of 1, 2, 4, ... devices over problems
  Hypothesis draws, compares each with the float64 one-device gradient per tensor, and says
  at which device count it first breaks and why (psum for pmean, averaged twice, only the
  first shard, not all-reduced, wrong only on uneven batches).
- :func:`reference_make_grad_fn`: the package's own data-parallel gradient (the one
  ``train(..., devices=N)`` steps with), in the checker's ``make_grad_fn`` form.
- :func:`initialize`, :func:`simulate_cpu_devices`: set JAX up for several hosts (gloo
  collectives on the CPU) or simulated CPU devices, before it initialises.

Training itself is ``mlp_parity.train.train(..., backend="jax", devices=N)``
(:mod:`mlp_parity.train.sharded`). Only numpy is imported with this package.
"""

from __future__ import annotations

from typing import Any

from .distributed import initialize, jax_initialised, simulate_cpu_devices

__all__ = [
    "DataParallelReport",
    "check_data_parallel",
    "initialize",
    "jax_initialised",
    "reference_make_grad_fn",
    "simulate_cpu_devices",
]


def __getattr__(name: str) -> Any:  # the checker imports Hypothesis and JAX: load on use
    if name == "check_data_parallel":
        from .check import check_data_parallel

        return check_data_parallel
    if name == "DataParallelReport":
        from .report import DataParallelReport

        return DataParallelReport
    raise AttributeError(name)


def reference_make_grad_fn(activation: str | tuple[str, ...], loss: str):
    """``make_grad_fn(mesh)`` for :func:`check_data_parallel`, from the training's own
    data-parallel step (:func:`mlp_parity.train.sharded.data_parallel_value_and_grad`): its
    ``grad_fn(params, x, y, mask=None)`` weighs rows by ``mask`` (all 1 when None)."""

    def make_grad_fn(mesh):
        import jax
        import jax.numpy as jnp

        from ..train.sharded import data_parallel_value_and_grad

        def fn(params, x, y, mask, depth):
            acts = (activation,) * (depth - 1) if isinstance(activation, str) else activation
            step = data_parallel_value_and_grad(mesh, tuple(acts), loss)
            return step(params, x, y, jnp.ones(x.shape[0], x.dtype) if mask is None else mask)[1]

        jitted = jax.jit(fn, static_argnums=(4,))

        def grad_fn(params, x, y, mask=None):
            return jitted(params, x, y, mask, len(params))

        return grad_fn

    return make_grad_fn
