"""The JAX training loop: one jitted epoch (``lax.scan`` over the full batches, one more step for
a partial batch), parameters and velocities on the device, buffers donated; on the CPU compiled
with :data:`CPU_COMPILER_OPTIONS`. JAX is imported on first use."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..params import Params, from_pairs
from ..spec import MLPSpec
from ._common import Loop, numpy_pairs, positive_int
from .metrics import class_labels, one_output_threshold
from .optim import SGD


def resolve_scan_unroll(scan_unroll: int | None = None) -> int:
    """The epoch scan's ``unroll``: ``scan_unroll`` checked, or by default 8 on an accelerator
    and 1 on the CPU (measurements in BENCHMARKS.md: unrolling cuts per-step latency on a GPU
    at small batches; on the CPU it only costs compile time)."""
    if scan_unroll is not None:
        return positive_int("scan_unroll", scan_unroll, 1)
    import jax

    return 1 if jax.default_backend() == "cpu" else 8


#: XLA options the CPU compiles the epoch with: every dot in XLA's own (Eigen) kernels, YNNPACK's
#: fusions off. At batch 128 the step ran 1.28-1.34 times as fast, side by side in one process
#: (``benchmarks/levers.py``, BENCHMARKS.md "Levers, measured side by side").
CPU_COMPILER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}


@functools.lru_cache(maxsize=1)
def compiler_options() -> dict[str, str] | None:
    """:data:`CPU_COMPILER_OPTIONS` where JAX compiles for the CPU and this jaxlib knows them
    (a one-off probe: XLA's option names change between versions), else ``None``."""
    import jax

    if jax.default_backend() != "cpu":
        return None
    try:
        jax.jit(lambda a: a + 1, compiler_options=CPU_COMPILER_OPTIONS).lower(1.0).compile()
    except Exception:  # an unknown option is refused at compile time: keep XLA's defaults
        return None
    return dict(CPU_COMPILER_OPTIONS)


def as_pairs_fn(spec: MLPSpec) -> Callable[[Any], Any]:
    """``f(trainable) -> [(W, b), ...]``: the loop trains the spec's own layout, so a spec
    without biases has no bias leaves to update; the JAX engine's functions get zero biases."""
    if spec.use_bias:
        return lambda trainable: trainable
    import jax.numpy as jnp

    return lambda trainable: [(W, jnp.zeros(W.shape[1], W.dtype)) for W in trainable]


def objective_with_logits(spec: MLPSpec) -> Callable[[Any, Any, Any], Any]:
    """``f(trainable, x, y) -> (L, logits)``: the spec's whole loss (the JAX engine's
    ``data_loss`` plus its ``penalty``) and the logits the accuracy needs."""
    from ..backends import get_backend

    ja = get_backend("jax")  # x64 on, highest matmul precision
    pairs_of = as_pairs_fn(spec)

    def objective(trainable, x, y):
        pairs = pairs_of(trainable)
        z = ja.apply(pairs, x, spec.hidden_activations)
        value = ja.data_loss(spec, z, y)
        return (value + ja.penalty(spec, pairs) if spec.l2 else value), z

    return objective


def sgd_step(optimizer: SGD, params: Any, vel: Any, grads: Any) -> tuple[Any, Any]:
    """``optimizer``'s update on every leaf of a parameter tree: ``(params, velocities)``."""
    import jax

    leaves, tree = jax.tree.flatten(params)
    new = [
        optimizer.update(p, v, g)
        for p, v, g in zip(leaves, jax.tree.leaves(vel), jax.tree.leaves(grads))
    ]
    return jax.tree.unflatten(tree, [p for p, _ in new]), jax.tree.unflatten(
        tree, [v for _, v in new]
    )


def predictions(z: Any, threshold: float | None, dtype: Any) -> Any:
    """Predicted classes from logits ``z``: argmax, or ``z > threshold`` for one output."""
    import jax.numpy as jnp

    if threshold is None:
        return jnp.argmax(z, axis=1)
    return (z[:, 0] > threshold).astype(dtype)


@functools.lru_cache(maxsize=16)
def _epoch_fn(
    spec: MLPSpec,
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

    objective = objective_with_logits(spec)
    value_and_grad = jax.value_and_grad(objective, has_aux=True)

    def step(carry, idx, x, y, labels):
        params, vel, loss_sum, correct = carry
        (value, z), grads = value_and_grad(params, x[idx], y[idx])
        params, vel = sgd_step(optimizer, params, vel, grads)
        pred = predictions(z, threshold, labels.dtype)
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

    return jax.jit(epoch, donate_argnums=(0, 1), compiler_options=compiler_options())


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
        # The spec's layout (no bias leaves without biases), as copies on the device (never
        # aliases of the caller's arrays: they are donated).
        trainable = from_pairs(spec, params)
        self.spec = spec
        self.p = jax.tree.map(lambda t: put(np.array(t)), trainable)
        self.v = jax.tree.map(lambda t: put(np.zeros_like(t)), trainable)
        self.x, self.y = put(x), put(y)
        self.labels = put(class_labels(spec, y))
        self.n = x.shape[0]
        self.scan_unroll = resolve_scan_unroll(scan_unroll)
        self.fn = _epoch_fn(
            spec,
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
        return numpy_pairs(self.spec, self.jax.device_get(self.p))
