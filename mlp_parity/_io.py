"""Writing files safely: every file the package writes (parameters, JSON, figures, downloads)
goes to a temporary file in the target folder and is renamed into place, so a failure or an
interruption never leaves a partial file behind; targets are checked before long work starts.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np


def npz_path(path: str | os.PathLike[str]) -> Path:
    """The path ``save_params`` writes for ``path`` (it appends ``.npz`` when missing)."""
    p = Path(path)
    if p.suffix == ".npz":
        return p
    return p.with_suffix(p.suffix + ".npz") if p.suffix else p.with_suffix(".npz")


def folder_problem(folder: str | os.PathLike[str]) -> str | None:
    """Why ``folder`` cannot hold a new file, or ``None`` if it is an existing folder:
    ``"afile is a file, not a folder"`` when it (or the nearest existing path above it) is a
    file, else ``"folder no/such does not exist"``."""
    folder = Path(folder)
    if folder.is_dir():
        return None
    for above in (folder, *folder.parents):
        if above.exists() or above.is_symlink():
            if not above.is_dir():
                return f"{above} is a file, not a folder"
            break
    return f"folder {folder} does not exist"


def check_writable(path: str | os.PathLike[str], what: str) -> Path:
    """Fail now, before any training, if ``path`` cannot be written: its folder must exist and
    accept a new file (tried for real), and ``path`` must not be a folder."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"cannot write {what} {p}: it is a folder")
    folder = p.parent
    problem = folder_problem(folder)
    if problem:
        raise ValueError(f"cannot write {what} {p}: {problem}")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{p.name}.", suffix=".tmp")
    except OSError as e:
        raise ValueError(f"cannot write {what} {p}: {e.strerror or e}") from None
    os.close(fd)
    os.unlink(tmp)
    return p


@contextlib.contextmanager
def output_folder(out: str | os.PathLike[str]) -> Iterator[Path]:
    """Create ``out`` (with parents) and check a file can be written there, before any work;
    if the job then fails, a folder this call created and left empty is removed again."""
    folder = Path(out)
    created = not folder.exists()
    for above in (folder, *folder.parents):  # a file in the way: say so, not "File exists"
        if above.exists() and not above.is_dir():
            raise ValueError(
                f"cannot create output folder {folder}: {above} is a file, not a folder"
            )
        if above.exists():
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create output folder {folder}: {e.strerror or e}") from None
    try:
        check_writable(folder / "probe", "into output folder")
        yield folder
    except BaseException:
        if created and not any(folder.iterdir()):
            folder.rmdir()
        raise


def write_atomic(path: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: Path, data: Any) -> Path:
    """Atomically write ``data`` as JSON (NaN/inf become ``null``)."""
    text = json.dumps(_json_safe(data), indent=2, allow_nan=False) + "\n"
    return write_atomic(path, lambda f: f.write(text.encode()))


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj
