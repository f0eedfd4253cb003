"""Learning-curve and benchmark figures. matplotlib is imported when a figure is drawn
(``pip install "mlp_parity[plot]"``); no pyplot, so no global backend state and no display
needed."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._io import write_atomic

__all__ = ["batch_scaling", "learning_curves", "save_figure", "tutorial_figure"]

_STYLES = [  # wide faint lines under narrow dark ones, so curves that coincide stay visible
    {"color": "tab:blue", "linewidth": 5.0, "alpha": 0.35},
    {"color": "tab:orange", "linewidth": 2.5, "alpha": 0.8},
    {"color": "black", "linewidth": 1.0, "alpha": 1.0},
    {"color": "tab:green", "linewidth": 1.5, "alpha": 0.9},
    {"color": "tab:red", "linewidth": 1.5, "alpha": 0.9},
]

_REFERENCE_STYLES = [  # horizontal reference lines: grey, told apart by their dashes
    {"color": "dimgrey", "linestyle": ":"},
    {"color": "dimgrey", "linestyle": "-."},
    {"color": "darkgrey", "linestyle": "--"},
]


def _matplotlib_figure():
    try:
        from matplotlib.figure import Figure
    except ModuleNotFoundError as e:
        raise ImportError(
            'plotting needs matplotlib, which is not installed: pip install "mlp_parity[plot]"'
        ) from e
    return Figure


def learning_curves(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    title: str = "",
    references: Mapping[str, float] | None = None,
) -> Any:
    """A figure with two panels, loss and accuracy per epoch: one colour per run (key of
    ``histories``), train solid, validation dashed. ``histories[run]`` holds per-epoch lists
    ``loss``, ``accuracy`` and optionally ``val_loss``, ``val_accuracy`` (a
    ``TrainResult.history``). ``references`` draws horizontal accuracy lines (e.g. published
    numbers). Returns a ``matplotlib.figure.Figure``."""
    Figure = _matplotlib_figure()
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, (run, h) in enumerate(histories.items()):
        style = _STYLES[i % len(_STYLES)]
        for key, ax in (("loss", ax_loss), ("accuracy", ax_acc)):
            for prefix, dash in (("", "-"), ("val_", "--")):
                values = list(h.get(prefix + key, []))
                if not values:
                    continue
                epochs = range(1, len(values) + 1)
                label = f"{run} {'validation' if prefix else 'train'}"
                ax.plot(epochs, values, dash, label=label, **style)
    for j, (label, value) in enumerate((references or {}).items()):
        # In the legend, not written beside the line: close values' labels would overlap.
        style = _REFERENCE_STYLES[j % len(_REFERENCE_STYLES)]
        ax_acc.axhline(value, label=f"{label} {100 * value:.2f}%", linewidth=1.2, **style)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss (train: mean over the epoch)")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_loss, ax_acc):
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.legend(fontsize=7, loc="best")  # "best": where it covers the fewest points
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def batch_scaling(result: Mapping[str, Any], *, title: str = "") -> Any:
    """Training throughput against batch size from one ``mlp_parity.bench.run`` result (the
    dict ``mlp-parity bench --json`` writes): one line per backend, as a fraction of the peak
    its table row uses (this machine's matmul peak; JAX on an accelerator, the device's), batch
    size on a log-2 axis, the issue-5 targets and the matmul-only ceilings at the headline
    batch size marked. Returns a ``matplotlib.figure.Figure``."""
    scaling = result.get("batch_scaling") or {}
    if not scaling:
        raise ValueError("result has no batch_scaling table: run the bench with --batch-sizes")
    Figure = _matplotlib_figure()
    fig = Figure(figsize=(7.5, 4.4), layout="constrained")
    ax = fig.subplots()
    colours = {"numpy": "tab:blue", "jax": "tab:orange", "keras": "tab:green"}
    batch = result.get("batch_size")
    ceilings = {
        "numpy": result.get("matmul_ceiling"),
        "jax": result.get("jax_matmul_ceiling"),
        "keras": result.get("keras_matmul_ceiling"),
    }
    for backend, row in scaling.items():
        sizes = sorted(int(b) for b in row)
        colour = colours.get(backend, "black")
        on_device = result.get("batch_scaling_peak", {}).get(backend) == "jax device"
        label = backend + (" (of the device's peak)" if on_device else "")
        ax.plot(sizes, [row[str(b)] for b in sizes], "o-", color=colour, label=label)
        ceiling = ceilings.get(backend)
        if batch and ceiling and not on_device:
            ax.plot([batch], [ceiling["fraction_of_best_peak"]], "_", color=colour, ms=22, mew=2)
        target = _TARGETS.get(backend)
        if batch and target and not on_device:
            ax.plot([batch], [target], "*", color=colour, ms=11, alpha=0.6)
    ax.set_xscale("log", base=2)
    ticks = sorted({int(b) for row in scaling.values() for b in row})
    ax.set_xticks(ticks, [str(b) for b in ticks])
    ax.minorticks_off()
    ax.set(
        xlabel="batch size",
        ylabel="training throughput / matmul peak",
        title=title or "throughput against batch size (fraction of the run's best peak)",
    )
    ax.grid(True, alpha=0.3)
    ax.plot([], [], "_", color="grey", ms=14, mew=2, label="matmuls alone (ceiling)")
    ax.plot([], [], "*", color="grey", ms=9, label="issue 5 target")
    ax.legend(fontsize=8)
    return fig


_TARGETS = {"numpy": 0.80, "jax": 0.90, "keras": 0.50}  # issue 5, at batch 128


_VARIANT_COLOURS = ["tab:red", "tab:orange", "tab:purple", "tab:blue", "tab:green"]


def _smooth(values: Sequence[float], width: int) -> tuple[list[int], list[float]]:
    """Centred running mean (``width`` odd, shrinking at the ends): x from 1, y."""
    half = width // 2
    out = []
    for i in range(len(values)):
        window = values[max(0, i - half) : i + half + 1]
        out.append(sum(window) / len(window))
    return list(range(1, len(values) + 1)), out


def tutorial_figure(report: Mapping[str, Any], *, smooth: int = 5) -> Any:
    """The ``mlp-parity tutorial`` figure from its report (``tutorial.json``'s dict): (a) the
    numpy half's original run, ours (mean over runs; at the logged rounds unsmoothed, with the
    single-run standard deviation when there are runs) beside the published log points;
    (b) evaluation accuracy of each variant (original, each bug alone, corrected at both
    learning rates), a ``smooth``-round running mean; (c) the Keras half per epoch beside the
    published final values (when the report has it). Returns a ``matplotlib.figure.Figure``."""
    Figure = _matplotlib_figure()
    keras = report.get("keras_half")
    fig = Figure(figsize=(15, 4.6) if keras else (10.5, 4.6), layout="constrained")
    axes = fig.subplots(1, 3 if keras else 2)
    _tutorial_numpy_panel(axes[0], report, smooth)
    ax = axes[1]
    for v, colour in zip(report["variants"].values(), _VARIANT_COLOURS):
        x, y = _smooth(v["curves"]["eval_accuracy"], smooth)
        ax.plot(x, y, color=colour, label=f"{v['label']}, lr {v['learning_rate']:g}")
    ax.set(title="(b) what each bug did: evaluation accuracy", xlabel="round (128 examples)")
    ax.set(ylim=(0, 1))
    if keras:
        _tutorial_keras_panel(axes[2], report)
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    n = len(report["numpy_settings"]["data_seeds"])
    fig.suptitle(
        f"the tutorial reproduced on {report['dataset']['name']} (numpy half: mean of {n} data "
        f"orders, {smooth}-round running mean)",
        fontsize=10,
    )
    return fig


def _tutorial_numpy_panel(ax: Any, report: Mapping[str, Any], smooth: int) -> None:
    """Panel (a): our smoothed accuracy curves, the published dots, and beside each dot our
    unsmoothed mean at that round with +-1 single-run sd (what the dot is compared to)."""
    pub = report["published"]["numpy"]
    curves = report["variants"]["original"]["curves"]
    ours = report["reproduced"]["numpy_original"]
    close = report.get("closeness", {}).get("numpy_original", {})
    for key, colour, name in (
        ("train_accuracy", "tab:blue", "train"),
        ("eval_accuracy", "tab:orange", "evaluation"),
    ):
        x, y = _smooth(curves[key], smooth)
        ax.plot(x, y, color=colour, alpha=0.6, label=f"ours, {name}")
        ax.plot(pub["rounds"], pub[key], "o", color=colour, mec="black", label=f"published, {name}")
        sd = close.get(key, {}).get("run_sd")
        ax.errorbar(
            [r + 1.5 for r in ours["rounds"]],  # beside the published dot, not on it
            ours[key],
            yerr=sd,
            fmt="s",
            ms=4,
            mfc="white",
            color=colour,
            capsize=2,
            label=f"ours, {name}, logged rounds{' ±1 run sd' if sd else ''}",
        )
    ax.set(title="(a) numpy half, original backprop", xlabel="round (128 examples)")
    ax.set(ylabel="accuracy", ylim=(0, 1))


def _tutorial_keras_panel(ax: Any, report: Mapping[str, Any]) -> None:
    """Panel (c): the Keras half per epoch beside the published final values."""
    keras = report["keras_half"]
    shown = keras["reported_backend"]
    h = keras["histories"][shown]
    kpub = report["published"]["keras"]
    epochs = range(1, len(h["accuracy"]) + 1)
    for key, pkey, colour, name in (
        ("accuracy", "train_accuracy", "tab:blue", "train"),
        ("val_accuracy", "val_accuracy", "tab:orange", "validation"),
    ):
        ax.plot(epochs, h[key], color=colour, label=f"ours ({shown}), {name}")
        ax.plot(
            [keras["epochs"]],
            [kpub[pkey]],
            "*",
            ms=12,
            color=colour,
            mec="black",
            label=f"published, {name} {100 * kpub[pkey]:.1f}%",
        )
    ax.set(title="(c) Keras half (784-128-10)", xlabel="epoch", ylim=(0, 1))


def save_figure(fig: Any, path: str | os.PathLike[str], *, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` in the format its suffix names (``.png``, ``.svg``, ``.pdf``;
    PNG without one), atomically through :func:`mlp_parity._io.write_atomic`, so a failure
    never leaves a partial image."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"  # a file object tells savefig no format
    return write_atomic(path, lambda f: fig.savefig(f, format=fmt, dpi=dpi))
