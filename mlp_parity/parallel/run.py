"""Running a user's data-parallel ``grad_fn`` on a mesh of ``N`` devices: the problem's params
replicated, its batch sharded over ``"data"`` (padded, with a ``mask``, when it does not divide
by ``N`` and the function takes one), every device's copy of the result read back, and the
result compared with the float64 single-device reference by the debugger's tolerances."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..debug.evaluate import Evaluation, Reference, evaluate_problem
from ..params import Params
from ..spec import MLPSpec
from ..train.sharded import DATA_AXIS, HOW_TO_GET_CPU_DEVICES, data_mesh, padded_size

MakeGradFn = Callable[[Any], Callable[..., Any]]


def takes_mask(grad_fn: Callable[..., Any]) -> bool:
    """Whether ``grad_fn`` has a parameter named ``mask`` (then uneven batches are drawn)."""
    try:
        return "mask" in inspect.signature(grad_fn).parameters
    except (TypeError, ValueError):
        return False


@dataclass
class Run:
    """``grad_fn`` at one device count on one problem: the debugger's evaluation (device 0's
    result against the reference) and, when the devices' copies of the result differ (it was
    not all-reduced), each device's copy (in mesh order)."""

    n_devices: int
    rows: int
    padded: int
    evaluation: Evaluation
    per_device: list[Params] | None = None

    @property
    def ok(self) -> bool:
        return self.evaluation.ok and self.per_device is None

    @property
    def uneven(self) -> bool:
        return self.rows != self.padded


class Runner:
    """The user's ``make_grad_fn``, called once per device count (its mesh cached), and the
    float64 reference."""

    def __init__(self, make_grad_fn: MakeGradFn, device_counts: tuple[int, ...]) -> None:
        import jax

        from ..backends import get_backend

        get_backend("jax")  # x64
        have = jax.device_count()
        if max(device_counts) > have or jax.process_count() > 1:
            raise ValueError(
                f"check_data_parallel needs {max(device_counts)} devices in one process, JAX "
                f"sees {have} in {jax.process_count()} process(es); {HOW_TO_GET_CPU_DEVICES}"
            )
        self.make_grad_fn = make_grad_fn
        self.reference = Reference()
        self._fns: dict[int, tuple[Any, Any]] = {}

    def grad_fn(self, n: int) -> tuple[Any, Any]:
        """``(mesh, grad_fn)`` for ``n`` devices (``grad_fn`` may be an exception raised by
        ``make_grad_fn``: reported, not raised)."""
        if n not in self._fns:
            mesh = data_mesh(n)
            try:
                fn = self.make_grad_fn(mesh)
                if not callable(fn):
                    fn = TypeError(
                        f"make_grad_fn(mesh) returned {type(fn).__name__}, not a function"
                    )
            except Exception as e:
                fn = e
            self._fns[n] = (mesh, fn)
        return self._fns[n]

    def masked(self, n: int) -> bool:
        _, fn = self.grad_fn(n)
        return not isinstance(fn, Exception) and takes_mask(fn)

    def run(self, n: int, spec: MLPSpec, params: Params, x: np.ndarray, y: np.ndarray) -> Run:
        """``grad_fn`` on ``n`` devices against the reference on this problem."""
        mesh, fn = self.grad_fn(n)
        rows = x.shape[0]
        padded = padded_size(rows, n) if self.masked(n) else rows
        out = Run(n, rows, padded, None)  # type: ignore[arg-type]

        def call(p: Params, xx: np.ndarray, yy: np.ndarray) -> Params:
            if isinstance(fn, Exception):
                raise fn
            got, per_device = call_on_mesh(fn, mesh, p, xx, yy, padded)
            out.per_device = per_device
            return got

        out.evaluation = evaluate_problem(call, self.reference, spec, params, x, y)
        return out

    def shard_reference(
        self, spec: MLPSpec, params: Params, x: np.ndarray, y: np.ndarray, n: int, padded: int
    ) -> list[Params | None]:
        """The reference gradient of each device's shard (its real rows; None without any)."""
        per = padded // n
        out: list[Params | None] = []
        for k in range(n):
            lo, hi = k * per, min((k + 1) * per, x.shape[0])
            out.append(self.reference.grads(spec, params, x[lo:hi], y[lo:hi]) if hi > lo else None)
        return out


def call_on_mesh(
    fn: Callable[..., Any], mesh: Any, params: Params, x: np.ndarray, y: np.ndarray, padded: int
) -> tuple[Params, list[Params] | None]:
    """Call ``fn`` with ``params`` replicated and ``x``, ``y`` (zero-padded to ``padded`` rows,
    with a ``mask`` when padded) sharded over ``"data"``; return device 0's result, and every
    device's when they differ."""
    import jax
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    rep, data = NamedSharding(mesh, P()), NamedSharding(mesh, P(DATA_AXIS))
    extra = padded - x.shape[0]
    xp = np.concatenate([x, np.zeros((extra, x.shape[1]), x.dtype)])
    yp = np.concatenate([y, np.zeros((extra, y.shape[1]), y.dtype)])
    args = [
        [(jax.device_put(W, rep), jax.device_put(b, rep)) for W, b in params],
        jax.device_put(xp, data),
        jax.device_put(yp, data),
    ]
    kwargs = {}
    if extra or takes_mask(fn):
        kwargs["mask"] = jax.device_put((np.arange(padded) < x.shape[0]).astype(x.dtype), data)
    out = fn(*args, **kwargs)
    order = {d: i for i, d in enumerate(mesh.devices.flat)}
    leaves, tree = jax.tree.flatten(out)
    copies = [_copies(leaf, order, mesh.size) for leaf in leaves]
    first = jax.tree.unflatten(tree, [c[0] for c in copies])
    if all(_same(c) for c in copies):
        return first, None
    per_device = [jax.tree.unflatten(tree, [c[k] for c in copies]) for k in range(mesh.size)]
    return first, per_device


def _copies(leaf: Any, order: dict[Any, int], n: int) -> list[np.ndarray]:
    """Each device's copy of a replicated result (one entry for anything else)."""
    shards = getattr(leaf, "addressable_shards", None)
    if not shards or len(shards) < 2 or any(s.data.shape != leaf.shape for s in shards):
        a = np.asarray(leaf)
        return [a] * n
    by_device = sorted(shards, key=lambda s: order.get(s.device, 0))
    return [np.asarray(s.data) for s in by_device]


def _same(copies: list[np.ndarray]) -> bool:
    first = copies[0]
    if first.dtype.kind != "f":
        return True
    scale = float(np.nanmax(np.abs(first))) if first.size and np.isfinite(first).any() else 0.0
    tol = 1e3 * float(np.finfo(first.dtype).eps) * max(scale, np.finfo(np.float64).tiny)
    return all(np.allclose(c, first, rtol=0, atol=tol, equal_nan=True) for c in copies[1:])
