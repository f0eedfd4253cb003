"""The numpy training loop: hand-written backprop on preallocated buffers, updated in place (or a
user ``grad_fn``).

The output delta is the spec's data-loss gradient from its reference formulas
(:mod:`mlp_parity.spec.conventions`): the loss row's fused value-and-gradient, rescaled to the
reduction and loss_scale, where the output activation is the identity (bit for bit today's
for the defaults), else through the output activation. An L2 penalty adds
``2 l2 W`` to each weight gradient; a spec without biases has no bias buffers at all."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..params import Params, as_pairs, from_pairs
from ..spec import ACTIVATIONS, MLPSpec, conventions
from ._common import Loop, numpy_pairs
from .metrics import class_labels, data_loss, penalty, predicted
from .optim import SGD

#: A gradient function for ``train(..., grad_fn=)``: ``grad_fn(params, x, y) -> grads``, with
#: ``x`` (batch, in), ``y`` float targets (batch, out), params and grads in the spec's layout
#: (``[(W, b), ...]``, or ``[W, ...]`` without biases): the gradient of the spec's whole loss.
GradFn = Callable[[Params, np.ndarray, np.ndarray], Params]


class NumpyLoop(Loop):
    """All parameters, velocities and gradients live in three flat buffers (``W`` and ``b`` are
    views into them), so the momentum update is three whole-vector operations per step rather
    than three per tensor: small numpy calls cost microseconds each, a sizeable share of a
    batch-128 step. Takes no engine options; ``grad_fn`` replaces the hand-written gradient."""

    def __init__(
        self,
        spec: MLPSpec,
        params: Params,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        optimizer: SGD,
        *,
        grad_fn: GradFn | None = None,
    ) -> None:
        self.spec, self.x, self.y = spec, x, y
        self.labels = class_labels(spec, y)
        self.lr, self.momentum, self.grad_fn = optimizer.learning_rate, optimizer.momentum, grad_fn
        dt = x.dtype
        self.use_bias = spec.use_bias
        total = sum(W.size + (b.size if self.use_bias else 0) for W, b in params)
        self.p, self.v, self.g = (np.zeros(total, dt) for _ in range(3))
        self.W, self.b = _flat_views(self.p, spec.sizes, self.use_bias)
        self.gW, self.gb = _flat_views(self.g, spec.sizes, self.use_bias)
        for i, (W, b) in enumerate(params):
            self.W[i][...] = W
            if self.use_bias:
                self.b[i][...] = b
        B = min(batch_size, x.shape[0])
        self.batch_size = batch_size
        self.xb = np.empty((B, x.shape[1]), dt)
        self.yb = np.empty((B, y.shape[1]), dt)
        self.ones = np.ones((1, B), dt)  # ones @ delta: the bias gradient as a (fast) matmul
        widths = spec.sizes[1:]
        self.z = [np.empty((B, w), dt) for w in widths]  # pre-activations
        self.a = [np.empty((B, w), dt) for w in widths[:-1]]  # hidden activations
        self.delta = [np.empty((B, w), dt) for w in widths]
        self.tmp = [np.empty((B, w), dt) for w in widths[:-1]]  # the activations' scratch
        self.work = np.empty((B, widths[-1] + 2), dt)  # the loss's scratch
        self.acts = [ACTIVATIONS[name] for name in spec.hidden_activations]

    def params(self) -> Params:
        return numpy_pairs(self.spec, list(zip(self.W, self.b)) if self.use_bias else self.W)

    def epoch(self, order: np.ndarray, on_step: Callable[[int], None] | None) -> tuple[float, int]:
        n, B = order.shape[0], self.batch_size
        loss_sum = 0.0
        pred = np.empty(n, np.intp)  # compared with the labels once, after the epoch
        for step, start in enumerate(range(0, n, B), 1):
            idx = order[start : start + B]
            m = idx.shape[0]
            xb, yb = self.xb[:m], self.yb[:m]
            np.take(self.x, idx, axis=0, out=xb, mode="clip")  # indices are valid: no buffering
            np.take(self.y, idx, axis=0, out=yb, mode="clip")
            if self.grad_fn is None:
                loss, z = self._step(xb, yb)
            else:
                loss, z = self._grad_fn_step(xb, yb)
            loss_sum += loss * m
            if z.shape[1] > 1:
                np.argmax(z, axis=1, out=pred[start : start + m])
            else:
                pred[start : start + m] = predicted(self.spec, z)
            if on_step is not None:
                on_step(step)
        return loss_sum, int(np.count_nonzero(pred == self.labels[order]))

    def _forward(self, xb: np.ndarray) -> np.ndarray:
        """Fill the buffers for a batch; return the logits (a view)."""
        m = xb.shape[0]
        a = xb
        last = len(self.W) - 1
        for i, W in enumerate(self.W):
            z = self.z[i][:m]
            np.matmul(a, W, out=z)
            if self.use_bias:
                z += self.b[i]
            if i == last:
                return z
            # may leave in tmp what the backward pass needs (relu: its mask)
            self.acts[i].value_into(z, self.a[i][:m], self.tmp[i][:m])
            a = self.a[i][:m]
        raise AssertionError("unreachable")  # pragma: no cover

    def _step(self, xb: np.ndarray, yb: np.ndarray) -> tuple[float, np.ndarray]:
        """One SGD step in place. The output delta is scaled by ``-lr`` before backprop, so the
        weight and bias "gradients" come out as ``-lr * g`` (backprop is linear in the output
        delta) and the momentum update makes one pass fewer over the parameters."""
        m = xb.shape[0]
        z = self._forward(xb)
        delta = self.delta[-1][:m]
        # the loss row's fused value and gradient where the output activation is the identity
        # (rescaled to the reduction and loss_scale; exactly today's for the defaults)
        loss = conventions.data_loss_and_grad_into(self.spec, z, yb, delta, -self.lr, self.work[:m])
        if loss is None:
            loss = data_loss(self.spec, z, yb)
        if self.spec.l2:
            loss += penalty(self.spec, self.W)  # the weights before this step's update
        ones = self.ones[:, :m]
        for i in range(len(self.W) - 1, -1, -1):
            a_in = xb if i == 0 else self.a[i - 1][:m]
            np.matmul(a_in.T, delta, out=self.gW[i])
            if self.spec.l2:
                self.gW[i] -= self.lr * conventions.penalty_grad(self.spec, self.W[i])
            if self.use_bias:
                np.matmul(ones, delta, out=self.gb[i][None])  # column sums
            if i > 0:
                prev = self.delta[i - 1][:m]
                np.matmul(delta, self.W[i].T, out=prev)
                self.acts[i - 1].grad_into(prev, self.a[i - 1][:m], self.tmp[i - 1][:m])
                delta = prev
        self._apply_scaled_gradients()
        return loss, z  # the logits buffer is untouched by the backward pass

    def _grad_fn_step(self, xb: np.ndarray, yb: np.ndarray) -> tuple[float, np.ndarray]:
        z = self._forward(xb)
        loss = data_loss(self.spec, z, yb) + penalty(self.spec, self.W)
        # Copies (params() copies): the loop's W and b are views of its flat buffers, so a
        # grad_fn that wrote into its inputs (scratch space, an in-place update) would silently
        # change the model. Next to a Python grad_fn's own work the copies cost little.
        params = from_pairs(self.spec, self.params())
        grads = self.grad_fn(params, xb.copy(), yb.copy())  # type: ignore[misc]
        try:
            grads = as_pairs(self.spec, grads, name="grad_fn's result")
        except (TypeError, ValueError) as e:
            raise type(e)(f"{e} (grad_fn must return grads shaped like params)") from None
        for i, (gW, gb) in enumerate(grads):
            self.gW[i][...] = gW
            if self.use_bias:
                self.gb[i][...] = gb
        self.g *= -self.lr
        self._apply_scaled_gradients()
        return loss, z

    def _apply_scaled_gradients(self) -> None:
        """``v <- momentum v + g; p <- p + v`` (:class:`SGD`'s update) over all parameters at
        once, ``g`` already holding ``-lr`` times the gradient."""
        self.v *= self.momentum
        self.v += self.g
        self.p += self.v


def _flat_views(flat: np.ndarray, sizes: tuple[int, ...], use_bias: bool) -> tuple[list, list]:
    """``W`` (fan_in, fan_out) and ``b`` (fan_out,) views, layer by layer, into one flat buffer
    (no ``b`` views, and no room for them, without biases)."""
    Ws, bs, offset = [], [], 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        Ws.append(flat[offset : offset + fan_in * fan_out].reshape(fan_in, fan_out))
        offset += fan_in * fan_out
        if use_bias:
            bs.append(flat[offset : offset + fan_out])
            offset += fan_out
    return Ws, bs
