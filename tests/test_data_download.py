"""Tests for mlp_parity.data.download and the loaders' download steps, through both downloaders:
urllib (pooch hidden) and pooch (its HTTP layer faked; its hashing and caching real).

No test touches the network: HOME, the caches and both HTTP layers are redirected per test.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import sys
from pathlib import Path

import pytest
from data_fakes import (
    BACKENDS,
    HAS_POOCH,
    STEMS,
    FakeResponse,
    assert_matches,
    fake_set,
    files_under,
    idx_bytes,
    isolate,
    network_down,
    npz_bytes,
    serve,
    write,
)

from mlp_parity import data
from mlp_parity.data import download, sources


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate(monkeypatch, tmp_path)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def ordinary_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


# --------------------------------------------------------------------------- through load_dataset


def test_download_verifies_caches_and_reuses(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], backend
) -> None:
    arrays = fake_set(seed=8)
    payload = npz_bytes(arrays)
    monkeypatch.setattr(sources, "MNIST_NPZ_SHA256", hashlib.sha256(payload).hexdigest())
    hits = serve(monkeypatch, {"mnist.npz": payload}, backend)
    ds = data.load_dataset("mnist", progress=True)
    assert ds.name == "mnist" and ds.source.startswith("downloaded to")
    assert_matches(ds, arrays)
    cached = isolated / "cache" / "mnist.npz"
    assert files_under(isolated / "cache") == [cached]
    assert cached.stat().st_mode & 0o777 == ordinary_mode()  # not the temporary file's 0600
    assert "mnist.npz" in capsys.readouterr().err  # the progress bar
    again = data.load_dataset("mnist")
    assert len(hits) == 1 and again.source.startswith("cache")


def test_no_progress_means_a_quiet_stderr(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], backend
) -> None:
    payload = npz_bytes(fake_set())
    monkeypatch.setattr(sources, "MNIST_NPZ_SHA256", hashlib.sha256(payload).hexdigest())
    serve(monkeypatch, {"mnist.npz": payload}, backend)
    assert data.load_dataset("mnist", progress=False).name == "mnist"
    assert capsys.readouterr().err == ""


def test_mnist_network_failure_falls_back_and_leaves_no_file(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], backend
) -> None:
    urls = serve(monkeypatch, {"mnist.npz": network_down(backend)}, backend)
    ds = data.load_dataset("mnist", progress=False)
    assert ds.name == "mnist-sample" and urls
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no network" in err
    assert files_under(isolated / "cache") == []


def test_download_false_never_downloads(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MLP_PARITY_OFFLINE")  # both HTTP layers still raise if called
    assert data.load_dataset("mnist", download=False).name == "mnist-sample"
    assert "download=False" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["1", "yes", "True"])
def test_offline_env_var_blocks_downloads(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("MLP_PARITY_OFFLINE", value)
    assert download.download_blocker(True) == "MLP_PARITY_OFFLINE is set"
    for off in ("", "0", "false", "No"):
        monkeypatch.setenv("MLP_PARITY_OFFLINE", off)
        assert download.download_blocker(True) is None
    assert download.download_blocker(False) == "download=False"


def test_downloaded_checksum_mismatch_rejected(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, backend
) -> None:
    # a valid npz, not the published one
    serve(monkeypatch, {"mnist.npz": npz_bytes(fake_set())}, backend)
    with pytest.raises(ValueError, match="sha256.*does not match"):
        data.load_dataset("mnist", progress=False)
    assert files_under(isolated / "cache") == []


def test_cached_file_with_wrong_checksum_rejected(isolated: Path) -> None:
    cached = write(isolated / "cache" / "mnist.npz", npz_bytes(fake_set()))
    with pytest.raises(ValueError, match=re.escape(str(cached)) + ".*sha256"):
        data.load_dataset("mnist")


def test_fashion_download_checksum_mismatch_leaves_nothing(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, backend
) -> None:
    arrays = fake_set()
    serve(
        monkeypatch,
        {f"{stem}.gz": gzip.compress(idx_bytes(arrays[r])) for r, stem in STEMS.items()},
        backend,
    )
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz.*sha256"):
        data.load_dataset("fashion-mnist", progress=False)
    assert files_under(isolated / "cache") == []


def test_fashion_download_success(isolated: Path, monkeypatch: pytest.MonkeyPatch, backend) -> None:
    arrays = fake_set(seed=9)
    payloads = {f"{stem}.gz": gzip.compress(idx_bytes(arrays[r])) for r, stem in STEMS.items()}
    sums = {name[:-3]: hashlib.sha256(p).hexdigest() for name, p in payloads.items()}
    monkeypatch.setattr(sources, "FASHION_IDX_SHA256", sums)
    serve(monkeypatch, payloads, backend)
    ds = data.load_dataset("fashion-mnist", progress=False)
    assert_matches(ds, arrays)
    assert len(files_under(isolated / "cache" / "fashion-mnist")) == 4


def test_fashion_unavailable_raises_without_fallback() -> None:
    with pytest.raises(data.DatasetUnavailableError, match="Fashion-MNIST not available"):
        data.load_dataset("fashion-mnist")


def test_incomplete_download_is_a_network_failure(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # urllib only: with pooch, requests/urllib3 check the length and raise a ConnectionError.
    def short(url: str, timeout: float) -> FakeResponse:
        response = FakeResponse(b"abc")
        response.headers = {"Content-Length": "1000"}
        return response

    monkeypatch.delenv("MLP_PARITY_OFFLINE")
    monkeypatch.setattr(download, "_pooch", lambda: None)
    monkeypatch.setattr(download, "_urlopen", short)
    assert data.load_dataset("mnist", progress=False).name == "mnist-sample"
    assert "incomplete download" in capsys.readouterr().err
    assert files_under(isolated / "cache") == []


# --------------------------------------------------------------------------- fetch itself


def test_fetch_tries_the_next_mirror(isolated: Path, monkeypatch: pytest.MonkeyPatch, backend):
    payload = b"the file"
    answers = {
        "https://one/f.bin": network_down(backend, "mirror one is down"),
        "https://two/f.bin": payload,
    }
    hits = serve(monkeypatch, answers, backend)
    sha = hashlib.sha256(payload).hexdigest()
    path = download.fetch("f.bin", ("https://one/", "https://two/"), isolated / "c", sha, False)
    assert path.read_bytes() == payload and hits == list(answers)
    assert files_under(isolated / "c") == [path]


def test_fetch_all_mirrors_down_names_each(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, backend
):
    answers = {u: network_down(backend, f"{u} is down") for u in ("https://a/f", "https://b/f")}
    serve(monkeypatch, answers, backend)
    with pytest.raises(download.DownloadError) as info:
        download.fetch("f", ("https://a/", "https://b/"), isolated / "c", "0" * 64, False)
    assert "https://a/f is down" in str(info.value) and "https://b/f is down" in str(info.value)
    assert isinstance(info.value, OSError) and files_under(isolated / "c") == []


def test_checksum_mismatch_stops_at_the_first_mirror(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, backend
) -> None:
    answers = {"https://a/f": b"not it", "https://b/f": b"not it either"}
    hits = serve(monkeypatch, answers, backend)
    with pytest.raises(ValueError, match=r"f \(downloaded from https://a/f\): sha256"):
        download.fetch("f", ("https://a/", "https://b/"), isolated / "c", "0" * 64, False)
    assert hits == ["https://a/f"] and files_under(isolated / "c") == []


@pytest.mark.skipif(not HAS_POOCH, reason="pooch not installed")
def test_pooch_retrieve_gets_the_hash_the_cache_and_a_timeout(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pooch

    payload = npz_bytes(fake_set(seed=2))
    sha = hashlib.sha256(payload).hexdigest()
    monkeypatch.setattr(sources, "MNIST_NPZ_SHA256", sha)
    monkeypatch.delenv("MLP_PARITY_OFFLINE")
    monkeypatch.setattr(pooch, "HTTPDownloader", lambda **kwargs: kwargs)
    calls = []

    def fake_retrieve(url: str, **kwargs: object) -> str:
        calls.append((url, kwargs))
        target = Path(kwargs["path"]) / str(kwargs["fname"])
        target.write_bytes(payload)
        return str(target)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    ds = data.load_dataset("mnist", progress=False)
    assert ds.name == "mnist" and ds.source.startswith("downloaded to")
    [(url, kwargs)] = calls
    assert url == sources.MNIST_NPZ_URLS[0] + "mnist.npz"
    assert kwargs["known_hash"] == f"sha256:{sha}"
    assert Path(kwargs["path"]) == isolated / "cache" and kwargs["fname"] == "mnist.npz"
    assert kwargs["downloader"]["timeout"] == download.DOWNLOAD_TIMEOUT_S
    assert kwargs["downloader"]["progressbar"] is False


def test_without_pooch_urllib_downloads(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pooch", None)  # `import pooch` now fails
    assert download._pooch() is None
    payload = b"x" * 70_000  # more than one read
    hits = []

    def fake_urlopen(url: str, timeout: float) -> FakeResponse:
        hits.append(url)
        return FakeResponse(payload)

    monkeypatch.setattr(download, "_urlopen", fake_urlopen)
    sha = hashlib.sha256(payload).hexdigest()
    path = download.fetch("f.bin", ("https://m/",), isolated / "c", sha, progress=True)
    assert path.read_bytes() == payload and hits == ["https://m/f.bin"]
    assert files_under(isolated / "c") == [path]
    assert "f.bin" in capsys.readouterr().err


def test_progress_bar_format() -> None:
    out = io.StringIO()
    with download.progress_bar("f.gz", 2_000_000, file=out) as bar:
        bar.update(1_000_000)
        bar.update(1_000_000)
    text = out.getvalue()
    assert "f.gz" in text and "100%" in text and "2.00M/2.00M" in text
    assert "\r" in text and text.endswith("\n")
    quiet = io.StringIO()
    with download.progress_bar("f.gz", 10, enabled=False, file=quiet) as bar:
        bar.update(10)
    assert quiet.getvalue() == ""
