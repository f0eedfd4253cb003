"""The JAX training loop: one jitted epoch (``lax.scan`` over the full batches, one more step for
a partial batch), parameters and velocities on the device, buffers donated. JAX is imported on
first use."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..params import Params
from ..spec import MLPSpec
from ._common import Loop, class_labels, one_output_threshold, positive_int
from .optim import SGD


def resolve_scan_unroll(scan_unroll: int | None = None) -> int:
    """The epoch scan's ``unroll``: ``scan_unroll`` checked, or by default 8 on an accelerator
    and 1 on the CPU (measurements in BENCHMARKS.md: unrolling cuts per-step latency on a GPU
    at small batches; on the CPU it only costs compile time)."""
    if scan_unroll is not None:
        return positive_int("scan_unroll", scan_unroll, 1)
    import jax

    return 1 if jax.default_backend() == "cpu" else 8


@functools.lru_cache(maxsize=16)
def _epoch_fn(
    activations: tuple[str, ...],
    loss: str,
    n: int,
    batch_size: int,
    optimizer: SGD,
    threshold: float | None,
    unroll: int,
):
    """The jitted ``epoch(params, vel, x, y, labels, order) -> (params, vel, loss_sum,
    correct)``, cached: every argument here is a compile-time constant."""
    import jax
    import jax.numpy as jnp

    from ..backends import get_backend

    ja = get_backend("jax")  # x64 on, highest matmul precision

    def objective(params, xb, yb):
        z = ja.apply(params, xb, activations)
        return ja.LOSSES[loss](z, yb), z

    value_and_grad = jax.value_and_grad(objective, has_aux=True)

    def step(carry, idx, x, y, labels):
        params, vel, loss_sum, correct = carry
        (value, z), grads = value_and_grad(params, x[idx], y[idx])
        leaves, tree = jax.tree.flatten(params)
        new = [
            optimizer.update(p, v, g)
            for p, v, g in zip(leaves, jax.tree.leaves(vel), jax.tree.leaves(grads))
        ]
        params = jax.tree.unflatten(tree, [p for p, _ in new])
        vel = jax.tree.unflatten(tree, [v for _, v in new])
        if threshold is None:
            pred = jnp.argmax(z, axis=1)
        else:
            pred = (z[:, 0] > threshold).astype(labels.dtype)
        loss_sum = loss_sum + value.astype(jnp.float64) * idx.shape[0]
        correct = correct + jnp.sum(pred == labels[idx])
        return params, vel, loss_sum, correct

    full = n // batch_size

    def epoch(params, vel, x, y, labels, order):
        carry = (params, vel, jnp.zeros((), jnp.float64), jnp.zeros((), jnp.int64))
        if full:
            batches = order[: full * batch_size].reshape(full, batch_size)
            carry, _ = jax.lax.scan(
                lambda c, idx: (step(c, idx, x, y, labels), None), carry, batches, unroll=unroll
            )
        if n % batch_size:
            carry = step(carry, order[full * batch_size :], x, y, labels)
        return carry

    return jax.jit(epoch, donate_argnums=(0, 1))


class JaxLoop(Loop):
    """Engine option ``scan_unroll``: steps per iteration of the epoch's ``lax.scan`` (``None``:
    8 on an accelerator, 1 on the CPU; :func:`resolve_scan_unroll`)."""

    options = ("scan_unroll",)

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        unroll = options.get("scan_unroll")
        return {} if unroll is None else {"scan_unroll": positive_int("scan_unroll", unroll, 1)}

    def __init__(
        self,
        spec: MLPSpec,
        params: Params,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        optimizer: SGD,
        *,
        scan_unroll: int | None = None,
    ) -> None:
        from ..backends import get_backend

        get_backend("jax")  # actionable ImportError; turns on x64
        import jax

        self.jax = jax
        put = jax.device_put
        # Copies on the device (never aliases of the caller's arrays: they are donated).
        self.p = [(put(np.array(W)), put(np.array(b))) for W, b in params]
        self.v = [(put(np.zeros_like(W)), put(np.zeros_like(b))) for W, b in params]
        self.x, self.y = put(x), put(y)
        self.labels = put(class_labels(spec, y))
        self.n = x.shape[0]
        self.scan_unroll = resolve_scan_unroll(scan_unroll)
        self.fn = _epoch_fn(
            spec.hidden_activations,
            spec.loss,
            self.n,
            batch_size,
            optimizer,
            one_output_threshold(spec),
            self.scan_unroll,
        )

    def epoch(self, order: np.ndarray, on_step: Callable[[int], None] | None) -> tuple[float, int]:
        order_dev = self.jax.device_put(order.astype(np.int32 if self.n < 2**31 else np.int64))
        self.p, self.v, loss_sum, correct = self.fn(
            self.p, self.v, self.x, self.y, self.labels, order_dev
        )
        return float(loss_sum), int(correct)  # waits for the epoch: one transfer per epoch

    def params(self) -> Params:
        return [(np.array(W), np.array(b)) for W, b in self.jax.device_get(self.p)]
