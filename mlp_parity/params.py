"""Parameters in the one layout every backend shares: ``[(W0, b0), (W1, b1), ...]`` with ``W``
shaped (fan_in, fan_out) (Keras' kernel layout) and ``b`` shaped (fan_out,); a spec with
``use_bias=False`` has a plain list ``[W0, W1, ...]`` instead (its *user layout*; gradients
too). :func:`as_pairs` and :func:`from_pairs` convert between a spec's user layout and the
pairs the engines compute on (zero biases without ``use_bias``). Initialisation, validation;
the ``.npz`` file format is in :mod:`mlp_parity.params_io`, re-exported here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .spec import ACTIVATIONS, LOSSES, MLPSpec, as_spec

#: The engines' layout: ``[(W, b), ...]``.
Params = list[tuple[np.ndarray, np.ndarray]]
#: A spec's user layout: ``Params``, or ``[W0, W1, ...]`` when ``use_bias`` is False.
UserParams = Params | list[np.ndarray]
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
) -> UserParams:
    """Random initial parameters in the spec's user layout (``[W0, W1, ...]`` when
    ``use_bias`` is False: the same weights), deterministic per ``seed``.

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
    return from_pairs(spec, params)


_INIT_BLOCK = 1 << 20  # float64 values drawn at a time by init_params (8 MiB)


# ----------------------------------------------------------------------------------------------
# Memory: refuse sizes that cannot fit before numpy tries to allocate them.


def params_bytes(spec: MLPSpec | Sequence[int], dtype: object = "float64") -> int:
    """Bytes the parameters of ``spec`` take in ``dtype``: every ``W`` and ``b``."""
    return as_spec(spec).num_params * as_float_dtype(dtype).itemsize


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


def _tensor(name: str, tname: str, t: object, shape: tuple, dtype: np.dtype | None, spec):
    """One validated tensor: float32/float64, ``dtype`` when given, ``shape``, finite."""
    try:
        a = np.asarray(t)
    except Exception as e:  # pragma: no cover - exotic objects
        raise TypeError(f"{name} tensor {tname} is not array-like: {e}") from e
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} tensor {tname} must be float32 or float64, got dtype {a.dtype}")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{name} mixes dtypes: {tname} is {a.dtype} but W0 is {dtype}; use one")
    if a.shape != shape:
        raise ValueError(
            f"{name} tensor {tname} has shape {a.shape}, expected {shape} for spec "
            f"sizes {spec.sizes} (W is (fan_in, fan_out))"
        )
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} tensor {tname} contains NaN or inf")
    return a


def _is_pair(layer: object) -> bool:
    return isinstance(layer, Sequence) and not isinstance(layer, (str, bytes)) and len(layer) == 2


def _layers(spec: MLPSpec, params: object, name: str) -> Sequence:
    form = "[(W0, b0), (W1, b1), ...]" if spec.use_bias else "[W0, W1, ...] (use_bias=False)"
    if isinstance(params, (str, bytes, np.ndarray)) or not isinstance(params, Sequence):
        raise TypeError(
            f"{name} must be a list {form} of numpy arrays, got {type(params).__name__}"
        )
    if len(params) != spec.num_layers:
        what = "(W, b) pairs" if spec.use_bias else "weight matrices (use_bias=False)"
        raise ValueError(
            f"{name} has {len(params)} layers but spec {spec.sizes} needs {spec.num_layers} {what}"
        )
    return params


def as_pairs(spec: MLPSpec, params: object, name: str = "params") -> Params:
    """Validate ``params`` in ``spec``'s user layout and return the engines' pairs
    ``[(W, b), ...]``: with ``use_bias=False`` each ``W`` gets a zero bias (pairs whose biases
    are all zero are accepted too). All tensors must share one float dtype (float32 or
    float64), have the shapes of the spec and be finite; ``TypeError``/``ValueError`` name the
    offending tensor."""
    layers = _layers(spec, params, name)
    out: Params = []
    dtype = None
    for i, (layer, (wshape, bshape)) in enumerate(zip(layers, spec.shapes(), strict=True)):
        if spec.use_bias:
            if not _is_pair(layer):
                raise TypeError(
                    f"{name}[{i}] must be a pair (W{i}, b{i}), got {type(layer).__name__}"
                    + (
                        "; a spec with use_bias=False takes a plain list [W0, W1, ...]"
                        if isinstance(layer, np.ndarray)
                        else ""
                    )
                )
            W = _tensor(name, f"W{i}", layer[0], wshape, dtype, spec)
            dtype = W.dtype
            b = _tensor(name, f"b{i}", layer[1], bshape, dtype, spec)
        else:
            if _is_pair(layer) and np.ndim(layer[0]) == 2:  # a pair, not a W written as lists
                W = _tensor(name, f"W{i}", layer[0], wshape, dtype, spec)
                b = _tensor(name, f"b{i}", layer[1], bshape, W.dtype, spec)
                if np.any(b != 0):
                    raise ValueError(
                        f"{name}[{i}] has a nonzero bias b{i} but the spec has use_bias=False: "
                        f"pass [W0, W1, ...] (or use_bias=True)"
                    )
            else:
                W = _tensor(name, f"W{i}", layer, wshape, dtype, spec)
                b = np.zeros(bshape, W.dtype)
            dtype = W.dtype
        out.append((W, b))
    return out


def from_pairs(spec: MLPSpec, pairs: Params) -> UserParams:
    """The engines' pairs ``[(W, b), ...]`` in ``spec``'s user layout: the pairs themselves
    with ``use_bias``, else the plain list ``[W0, W1, ...]`` (the biases dropped)."""
    if spec.use_bias:
        return [(W, b) for W, b in pairs]
    return [W for W, _ in pairs]


def check_params(spec: MLPSpec, params: object, name: str = "params") -> UserParams:
    """Validate ``params`` against ``spec``; return them in the spec's user layout as numpy
    arrays: ``[(W, b), ...]``, or ``[W0, W1, ...]`` when ``use_bias`` is False. See
    :func:`as_pairs` for the rules; it returns the engines' pairs instead."""
    return from_pairs(spec, as_pairs(spec, params, name))


def _tensors(params: UserParams) -> list[np.ndarray]:
    """Every tensor of either layout, in order."""
    out: list[np.ndarray] = []
    for layer in params:
        if isinstance(layer, np.ndarray):
            out.append(layer)
        else:
            out.extend(layer)
    return out


def params_dtype(params: UserParams) -> np.dtype:
    """The dtype of the first tensor (either layout)."""
    return np.asarray(_tensors(params)[0]).dtype


def cast_params(params: UserParams, dtype: object) -> UserParams:
    """``params`` (either layout, kept) in ``dtype``."""
    dt = as_float_dtype(dtype)
    return [
        np.asarray(layer, dt)
        if isinstance(layer, np.ndarray)
        else tuple(np.asarray(t, dt) for t in layer)
        for layer in params
    ]


def flatten(params: UserParams) -> dict[str, np.ndarray]:
    """``{"W0": ..., "b0": ..., ...}`` in order from input to output (``{"W0": ..., "W1": ...}``
    for a plain list of weights)."""
    out: dict[str, np.ndarray] = {}
    for i, layer in enumerate(params):
        if isinstance(layer, np.ndarray):
            out[f"W{i}"] = layer
        else:
            out[f"W{i}"], out[f"b{i}"] = layer
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
    """Validate a whole gradient problem; the params come back as the engines' pairs
    (:func:`as_pairs`), ``x`` and ``y`` in the params' dtype, ``y`` as float targets
    (batch, out)."""
    spec = as_spec(spec)
    params = as_pairs(spec, params)
    x, y = check_batch(spec, x, y, params_dtype(params))
    if y is None:
        raise TypeError("y is required: targets (batch, out) or integer labels (batch,)")
    return spec, params, x, y


# The file format, re-exported: ``from mlp_parity.params import save_params`` keeps working.
from .params_io import load_params, params_file, save_params  # noqa: E402

__all__ = [
    "FLOAT_DTYPES",
    "Params",
    "UserParams",
    "as_float_dtype",
    "as_pairs",
    "available_memory",
    "cast_params",
    "check_batch",
    "check_fits",
    "check_params",
    "check_problem",
    "flatten",
    "format_bytes",
    "from_pairs",
    "init_params",
    "load_params",
    "params_bytes",
    "params_dtype",
    "params_file",
    "save_params",
    "training_bytes",
]
