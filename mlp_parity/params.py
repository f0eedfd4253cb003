"""Parameters in the one layout every backend shares: ``[(W0, b0), (W1, b1), ...]`` with ``W``
shaped (fan_in, fan_out) (Keras' kernel layout) and ``b`` shaped (fan_out,); initialisation,
validation, and the ``.npz`` file format.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._io import npz_path, write_atomic
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


def init_params(spec: MLPSpec | Sequence[int], seed: int = 0, dtype: str = "float64") -> Params:
    """Random initial parameters, deterministic per ``seed``.

    Scheme (biases start at zero): a layer that feeds an activation whose ``init`` fact is
    ``"he"`` (ReLU) gets He-uniform weights, ``U(-sqrt(6/fan_in), +sqrt(6/fan_in))``, which keeps
    the variance of activations constant through rectifiers; every other layer (sigmoid, tanh,
    identity, and the linear output layer) gets Glorot-uniform,
    ``U(-sqrt(6/(fan_in+fan_out)), +...)``, Keras' default for ``Dense``.
    """
    spec = as_spec(spec)
    dt = as_float_dtype(dtype)
    rng = np.random.default_rng(seed)
    # The output layer feeds no activation (the loss applies the output nonlinearity): Glorot.
    schemes = [ACTIVATIONS[act].init for act in spec.hidden_activations] + ["glorot"]
    params: Params = []
    for ((fan_in, fan_out), _), scheme in zip(spec.shapes(), schemes, strict=True):
        fan = fan_in if scheme == "he" else fan_in + fan_out
        limit = np.sqrt(6.0 / fan)
        W = rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dt)
        params.append((W, np.zeros(fan_out, dtype=dt)))
    return params


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


def check_batch(
    spec: MLPSpec, x: object, y: object | None, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate a batch and return ``x`` (batch, in) and float targets ``y`` (batch, out).

    Integer labels of shape (batch,) are accepted and become one-hot rows (for the losses that
    take class targets). NaN/inf, wrong ranks or widths raise ``ValueError`` naming the argument.
    """
    xa = np.asarray(x)
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
    ya = np.asarray(y)
    n_out = spec.sizes[-1]
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
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"cannot save to {path}: folder {folder} does not exist")
    act = spec.activation if isinstance(spec.activation, str) else list(spec.activation)
    arrays = dict(flatten(params))
    arrays["sizes"] = np.array(spec.sizes, dtype=np.int64)
    arrays["activation"] = np.array(act)
    arrays["loss"] = np.array(spec.loss)
    try:
        return write_atomic(path, lambda f: np.savez(f, **arrays))
    except OSError as e:  # e.g. the folder refuses a new file: one clean ValueError for the CLI
        raise ValueError(f"cannot save to {path}: {e.strerror or e}") from e


def load_params(path: str | os.PathLike) -> tuple[MLPSpec, Params]:
    """Read a file written by :func:`save_params`; return ``(spec, params)``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"cannot load {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"cannot load {path}: not a readable .npz file ({e})") from e
    missing = [k for k in ("sizes", "activation", "loss") if k not in data]
    if missing:
        raise ValueError(f"cannot load {path}: missing {missing}; expected a mlp-parity .npz")
    act = data["activation"]
    activation = str(act) if act.ndim == 0 else tuple(str(a) for a in act)
    try:
        spec = MLPSpec(tuple(int(s) for s in data["sizes"]), activation, str(data["loss"]))
    except (TypeError, ValueError) as e:
        raise ValueError(f"cannot load {path}: {e}") from e
    try:
        raw = [(data[f"W{i}"], data[f"b{i}"]) for i in range(spec.num_layers)]
    except KeyError as e:
        raise ValueError(f"cannot load {path}: tensor {e.args[0]} is missing") from e
    try:
        return spec, check_params(spec, raw, name=str(path))
    except (TypeError, ValueError) as e:
        raise ValueError(f"cannot load {path}: {e}") from e
