"""Hypothesis profiles (chosen by HYPOTHESIS_PROFILE): ``dev`` (default, fast), ``ci``,
``thorough``. No deadline anywhere: the first call of a shape compiles (JAX/TF)."""

import atexit
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=20, **_common)
settings.register_profile("ci", max_examples=200, derandomize=True, **_common)
settings.register_profile("thorough", max_examples=2000, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# Commands run in-process turn on JAX's persistent compilation cache: keep it out of the user's
# cache folder (tests of the cache itself set their own).
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="mlp-parity-jax-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


HAS_JAX = _has("jax")
HAS_TF = _has("tensorflow") and _has("keras")

requires_jax = pytest.mark.skipif(not HAS_JAX, reason='needs JAX: pip install "mlp_parity[jax]"')
requires_keras = pytest.mark.skipif(
    not HAS_TF, reason='needs Keras+TensorFlow: pip install "mlp_parity[keras]"'
)
