"""Downloads into the cache, each file checked against its published sha256.

With ``pooch`` installed (``pip install "mlp_parity[data]"``) :func:`pooch.retrieve` does the
work: it streams with ``requests`` (proxies, redirects, retries of the connection), checks the
hash, and moves the file into place only when it matches. Without pooch a small urllib
downloader does the same: it streams through :func:`mlp_parity._io.write_atomic` and raises
before the rename when the size or the sha256 is wrong. A fallback rather than an error because
the core install has no pooch and one checked https GET is all a first ``load_dataset("mnist")``
needs. Either way the cache never holds a partial or unverified file, and ``progress`` draws
one tqdm bar on stderr.

Nothing beyond the standard library is imported until a download starts.

Environment variables:

* ``MLP_PARITY_CACHE``: download cache (default ``~/.cache/mlp_parity``).
* ``MLP_PARITY_OFFLINE``: any value except ``""``, ``0``, ``false``, ``no`` forbids downloads.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from .._io import _umask, write_atomic

DOWNLOAD_TIMEOUT_S = 10.0  # per connect / per read; short so an offline machine fails fast
_HEADERS = {"User-Agent": "mlp_parity"}


class DownloadError(OSError):
    """A download failed for a network reason (not a checksum mismatch)."""


def cache_dir() -> Path:
    env = os.environ.get("MLP_PARITY_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mlp_parity"


def download_blocker(download: bool) -> str | None:
    """Why a download must not be tried now, or None if it may."""
    if not download:
        return "download=False"
    if os.environ.get("MLP_PARITY_OFFLINE", "").strip().lower() not in ("", "0", "false", "no"):
        return "MLP_PARITY_OFFLINE is set"
    return None


def fetch(
    filename: str, base_urls: Sequence[str], dest_dir: Path, sha256: str, progress: bool
) -> Path:
    """Fetch ``filename`` from the first base URL that answers into ``dest_dir``; return its path.

    A sha256 mismatch raises ``ValueError`` at once (another mirror would not help; the file
    is discarded); network failures on every mirror raise :class:`DownloadError`.
    """
    from http.client import HTTPException  # urllib's protocol errors are not OSErrors

    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / filename
    pooch = _pooch()
    errors = []
    for base in base_urls:
        url = base + filename
        try:
            if pooch is None:
                _fetch_urllib(url, dest, sha256, progress)
            else:
                _fetch_pooch(pooch, url, dest, sha256, progress)
            return dest
        except ValueError as exc:
            raise ValueError(f"{dest} (downloaded from {url}): {exc}; discarded the file") from exc
        except (OSError, HTTPException) as exc:  # requests' errors are OSErrors too
            errors.append(f"{url}: {exc}")
    raise DownloadError("; ".join(errors))


def progress_bar(
    label: str, total: int | None = None, *, enabled: bool = True, file: IO[str] | None = None
) -> Any:
    """A tqdm byte counter on stderr (``file``), a no-op when not ``enabled``."""
    from tqdm import tqdm

    return tqdm(
        desc=label,
        total=total,
        unit="B",
        unit_scale=True,
        leave=True,
        mininterval=0.1,
        disable=not enabled,
        file=file,  # None: sys.stderr as it is now (so a captured stderr sees the bar)
    )


def _pooch() -> Any | None:
    """The pooch module, or None when it is not installed (then urllib downloads)."""
    try:
        import pooch
    except ModuleNotFoundError:
        return None
    return pooch


def _fetch_pooch(pooch: Any, url: str, dest: Path, sha256: str, progress: bool) -> None:
    logger, bar = pooch.get_logger(), _PoochBar(dest.name)
    if not progress:  # its "Downloading data from" line is progress output too
        logger.addFilter(_warnings_only)
    downloader = pooch.HTTPDownloader(
        progressbar=bar if progress else False,
        chunk_size=1 << 16,  # its default, 1 KiB, means a bar update per KiB
        timeout=DOWNLOAD_TIMEOUT_S,
        headers=_HEADERS,
    )
    try:
        pooch.retrieve(
            url,
            known_hash=f"sha256:{sha256}",
            fname=dest.name,
            path=dest.parent,
            downloader=downloader,
        )
    except ValueError as exc:  # pooch has deleted the file; say so in our words
        raise ValueError(f"sha256 does not match the published {sha256}") from exc
    finally:
        bar.close()
        logger.removeFilter(_warnings_only)
    os.chmod(dest, 0o666 & ~_umask())  # pooch's temporary file was 0600, as write_atomic's is


def _warnings_only(record: logging.LogRecord) -> bool:
    # A filter, not setLevel: pooch's logger is outside logging's registry, so a level change
    # would not reach its cached isEnabledFor.
    return record.levelno >= logging.WARNING


class _PoochBar:
    """:func:`progress_bar` as pooch drives it: pooch asks ``if progressbar:`` before it sets
    ``total`` (a tqdm without a total refuses ``bool()``), and the bar is drawn only once
    ``total`` arrives with the response, so a mirror that never answers leaves no empty bar."""

    def __init__(self, label: str) -> None:
        self.label, self.bar = label, None

    def __bool__(self) -> bool:
        return True

    @property
    def total(self) -> int | None:
        return None if self.bar is None else self.bar.total

    @total.setter
    def total(self, value: int) -> None:
        self.bar = progress_bar(self.label, value or None)  # 0: the server gave no length

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def reset(self) -> None:
        # pooch resets, then adds the total, to end on the exact size; unknown: keep the count
        if self.bar is not None and self.bar.total is not None:
            self.bar.reset()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _fetch_urllib(url: str, dest: Path, sha256: str, progress: bool) -> None:
    def stream(out: IO[bytes]) -> None:
        digest, received = hashlib.sha256(), 0
        with _urlopen(url, DOWNLOAD_TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with progress_bar(dest.name, total, enabled=progress) as bar:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if total is not None and received != total:
            raise DownloadError(f"incomplete download: {received} of {total} bytes")
        if digest.hexdigest() != sha256:
            raise ValueError(f"sha256 {digest.hexdigest()} does not match the published {sha256}")

    write_atomic(dest, stream)  # raising in stream removes the temporary file


def _urlopen(url: str, timeout: float) -> Any:
    """Open ``url`` (the urllib downloader's one network call; tests replace it)."""
    import urllib.request

    request = urllib.request.Request(url, headers=_HEADERS)
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (https URLs only)
