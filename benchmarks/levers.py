"""Levers against the machine's limit (issue 18), measured side by side in one process.

Per engine, the baseline training epoch (the package's own loop) and each candidate lever run
interleaved, A/B/A/B: every round times one steady epoch (compilation and warm-up left out) of
every variant in turn, so that a slow phase of a shared machine hits all of them alike; the
order rotates from round to round, so that each variant is as often first (after the pause that
lets idle BLAS threads stop spinning). Reported per variant: samples/s and the fraction of the
machine's float32 limit (``_limit.machine_limit``, measured at the start and the end of this
run, the better kept), median and range over the rounds, and the paired ratio to the baseline of
the same round (median and range). ``control`` rebuilds the baseline from this script's own
pieces: its spread is the noise. ``matmuls_only`` variants time a step's eight matmuls (and a
weight update) alone, each engine's ceiling, the same way.

The network is bench's: 784-128-128-10, ReLU, softmax cross-entropy, float32, SGD with momentum
0.9, batch 128, the shipped digits tiled to ``--samples`` rows. numpy's ``own kernel`` variants
run in one child process without the OpenBLAS pinning variables (``_limit._unpinned_env``),
driven round by round over a pipe, so they interleave with the in-process ones.

``--profile`` adds where a step's time goes: per-op times of the JAX and Keras baselines from
their profilers (``jax.profiler``; TensorFlow's, read from its XSpace), each op classed from the
optimized HLO (matmul, gather, momentum update, metrics, copies, other elementwise), and numpy's
step timed piece by piece (pinned kernel, and own kernel in the child). Usage::

    python benchmarks/levers.py [--engines jax,keras,numpy] [--rounds 15] [--samples 60000]
        [--only LEVER,...] [--profile] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from mlp_parity import _limit
from mlp_parity._peaks import peak_samples_per_s
from mlp_parity.bench import _data
from mlp_parity.params import init_params
from mlp_parity.spec import MLPSpec
from mlp_parity.train.optim import SGD

SPEC = MLPSpec((784, 128, 128, 10), "relu", "softmax_cross_entropy")
B = 128
OPT = SGD(0.01, 0.9)


def dataset(n: int):
    """``(x, onehot, labels)``: float32 (n, 784), float32 (n, 10), int64 (n,)."""
    x, labels = _data(n, SPEC, "float32")
    return x, np.eye(10, dtype=np.float32)[labels], labels.astype(np.int64)


def epoch_timer(run_epoch, n: int, seed: int = 0):
    """``f() -> samples/s`` of one call of ``run_epoch(order)`` on a fresh permutation."""
    rng = np.random.default_rng(seed)

    def timed() -> float:
        order = rng.permutation(n)
        t = time.perf_counter()
        run_epoch(order)
        return n / (time.perf_counter() - t)

    return timed


# --- JAX --------------------------------------------------------------------------------------

YNN_DOT = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_DOT"}


def jax_epoch(
    n: int,
    *,
    permute=False,
    metrics="f64",
    loss="log_softmax",
    flat=False,
    donate=True,
    options="loop",
    precision="highest",
):
    """A jitted epoch like ``train.jax_loop._epoch_fn`` with one lever changed:
    ``permute`` (rows gathered once per epoch, contiguous batches as the scan's xs),
    ``metrics`` ("f64" as the loop, "f32", "none"), ``loss`` ("log_softmax" as the loop,
    "logsumexp"), ``flat`` (parameters and velocities one flat vector each), ``donate``,
    ``options`` (XLA compiler options; "loop": the loop's, ``jax_loop.compiler_options()``),
    ``precision`` (matmul precision while tracing)."""
    import jax
    import jax.numpy as jnp

    sizes, full = SPEC.sizes, n // B
    shapes = [s for a, b in zip(sizes[:-1], sizes[1:]) for s in ((a, b), (b,))]
    offsets = np.cumsum([0] + [int(np.prod(s)) for s in shapes])

    def unflat(pf):
        leaves = [pf[o:e].reshape(s) for o, e, s in zip(offsets[:-1], offsets[1:], shapes)]
        return list(zip(leaves[::2], leaves[1::2]))

    def objective(params, xb, yb):
        pairs = unflat(params) if flat else params
        a = xb
        for i, (W, b) in enumerate(pairs):
            a = a @ W + b
            if i < len(pairs) - 1:
                a = jax.nn.relu(a)  # as the engine: relu'(0) = 0
        if loss == "logsumexp":
            e = jax.nn.logsumexp(a, axis=1) - jnp.sum(yb * a, axis=1)
        else:
            e = -yb * jax.nn.log_softmax(a, axis=-1)
        return jnp.sum(e) / a.shape[0], a

    vg = jax.value_and_grad(objective, has_aux=True)
    acc = {"f64": (jnp.float64, jnp.int64), "f32": (jnp.float32, jnp.int32)}.get(metrics)

    def step(carry, xb, yb, lb):
        params, vel, loss_sum, correct = carry
        (value, z), grads = vg(params, xb, yb)
        vel = jax.tree.map(lambda v, g: OPT.momentum * v - OPT.learning_rate * g, vel, grads)
        params = jax.tree.map(lambda p, v: p + v, params, vel)
        if acc:
            loss_sum = loss_sum + value.astype(acc[0]) * acc[0](xb.shape[0])
            correct = correct + jnp.sum(jnp.argmax(z, axis=1) == lb, dtype=acc[1])
        return params, vel, loss_sum, correct

    def epoch(params, vel, x, y, labels, order):
        zeros = (jnp.zeros((), acc[0]), jnp.zeros((), acc[1])) if acc else (0.0, 0)
        carry = (params, vel, *map(jnp.asarray, zeros))
        idx = order[: full * B]
        if permute:
            xs = (
                x[idx].reshape(full, B, -1),
                y[idx].reshape(full, B, -1),
                labels[idx].reshape(full, B),
            )
            body = lambda c, t: (step(c, *t), None)  # noqa: E731
        else:
            xs = idx.reshape(full, B)
            body = lambda c, i: (step(c, x[i], y[i], labels[i]), None)  # noqa: E731
        return jax.lax.scan(body, carry, xs)[0]

    if options == "loop":
        from mlp_parity.train.jax_loop import compiler_options

        options = compiler_options()
    fn = jax.jit(epoch, donate_argnums=(0, 1) if donate else (), compiler_options=options)

    def traced_at_precision(*args):  # jit traces (and caches) per precision context
        with jax.default_matmul_precision(precision):
            return fn(*args)

    traced_at_precision.lower = fn.lower
    return traced_at_precision


def jax_variants(n: int, data):
    """``{name: (description, timer)}``: the real loop and each lever."""
    import jax

    from mlp_parity.backends import get_backend
    from mlp_parity.train.jax_loop import JaxLoop

    get_backend("jax")
    x, y, labels = data
    params0 = init_params(SPEC, dtype="float32")
    loop = JaxLoop(SPEC, params0, x, y, B, OPT)
    out = {
        "baseline": (
            "the package's loop (train.jax_loop)",
            epoch_timer(lambda o: loop.epoch(o, None), n),
        )
    }
    out["baseline"][1].loop = loop
    dev = tuple(jax.device_put(a) for a in (x, y, labels))
    levers = {
        "control": ("this script's rebuild of the baseline", {}),
        "permute": ("rows gathered once per epoch, contiguous batches", {"permute": True}),
        "metrics_f32": ("loss and accuracy accumulated in float32/int32", {"metrics": "f32"}),
        "no_metrics": ("no loss or accuracy at all (their price)", {"metrics": "none"}),
        "logsumexp": ("loss as logsumexp(z) - y.z", {"loss": "logsumexp"}),
        "flat": ("parameters and velocities in one flat vector each", {"flat": True}),
        "no_donation": ("parameter buffers not donated", {"donate": False}),
        "ynn_dots": ("XLA's default: YNNPACK fusions on (the loop before)", {"options": None}),
        "ynn_dot_fusion": ("YNN dot fusions (dot + epilogue)", {"options": YNN_DOT}),
        "precision_default": ("matmul precision 'default'", {"precision": "default"}),
    }
    for name, (text, kw) in levers.items():
        fn = jax_epoch(n, **kw)
        state = {}

        def reset(kw=kw, state=state):
            pairs = [jax.numpy.asarray(a) for pair in params0 for a in pair]
            if kw.get("flat"):
                p = jax.numpy.concatenate([a.ravel() for a in pairs])
            else:
                p = [(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)]
            state["p"], state["v"] = p, jax.tree.map(jax.numpy.zeros_like, p)

        reset()

        def run(order, fn=fn, state=state):
            order = jax.device_put(order.astype(np.int32))
            state["p"], state["v"], ls, c = fn(state["p"], state["v"], *dev, order)
            jax.block_until_ready((state["p"], ls, c))

        out[name] = (text, epoch_timer(run, n))
    for name, opts, text in (
        ("matmuls_only", "loop", "the step's 8 matmuls (+ weight updates) alone, as compiled"),
        ("matmuls_only_ynn", None, "the same, XLA's default options (YNN on)"),
    ):
        out[name] = (text, jax_ceiling_timer(opts))
    return out


def jax_ceiling_timer(options, steps: int = 469):
    """``f() -> samples/s`` of ``_peaks.jax_matmul_ceiling``'s scan (a step's matmuls and a
    weight update), compiled once with ``options`` ("loop": the loop's)."""
    from mlp_parity._peaks import jax_ceiling_loop

    run = (
        jax_ceiling_loop(SPEC.sizes, B, steps)
        if options == "loop"
        else jax_ceiling_loop(SPEC.sizes, B, steps, options)
    )

    def timed() -> float:
        t = time.perf_counter()
        run()
        return steps * B / (time.perf_counter() - t)

    return timed


# --- Keras ------------------------------------------------------------------------------------


def keras_run_fn(n: int, data, *, permute=False, metrics="f64", manual=False):
    """``(run_epoch(order), compiled tf.function, args_of(order))``: ``KerasLoop``'s epoch
    rebuilt with one lever changed: ``permute`` (rows gathered once per epoch, then contiguous
    slices), ``metrics`` ("f64" as the loop, "f32", "none"), ``manual`` (the momentum update
    written as two ``assign`` ops per variable instead of ``keras.optimizers.SGD.apply``)."""
    import keras
    import tensorflow as tf

    from mlp_parity.backends import get_backend
    from mlp_parity.train.keras_loop import _forward_with_logits, _keras_sgd, _tf_loop

    kt = get_backend("keras")
    x, y, labels = data
    model = kt.to_keras(SPEC, init_params(SPEC, dtype="float32"), compile=False)
    variables = model.trainable_variables
    sgd = _keras_sgd(keras, tf, OPT)
    sgd.build(variables)
    vel = [tf.Variable(tf.zeros_like(v)) for v in variables]
    loss_fn, forward = kt.keras_loss(SPEC, "float32"), _forward_with_logits(model)
    acc = {"f64": (tf.float64, tf.int64), "f32": (tf.float32, tf.int32)}.get(metrics)
    steps = n // B

    def run(X, Y, L, batches):
        """As ``KerasLoop``'s; with ``permute``, ``X, Y, L`` are already in batch order,
        (steps, B, ...), and ``batches`` is unused."""
        loss_sum = tf.constant(0.0, acc[0]) if acc else tf.constant(0.0)
        correct = tf.constant(0, acc[1]) if acc else tf.constant(0)
        for i in tf.range(steps):
            if permute:
                xb, yb, lb = X[i], Y[i], L[i]
            else:
                idx = batches[i]
                xb, yb, lb = tf.gather(X, idx), tf.gather(Y, idx), tf.gather(L, idx)
            with tf.GradientTape() as tape:
                z, out = forward(xb)
                value = loss_fn(yb, out)
            grads = tape.gradient(value, variables)
            if manual:
                for w, v, g in zip(variables, vel, grads):
                    v.assign(OPT.momentum * v - OPT.learning_rate * g)
                    w.assign_add(v)
            else:
                sgd.apply(grads, variables)
            if acc:
                loss_sum += tf.cast(value, acc[0]) * B
                correct += tf.reduce_sum(tf.cast(tf.argmax(z, axis=1) == lb, acc[1]))
        return loss_sum, correct

    def gather_all(X, Y, L, batches):  # one gather per epoch, its own compiled call
        return tuple(tf.gather(t, batches) for t in (X, Y, L)) + (batches,)

    fn, _ = _tf_loop(tf, run)  # XLA-compiled, as the loop; its retracing warnings quiet
    permuted, _ = _tf_loop(tf, gather_all)
    consts = (tf.constant(x), tf.constant(y), tf.constant(labels))

    def args_of(order):
        args = (*consts, tf.constant(order[: steps * B].astype(np.int64).reshape(steps, B)))
        return permuted(*args) if permute else args

    def run_epoch(order):
        ls, c = fn(*args_of(order))
        float(ls), int(c)

    return run_epoch, fn, args_of


def keras_variants(n: int, data):
    from mlp_parity.train.keras_loop import KerasLoop

    x, y, _ = data
    loop = KerasLoop(SPEC, init_params(SPEC, dtype="float32"), x, y, B, OPT)
    out = {
        "baseline": (
            "the package's loop (train.keras_loop)",
            epoch_timer(lambda o: loop.epoch(o, None), n),
        )
    }
    out["baseline"][1].loop = loop
    levers = {
        "control": ("this script's rebuild of the baseline", {}),
        "permute": ("rows gathered once per epoch (own call), batches sliced", {"permute": True}),
        "metrics_f32": ("loss and accuracy accumulated in float32/int32", {"metrics": "f32"}),
        "no_metrics": ("no loss or accuracy at all (their price)", {"metrics": "none"}),
        "manual_update": ("momentum by two assigns per variable, not SGD.apply", {"manual": True}),
    }
    for name, (text, kw) in levers.items():
        run_epoch, fn, args_of = keras_run_fn(n, data, **kw)
        out[name] = (text, epoch_timer(run_epoch, n))
    out["matmuls_only"] = ("the step's 8 matmuls (+ weight updates) alone, XLA", tf_ceiling_timer())
    return out


def tf_ceiling_timer(steps: int = 469):
    """``f() -> samples/s`` of ``_peaks.tf_matmul_ceiling``'s XLA-compiled loop, built once."""
    from mlp_parity._peaks import tf_ceiling_loop

    run = tf_ceiling_loop(SPEC.sizes, B, steps)

    def timed() -> float:
        t = time.perf_counter()
        run()
        return steps * B / (time.perf_counter() - t)

    return timed


# --- numpy ------------------------------------------------------------------------------------


def numpy_breakdown(loop, order: np.ndarray) -> dict[str, float]:
    """µs per step of each piece of ``NumpyLoop._step`` (the default spec: biases, ReLU,
    softmax cross-entropy), timed one by one over the batches of ``order``, and ``total`` (the
    sum). Mirrors the loop's code on its own buffers."""
    from mlp_parity.spec import conventions

    t: dict[str, float] = {}
    clock = time.perf_counter

    def tick(name, start):
        now = clock()
        t[name] = t.get(name, 0.0) + now - start
        return now

    steps = len(order) // B
    for s in range(steps):
        idx = order[s * B : (s + 1) * B]
        c = clock()
        np.take(loop.x, idx, axis=0, out=loop.xb, mode="clip")
        np.take(loop.y, idx, axis=0, out=loop.yb, mode="clip")
        c = tick("gather x, y", c)
        a = loop.xb
        for i, W in enumerate(loop.W):
            np.matmul(a, W, out=loop.z[i])
            c = tick(f"matmul forward {i + 1} ({a.shape[1]}x{W.shape[1]})", c)
            loop.z[i] += loop.b[i]
            if i < len(loop.W) - 1:
                loop.acts[i].value_into(loop.z[i], loop.a[i], loop.tmp[i])
                a = loop.a[i]
            c = tick("bias add, ReLU", c)
        delta = loop.delta[-1]
        conventions.data_loss_and_grad_into(SPEC, loop.z[-1], loop.yb, delta, -loop.lr, loop.work)
        np.argmax(loop.z[-1], axis=1)
        c = tick("softmax cross-entropy value and delta, argmax", c)
        for i in range(len(loop.W) - 1, -1, -1):
            a_in = loop.xb if i == 0 else loop.a[i - 1]
            np.matmul(a_in.T, delta, out=loop.gW[i])
            c = tick(f"matmul weight gradient {i + 1}", c)
            np.matmul(loop.ones, delta, out=loop.gb[i][None])
            c = tick("bias gradients (ones @ delta)", c)
            if i > 0:
                prev = loop.delta[i - 1]
                np.matmul(delta, loop.W[i].T, out=prev)
                c = tick(f"matmul delta {i}", c)
                loop.acts[i - 1].grad_into(prev, loop.a[i - 1], loop.tmp[i - 1])
                delta = prev
                c = tick("ReLU derivative", c)
        loop._apply_scaled_gradients()
        c = tick("momentum update (3 flat passes)", c)
    out = {k: v / steps * 1e6 for k, v in t.items()}
    out["total"] = sum(out.values())
    return out


def numpy_runner(n: int, data):
    """``{name: fn() -> samples/s}`` of the numpy variants that run in this process, and the
    loop (for the breakdown)."""
    from threadpoolctl import threadpool_limits

    from mlp_parity.train.numpy_loop import NumpyLoop

    x, y, _ = data
    loop = NumpyLoop(SPEC, init_params(SPEC, dtype="float32"), x, y, B, OPT)

    def one_thread(order):
        with threadpool_limits(1, user_api="blas"):
            loop.epoch(order, None)

    from mlp_parity.bench import matmul_ceiling

    return {
        "": epoch_timer(lambda o: loop.epoch(o, None), n),
        " 1 BLAS thread": epoch_timer(one_thread, n),
        " matmuls only": lambda: matmul_ceiling(SPEC.sizes, B),
    }, loop


def numpy_child(n: int) -> None:
    """The own-kernel side: reads variant names (or ``breakdown``) line by line, answers one
    JSON line each."""
    data = dataset(n)
    runs, loop = numpy_runner(n, data)
    for run in runs.values():
        run()
    print(json.dumps({"kernel": _limit.blas_kernel()}), flush=True)
    for line in sys.stdin:
        name = line.rstrip("\n")
        if name == "breakdown":
            answer = numpy_breakdown(loop, np.random.default_rng(1).permutation(n))
        else:
            answer = runs[name]()
        print(json.dumps(answer), flush=True)


class OwnKernelChild:
    """The child process of :func:`numpy_child`, without the pinning variables."""

    def __init__(self, n: int):
        args = [sys.executable, os.path.abspath(__file__), "--numpy-child", "--samples", str(n)]
        self.proc = subprocess.Popen(
            args,
            env=_limit._unpinned_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.kernel = self._read()["kernel"]

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the own-kernel child died")
        return json.loads(line)

    def ask(self, name: str):
        self.proc.stdin.write(name + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def numpy_variants(n: int, data, child: OwnKernelChild):
    runs, loop = numpy_runner(n, data)
    pinned = _limit.blas_kernel()
    out = {
        "baseline": (f"the package's loop, the pinned kernel {pinned}", runs[""]),
        "own_kernel": (
            f"the same in the child: OpenBLAS's own kernel {child.kernel}",
            lambda: child.ask(""),
        ),
        "one_thread": (f"one BLAS thread, kernel {pinned}", runs[" 1 BLAS thread"]),
        "own_kernel_one_thread": (
            f"one BLAS thread, kernel {child.kernel}",
            lambda: child.ask(" 1 BLAS thread"),
        ),
        "matmuls_only": (f"the step's 8 matmuls alone, kernel {pinned}", runs[" matmuls only"]),
        "own_kernel_matmuls_only": (
            f"the same, kernel {child.kernel}",
            lambda: child.ask(" matmuls only"),
        ),
    }
    out["baseline"][1].loop = loop
    return out


# --- profiles ---------------------------------------------------------------------------------


def hlo_ops(text: str) -> dict[str, dict[str, str]]:
    """Each instruction of optimized HLO text: ``{name: {"shape", "opcode", "op_name"}}``."""
    import re

    ops = {}
    pattern = r"\s*(?:ROOT )?%([\w.\-]+) = (\S+) ([\w-]+)\((.*)"
    for line in text.splitlines():
        m = re.match(pattern, line)
        if m:
            meta = re.search(r'op_name="([^"]*)"', line)
            custom = "kind=kCustom" in line
            ops[m.group(1)] = {
                "shape": m.group(2),
                "opcode": m.group(3) + ("*" if custom else ""),
                "op_name": meta.group(1) if meta else "",
            }
    return ops


PARAM_SHAPES = ("f32[784,128]", "f32[128]", "f32[128,128]", "f32[128,10]", "f32[10]")


def op_class(name: str, op: dict[str, str]) -> str:
    """What an op of a training step does, from its name, opcode and metadata (JAX's or
    TensorFlow's naming)."""
    opname, shape = op.get("op_name", ""), op.get("shape", "").split("{")[0]
    if op.get("opcode") in ("dot", "fusion*", "custom-call") or "MatMul" in opname:
        return "matmuls"
    if "gather" in name.lower() or "Gather" in opname:
        return "gather (batch rows)"
    if op.get("opcode") == "copy":
        return "copies"
    step_op = opname.rsplit("/", 1)[-1] in ("mul", "sub", "add") and "jvp" not in opname
    if "/sgd/" in opname or (step_op and shape in PARAM_SHAPES):
        return "momentum update"
    grad = any(k in opname for k in ("jvp", "gradient_tape", "dense", "crossentropy"))
    return "activations, softmax, loss" if grad else "metrics, loop counter"


def per_op_table(times: dict[str, float], ops: dict[str, dict[str, str]], step_us: float):
    """``(rows, classes)``: per op ``(µs/step, name, shape, class)``, largest first, and the
    µs per step of each class, with ``runtime overhead`` = the step's wall time less its ops."""
    rows = sorted(
        (
            (t, k, ops.get(k, {}).get("shape", "?").split("{")[0], op_class(k, ops.get(k, {})))
            for k, t in times.items()
        ),
        reverse=True,
    )
    classes: dict[str, float] = {}
    for t, _, _, c in rows:
        classes[c] = classes.get(c, 0.0) + t
    classes["runtime overhead (step wall less its ops)"] = step_us - sum(classes.values())
    return rows, classes


def jax_profile(loop, n: int) -> dict:
    """Per-op µs per step of ``JaxLoop``'s epoch from a ``jax.profiler`` trace (its perfetto
    JSON), classed from the compiled HLO."""
    import glob
    import gzip
    import tempfile

    import jax

    order = np.random.default_rng(2).permutation(n)
    dev_order = jax.device_put(order.astype(np.int32))
    text = loop.fn.lower(loop.p, loop.v, loop.x, loop.y, loop.labels, dev_order).compile()
    ops = hlo_ops(text.as_text())
    with tempfile.TemporaryDirectory() as d:
        jax.profiler.start_trace(d, create_perfetto_trace=True)
        t = time.perf_counter()
        loop.epoch(order, None)
        wall = time.perf_counter() - t
        jax.profiler.stop_trace()
        (path,) = glob.glob(d + "/plugins/profile/*/perfetto_trace.json.gz")
        events = json.load(gzip.open(path))
    events = events["traceEvents"] if isinstance(events, dict) else events
    return _per_step(
        ((e["name"], e.get("dur", 0.0)) for e in events if e.get("ph") == "X"), ops, n, wall
    )


def _per_step(events, ops, n: int, wall: float) -> dict:
    steps = n // B
    total, count = {}, {}
    for name, us in events:
        total[name] = total.get(name, 0.0) + us
        count[name] = count.get(name, 0) + 1
    times = {k: total[k] / steps for k in total if k in ops and count[k] >= steps}
    rows, classes = per_op_table(times, ops, wall / steps * 1e6)
    return {
        "step_us": wall / steps * 1e6,
        "ops_per_step": len(times),
        "classes": classes,
        "ops": rows,
    }


def keras_profile(loop, n: int) -> dict:
    """The same for ``KerasLoop``'s epoch: TensorFlow's profiler, its XSpace read with the
    ``xplane_pb2`` TensorFlow ships; the HLO from ``experimental_get_compiler_ir``."""
    import glob
    import tempfile

    import tensorflow as tf

    try:
        from tsl.profiler.protobuf import xplane_pb2
    except ImportError:
        from tensorflow.tsl.profiler.protobuf import xplane_pb2
    order = np.random.default_rng(2).permutation(n).astype(np.int64)
    batches = order[: (n // B) * B].reshape(-1, B)
    args = (*loop.data, tf.constant(batches))
    ops = hlo_ops(loop.run.experimental_get_compiler_ir(*args)(stage="optimized_hlo"))
    with tempfile.TemporaryDirectory() as d:
        tf.profiler.experimental.start(d)
        t = time.perf_counter()
        loop.epoch(order, None)
        wall = time.perf_counter() - t
        tf.profiler.experimental.stop()
        (path,) = glob.glob(d + "/plugins/profile/*/*.xplane.pb")
        space = xplane_pb2.XSpace()
        space.ParseFromString(open(path, "rb").read())
    events = [
        (plane.event_metadata[e.metadata_id].name, e.duration_ps / 1e6)
        for plane in space.planes
        for line in plane.lines
        for e in line.events
    ]
    return _per_step(events, ops, n, wall)


def print_profile(engine: str, prof: dict) -> None:
    print(
        f"\n{engine}: {prof['step_us']:.0f} µs per step (wall), {prof['ops_per_step']} ops "
        "per step; by class (µs per step):"
    )
    for c, us in sorted(prof["classes"].items(), key=lambda kv: -kv[1]):
        print(f"  {c:<44}{us:8.1f}  {us / prof['step_us']:6.1%}")
    if "ops" in prof:
        print("  largest ops:")
        for us, name, shape, c in prof["ops"][:14]:
            print(f"    {name:<30}{shape:<16}{us:8.1f}  {c}")


# --- the run ----------------------------------------------------------------------------------


def summarize(runs: dict[str, list[float]], limit_sps: float) -> dict[str, dict]:
    """Per variant: median and range of samples/s and of the fraction of the limit, and the
    paired ratio to ``baseline`` of the same round."""
    base = runs["baseline"]
    out = {}
    for name, sps in runs.items():
        ratio = [a / b for a, b in zip(sps, base)]
        out[name] = {
            "samples_per_s": sps,
            "median_samples_per_s": statistics.median(sps),
            "fraction_of_limit": statistics.median(sps) / limit_sps,
            "fraction_range": [min(sps) / limit_sps, max(sps) / limit_sps],
            "ratio_to_baseline": statistics.median(ratio),
            "ratio_range": [min(ratio), max(ratio)],
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default="jax,keras,numpy")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--samples", type=int, default=60_000)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument(
        "--pause",
        type=float,
        default=0.3,
        help="seconds idle before each numpy epoch and each engine's first",
    )
    ap.add_argument("--only", help="comma-separated levers to measure (the baseline always)")
    ap.add_argument("--json")
    ap.add_argument("--numpy-child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.numpy_child:
        return numpy_child(a.samples)
    engines = a.engines.split(",")
    print("machine limit (start) ...", file=sys.stderr, flush=True)
    limits = [_limit.machine_limit(("float32",), use_jax="jax" in engines or "keras" in engines)]
    data = dataset(a.samples)
    child = OwnKernelChild(a.samples) if "numpy" in engines else None
    builders = {
        "jax": jax_variants,
        "keras": keras_variants,
        "numpy": lambda n, d: numpy_variants(n, d, child),
    }
    variants = {e: builders[e](a.samples, data) for e in engines}
    if a.only:  # the baseline, and the levers named
        keep = {"baseline", *a.only.split(",")}
        variants = {e: {k: v for k, v in vs.items() if k in keep} for e, vs in variants.items()}
    for e in engines:  # compile, warm up
        for _, run in variants[e].values():
            run(), run()
    runs = {e: {k: [] for k in variants[e]} for e in engines}
    for r in range(a.rounds):
        for e in engines:
            names = list(variants[e])
            names = names[r % len(names) :] + names[: r % len(names)]  # each goes first in turn
            for i, name in enumerate(names):
                if e == "numpy" or i == 0:  # OpenBLAS's idle threads spin a while: let them stop
                    time.sleep(a.pause)
                runs[e][name].append(variants[e][name][1]())
        print(
            f"round {r + 1}/{a.rounds}: "
            + "; ".join(f"{e} {runs[e]['baseline'][-1]:,.0f}" for e in engines),
            file=sys.stderr,
            flush=True,
        )
    profiles = {}
    if a.profile:
        profiles = profile_all(engines, variants, a.samples, child)
    if child:
        child.close()
    limits.append(
        _limit.machine_limit(("float32",), use_jax="jax" in engines or "keras" in engines)
    )
    limit = _limit.merge_limits(*limits)["float32"]
    limit_sps = peak_samples_per_s(limit["gflops"], SPEC)
    report(engines, variants, runs, limit, limit_sps, profiles, a)


def profile_all(engines, variants, n, child) -> dict:
    profiles = {}
    if "jax" in engines:
        profiles["jax"] = jax_profile(variants["jax"]["baseline"][1].loop, n)
    if "keras" in engines:
        profiles["keras"] = keras_profile(variants["keras"]["baseline"][1].loop, n)
    if "numpy" in engines:
        loop = variants["numpy"]["baseline"][1].loop
        for key, got in (
            (
                "numpy (pinned kernel)",
                numpy_breakdown(loop, np.random.default_rng(1).permutation(n)),
            ),
            ("numpy (own kernel)", child.ask("breakdown")),
        ):
            total = got.pop("total")
            profiles[key] = {"step_us": total, "ops_per_step": len(got), "classes": got}
    return profiles


def report(engines, variants, runs, limit, limit_sps, profiles, a) -> None:
    print(
        f"float32 machine limit {limit['gflops']:.1f} GFLOP/s ({limit['source']}; XLA "
        f"{limit['xla_gflops'] or 0:.1f}, OpenBLAS own {limit['openblas_gflops'] or 0:.1f} "
        f"[{limit['openblas_architecture']}], numpy pinned {limit['numpy_gflops']:.1f} "
        f"[{limit['numpy_architecture']}]; measured {limit['measurements']}) -> "
        f"{limit_sps:,.0f} samples/s"
    )
    print(
        f"{a.rounds} rounds, {a.samples:,} samples per epoch, batch {B}, float32, "
        f"{a.pause} s idle before each numpy epoch and each engine's first\n"
    )
    results = {}
    for e in engines:
        results[e] = summarize(runs[e], limit_sps)
        print(
            f"{e:<24}{'samples/s':>11}{'of limit':>10}{'range':>13}{'vs base':>9}"
            f"{'range':>13}  what"
        )
        for name, r in results[e].items():
            lo, hi = r["fraction_range"]
            rlo, rhi = r["ratio_range"]
            print(
                f"  {name:<22}{r['median_samples_per_s']:>11,.0f}{r['fraction_of_limit']:>10.3f}"
                f"{f'{lo:.2f}-{hi:.2f}':>13}{r['ratio_to_baseline']:>9.3f}"
                f"{f'{rlo:.2f}-{rhi:.2f}':>13}  {variants[e][name][0]}"
            )
        print()
    for engine, prof in profiles.items():
        print_profile(engine, prof)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(
                {
                    "limit": limit,
                    "limit_samples_per_s": limit_sps,
                    "rounds": a.rounds,
                    "samples": a.samples,
                    "results": results,
                    "profiles": profiles,
                    "descriptions": {e: {k: v[0] for k, v in variants[e].items()} for e in engines},
                },
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
