"""The command line's persistent compilation caches: on by default, off with
``mlp-parity --no-compile-cache COMMAND``.

JAX keeps compiled programs in ``<user cache dir>/mlp_parity/jax`` (``$XDG_CACHE_HOME`` or
``~/.cache`` on Linux, ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows), so a
second run of a command skips XLA's compilation. JAX is never imported for this: the settings
go into the environment variables JAX reads when it is first imported (or straight into its
config when it already is), so a command that does not use JAX does not load it. A
``JAX_COMPILATION_CACHE_DIR`` already in the environment is kept. Everything is restored when
the command ends (``main()`` may be called in-process, e.g. by tests).

TensorFlow has an equivalent (``TF_XLA_FLAGS="--tf_xla_persistent_cache_directory=DIR
--tf_xla_persistent_cache_device_types=CPU,GPU,TPU"``, read when TensorFlow starts): it does
write the Keras loop's XLA programs there, but it is not set here, since it did not shorten
the first epoch measurably (tracing, not XLA's compilation, dominates it).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

#: JAX's config flags this module sets, with JAX's own defaults (restored after a command).
_JAX_DEFAULTS = {
    "jax_enable_compilation_cache": True,
    "jax_compilation_cache_dir": None,
    "jax_persistent_cache_min_compile_time_secs": 1.0,
}


def user_cache_dir() -> Path:
    """The platform's per-user cache directory."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def jax_cache_dir() -> Path:
    """Where the command line keeps JAX's compiled programs."""
    return user_cache_dir() / "mlp_parity" / "jax"


def jax_settings(enabled: bool) -> dict[str, object]:
    """The JAX config values for a command: the cache in :func:`jax_cache_dir` (every program
    cached, however quick its compilation: the CLI's are all under JAX's 1 s default), or
    JAX's cache turned off."""
    if not enabled:
        return {"jax_enable_compilation_cache": False}
    return {
        "jax_enable_compilation_cache": True,
        "jax_compilation_cache_dir": os.environ.get("JAX_COMPILATION_CACHE_DIR")
        or str(jax_cache_dir()),
        "jax_persistent_cache_min_compile_time_secs": 0.0,
    }


def _env_value(name: str, default: object) -> object:
    """What JAX would read for ``name`` from the environment as it was."""
    raw = os.environ.get(name.upper())
    if raw is None:
        return default
    if isinstance(default, bool):
        return raw.lower() in ("1", "true", "yes", "on")
    if isinstance(default, float):
        return float(raw)
    return raw


def _config_update(settings: dict[str, object]) -> None:
    """Set JAX's config in a process that has imported it; JAX decides once per process
    whether to use its cache, so that decision is reset (a private function: skipped if a
    JAX version lacks it)."""
    jax = sys.modules["jax"]
    for name, value in settings.items():
        jax.config.update(name, value)
    try:
        from jax._src import compilation_cache

        compilation_cache.reset_cache()
    except (ImportError, AttributeError):  # pragma: no cover - another JAX version
        pass


@contextlib.contextmanager
def compile_cache(enabled: bool = True) -> Iterator[None]:
    """Run a command with JAX's persistent compilation cache on (``enabled``) or off; JAX's
    settings and the environment are as before afterwards."""
    settings = jax_settings(enabled)
    jax_loaded = "jax" in sys.modules
    before = {k: _env_value(k, d) for k, d in _JAX_DEFAULTS.items()}
    if jax_loaded:
        jax = sys.modules["jax"]
        before = {k: getattr(jax.config, k) for k in _JAX_DEFAULTS}
        _config_update(settings)
    saved_env = {k.upper(): os.environ.get(k.upper()) for k in settings}
    for name, value in settings.items():
        os.environ[name.upper()] = str(value)
    try:
        yield
    finally:
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if "jax" in sys.modules:
            _config_update({k: before[k] for k in settings})
