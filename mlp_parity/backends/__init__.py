"""The gradient engines, found through a lazy registry: ``import mlp_parity`` imports no
framework; a backend's module (and its framework) is imported the first time it is used.

Every engine takes and returns plain numpy arrays. Each backend module provides
``loss_and_grad(spec, pairs, x, y) -> (float, grad_pairs)`` and ``logits(spec, pairs, x)`` on
the engines' ``[(W, b), ...]`` pairs (zero biases for a spec with ``use_bias=False``); the public
functions here take and return the spec's user layout (:func:`mlp_parity.params.as_pairs`,
:func:`mlp_parity.params.from_pairs`).
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

from ..params import (
    UserParams,
    as_pairs,
    check_batch,
    check_params,
    check_problem,
    from_pairs,
    params_dtype,
)
from ..spec import MLPSpec, as_spec
from ..spec.conventions import network_output

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
    spec: MLPSpec, params: UserParams, x: np.ndarray, y: np.ndarray, backend: str = "numpy"
) -> tuple[float, UserParams]:
    """Loss (a float) and its gradients in the params' layout and dtype.

    The loss is the spec's whole loss: the output activation, the loss's terms reduced and
    scaled (``reduction``, ``loss_scale``), plus ``l2 * sum of W**2``.

    Args:
        spec: the network (or a sizes tuple).
        params: ``[(W, b), ...]``, ``W`` (fan_in, fan_out), all float32 or all float64; a plain
            ``[W0, W1, ...]`` for a spec with ``use_bias=False`` (its gradients come back so).
        x: inputs (batch, in).
        y: targets (batch, out), or integer labels (batch,).
        backend: ``numpy`` (hand-written), ``jax``, ``keras`` (TensorFlow) or
            ``finite_difference`` (float64 oracle).
    """
    mod = get_backend(backend)
    spec, pairs, x, y = check_problem(spec, params, x, y)
    # C order: finite differences perturb W through a flat view (a copy of a transposed W)
    pairs = [(np.ascontiguousarray(W), np.ascontiguousarray(b)) for W, b in pairs]
    dtype = params_dtype(pairs)
    value, grads = mod.loss_and_grad(spec, pairs, x, y)
    grads = [(np.asarray(gW, dtype), np.asarray(gb, dtype)) for gW, gb in grads]
    return value, from_pairs(spec, grads)


def forward(spec: MLPSpec, params: UserParams, x: np.ndarray, backend: str = "numpy") -> np.ndarray:
    """Logits (batch, out): the last layer's pre-activation ``z``, before the output
    activation and the loss."""
    spec = as_spec(spec)
    mod = get_backend(backend)
    pairs = as_pairs(spec, params)
    x, _ = check_batch(spec, x, None, params_dtype(pairs))
    return np.asarray(mod.logits(spec, pairs, x), params_dtype(pairs))


def predict(spec: MLPSpec, params: UserParams, x: np.ndarray, backend: str = "numpy") -> np.ndarray:
    """The network's output (batch, out): the output activation's values (sigmoid or softmax
    probabilities), else the loss's own nonlinearity (softmax or sigmoid probabilities for the
    cross-entropies on logits), else the raw values (``mse`` with the identity output):
    :func:`mlp_parity.spec.conventions.network_output`."""
    spec = as_spec(spec)
    z = forward(spec, params, x, backend)
    return network_output(spec, z)


def to_keras(spec: MLPSpec, params: UserParams, **kwargs):
    """The network as a compiled ``keras.Sequential`` (TensorFlow backend) with ``params``
    (the spec's user layout) loaded and the spec's conventions (output activation, loss,
    reduction, loss_scale, L2, biases); ``kwargs`` go to
    :func:`mlp_parity.backends.keras_tf.to_keras`."""
    spec = as_spec(spec)
    params = check_params(spec, params)
    return get_backend("keras").to_keras(spec, params, **kwargs)
