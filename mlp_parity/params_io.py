"""The parameter file format: one ``.npz`` holding ``W0, b0, W1, b1, ...`` (only the ``W``
tensors for a spec with ``use_bias=False``) plus ``sizes``, ``activation``, ``loss`` and the
spec's non-default conventions (``output_activation``, ``reduction``, ``loss_scale``, ``l2``,
``use_bias``); a missing one is its default, so files written before the conventions existed
load unchanged. Re-exported by :mod:`mlp_parity.params`.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ._io import folder_problem, npz_path, write_atomic
from .params import FLOAT_DTYPES, UserParams, check_fits, check_params, flatten
from .spec import CONVENTION_DEFAULTS, MLPSpec, as_spec


def save_params(path: str | os.PathLike, spec: MLPSpec, params: UserParams) -> Path:
    """Write ``params`` (the spec's user layout) and ``spec`` with its conventions to ``path``
    (``.npz`` appended when missing) atomically, through :func:`mlp_parity._io.write_atomic`:
    a failure never leaves a half-written file."""
    spec = as_spec(spec)
    params = check_params(spec, params)
    path = save_target(path)
    problem = folder_problem(path.parent)
    if problem:
        raise ValueError(f"cannot save to {path}: {problem}")
    act = spec.activation if isinstance(spec.activation, str) else list(spec.activation)
    arrays = dict(flatten(params))
    arrays["sizes"] = np.array(spec.sizes, dtype=np.int64)
    arrays["activation"] = np.array(act)
    arrays["loss"] = np.array(spec.loss)
    for key, value in spec.non_default_conventions.items():  # a default spec: today's file
        arrays[key] = np.array(value)
    try:
        return write_atomic(path, lambda f: np.savez(f, **arrays))
    except OSError as e:  # e.g. the folder refuses a new file: one clean ValueError for the CLI
        raise ValueError(f"cannot save to {path}: {e.strerror or e}") from e


def save_target(path: str | os.PathLike) -> Path:
    """The file :func:`save_params` writes for ``path`` (``.npz`` appended when missing);
    ``ValueError`` when ``path`` is an existing folder (``m/`` would become ``m.npz`` beside
    it)."""
    if Path(path).is_dir():
        example = Path(path) / "params.npz"
        raise ValueError(f"cannot save to {path}: it is a folder; name a file, e.g. {example}")
    return npz_path(path)


_FORMAT = "an .npz archive holding W0, b0, W1, b1, ..., sizes, activation, loss"
#: Optional members: a file without one gets its default (MLPSpec validates each value).
_CONVENTIONS = tuple(CONVENTION_DEFAULTS)


def params_file(path: str | os.PathLike) -> Path:
    """The file :func:`load_params` reads for ``path``: ``path`` itself, else the
    ``path.npz`` that :func:`save_params` writes for it (``save_params("m")`` writes
    ``m.npz``, so ``load_params("m")`` finds it). ``ValueError`` when neither exists."""
    path = Path(path)
    if path.is_file():
        return path
    alt = npz_path(path)
    if alt != path and alt.is_file():
        return alt
    if path.is_dir():
        raise ValueError(f"cannot load {path}: it is a folder, not a parameter file")
    also = f" (nor {alt})" if alt != path else ""
    raise ValueError(f"cannot load {path}: no such file{also}")


def _not_params(path: Path, why: str) -> ValueError:
    return ValueError(
        f"cannot load {path}: it is not a parameter file saved by save_params ({why}; "
        f"expected {_FORMAT})"
    )


def _open_npz(path: Path) -> Any:
    """``np.load(path)`` (an ``NpzFile``, read lazily) once its first bytes show a zip archive;
    a ``.npy`` file or anything else raises the reason it is not a parameter file."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"\x93NUMPY"):
        raise _not_params(path, "it holds a single .npy array, not an .npz archive")
    if not magic.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise _not_params(path, f"not a zip archive: it starts with bytes {magic.hex(' ')}")
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise _not_params(path, f"a damaged archive: {e}") from e
    return z


def load_params(path: str | os.PathLike) -> tuple[MLPSpec, UserParams]:
    """Read a file written by :func:`save_params` (``path``, or ``path.npz`` as
    :func:`save_params` names it); return ``(spec, params)``, the params in the spec's user
    layout. A file without conventions (written before they existed) gets the defaults.
    Anything else, or sizes whose parameters would not fit in memory, raises ``ValueError``
    naming the file."""
    path = params_file(path)
    z = _open_npz(path)
    try:
        with z:
            missing = [k for k in ("sizes", "activation", "loss") if k not in z.files]
            if missing:
                raise _not_params(path, f"it has no {', '.join(missing)}")
            conventions = {k: z[k] for k in _CONVENTIONS if k in z.files}
            spec = _spec_from(path, z["sizes"], z["activation"], z["loss"], conventions)
            names = spec.tensor_names
            absent = [n for n in names if n not in z.files]
            if absent:
                raise ValueError(f"cannot load {path}: tensor {absent[0]} is missing")
            try:  # before reading a tensor: numpy would try to allocate them whatever the size
                check_fits(spec, _member_dtype(z, names[0]))
            except ValueError as e:
                raise ValueError(f"cannot load {path}: {e}") from None
            data = {n: z[n] for n in names}
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise _not_params(path, f"a damaged archive: {e}") from e
    except ValueError as e:
        if str(path) in str(e):
            raise
        why = "it holds pickled Python objects, never loaded" if "pickle" in str(e) else str(e)
        raise _not_params(path, why) from e
    raw = [
        (data[f"W{i}"], data[f"b{i}"]) if spec.use_bias else data[f"W{i}"]
        for i in range(spec.num_layers)
    ]
    try:
        return spec, check_params(spec, raw, name=str(path))
    except (TypeError, ValueError) as e:
        raise ValueError(f"cannot load {path}: {e}") from e


def _member_dtype(z: Any, name: str) -> np.dtype:
    """The dtype in the ``.npy`` header of ``name`` inside the archive, without reading the
    array; float64 when it is not a float type (then ``check_params`` refuses the tensor)."""
    with z.zip.open(f"{name}.npy") as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0
        if version != (1, 0):
            read = np.lib.format.read_array_header_2_0
        dtype = read(f)[2]
    return dtype if dtype in FLOAT_DTYPES else np.dtype("float64")


def _spec_from(
    path: Path, sizes: np.ndarray, act: np.ndarray, loss: np.ndarray, conventions: dict
) -> MLPSpec:
    activation = str(act) if act.ndim == 0 else tuple(str(a) for a in act)
    try:
        kwargs = {}
        for key, value in conventions.items():
            if value.ndim != 0:
                raise ValueError(f"{key} must be a single value, got shape {value.shape}")
            kwargs[key] = value.item()
        return MLPSpec(tuple(int(s) for s in np.ravel(sizes)), activation, str(loss), **kwargs)
    except (TypeError, ValueError) as e:
        raise ValueError(f"cannot load {path}: {e}") from e
