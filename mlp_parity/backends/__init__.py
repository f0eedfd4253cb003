"""The gradient engines, found through a lazy registry: ``import mlp_parity`` imports no
framework; a backend's module (and its framework) is imported the first time it is used.

Every engine takes and returns plain numpy arrays. Each backend module provides
``loss_and_grad(spec, params, x, y) -> (float, grads)`` and ``logits(spec, params, x)``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

from ..params import Params, check_batch, check_params, check_problem, params_dtype
from ..spec import LOSSES, MLPSpec, as_spec

# name -> (module, extra to install, the framework's import name)
BACKENDS: dict[str, tuple[str, str | None, str | None]] = {
    "numpy": ("numpy_backprop", None, None),
    "jax": ("jax_autodiff", "jax", "jax"),
    "keras": ("keras_tf", "keras", "tensorflow"),
    "finite_difference": ("finite_difference", None, None),
}
AUTODIFF = ("jax", "keras")


def get_backend(name: str) -> ModuleType:
    """The backend module ``name``; an actionable ``ImportError`` if its framework is missing."""
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {list(BACKENDS)}")
    module, extra, framework = BACKENDS[name]
    try:
        return importlib.import_module(f"{__name__}.{module}")
    except ModuleNotFoundError as e:
        if (
            extra is None
            or e.name is None
            or e.name.split(".")[0] not in (framework, "keras", "jax", "jaxlib")
        ):
            raise
        raise ImportError(
            f"backend {name!r} needs {e.name}, which is not installed: "
            f'pip install "mlp_parity[{extra}]"'
        ) from e


def available_backends() -> list[str]:
    """Backends whose frameworks are installed (checked without importing them)."""
    import importlib.util

    return [n for n, (_, _, fw) in BACKENDS.items() if fw is None or importlib.util.find_spec(fw)]


def loss_and_grad(
    spec: MLPSpec, params: Params, x: np.ndarray, y: np.ndarray, backend: str = "numpy"
) -> tuple[float, Params]:
    """Loss (a float) and its gradients in the params' layout and dtype.

    Args:
        spec: the network (or a sizes tuple).
        params: ``[(W, b), ...]``, ``W`` (fan_in, fan_out), all float32 or all float64.
        x: inputs (batch, in).
        y: targets (batch, out), or integer labels (batch,).
        backend: ``numpy`` (hand-written), ``jax``, ``keras`` (TensorFlow) or
            ``finite_difference`` (float64 oracle).
    """
    mod = get_backend(backend)
    spec, params, x, y = check_problem(spec, params, x, y)
    # C order: finite differences perturb W through a flat view (a copy of a transposed W)
    params = [(np.ascontiguousarray(W), np.ascontiguousarray(b)) for W, b in params]
    dtype = params_dtype(params)
    value, grads = mod.loss_and_grad(spec, params, x, y)
    grads = [(np.asarray(gW, dtype), np.asarray(gb, dtype)) for gW, gb in grads]
    return value, grads


def forward(spec: MLPSpec, params: Params, x: np.ndarray, backend: str = "numpy") -> np.ndarray:
    """Logits (batch, out): the linear output of the last layer."""
    spec = as_spec(spec)
    mod = get_backend(backend)
    params = check_params(spec, params)
    x, _ = check_batch(spec, x, None, params_dtype(params))
    return np.asarray(mod.logits(spec, params, x), params_dtype(params))


def predict(spec: MLPSpec, params: Params, x: np.ndarray, backend: str = "numpy") -> np.ndarray:
    """The network's output after the loss's nonlinearity (batch, out): softmax probabilities,
    sigmoid probabilities, or the raw values for ``mse``."""
    spec = as_spec(spec)
    z = forward(spec, params, x, backend)
    return LOSSES[spec.loss].output(z)


def to_keras(spec: MLPSpec, params: Params, **kwargs):
    """The network as a compiled ``keras.Sequential`` (TensorFlow backend) with ``params``
    loaded; ``kwargs`` go to :func:`mlp_parity.backends.keras_tf.to_keras`."""
    spec = as_spec(spec)
    params = check_params(spec, params)
    return get_backend("keras").to_keras(spec, params, **kwargs)
