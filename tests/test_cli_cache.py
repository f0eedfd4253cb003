"""The command line's persistent compilation cache (``mlp_parity.cli._cache``): JAX's compiled
programs kept in the user cache directory, unless ``--no-compile-cache``; JAX never imported by
a command that does not use it."""

import os
import subprocess
import sys

import pytest
from conftest import requires_jax

from mlp_parity.cli import _cache

TRAIN = ["train", "--sizes", "784,8,10", "--epochs", "1", "--batch-size", "256"]


def _run(tmp_path, code: str) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]


@requires_jax
def test_jax_commands_fill_the_cache_and_the_flag_turns_it_off(tmp_path):
    """In a fresh process (as a user runs it): a numpy command loads no JAX; a jax command
    leaves compiled programs in <XDG_CACHE_HOME>/mlp_parity/jax; with --no-compile-cache it
    leaves nothing."""
    cached, uncached = tmp_path / "on", tmp_path / "off"
    _run(
        cached,
        "import sys\nfrom mlp_parity.cli import main\n"
        f"assert main({TRAIN + ['--backend', 'numpy']!r}) == 0\n"
        "assert 'jax' not in sys.modules, 'a numpy command imported jax'\n"
        f"assert main({TRAIN + ['--backend', 'jax']!r}) == 0\n",
    )
    assert any((cached / "mlp_parity" / "jax").iterdir())
    _run(
        uncached,
        "from mlp_parity.cli import main\n"
        f"assert main({['--no-compile-cache', *TRAIN, '--backend', 'jax']!r}) == 0\n",
    )
    jax_dir = uncached / "mlp_parity" / "jax"
    assert not jax_dir.exists() or not any(jax_dir.iterdir())


def test_cache_settings_are_restored_after_a_command(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    before = dict(os.environ)
    jax_before = sys.modules["jax"].config.jax_compilation_cache_dir if "jax" in sys.modules else 0
    with _cache.compile_cache(True):
        assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "mlp_parity" / "jax")
        if "jax" in sys.modules:
            expected = str(_cache.jax_cache_dir())
            assert sys.modules["jax"].config.jax_compilation_cache_dir == expected
    assert dict(os.environ) == before
    with _cache.compile_cache(False):
        assert os.environ["JAX_ENABLE_COMPILATION_CACHE"] == "False"
    assert dict(os.environ) == before
    if "jax" in sys.modules and jax_before != 0:
        assert sys.modules["jax"].config.jax_compilation_cache_dir == jax_before


def test_a_users_jax_cache_dir_is_kept(monkeypatch, tmp_path):
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "mine"))
    assert _cache.jax_settings(True)["jax_compilation_cache_dir"] == str(tmp_path / "mine")
    assert _cache.jax_settings(False) == {"jax_enable_compilation_cache": False}


def test_the_flag_is_global_and_documented(capsys):
    import pytest

    from mlp_parity.cli import build_parser

    assert build_parser().parse_args(["--no-compile-cache", "check"]).no_compile_cache
    assert not build_parser().parse_args(["check"]).no_compile_cache
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    assert "--no-compile-cache" in capsys.readouterr().out


def test_wall_breakdown_splits_compilation_from_training():
    from mlp_parity.train.timing import timed_import, wall_breakdown

    b = wall_breakdown(1.5, 5.0, [2.0, 1.0, 1.2])
    assert b["compile"] == pytest.approx(0.8)  # 2.0 less the later epochs' median, 1.2
    assert b["train"] == pytest.approx(3.4)  # every epoch less the compilation
    assert b["build"] == pytest.approx(0.8) and b["total"] == pytest.approx(6.5)
    assert wall_breakdown(0.0, 2.0, [1.5])["compile"] == 0.0
    assert timed_import("numpy") == 0.0  # already imported


def test_the_executable_freezes_the_heap_after_the_command_only(monkeypatch):
    """``entry`` (the console script, ``python -m mlp_parity``) runs ``main`` and then freezes
    the garbage collector's heap, so that exiting skips a last full collection; ``main``
    itself, which tests and notebooks call, leaves the collector alone."""
    import gc

    import mlp_parity.cli as cli

    events = []
    monkeypatch.setattr(cli, "main", lambda argv=None: events.append("main") or 7)
    monkeypatch.setattr(gc, "freeze", lambda: events.append("freeze"))
    assert cli.entry() == 7 and events == ["main", "freeze"]


def test_python_dash_m_runs_the_executable():
    done = subprocess.run(
        [sys.executable, "-m", "mlp_parity", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "usage: mlp-parity" in done.stdout
