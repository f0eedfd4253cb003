"""Output shared by the ``mlp-parity`` subcommands: percentages, epoch lines, the per-epoch
progress bar, and the result files (JSON with the package versions, and a PNG)."""

from __future__ import annotations

import math
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def pct(v: float) -> str:
    """``0.9612`` -> `` 96.12%``, six characters wide; ``-`` when not finite."""
    return f"{100 * v:6.2f}%" if math.isfinite(v) else "     -"


def epoch_line(epoch: int, epochs: int, record: dict[str, float]) -> str:
    """``epoch  3/10  loss 0.1234  acc  96.10%  val_loss 0.1500  val_acc  95.20%  1.2 s``."""
    w = len(str(epochs))
    text = f"epoch {epoch:>{w}}/{epochs}  loss {record['loss']:.4f}  acc {pct(record['accuracy'])}"
    if "val_loss" in record:
        text += f"  val_loss {record['val_loss']:.4f}  val_acc {pct(record['val_accuracy'])}"
    return text + f"  {record['time']:.2f} s"


def print_epoch(prefix: str = "") -> Callable[[int, int, dict[str, float]], None]:
    """An ``EpochProgress`` ``on_epoch`` that prints ``prefix`` and the epoch line, flushed so
    the line shows while the next epoch trains."""

    def on_epoch(epoch: int, epochs: int, record: dict[str, float]) -> None:
        print(f"{prefix}{epoch_line(epoch, epochs, record)}", flush=True)

    return on_epoch


class EpochProgress:
    """A ``train(progress=...)`` callback: a tqdm bar per epoch on ``stream`` (stderr; drawn
    only on a terminal unless ``enabled``), redrawn at most 10 times a second and erased at the
    epoch's end, when ``on_epoch(epoch, epochs, record)`` is called (to print a line)."""

    def __init__(
        self,
        label: str,
        on_epoch: Callable[[int, int, dict[str, float]], None] | None = None,
        *,
        stream: IO[str] | None = None,
        enabled: bool | None = None,
    ) -> None:
        self.label, self.on_epoch = label, on_epoch
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.bar: Any = None  # the open epoch's tqdm bar
        self.epoch = 0

    def __call__(self, p: Any) -> None:
        if p.record is not None:
            self.close()
            if self.on_epoch is not None:
                self.on_epoch(p.epoch, p.epochs, p.record)
            return
        if not self.enabled:
            return
        if self.bar is None or self.epoch != p.epoch:
            self._open(p)
        self.bar.update(p.step - self.bar.n)
        if p.step == p.steps:  # tqdm may skip this update as too soon; show the full bar
            self.bar.refresh()

    def _open(self, p: Any) -> None:
        from tqdm import tqdm  # imported only when a bar is drawn

        self.close()
        self.epoch = p.epoch
        self.bar = tqdm(
            total=p.steps,
            desc=f"{self.label} epoch {p.epoch}/{p.epochs}",
            unit="batch",
            file=self.stream,
            leave=False,  # erased at close: the epoch line replaces it
            mininterval=0.1,
            dynamic_ncols=True,
        )

    def close(self) -> None:
        """Erase the open bar, if any."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def versions() -> dict[str, str]:
    """Python, platform and the installed versions of the numeric packages, for result files."""
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("numpy", "jax", "jaxlib", "tensorflow", "tensorflow-cpu", "keras", "matplotlib"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def write_results(
    json_path: Path, data: dict[str, Any], png_path: Path, figure: Callable[[], Any]
) -> list[str]:
    """Write ``data`` to ``json_path`` and ``figure()`` to ``png_path`` (skipped, with a note,
    when matplotlib is missing); return the paths written."""
    from .._io import write_json

    write_json(json_path, data)
    written = [str(json_path)]
    try:
        from ..plots import save_figure

        save_figure(figure(), png_path)
        written.append(str(png_path))
    except ImportError as e:
        print(f"(no PNG: {e})")
    return written
