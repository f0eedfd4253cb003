# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 — One network, three frameworks
#
# The same multilayer perceptron in numpy (hand-written backprop), JAX (`jax.grad`) and Keras 3
# on TensorFlow (`tf.GradientTape`). Given the same initial parameters and the same batches, do
# they follow the same training trajectory — and how far apart do they drift, in float64 and in
# float32? Then, tensor by tensor, how close is each framework's gradient to a float64 reference?
#
# Offline on `mnist-sample`; under a minute.

# %%
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np

import mlp_parity as mp
from mlp_parity.data import load_dataset
from mlp_parity.train import train

T0 = time.perf_counter()
BACKENDS = ("numpy", "jax", "keras")
COLORS = {"numpy": "tab:blue", "jax": "tab:orange", "keras": "black"}
spec = mp.MLPSpec((784, 128, 128, 10), activation="sigmoid", loss="softmax_cross_entropy")
data = load_dataset("mnist-sample")
print(spec, "|", spec.num_params, "parameters | backends installed:", mp.available_backends())

# %% [markdown]
# ## Same initialisation, same batches: `train(backend=...)`
#
# `mlp_parity.train.train` runs one algorithm — mini-batch SGD with classical momentum,
# `v <- m v - lr g; p <- p + v` — on one batch order drawn from `seed`, in each framework:
# numpy with the hand-written gradient, JAX as one jitted `lax.scan` per epoch, Keras as the
# Keras model and `keras.optimizers.SGD` in a custom training loop (a `tf.function`). A subset
# of 1,500 digits, 4 epochs, float64.

# %%
x_tr, y_tr = data.x_train[:1500], data.y_train[:1500]
params0 = mp.init_params(spec, seed=0, dtype="float64")
hyper = dict(epochs=4, batch_size=50, learning_rate=0.1, momentum=0.9, seed=0)
runs = {}
for backend in BACKENDS:
    t = time.perf_counter()
    runs[backend] = train(
        spec, params0, x_tr, y_tr, backend=backend, validation=(data.x_val, data.y_val), **hyper
    )
    print(
        f"{backend:<6} {time.perf_counter() - t:5.1f} s  final train loss "
        f"{runs[backend].history['loss'][-1]:.12f}  val accuracy "
        f"{runs[backend].history['val_accuracy'][-1]:.4f}"
    )


def max_rel_diff(pa, pb):
    """Largest entry difference between two parameter sets, relative to the largest entry."""
    num = max(max(np.abs(a - b).max() for a, b in zip(la, lb)) for la, lb in zip(pa, pb))
    den = max(max(np.abs(a).max() for a in la) for la in pa)
    return num / den


for a, b in (("numpy", "jax"), ("numpy", "keras"), ("jax", "keras")):
    print(
        f"final parameters, {a} vs {b}: max rel difference "
        f"{max_rel_diff(runs[a].params, runs[b].params):.2e}"
    )

# %%
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
styles = {"numpy": dict(lw=6, alpha=0.35), "jax": dict(lw=3, alpha=0.8), "keras": dict(lw=1)}
for backend, res in runs.items():
    h = res.history
    ep = np.arange(1, res.epochs + 1)
    st = dict(color=COLORS[backend], **styles[backend])
    ax_loss.plot(ep, h["loss"], "-", label=f"{backend} train", **st)
    ax_loss.plot(ep, h["val_loss"], "--", label=f"{backend} validation", **st)
    ax_acc.plot(ep, h["accuracy"], "-", label=f"{backend} train", **st)
    ax_acc.plot(ep, h["val_accuracy"], "--", label=f"{backend} validation", **st)
ax_loss.set(xlabel="epoch", ylabel="softmax cross-entropy", title="loss")
ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
for ax in (ax_loss, ax_acc):
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
fig.suptitle("three frameworks, one trajectory (the curves lie on top of each other)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## How fast do they drift apart? float64 vs float32
#
# To watch every step we drive the frameworks ourselves: `mp.loss_and_grad(..., backend=b)` for
# the gradient, the same momentum update in numpy for all three, the same batches. After each
# step we measure the largest parameter difference between each pair of frameworks, relative to
# the largest parameter. For scale, the dotted line is the distance between the float32 and the
# float64 run of the *same* framework (numpy): the round-off of float32 itself.

# %%
steps, batch, lr, momentum = 30, 50, 0.1, 0.9
order = np.random.default_rng(0).permutation(len(x_tr))[: steps * batch].reshape(steps, batch)
PAIRS = (("numpy", "jax"), ("numpy", "keras"), ("jax", "keras"))


def lockstep(dtype):
    """Train the three frameworks side by side; per step, the pairwise parameter distances,
    the losses, and the numpy parameters after every step."""
    p = {b: mp.init_params(spec, seed=0, dtype=dtype) for b in BACKENDS}
    v = {b: [(np.zeros_like(W), np.zeros_like(c)) for W, c in p[b]] for b in BACKENDS}
    dist = {pair: [] for pair in PAIRS}
    losses = {b: [] for b in BACKENDS}
    numpy_params = []
    for idx in order:
        for b in BACKENDS:
            loss, g = mp.loss_and_grad(spec, p[b], x_tr[idx], y_tr[idx], backend=b)
            v[b] = [
                (momentum * vW - lr * gW, momentum * vb - lr * gb)
                for (vW, vb), (gW, gb) in zip(v[b], g)
            ]
            p[b] = [(W + vW, c + vb) for (W, c), (vW, vb) in zip(p[b], v[b])]
            losses[b].append(loss)
        for a, b in PAIRS:
            dist[(a, b)].append(max_rel_diff(p[a], p[b]))
        numpy_params.append(p["numpy"])
    return dist, losses, numpy_params


t = time.perf_counter()
traj = {dtype: lockstep(dtype) for dtype in ("float64", "float32")}
print(f"{2 * steps} steps x 3 frameworks in {time.perf_counter() - t:.1f} s")
f32_vs_f64 = [
    max_rel_diff([(W.astype(np.float64), c.astype(np.float64)) for W, c in p32], p64)
    for p32, p64 in zip(traj["float32"][2], traj["float64"][2])
]
for dtype, (dist, _, _) in traj.items():
    print(
        dtype,
        "after",
        steps,
        "steps:",
        ", ".join(f"{a}-{b} {d[-1]:.1e}" for (a, b), d in dist.items()),
    )
print("float32 vs float64 (numpy) after", steps, "steps:", f"{f32_vs_f64[-1]:.1e}")

# %%
fig, (ax_l, ax_d) = plt.subplots(1, 2, figsize=(12, 4.2))
step_no = np.arange(1, steps + 1)
for b in BACKENDS:
    for dtype, ls in (("float64", "-"), ("float32", ":")):
        ax_l.plot(
            step_no, traj[dtype][1][b], ls, color=COLORS[b], label=f"{b} {dtype}", **styles[b]
        )
ax_l.set(xlabel="step", ylabel="batch loss", title="per-step loss, every framework and dtype")
pair_colors = {PAIRS[0]: "tab:purple", PAIRS[1]: "tab:green", PAIRS[2]: "tab:red"}
for dtype, ls in (("float64", "-"), ("float32", "--")):
    for pair, d in traj[dtype][0].items():
        # an exact 0 (identical arithmetic) cannot be drawn on a log axis: floor it at 1e-18
        ax_d.semilogy(
            step_no,
            np.maximum(d, 1e-18),
            ls,
            color=pair_colors[pair],
            label=f"{pair[0]} vs {pair[1]}, {dtype}",
        )
ax_d.semilogy(step_no, f32_vs_f64, ":", color="grey", lw=2, label="float32 vs float64 (numpy)")
ax_d.axhline(np.finfo(np.float64).eps, color="tab:blue", lw=0.8, alpha=0.5)
ax_d.axhline(np.finfo(np.float32).eps, color="tab:orange", lw=0.8, alpha=0.5)
ax_d.annotate("float64 eps", (steps, np.finfo(np.float64).eps), ha="right", va="bottom", fontsize=7)
ax_d.annotate("float32 eps", (steps, np.finfo(np.float32).eps), ha="right", va="bottom", fontsize=7)
ax_d.set(
    xlabel="step",
    ylabel="max |p_a - p_b| / max |p|",
    title="divergence between frameworks (log scale)",
)
for ax in (ax_l, ax_d):
    ax.grid(alpha=0.3, which="both")
ax_l.legend(fontsize=7)
ax_d.legend(fontsize=7, loc="center right")
fig.tight_layout()
plt.show()

# %% [markdown]
# In float64 the three frameworks stay within a few float64 epsilons of each other —
# the differences are round-off in the order of summation (BLAS kernels, `tf.matmul`, XLA),
# which momentum carries forward and training slowly amplifies. In float32 the frameworks
# disagree by float32 round-off, about as much as float32 disagrees with float64 — so no
# framework is "more right" than another, each is as exact as its arithmetic allows.
#
# ## Tensor by tensor: `check_gradients`
#
# One batch, every framework against a float64 JAX reference, per gradient tensor. The bar
# heights are each tensor's max error relative to its scale; the dashed lines the tolerances
# the property tests use (1e-9 in float64, 2e-4 in float32).

# %%
xb, yb = data.x_train[:32], data.y_train[:32]
reports = {
    dtype: mp.check_gradients(
        spec, mp.init_params(spec, seed=0, dtype=dtype), xb, yb, backends=list(BACKENDS)
    )
    for dtype in ("float64", "float32")
}
print(reports["float32"])
assert all(r.ok for r in reports.values())

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
names = spec.tensor_names
width = 0.8 / len(BACKENDS)
for ax, (dtype, rep) in zip(axes, reports.items()):
    for k, res in enumerate(rep.results):
        rel = [max(t.max_rel, 1e-18) for t in res.tensors]  # exact 0 -> floor for the log axis
        ax.bar(
            np.arange(len(names)) + (k - 1) * width,
            rel,
            width,
            color=COLORS[res.backend],
            label=res.backend,
            alpha=0.85,
        )
    tol = mp.tolerance.rtol_for(dtype)
    ax.axhline(tol, color="red", ls="--", lw=1, label=f"tolerance ({dtype})")
    ax.axhline(np.finfo(dtype).eps, color="grey", ls=":", lw=1, label=f"{dtype} eps")
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(names)), names)
    ax.set(
        title=f"{dtype} gradients vs float64 reference ({rep.reference})", xlabel="gradient tensor"
    )
    ax.grid(alpha=0.3, axis="y", which="both")
axes[0].set_ylabel("max relative error")
for ax in axes:
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
print(f"notebook ran in {time.perf_counter() - T0:.0f} s")

# %% [markdown]
# The numpy engine is hand-written; JAX and Keras differentiate automatically. They agree with
# the reference to within their own dtype's epsilon on every tensor — in float64 the
# reference's own engine (JAX) often shows an exact zero, floored here so the log axis can draw
# it. The property tests (`pytest tests/test_parity.py`) check the same thing on thousands of
# Hypothesis-drawn networks, activations and losses, not just this one.
