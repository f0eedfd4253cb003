"""save_figure: the format follows the suffix, and the file is written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from mlp_parity.plots import learning_curves, save_figure  # noqa: E402


def small_figure():
    return learning_curves({"run": {"loss": [1.0, 0.5], "accuracy": [0.5, 0.8]}})


@pytest.mark.parametrize(
    "name, magic",
    [
        ("curves.png", b"\x89PNG"),
        ("curves.svg", b"<?xml"),
        ("curves.PDF", b"%PDF"),
        ("c", b"\x89PNG"),
    ],
)
def test_format_follows_the_suffix(tmp_path: Path, name: str, magic: bytes) -> None:
    path = save_figure(small_figure(), tmp_path / name, dpi=20)
    assert path == tmp_path / name and path.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = save_figure(small_figure(), tmp_path / "curves.png", dpi=20)
    before = path.read_bytes()

    class Broken:
        def savefig(self, f, **kwargs):
            f.write(b"half an image")
            raise RuntimeError("renderer crashed")

    with pytest.raises(RuntimeError, match="renderer crashed"):
        save_figure(Broken(), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["curves.png"]
    with pytest.raises(ValueError, match="not supported"):
        save_figure(small_figure(), tmp_path / "curves.nope")
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]


def test_reference_lines_are_labelled_in_the_legend_not_beside_each_other():
    """Issue 15: two close published numbers written beside their lines overlapped each other
    and the legend; they are legend entries now, and the legend goes where data is least."""
    refs = {"published keras train": 0.9006, "published keras validation": 0.8648}
    h = {"run": {"loss": [1.0, 0.5, 0.4], "accuracy": [0.5, 0.8, 0.85]}}
    fig = learning_curves(h, references=refs)
    ax_acc = fig.axes[1]
    assert len(ax_acc.texts) == 0  # no free-standing labels
    labels = [t.get_text() for t in ax_acc.get_legend().get_texts()]
    assert labels[-2:] == ["published keras train 90.06%", "published keras validation 86.48%"]
    styles = {line.get_linestyle() for line in ax_acc.get_lines()[-2:]}
    assert len(styles) == 2  # told apart by their dashes
    assert all(float(t).is_integer() for t in ax_acc.get_xticks())  # whole epochs
