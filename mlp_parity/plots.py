"""Learning-curve figures. matplotlib is imported when a figure is drawn (``pip install
"mlp_parity[plot]"``); no pyplot, so no global backend state and no display needed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["learning_curves", "save_figure"]

_STYLES = [  # wide faint lines under narrow dark ones, so curves that coincide stay visible
    {"color": "tab:blue", "linewidth": 5.0, "alpha": 0.35},
    {"color": "tab:orange", "linewidth": 2.5, "alpha": 0.8},
    {"color": "black", "linewidth": 1.0, "alpha": 1.0},
    {"color": "tab:green", "linewidth": 1.5, "alpha": 0.9},
    {"color": "tab:red", "linewidth": 1.5, "alpha": 0.9},
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
    for label, value in (references or {}).items():
        ax_acc.axhline(value, color="grey", linestyle=":", linewidth=1.2)
        ax_acc.annotate(label, (1, value), textcoords="offset points", xytext=(2, 3), fontsize=8)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss (train: mean over the epoch)")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def save_figure(fig: Any, path: str | os.PathLike[str], *, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically (a temporary file in the same folder is
    renamed into place, so a failure never leaves a partial image)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png", dpi=dpi)
        mask = os.umask(0o022)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
