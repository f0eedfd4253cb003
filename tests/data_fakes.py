"""Fakes shared by the tests of mlp_parity.data: tiny IDX/npz files, an isolated HOME and cache,
and downloads answered from memory (urllib's ``_urlopen`` or pooch's ``HTTPDownloader``)."""

from __future__ import annotations

import gzip
import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest

from mlp_parity.data import Dataset, download, sources

HAS_POOCH = importlib.util.find_spec("pooch") is not None
STEMS = sources.IDX_FILES
# The two downloaders: urllib (pooch hidden) and pooch (its HTTP layer faked, the rest real).
BACKENDS = [
    "urllib",
    pytest.param("pooch", marks=pytest.mark.skipif(not HAS_POOCH, reason="pooch not installed")),
]


def isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point HOME, the caches and system dirs at tmp_path; make any network use fail loudly."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MLP_PARITY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MLP_PARITY_OFFLINE", "1")
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setattr(sources, "SYSTEM_FASHION_DIRS", (tmp_path / "system-fashion",))

    def no_network(url: str, *args: object, **kwargs: object) -> None:
        raise AssertionError(f"test tried to open {url}")

    monkeypatch.setattr(download, "_urlopen", no_network)
    if HAS_POOCH:
        import pooch

        monkeypatch.setattr(pooch, "HTTPDownloader", lambda **kwargs: no_network)
    return tmp_path


def idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    """Encode a uint8 array as IDX (type 0x08)."""
    magic = 0x0800 | arr.ndim if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + np.ascontiguousarray(arr, dtype=np.uint8).tobytes()


def write(path: Path, payload: bytes, *, gz: bool | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    gz = path.suffix == ".gz" if gz is None else gz
    path.write_bytes(gzip.compress(payload, mtime=0) if gz else payload)
    return path


def fake_set(n_train: int = 6, n_val: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
        "x_val": rng.integers(0, 256, (n_val, 28, 28), dtype=np.uint8),
        "y_val": rng.integers(0, 10, n_val).astype(np.uint8),
    }


def write_idx_set(directory: Path, arrays: dict[str, np.ndarray], gz: bool = True) -> None:
    for role, stem in STEMS.items():
        write(directory / (stem + (".gz" if gz else "")), idx_bytes(arrays[role]))


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(
        buf,
        x_train=arrays["x_train"],
        y_train=arrays["y_train"],
        x_test=arrays["x_val"],
        y_test=arrays["y_val"],
    )
    return buf.getvalue()


def assert_matches(ds: Dataset, arrays: dict[str, np.ndarray]) -> None:
    for split in ("train", "val"):
        x, y = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
        n = len(arrays[f"x_{split}"])
        assert x.shape == (n, 784) and x.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int64
        np.testing.assert_array_equal(x, arrays[f"x_{split}"].reshape(n, 784) / np.float32(255))
        np.testing.assert_array_equal(y, arrays[f"y_{split}"])


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


class FakeResponse(io.BytesIO):
    def __init__(self, payload: bytes) -> None:
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))}


def network_down(backend: str, why: str = "no network") -> OSError:
    """The error each backend's HTTP layer raises when the host cannot be reached."""
    if backend == "urllib":
        import urllib.error

        return urllib.error.URLError(why)
    import requests

    return requests.exceptions.ConnectionError(why)


def serve(
    monkeypatch: pytest.MonkeyPatch, payloads: dict[str, bytes | BaseException], backend: str
) -> list[str]:
    """Allow downloads and answer them from ``payloads`` (keyed by the whole URL or the file
    name; an exception is raised instead) through ``backend``'s HTTP layer; return the URLs
    hit."""
    hits: list[str] = []

    def answer(url: str) -> bytes:
        hits.append(url)
        payload = payloads[url] if url in payloads else payloads[url.rsplit("/", 1)[1]]
        if isinstance(payload, BaseException):
            raise payload
        return payload

    monkeypatch.delenv("MLP_PARITY_OFFLINE")
    if backend == "urllib":
        monkeypatch.setattr(download, "_pooch", lambda: None)

        def fake_urlopen(url: str, timeout: float) -> FakeResponse:
            assert timeout <= 30
            return FakeResponse(answer(url))

        monkeypatch.setattr(download, "_urlopen", fake_urlopen)
        return hits

    import pooch

    class FakeHTTPDownloader:
        """pooch.HTTPDownloader's contract: write ``url``'s bytes to ``output_file``."""

        def __init__(self, progressbar: object = False, **kwargs: object) -> None:
            assert kwargs["timeout"] <= 30
            self.progressbar = progressbar

        def __call__(self, url: str, output_file: str, pooch: object) -> None:
            payload = answer(url)
            Path(output_file).write_bytes(payload)
            if self.progressbar:  # as pooch drives it: total, chunks, reset, exact size
                self.progressbar.total = len(payload)
                self.progressbar.update(len(payload))
                self.progressbar.reset()
                self.progressbar.update(len(payload))
                self.progressbar.close()

    monkeypatch.setattr(pooch, "HTTPDownloader", FakeHTTPDownloader)
    return hits
