"""Data-parallel training on JAX's own sharding: ``train(..., backend="jax", devices=N)``.

A 1-D :class:`jax.sharding.Mesh` over the axis ``"data"``; each batch is sharded over it
(``NamedSharding(mesh, P("data"))``), parameters and velocities are replicated (``P()``). Per
step, inside :func:`jax.shard_map`, each device sums the per-sample losses of its rows and the
all-reduce is ``lax.psum``: the data loss is the spec's (its output activation, reduction and
loss_scale) of the psum'd per-row terms over the psum'd row count, and its gradient with respect
to the replicated parameters is taken by JAX (which all-reduces it); the L2 penalty is added
once, outside. So the update is the one-device update, up to the order of the sums.

**Batches that do not divide by the device count** are padded, never refused: every batch
(the last partial one too) is padded with zero rows to ``ceil(batch_size / N) * N`` rows, and
each row carries a weight (1 real, 0 padding), so the loss is that of the batch's real rows
exactly as on one device. Padding rows go to the end of the batch, i.e. the last devices.

**Several hosts**: after ``jax.distributed.initialize(...)`` every process calls ``train`` with
the same data, settings and seed; the mesh spans every process's devices (ordered by process)
and each process feeds only its own slice of each batch
(``jax.make_array_from_process_local_data``), so all of them end with the same parameters.

JAX is imported on first use.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..params import Params, from_pairs
from ..spec import MLPSpec
from ._common import Loop, numpy_pairs, positive_int
from .jax_loop import JaxLoop, compiler_options, predictions, resolve_scan_unroll, sgd_step
from .metrics import class_labels, one_output_threshold
from .optim import SGD

#: The mesh axis a batch is sharded over.
DATA_AXIS = "data"

HOW_TO_GET_CPU_DEVICES = (
    "on the CPU, simulate devices before JAX initialises: "
    'jax.config.update("jax_num_cpu_devices", 8) right after importing jax, or '
    "XLA_FLAGS=--xla_force_host_platform_device_count=8 in the environment "
    "(the mlp-parity CLI does this for --devices N)"
)

Devices = int | str | Sequence[Any]


def check_devices(backend: str, devices: object) -> Devices:
    """``train``'s ``devices`` validated without importing JAX: an int >= 1, ``"all"``, or a
    non-empty sequence of ``jax.Device``; anything but 1 needs ``backend="jax"``."""
    if isinstance(devices, str):
        if devices != "all":
            raise ValueError(
                f'devices must be an int, "all" or a list of jax devices, got {devices!r}'
            )
    elif isinstance(devices, Sequence):
        if not devices:
            raise ValueError("devices: the list of devices is empty")
        devices = tuple(devices)
    else:
        devices = positive_int("devices", devices, 1)
    if devices != 1 and backend != "jax":
        raise ValueError(f"devices works with backend='jax' only, not {backend!r}")
    return devices


def resolve_devices(devices: Devices) -> list[Any]:
    """The mesh's devices: the first ``N`` of ``jax.devices()`` (every process's), all of
    them, or the given ones; ordered by process so that each process's rows are contiguous.
    Too few devices is a ``ValueError`` that says how to get simulated CPU devices."""
    import jax

    available = jax.devices()
    if devices == "all":
        chosen = list(available)
    elif isinstance(devices, int):
        if devices > len(available):
            raise ValueError(
                f"devices={devices} but JAX sees {len(available)} "
                f"({jax.default_backend()}: {', '.join(map(str, available[:4]))}"
                f"{', ...' if len(available) > 4 else ''}); {HOW_TO_GET_CPU_DEVICES}"
            )
        chosen = list(available[:devices])
    else:
        chosen = list(devices)
        bad = [d for d in chosen if not isinstance(d, jax.Device)]
        if bad:
            raise TypeError(f"devices: {bad[0]!r} is not a jax.Device")
        if len(set(chosen)) != len(chosen):
            raise ValueError("devices: a device is listed twice")
    chosen.sort(key=lambda d: d.process_index)  # stable: keeps the order within a process
    if jax.process_count() > 1:
        mine = [d for d in chosen if d.process_index == jax.process_index()]
        if not mine:
            raise ValueError(
                f"devices: none of the {len(chosen)} devices belongs to process "
                f"{jax.process_index()}; with several processes use devices='all'"
            )
    return chosen


def data_mesh(devices: Devices = "all"):
    """A 1-D ``Mesh`` over the axis ``"data"`` (:func:`resolve_devices`)."""
    from jax.sharding import Mesh

    return Mesh(np.array(resolve_devices(devices)), (DATA_AXIS,))


def padded_size(rows: int, n_devices: int) -> int:
    """``rows`` rounded up to a multiple of ``n_devices`` (the padded batch)."""
    return -(-rows // n_devices) * n_devices


def per_sample_loss(spec: MLPSpec) -> Callable[[Any, Any], Any]:
    """``f(z (batch, out), y (batch, out)) -> (batch,)``: each row's data loss, the JAX
    engine's ``data_loss`` of a batch of one."""
    import jax

    from ..backends import get_backend

    ja = get_backend("jax")
    return jax.vmap(lambda z, y: ja.data_loss(spec, z[None], y[None]))


def _default_spec(activations: tuple[str, ...], loss: str) -> MLPSpec:
    """A spec with these hidden activations and loss and the default conventions (the
    widths play no part in the loss)."""
    return MLPSpec((1,) * (len(activations) + 2), tuple(activations), loss)


def data_parallel_value_and_grad(mesh, activations: tuple[str, ...], loss: str):
    """:func:`spec_value_and_grad` for ``[(W, b), ...]`` under the default conventions."""
    return spec_value_and_grad(mesh, _default_spec(activations, loss))


@functools.lru_cache(maxsize=32)
def spec_value_and_grad(mesh, spec: MLPSpec):
    """``f(params, x, y, weights) -> ((data loss, logits), grads)`` on ``mesh`` for ``params``
    in the spec's layout (``[W, ...]`` without biases: no bias leaves): ``x``, ``y``,
    ``weights`` (batch,) sharded over ``"data"``, ``params`` replicated. The data loss is the
    spec's of the real rows (weights 1; 0 for padding): each row's loss ``r_i`` (a batch of
    one) undone from its divisor ``D(1)`` and redone over the whole batch,
    ``psum(sum_i w_i r_i) * D(1) / D(psum(sum_i w_i))``; its gradient with respect to the
    replicated parameters comes all-reduced from JAX's autodiff of the psum; the logits stay
    sharded. The L2 penalty, on replicated parameters, is the caller's."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import PartitionSpec as P

    from ..backends import get_backend
    from .jax_loop import as_pairs_fn

    ja = get_backend("jax")
    rows = per_sample_loss(spec)
    pairs_of = as_pairs_fn(spec)

    def local(params, x, y, w):
        total = jax.lax.psum(jnp.sum(w), DATA_AXIS)
        k = y.shape[1]

        def objective(p):
            z = ja.apply(pairs_of(p), x, spec.hidden_activations)
            summed = jax.lax.psum(jnp.sum(w * rows(z, y)), DATA_AXIS)
            return summed * ja.divisor(spec, 1, k) / ja.divisor(spec, total, k), z

        return jax.value_and_grad(objective, has_aux=True)(params)

    data = P(DATA_AXIS)
    return jax.shard_map(
        local, mesh=mesh, in_specs=(P(), data, data, data), out_specs=((P(), data), P())
    )


@functools.lru_cache(maxsize=16)
def _epoch_fn(mesh, spec: MLPSpec, optimizer: SGD, threshold, unroll: int):
    """The jitted ``epoch(params, vel, xs, ys, ws, labels) -> (params, vel, loss_sum,
    correct)`` over batches ``xs`` (steps, padded batch, in) sharded on axis 1."""
    import jax
    import jax.numpy as jnp

    from ..backends import get_backend
    from .jax_loop import as_pairs_fn

    value_and_grad = spec_value_and_grad(mesh, spec)
    ja, pairs_of = get_backend("jax"), as_pairs_fn(spec)
    # the penalty is outside the shard_map: once, on the replicated parameters
    penalty = jax.value_and_grad(lambda p: ja.penalty(spec, pairs_of(p)))

    def step(carry, batch):
        params, vel, loss_sum, correct = carry
        xb, yb, wb, lb = batch
        (value, z), grads = value_and_grad(params, xb, yb, wb)
        if spec.l2:
            extra, extra_grads = penalty(params)
            value = value + extra
            grads = jax.tree.map(jnp.add, grads, extra_grads)
        params, vel = sgd_step(optimizer, params, vel, grads)
        pred = predictions(z, threshold, lb.dtype)
        loss_sum = loss_sum + value.astype(jnp.float64) * jnp.sum(wb).astype(jnp.float64)
        correct = correct + jnp.sum((pred == lb) & (wb > 0))
        return (params, vel, loss_sum, correct), None

    def epoch(params, vel, xs, ys, ws, labels):
        carry = (params, vel, jnp.zeros((), jnp.float64), jnp.zeros((), jnp.int64))
        carry, _ = jax.lax.scan(step, carry, (xs, ys, ws, labels), unroll=unroll)
        return carry

    return jax.jit(epoch, donate_argnums=(0, 1), compiler_options=compiler_options())


class ShardedJaxLoop(Loop):
    """The jax loop on a 1-D device mesh (module docstring); ``devices`` as ``train`` takes
    it, engine option ``scan_unroll`` as :class:`~mlp_parity.train.jax_loop.JaxLoop`'s."""

    options = JaxLoop.options
    check_options = JaxLoop.check_options

    def __init__(
        self,
        spec: MLPSpec,
        params: Params,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        optimizer: SGD,
        *,
        devices: Devices = "all",
        scan_unroll: int | None = None,
    ) -> None:
        from ..backends import get_backend

        get_backend("jax")  # actionable ImportError; turns on x64
        import jax
        from jax.sharding import NamedSharding
        from jax.sharding import PartitionSpec as P

        self.jax = jax
        self.mesh = data_mesh(devices)
        self.n_devices = self.mesh.size
        self.x, self.y, self.labels = x, y, class_labels(spec, y)
        self.batch_size = batch_size
        self.padded = padded_size(batch_size, self.n_devices)
        self.steps = math.ceil(x.shape[0] / batch_size)
        self.batches = NamedSharding(self.mesh, P(None, DATA_AXIS))
        self.rows = self._local_rows()
        replicated = NamedSharding(self.mesh, P())
        trainable = from_pairs(spec, params)  # no bias leaves without biases
        self.spec = spec
        self.p = jax.tree.map(lambda t: self._replicate(t, replicated), trainable)
        self.v = jax.tree.map(lambda t: self._replicate(np.zeros_like(t), replicated), trainable)
        self.fn = _epoch_fn(
            self.mesh,
            spec,
            optimizer,
            one_output_threshold(spec),
            resolve_scan_unroll(scan_unroll),
        )

    def _replicate(self, a: np.ndarray, sharding: Any) -> Any:
        return self.jax.make_array_from_process_local_data(sharding, np.array(a), a.shape)

    def _local_rows(self) -> slice:
        """The rows of each padded batch that this process's devices hold (contiguous)."""
        shape = (self.steps, self.padded, 1)
        spans = [idx[1] for idx in self.batches.addressable_devices_indices_map(shape).values()]
        lo = min(s.start or 0 for s in spans)
        hi = max(self.padded if s.stop is None else s.stop for s in spans)
        return slice(lo, hi)

    def _feed(self, a: np.ndarray) -> Any:
        """This process's rows of every batch (steps, rows, ...) as one global sharded array."""
        shape = (self.steps, self.padded, *a.shape[2:])
        return self.jax.make_array_from_process_local_data(self.batches, a, shape)

    def epoch(self, order: np.ndarray, on_step: Callable[[int], None] | None) -> tuple[float, int]:
        n, b = self.x.shape[0], self.batch_size
        idx = np.full(self.steps * b, -1, np.int64)
        idx[:n] = order
        idx = np.pad(idx.reshape(self.steps, b), ((0, 0), (0, self.padded - b)), constant_values=-1)
        idx = idx[:, self.rows]
        real = idx >= 0
        take = np.where(real, idx, 0)
        xs, ys = self.x[take], self.y[take]
        xs[~real], ys[~real] = 0, 0
        labels = np.where(real, self.labels[take], 0)
        self.p, self.v, loss_sum, correct = self.fn(
            self.p,
            self.v,
            self._feed(xs),
            self._feed(ys),
            self._feed(real.astype(self.x.dtype)),
            self._feed(labels),
        )
        return float(_local(loss_sum)), int(_local(correct))

    def params(self) -> Params:
        return numpy_pairs(self.spec, self.jax.tree.map(_local, self.p))


def _local(a: Any) -> np.ndarray:
    """A replicated array's value, read from this process's first device."""
    return np.asarray(a.addressable_data(0))


def loop_for(
    spec: MLPSpec,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    optimizer: SGD,
    devices: Devices,
    options: Mapping[str, Any],
) -> Loop:
    """``train``'s jax loop: today's one-device :class:`JaxLoop` for ``devices=1``, else the
    data-parallel :class:`ShardedJaxLoop`."""
    if devices == 1:
        return JaxLoop(spec, params, x, y, batch_size, optimizer, **options)
    return ShardedJaxLoop(spec, params, x, y, batch_size, optimizer, devices=devices, **options)
