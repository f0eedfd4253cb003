"""Parameters in the one layout every backend shares: ``[(W0, b0), (W1, b1), ...]`` with ``W``
shaped (fan_in, fan_out) (Keras' kernel layout) and ``b`` shaped (fan_out,); initialisation,
validation, and the ``.npz`` file format.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._io import folder_problem, npz_path, write_atomic
from .spec import ACTIVATIONS, LOSSES, MLPSpec, as_spec

Params = list[tuple[np.ndarray, np.ndarray]]
FLOAT_DTYPES = (np.dtype("float32"), np.dtype("float64"))


def as_float_dtype(dtype: object, name: str = "dtype") -> np.dtype:
    """Normalise ``dtype`` to float32 or float64, the two precisions the package computes in."""
    try:
        dt = np.dtype(dtype)  # type: ignore[arg-type]
    except TypeError as e:
        raise TypeError(f"{name} must be 'float32' or 'float64', got {dtype!r}") from e
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be 'float32' or 'float64', got {dt}")
    return dt


def init_params(
    spec: MLPSpec | Sequence[int], seed: int | None = 0, dtype: str = "float64"
) -> Params:
    """Random initial parameters, deterministic per ``seed``.

    Scheme (biases start at zero): a layer that feeds an activation whose ``init`` fact is
    ``"he"`` (ReLU) gets He-uniform weights, ``U(-sqrt(6/fan_in), +sqrt(6/fan_in))``, which keeps
    the variance of activations constant through rectifiers; every other layer (sigmoid, tanh,
    identity, and the linear output layer) gets Glorot-uniform,
    ``U(-sqrt(6/(fan_in+fan_out)), +...)``, Keras' default for ``Dense``.

    The draws are float64 (so float32 parameters are the float64 ones rounded), made in blocks
    of rows written straight into the ``dtype`` array: float32 never allocates a float64 copy.
    Sizes whose parameters would not fit in the available memory raise ``ValueError`` (see
    :func:`check_fits`) before anything is allocated.
    """
    spec = as_spec(spec)
    dt = as_float_dtype(dtype)
    if seed is not None and (
        isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0
    ):
        raise TypeError(f"seed must be an int >= 0 (or None for a random start), got {seed!r}")
    check_fits(spec, dt)
    rng = np.random.default_rng(seed)
    # The output layer feeds no activation (the loss applies the output nonlinearity): Glorot.
    schemes = [ACTIVATIONS[act].init for act in spec.hidden_activations] + ["glorot"]
    params: Params = []
    for ((fan_in, fan_out), _), scheme in zip(spec.shapes(), schemes, strict=True):
        fan = fan_in if scheme == "he" else fan_in + fan_out
        limit = np.sqrt(6.0 / fan)
        W = np.empty((fan_in, fan_out), dtype=dt)
        rows = max(1, _INIT_BLOCK // max(fan_out, 1))
        for start in range(0, fan_in, rows):  # the same stream as one uniform() call
            block = W[start : start + rows]
            block[...] = rng.uniform(-limit, limit, size=block.shape)
        params.append((W, np.zeros(fan_out, dtype=dt)))
    return params


_INIT_BLOCK = 1 << 20  # float64 values drawn at a time by init_params (8 MiB)


# ----------------------------------------------------------------------------------------------
# Memory: refuse sizes that cannot fit before numpy tries to allocate them.


def params_bytes(spec: MLPSpec | Sequence[int], dtype: object = "float64") -> int:
    """Bytes the parameters of ``spec`` take in ``dtype``: every ``W`` and ``b``."""
    spec = as_spec(spec)
    count = sum(fan_in * fan_out + fan_out for (fan_in, fan_out), _ in spec.shapes())
    return count * as_float_dtype(dtype).itemsize


def training_bytes(spec: MLPSpec | Sequence[int], dtype: object, batch_size: int) -> int:
    """An estimate of the memory training ``spec`` in ``dtype`` takes beyond one copy of its
    parameters: the engine's working copy, velocities and gradients, the result's copy, and
    the per-batch buffers (pre-activations, activations, deltas, scratch) of ``batch_size``
    rows. Pass it as ``extra_bytes`` to :func:`check_fits`."""
    spec = as_spec(spec)
    itemsize = as_float_dtype(dtype).itemsize
    per_row = 4 * sum(spec.sizes[1:]) + spec.sizes[0] + spec.sizes[-1]
    return 4 * params_bytes(spec, dtype) + max(int(batch_size), 1) * per_row * itemsize


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now: ``MemAvailable`` from
    ``/proc/meminfo`` where there is one, else ``os.sysconf``'s available pages; ``None``
    when neither tells (then nothing is refused)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the value is in kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def format_bytes(n: float) -> str:
    """``80e9`` -> ``74.5 GiB``; MiB below a GiB."""
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def check_fits(
    spec: MLPSpec | Sequence[int],
    dtype: object = "float64",
    extra_bytes: int = 0,
    what: str = "parameters",
) -> int:
    """Raise ``ValueError`` if the parameters of ``spec`` in ``dtype`` plus ``extra_bytes``
    would not fit in :func:`available_memory`, with the estimate and what is available, e.g.
    ``sizes 100000,100000 need 74.5 GiB of parameters in float64; this machine has 20.1 GiB
    available``; ``what`` names what the bytes are for. Returns the estimate in bytes."""
    spec = as_spec(spec)
    dt = as_float_dtype(dtype)
    need = params_bytes(spec, dt) + int(extra_bytes)
    have = available_memory()
    if have is not None and need > have:
        sizes = ",".join(str(s) for s in spec.sizes)
        raise ValueError(
            f"sizes {sizes} need {format_bytes(need)} of {what} in {dt}; this machine has "
            f"{format_bytes(have)} available; use smaller sizes"
        )
    return need


def check_params(spec: MLPSpec, params: object, name: str = "params") -> Params:
    """Validate ``params`` against ``spec``; return them as a list of numpy ``(W, b)`` tuples.

    All tensors must share one float dtype (float32 or float64), have the shapes of the spec and
    be finite. Raises ``TypeError``/``ValueError`` naming the offending tensor.
    """
    if isinstance(params, (str, bytes, np.ndarray)) or not isinstance(params, Sequence):
        raise TypeError(
            f"{name} must be a list [(W0, b0), (W1, b1), ...] of numpy arrays, "
            f"got {type(params).__name__}"
        )
    if len(params) != spec.num_layers:
        raise ValueError(
            f"{name} has {len(params)} layers but spec {spec.sizes} needs {spec.num_layers} "
            f"(W, b) pairs"
        )
    out: Params = []
    dtype = None
    for i, (layer, (wshape, bshape)) in enumerate(zip(params, spec.shapes(), strict=True)):
        if not isinstance(layer, Sequence) or len(layer) != 2:
            raise TypeError(f"{name}[{i}] must be a pair (W{i}, b{i}), got {type(layer).__name__}")
        pair = []
        for tname, t, shape in ((f"W{i}", layer[0], wshape), (f"b{i}", layer[1], bshape)):
            try:
                a = np.asarray(t)
            except Exception as e:  # pragma: no cover - exotic objects
                raise TypeError(f"{name} tensor {tname} is not array-like: {e}") from e
            if a.dtype not in FLOAT_DTYPES:
                raise TypeError(
                    f"{name} tensor {tname} must be float32 or float64, got dtype {a.dtype}"
                )
            if dtype is None:
                dtype = a.dtype
            elif a.dtype != dtype:
                raise TypeError(
                    f"{name} mixes dtypes: {tname} is {a.dtype} but W0 is {dtype}; use one"
                )
            if a.shape != shape:
                raise ValueError(
                    f"{name} tensor {tname} has shape {a.shape}, expected {shape} for spec "
                    f"sizes {spec.sizes} (W is (fan_in, fan_out))"
                )
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{name} tensor {tname} contains NaN or inf")
            pair.append(a)
        out.append((pair[0], pair[1]))
    return out


def params_dtype(params: Params) -> np.dtype:
    return params[0][0].dtype


def cast_params(params: Params, dtype: object) -> Params:
    dt = as_float_dtype(dtype)
    return [(np.asarray(W, dt), np.asarray(b, dt)) for W, b in params]


def flatten(params: Params) -> dict[str, np.ndarray]:
    """``{"W0": ..., "b0": ..., ...}`` in order from input to output."""
    out: dict[str, np.ndarray] = {}
    for i, (W, b) in enumerate(params):
        out[f"W{i}"] = W
        out[f"b{i}"] = b
    return out


def _as_array(name: str, value: object, form: str) -> np.ndarray:
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as e:  # ragged nested lists, objects numpy cannot convert
        msg = f"{name} must be a numeric array {form}; numpy could not make one: {e}"
        raise ValueError(msg) from None


def check_batch(
    spec: MLPSpec, x: object, y: object | None, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate a batch and return ``x`` (batch, in) and float targets ``y`` (batch, out).

    Integer labels of shape (batch,) are accepted and become one-hot rows (for the losses that
    take class targets). NaN/inf, wrong ranks or widths raise ``ValueError`` naming the argument.
    """
    xa = _as_array("x", x, f"(batch, {spec.sizes[0]})")
    if xa.dtype.kind not in "fiub":
        raise TypeError(f"x must be a numeric array (batch, {spec.sizes[0]}), got {xa.dtype}")
    if xa.ndim != 2 or xa.shape[1] != spec.sizes[0] or xa.shape[0] < 1:
        raise ValueError(
            f"x must have shape (batch, {spec.sizes[0]}) with batch >= 1, got {xa.shape}"
        )
    xa = xa.astype(dtype, copy=False)
    if not np.all(np.isfinite(xa)):
        raise ValueError("x contains NaN or inf")
    if y is None:
        return xa, None
    n_out = spec.sizes[-1]
    ya = _as_array("y", y, f"(batch, {n_out}) or integer labels (batch,)")
    if ya.ndim == 1 and ya.dtype.kind in "iu":
        if ya.shape[0] != xa.shape[0]:
            raise ValueError(f"y has {ya.shape[0]} labels but x has {xa.shape[0]} rows")
        if ya.size and (ya.min() < 0 or ya.max() >= n_out):
            raise ValueError(
                f"integer labels y must lie in [0, {n_out}), got range [{ya.min()}, {ya.max()}]"
            )
        onehot = np.zeros((ya.shape[0], n_out), dtype=dtype)
        onehot[np.arange(ya.shape[0]), ya] = 1
        return xa, onehot
    if ya.dtype.kind not in "fiub":
        raise TypeError(f"y must be a numeric array (batch, {n_out}), got {ya.dtype}")
    if ya.ndim != 2 or ya.shape != (xa.shape[0], n_out):
        raise ValueError(
            f"y must have shape (batch, {n_out}) = ({xa.shape[0]}, {n_out}) matching x, or "
            f"integer labels ({xa.shape[0]},); got {ya.shape}"
        )
    ya = ya.astype(dtype, copy=False)
    if not np.all(np.isfinite(ya)):
        raise ValueError("y contains NaN or inf")
    _check_target_range(spec.loss, ya)
    return xa, ya


def _check_target_range(loss: str, y: np.ndarray) -> None:
    """``y`` must lie in the loss's ``target_range`` (e.g. a negative target would make cross
    entropy negative); the message gives the range as a reader would write it."""
    lo, hi = LOSSES[loss].target_range
    if np.isfinite(lo) and np.isfinite(hi):
        if y.min() < lo or y.max() > hi:
            raise ValueError(f"y must lie in [{lo:g}, {hi:g}] for {loss}")
    elif np.isfinite(lo) and y.min() < lo:
        raise ValueError(f"y must be >= {lo:g} for {loss}")
    elif np.isfinite(hi) and y.max() > hi:
        raise ValueError(f"y must be <= {hi:g} for {loss}")


def check_problem(
    spec: MLPSpec | Sequence[int], params: object, x: object, y: object
) -> tuple[MLPSpec, Params, np.ndarray, np.ndarray]:
    """Validate a whole gradient problem; ``x`` and ``y`` come back in the params' dtype, ``y``
    as float targets (batch, out)."""
    spec = as_spec(spec)
    params = check_params(spec, params)
    x, y = check_batch(spec, x, y, params_dtype(params))
    if y is None:
        raise TypeError("y is required: targets (batch, out) or integer labels (batch,)")
    return spec, params, x, y


# ----------------------------------------------------------------------------------------------
# File format: one .npz holding W0, b0, W1, b1, ... plus sizes, activation, loss.


def save_params(path: str | os.PathLike, spec: MLPSpec, params: Params) -> Path:
    """Write ``params`` and ``spec`` to ``path`` (``.npz`` appended when missing) atomically,
    through :func:`mlp_parity._io.write_atomic`: a failure never leaves a half-written file."""
    spec = as_spec(spec)
    params = check_params(spec, params)
    path = npz_path(path)
    problem = folder_problem(path.parent)
    if problem:
        raise ValueError(f"cannot save to {path}: {problem}")
    act = spec.activation if isinstance(spec.activation, str) else list(spec.activation)
    arrays = dict(flatten(params))
    arrays["sizes"] = np.array(spec.sizes, dtype=np.int64)
    arrays["activation"] = np.array(act)
    arrays["loss"] = np.array(spec.loss)
    try:
        return write_atomic(path, lambda f: np.savez(f, **arrays))
    except OSError as e:  # e.g. the folder refuses a new file: one clean ValueError for the CLI
        raise ValueError(f"cannot save to {path}: {e.strerror or e}") from e


_FORMAT = "an .npz archive holding W0, b0, W1, b1, ..., sizes, activation, loss"


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


def load_params(path: str | os.PathLike) -> tuple[MLPSpec, Params]:
    """Read a file written by :func:`save_params` (``path``, or ``path.npz`` as
    :func:`save_params` names it); return ``(spec, params)``. Anything else, or sizes whose
    parameters would not fit in memory, raises ``ValueError`` naming the file."""
    path = params_file(path)
    z = _open_npz(path)
    try:
        with z:
            missing = [k for k in ("sizes", "activation", "loss") if k not in z.files]
            if missing:
                raise _not_params(path, f"it has no {', '.join(missing)}")
            spec = _spec_from(path, z["sizes"], z["activation"], z["loss"])
            names = [f"{t}{i}" for i in range(spec.num_layers) for t in "Wb"]
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
    raw = [(data[f"W{i}"], data[f"b{i}"]) for i in range(spec.num_layers)]
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


def _spec_from(path: Path, sizes: np.ndarray, act: np.ndarray, loss: np.ndarray) -> MLPSpec:
    activation = str(act) if act.ndim == 0 else tuple(str(a) for a in act)
    try:
        return MLPSpec(tuple(int(s) for s in np.ravel(sizes)), activation, str(loss))
    except (TypeError, ValueError) as e:
        raise ValueError(f"cannot load {path}: {e}") from e
