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
# # 01 — The tutorial revisited
#
# This project grew out of a Portuguese MNIST tutorial ("Redes Neurais Artificiais, Tensorflow
# e Keras"). Its first half trains a 784-128-128-10 sigmoid network in numpy with a
# hand-written backprop, one example at a time; its second half trains a smaller network in
# Keras. The backprop has two bugs. Here we
#
# 1. let `check_backprop` find them;
# 2. reproduce the numpy half exactly as written and put its published log beside ours;
# 3. take the bugs apart: what each did to training, and what the corrected gradient needs;
# 4. reproduce the Keras half, in numpy, JAX and Keras from one initialisation.
#
# Everything runs offline on `mnist-sample`: real MNIST digits shipped with the package, 8,000
# train / 2,000 validation — not the tutorial's 55,000 / 5,000. To stay within two minutes the
# notebook averages the original over 2 runs and runs every other variant on one, where
# `mlp-parity tutorial` uses 5; its learning-rate sweep is shorter, and the Keras half's three
# frameworks are compared over 5 epochs (the 100-epoch run is numpy's). The numbers in the
# README come from the command.

# %%
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np

from mlp_parity.data import load_dataset
from mlp_parity.debug import check_backprop
from mlp_parity.examples import tutorial as tut
from mlp_parity.examples import tutorial_loop as tl
from mlp_parity.examples import tutorial_published as published
from mlp_parity.examples.tutorial_data import tutorial_split
from mlp_parity.examples.tutorial_keras import final_metrics, train_keras_half
from mlp_parity.examples.tutorial_report import logged, mean_curves, run_numpy

T0 = time.perf_counter()
data = tutorial_split(load_dataset("mnist-sample"))
print(data.note)

# %% [markdown]
# ## 1. `check_backprop` finds the bugs
#
# The tutorial's loss is the binary cross-entropy of the 10 sigmoid outputs, **averaged** over
# the outputs. `tut.original_backprop` is its gradient (batched). Five drawn problems on a
# small network with the tutorial's 10 outputs are enough (`sizes=tut.SIZES` finds the same,
# more slowly):

# %%
report = check_backprop(
    tut.original_backprop,
    activation=tut.ACTIVATION,
    loss=tut.LOSS,
    sizes=(20, 16, 16, 10),
    max_examples=5,
    seed=0,
)
print(report)
assert not report.ok

# %% [markdown]
# The output layer's gradient is a pure scale of 10 — the number of outputs: the output delta
# `y - t` is the gradient of their **sum**, the loss their **mean**. And the error enters the
# hidden layers through the activation derivative: the tutorial multiplies by `sigmoid(z)`
# where the derivative is `sigmoid(z) (1 - sigmoid(z))`.
#
# ## 2. The numpy half, as written
#
# The tutorial's training loop (`mlp_parity.examples.tutorial_loop`) has its own rules:
#
# * weights standard normal (`np.random.normal`, written after `np.random.seed(42)`), biases
#   zero;
# * 100 rounds (the tutorial calls them epochs), each `next_batch(128)` of training digits and
#   `next_batch(128)` of validation digits;
# * per example: first apply the *previous* example's update `p -= u`, then
#   `u = 0.0005 g + 0.9 u` — momentum applied one example late — and `u` restarts at zero
#   each round, so the round's last update is dropped;
# * the printed train loss and accuracy are means over the round's 128 examples, measured
#   during training; evaluation: the 128 validation digits after the round.
#
# Neither its data order nor its weights are reproducible: between `np.random.seed(42)` and the
# weight draws the tutorial calls TensorFlow's `read_data_sets`, whose datasets (TensorFlow 1.2
# on) reseed numpy's global generator from the operating system. So every run of the tutorial
# drew its own weights and its own data order, and the published log is one such run. We do the
# same reproducibly (`initial_params("per-run", s)`: run `s` draws from its own seed) and
# average over runs; `mlp-parity tutorial --init seed42` keeps seed 42's draws instead (the
# published round-1 train loss, set mostly by the weights, fits per-run draws, not seed 42's:
# `benchmarks/tutorial_inits.py`).

# %%
SEEDS = (0, 1)
t = time.perf_counter()
original_logs = [run_numpy(data, tl.ORIGINAL, tut.LEARNING_RATE, s) for s in SEEDS]
original = mean_curves(original_logs)
print(f"{len(SEEDS)} runs of 12,800 per-example steps in {time.perf_counter() - t:.0f} s")
ours = logged(original, tut.LOGGED_ROUNDS)
print(f"{'round':>5} {'train acc: published / ours':>28} {'eval acc: published / ours':>28}")
for i, r in enumerate(ours["rounds"]):
    pt, ot = published.NUMPY["train_accuracy"][i], ours["train_accuracy"][i]
    pe, oe = published.NUMPY["eval_accuracy"][i], ours["eval_accuracy"][i]
    print(f"{r:>5} {pt:>18.1%} / {ot:6.1%} {pe:>18.1%} / {oe:6.1%}")

# %% [markdown]
# One round's accuracy is measured on 128 examples, so a single round carries about ±4 points
# of sampling noise — the published 50 % at round 41, between 62.5 % and 64.1 %, is such a
# round. So no average of runs can stay "within a few points" of one published run at every
# logged round: even a run of this very program is within 5 points of the mean of 5 others at
# all ten accuracy figures in 0.03 % of draws (`benchmarks/tutorial_inits.py`, 20 runs). What
# can be asked is whether the published log looks like one of our runs: by its mean distance
# from our mean, 2 of our 20 runs lie farther (rank p = 3/21 = 0.14; `consistency` in
# `mlp-parity tutorial`'s JSON). The learning curve, ours (mean over runs, a 5-round running
# mean; unsmoothed squares at the logged rounds) beside the published points:


# %%
def smooth(values, width=5):
    values = np.asarray(values)
    kernel = np.ones(width) / width
    padded = np.pad(values, width // 2, mode="edge")
    return np.convolve(padded, kernel, mode="valid")


rounds = np.arange(1, len(original["train_accuracy"]) + 1)
fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
for ax, metric in ((ax_acc, "accuracy"), (ax_loss, "loss")):
    splits = (("train", "tab:blue", "train"), ("eval", "tab:orange", "evaluation"))
    for split, colour, name in splits:
        key = f"{split}_{metric}"
        ax.plot(rounds, smooth(original[key]), color=colour, label=f"ours, {name}")
        ax.plot(
            published.NUMPY["rounds"],
            published.NUMPY[key],
            "o",
            color=colour,
            mec="black",
            label=f"published, {name}",
        )
        ax.plot(  # our unsmoothed mean where the tutorial logged, beside its dots
            [r + 1.5 for r in ours["rounds"]],
            ours[key],
            "s",
            ms=4,
            mfc="white",
            color=colour,
            label=f"ours, {name}, logged rounds",
        )
ax_acc.set(title="accuracy", xlabel="round (128 examples)", ylim=(0, 1))
ax_loss.set(title="loss (cross-entropy, mean over the 10 outputs)", xlabel="round (128 examples)")
for ax in (ax_acc, ax_loss):
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right" if ax is ax_acc else "upper right")
fig.suptitle("the tutorial's numpy half: published log and our reproduction (mnist-sample)")
plt.show()

# %% [markdown]
# ## 3. What each bug did
#
# Same initialisation and data order (run 0), one switch at a time: the scale bug alone (true
# derivative, gradient 10× too big), the derivative bug alone (correct scale), and the
# corrected gradient at the tutorial's learning rate — then at a learning rate retuned for it.
# The retuning is a short sweep here (two learning rates, data order 0, score = mean
# evaluation accuracy over the last 20 rounds); `mlp-parity tutorial` sweeps 0.0005–0.2.

# %%
t = time.perf_counter()
sweep = {lr: run_numpy(data, tl.CORRECTED, lr, SEEDS[0]) for lr in (0.02, 0.1)}
scores = {lr: np.mean(log["eval_accuracy"][-20:]) for lr, log in sweep.items()}
retuned = max(scores, key=scores.get)
print("sweep:", ", ".join(f"lr {lr:g}: {s:.3f}" for lr, s in scores.items()), "->", retuned)
runs = {
    "original (both bugs)": (tl.ORIGINAL, tut.LEARNING_RATE, original),
    "scale bug only": (tl.SCALE_BUG_ONLY, tut.LEARNING_RATE, None),
    "derivative bug only": (tl.DERIVATIVE_BUG_ONLY, tut.LEARNING_RATE, None),
    "corrected": (tl.CORRECTED, tut.LEARNING_RATE, None),
    "corrected, retuned": (tl.CORRECTED, retuned, None),
}
curves = {}
for name, (gradient, lr, done) in runs.items():
    if done is None:
        # one data order; the sweep already ran the retuned one
        done = sweep[retuned] if lr == retuned else run_numpy(data, gradient, lr, SEEDS[0])
    curves[f"{name}, lr {lr:g}"] = done
print(f"{time.perf_counter() - t:.0f} s")

# %%
fig, ax = plt.subplots(figsize=(9, 4.6), layout="constrained")
colours = ["tab:red", "tab:orange", "tab:purple", "tab:blue", "tab:green"]
for (name, c), colour in zip(curves.items(), colours):
    last = np.mean(c["eval_accuracy"][-20:])
    ax.plot(rounds, smooth(c["eval_accuracy"]), color=colour, label=f"{name}: {last:.1%}")
ax.plot(
    published.NUMPY["rounds"],
    published.NUMPY["eval_accuracy"],
    "o",
    color="tab:red",
    mec="black",
    label="published (original)",
)
ax.set(
    title="evaluation accuracy (legend: mean over the last 20 rounds)",
    xlabel="round (128 examples)",
    ylim=(0, 1),
)
ax.grid(alpha=0.3)
ax.legend(fontsize=8, loc="lower right")
plt.show()

# %% [markdown]
# Read it as three steps:
#
# * **The scale bug acted as a learning rate.** Multiplying the gradient by 10 is the same as
#   multiplying the learning rate by 10; with the true derivative that alone trains better
#   than the corrected gradient at 0.0005, which barely moves.
# * **The derivative bug bent the direction.** `sigmoid(z)` in place of
#   `sigmoid(z) (1 - sigmoid(z))` is no longer the gradient of anything in particular, and it
#   is larger (at least 4×), so the hidden layers get bigger, wrong steps.
# * **Together they happened to work**: the tutorial's published log is a real trajectory of
#   its buggy gradient. Fixing the gradient without retuning makes training *worse*; the
#   corrected gradient with its learning rate retuned ends well ahead of the original.
#
# ## 4. The Keras half, in three frameworks
#
# The tutorial's Keras model is another network: 784-128-10, sigmoid hidden and output
# layers, `categorical_crossentropy` (Keras renormalises the sigmoid outputs to sum to one),
# `optimizer='sgd'` (Keras 2's defaults: learning rate 0.01, no momentum), batch 128, 100
# epochs. In `mlp_parity`:
# `MLPSpec((784, 128, 10), "sigmoid", "categorical_cross_entropy", output_activation="sigmoid")`.
# We train it from one Glorot-uniform initialisation in float64 with numpy (hand-written
# backprop), JAX and Keras on the same batches — on all 8,000 sample digits: the tutorial's
# `[::4]` of 55,000 gave 13,750, `[::4]` of 8,000 would leave 2,000.

# %%
t = time.perf_counter()
parity = train_keras_half(data, backends=("numpy", "jax", "keras"), epochs=5)
print(f"5 epochs in numpy, jax, keras ({time.perf_counter() - t:.0f} s);")
print("max relative parameter divergence from numpy:", parity["divergence"])
assert max(parity["divergence"].values()) <= 1e-8
t = time.perf_counter()
keras_half = train_keras_half(data, backends=("numpy",), epochs=tut.KERAS_EPOCHS)
print(f"{tut.KERAS_EPOCHS} epochs in numpy ({time.perf_counter() - t:.0f} s)")
m = final_metrics(keras_half["results"]["numpy"].history)
print("ours     ", ", ".join(f"{k} {v:.4f}" for k, v in m.items()))
print("published", ", ".join(f"{k} {published.KERAS[k]:.4f}" for k in m))

# %%
h = keras_half["results"]["numpy"].history
epochs = np.arange(1, len(h["accuracy"]) + 1)
fig, ax = plt.subplots(figsize=(8, 4.4), layout="constrained")
for key, pkey, colour, name in (
    ("accuracy", "train_accuracy", "tab:blue", "train"),
    ("val_accuracy", "val_accuracy", "tab:orange", "validation"),
):
    ax.plot(epochs, h[key], color=colour, label=f"ours, {name}")
    ax.plot(
        [epochs[-1]],
        [published.KERAS[pkey]],
        "*",
        ms=13,
        color=colour,
        mec="black",
        label=f"published, {name}: {published.KERAS[pkey]:.1%}",
    )
ax.set(title="the tutorial's Keras half on mnist-sample", xlabel="epoch", ylabel="accuracy")
ax.set(ylim=(0, 1))
ax.grid(alpha=0.3)
ax.legend(fontsize=8, loc="lower right")
plt.show()
print(f"notebook ran in {time.perf_counter() - T0:.0f} s")

# %% [markdown]
# The three frameworks follow one trajectory (parameters equal to ~1e-15). After 100 epochs
# the model lands within about two points of the published figures: on mnist-sample's 2,000
# validation digits slightly *above* the published 86.5 %, its training accuracy slightly
# below the published 90.1 %. The data differ — 8,000 training digits from MNIST's test set
# (6,300 steps) against the tutorial's 13,750 from its training set (10,800 steps), and
# another validation set — so a gap of a point or two either way is what to expect.
