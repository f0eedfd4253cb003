"""mlp_parity._io, the one atomic writer: all or nothing, ordinary permissions, JSON without
NaN, and write targets checked before long work starts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from mlp_parity import _io


def ordinary_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_write_atomic_writes_with_ordinary_permissions(tmp_path: Path) -> None:
    path = _io.write_atomic(tmp_path / "f.bin", lambda f: f.write(b"data"))
    assert path == tmp_path / "f.bin" and path.read_bytes() == b"data"
    assert path.stat().st_mode & 0o777 == ordinary_mode()  # not mkstemp's 0600
    assert names(tmp_path) == {"f.bin"}


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, error) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def half_then_fail(f) -> None:
        f.write(b"new, half")
        raise error

    with pytest.raises(type(error)):
        _io.write_atomic(path, half_then_fail)
    assert path.read_bytes() == b"old" and names(tmp_path) == {"f.bin"}


def test_write_atomic_into_a_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        _io.write_atomic(tmp_path / "nope" / "f", lambda f: f.write(b"x"))
    assert names(tmp_path) == set()


def test_write_json_nan_becomes_null_and_numpy_scalars_plain(tmp_path: Path) -> None:
    data = {
        "nan": float("nan"),
        "inf": np.float64(np.inf),
        "x": np.float32(1.5),
        "n": np.int64(3),
        "ok": np.bool_(True),
        "rows": (1, [float("-inf"), 2.0]),
        4: "key made a string",
    }
    path = _io.write_json(tmp_path / "r.json", data)
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text and text.endswith("\n")
    assert json.loads(text) == {
        "nan": None,
        "inf": None,
        "x": 1.5,
        "n": 3,
        "ok": True,
        "rows": [1, [None, 2.0]],
        "4": "key made a string",
    }


def test_write_json_of_an_unserialisable_object_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        _io.write_json(tmp_path / "r.json", {"bad": object()})
    assert names(tmp_path) == set()


def test_npz_path() -> None:
    assert _io.npz_path("m") == Path("m.npz")
    assert _io.npz_path("m.npz") == Path("m.npz")
    assert _io.npz_path("dir/m.v1") == Path("dir/m.v1.npz")


def test_check_writable_accepts_a_new_file_and_leaves_no_probe(tmp_path: Path) -> None:
    assert _io.check_writable(tmp_path / "m.npz", "params") == tmp_path / "m.npz"
    assert names(tmp_path) == set()


def test_check_writable_errors_name_the_problem(tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    with pytest.raises(ValueError, match=r"cannot write params .*adir: it is a folder"):
        _io.check_writable(tmp_path / "adir", "params")
    with pytest.raises(ValueError, match=r"folder .*nope does not exist"):
        _io.check_writable(tmp_path / "nope" / "m.npz", "params")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match="afile is a file, not a folder"):
        _io.check_writable(tmp_path / "afile" / "m.npz", "params")


def test_check_writable_folder_that_refuses_a_file(tmp_path: Path, monkeypatch) -> None:
    # What a read-only folder does (simulated: root would be allowed to write anyway).
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_io.tempfile, "mkstemp", refuse)
    with pytest.raises(ValueError, match="cannot write report .*r.json: Permission denied"):
        _io.check_writable(tmp_path / "r.json", "report")


def test_output_folder_creates_and_removes_an_empty_one_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    with pytest.raises(RuntimeError), _io.output_folder(out) as folder:
        assert folder == out and folder.is_dir() and names(folder) == set()
        raise RuntimeError("the job failed")
    assert not out.exists()
    with _io.output_folder(out) as folder:
        (folder / "result.json").write_text("{}")
    assert names(out) == {"result.json"}


def test_output_folder_keeps_a_folder_it_did_not_create(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), _io.output_folder(tmp_path):
        raise RuntimeError("the job failed")
    assert tmp_path.is_dir()


def test_output_folder_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with (
        pytest.raises(ValueError, match="cannot create output folder"),
        _io.output_folder(tmp_path / "afile" / "out"),
    ):
        pass
