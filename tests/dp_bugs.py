"""Data-parallel gradient functions for ``check_data_parallel``: realistic bugs, each with the
diagnosis it must get, and correct implementations (shard_map and jit-with-shardings) that must
pass. Each is ``make_grad_fn(mesh) -> grad_fn(params, x, y[, mask])`` for a tanh network with
softmax cross-entropy; ``x``, ``y`` (and ``mask``) arrive sharded over the mesh axis "data"."""

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

ACTIVATION, LOSS = "tanh", "softmax_cross_entropy"
AX = "data"


def logits(params, x):
    """A user's own tanh network: tanh hidden layers, a linear output layer."""
    for W, b in params[:-1]:
        x = jnp.tanh(x @ W + b)
    W, b = params[-1]
    return x @ W + b


def row_losses(params, x, y):
    return -jnp.sum(y * jax.nn.log_softmax(logits(params, x), axis=-1), axis=-1)


def mean_loss(params, x, y):
    """The loss averaged over the rows given (the local shard inside shard_map)."""
    return jnp.mean(row_losses(params, x, y))


def _smap(mesh, f, *, vma=True, n_in=2, out=None):
    return jax.jit(
        jax.shard_map(
            f,
            mesh=mesh,
            in_specs=(P(),) + (P(AX),) * n_in,
            out_specs=P() if out is None else out,
            check_vma=vma,
        )
    )


# ------------------------------------------------------------------------------------------
# Bugs: name -> (make_grad_fn, the words its diagnosis must contain)


def pmean_of_grads_vma(mesh):
    """pmap-era code in shard_map (check_vma on, the default): JAX's autodiff already sums the
    gradient of replicated params over the devices, the pmean then changes nothing: x N."""
    return _smap(mesh, lambda p, x, y: jax.lax.pmean(jax.grad(mean_loss)(p, x, y), AX))


def psum_of_grads(mesh):
    """check_vma=False: psum of the local mean gradients where pmean is needed: x N."""
    return _smap(mesh, lambda p, x, y: jax.lax.psum(jax.grad(mean_loss)(p, x, y), AX), vma=False)


def local_mean_loss_summed(mesh):
    """The loss averaged over the local batch, then summed over devices: x N."""
    return _smap(mesh, lambda p, x, y: jax.grad(lambda q: jax.lax.psum(mean_loss(q, x, y), AX))(p))


def averaged_twice(mesh):
    """Local sum divided by the global batch, then pmean (check_vma=False): / N."""

    def f(p, x, y):
        n = x.shape[0] * jax.lax.axis_size(AX)
        g = jax.grad(lambda q: jnp.sum(row_losses(q, x, y)) / n)(p)
        return jax.lax.pmean(g, AX)

    return _smap(mesh, f, vma=False)


def grad_of_reduced_loss(mesh):
    """check_vma=False: the gradient of an already all-reduced loss is not all-reduced."""
    f = lambda p, x, y: jax.grad(lambda q: jax.lax.pmean(mean_loss(q, x, y), AX))(p)  # noqa: E731
    return _smap(mesh, f, vma=False)


def forgot_allreduce(mesh):
    """check_vma=False, no psum/pmean at all: each device keeps its own shard's gradient."""
    return _smap(mesh, jax.grad(mean_loss), vma=False)


def first_shard_only(mesh):
    """Per-device gradients gathered, then the first one taken instead of the mean."""

    def f(p, x, y):
        return jax.tree.map(lambda g: g[None], jax.grad(mean_loss)(p, x, y))

    stacked = _smap(mesh, f, vma=False, out=P(AX))
    return jax.jit(lambda p, x, y: jax.tree.map(lambda g: g[0], stacked(p, x, y)))


def uneven_pmean_of_local_means(mesh):
    """Masked: each device's mean over its own real rows, then pmean; right only when every
    device has as many real rows."""

    def f(p, x, y, m):
        def local(q):
            return jnp.sum(m * row_losses(q, x, y)) / jnp.maximum(jnp.sum(m), 1.0)

        return jax.lax.pmean(jax.grad(local)(p), AX)

    g = _smap(mesh, f, vma=False, n_in=3)
    return lambda params, x, y, mask=None: g(params, x, y, _ones(x) if mask is None else mask)


def uneven_padded_count(mesh):
    """Masked rows zeroed, but the mean taken over the padded batch size."""

    def f(p, x, y, m):
        total = x.shape[0] * jax.lax.axis_size(AX)
        return jax.grad(lambda q: jax.lax.psum(jnp.sum(m * row_losses(q, x, y)), AX) / total)(p)

    g = _smap(mesh, f, n_in=3)
    return lambda params, x, y, mask=None: g(params, x, y, _ones(x) if mask is None else mask)


def _ones(x):
    return jnp.ones(x.shape[0], x.dtype)


BUGS = {
    "pmean_of_grads_vma": (pmean_of_grads_vma, "summed (psum) where the mean (pmean)"),
    "psum_of_grads": (psum_of_grads, "summed (psum) where the mean (pmean)"),
    "local_mean_loss_summed": (local_mean_loss_summed, "summed (psum) where the mean (pmean)"),
    "averaged_twice": (averaged_twice, "averaged twice"),
    "grad_of_reduced_loss": (grad_of_reduced_loss, "not all-reduced"),
    "forgot_allreduce": (forgot_allreduce, "not all-reduced"),
    "first_shard_only": (first_shard_only, "only the first shard"),
    "uneven_pmean_of_local_means": (
        uneven_pmean_of_local_means,
        "wrong only when the batch is uneven",
    ),
    "uneven_padded_count": (uneven_padded_count, "wrong only when the batch is uneven"),
}


# ------------------------------------------------------------------------------------------
# Correct implementations.


def shard_map_masked(mesh):
    """shard_map, check_vma on: the gradient of psum(masked local sum) / psum(mask)."""

    def f(p, x, y, m):
        total = jax.lax.psum(jnp.sum(m), AX)
        return jax.grad(lambda q: jax.lax.psum(jnp.sum(m * row_losses(q, x, y)), AX) / total)(p)

    g = _smap(mesh, f, n_in=3)
    return lambda params, x, y, mask=None: g(params, x, y, _ones(x) if mask is None else mask)


def shard_map_pmean(mesh):
    """shard_map, check_vma=False: pmean of the local mean gradients (even batches only)."""
    return _smap(mesh, lambda p, x, y: jax.lax.pmean(jax.grad(mean_loss)(p, x, y), AX), vma=False)


def jit_with_shardings(mesh):
    """Plain jit with input/output shardings: XLA inserts the all-reduce."""
    rep, data = NamedSharding(mesh, P()), NamedSharding(mesh, P(AX))

    def f(p, x, y, m):
        return jax.grad(lambda q: jnp.sum(m * row_losses(q, x, y)) / jnp.sum(m))(p)

    g = jax.jit(f, in_shardings=(rep, data, data, data), out_shardings=rep)
    return lambda params, x, y, mask=None: g(params, x, y, _ones(x) if mask is None else mask)


CORRECT = {
    "shard_map_masked": shard_map_masked,
    "shard_map_pmean": shard_map_pmean,
    "jit_with_shardings": jit_with_shardings,
}
