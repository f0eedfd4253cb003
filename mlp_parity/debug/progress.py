"""Progress of a long :func:`~mlp_parity.debug.check_backprop` search on stderr: a tqdm bar on a
terminal, else a plain line every :data:`LINE_INTERVAL` seconds (logs and CI keep one line per
update, not a redrawn bar)."""

from __future__ import annotations

import sys
import time
from typing import IO, Any

import numpy as np

from .search import SearchOutcome

#: Seconds between two plain progress lines when the stream is not a terminal.
LINE_INTERVAL = 5.0


def check_progress(progress: object) -> bool | None:
    """``progress`` is None (a bar when stderr is a terminal), True or False."""
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be True, False or None, got {progress!r}")
    return None if progress is None else bool(progress)


class SearchProgress:
    """``on_call`` for :func:`~mlp_parity.debug.search.find_failure`: examples tried out of
    ``max_examples`` while searching, then the calls spent shrinking a failure."""

    def __init__(
        self, max_examples: int, enabled: bool | None, stream: IO[str] | None = None
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = tty if enabled is None else enabled
        self.bar_mode = self.enabled and tty
        self.max_examples = max_examples
        self.start = self.last_line = time.perf_counter()
        self.bar: Any = None
        self.shrinking = False

    def __call__(self, out: SearchOutcome) -> None:
        if not self.enabled:
            return
        if self.bar_mode:
            self._bar(out)
        elif time.perf_counter() - self.last_line >= LINE_INTERVAL:
            self.last_line = time.perf_counter()
            print(self.line(out), file=self.stream, flush=True)

    def line(self, out: SearchOutcome) -> str:
        """``check_backprop: 12 of at most 100 examples, no mismatch yet (24 s)``, or while
        shrinking ``... mismatch found after 7 examples; shrinking it: 12 calls (3 s)``."""
        secs = time.perf_counter() - self.start
        if out.failing is None:
            return (
                f"check_backprop: {out.searched} of at most {self.max_examples} examples, "
                f"no mismatch yet ({secs:.0f} s)"
            )
        return (
            f"check_backprop: mismatch found after {out.searched} examples; shrinking it: "
            f"{out.shrunk} calls ({secs:.0f} s)"
        )

    def _bar(self, out: SearchOutcome) -> None:
        from tqdm import tqdm  # imported only when a bar is drawn

        if self.bar is None:
            self.bar = tqdm(
                total=self.max_examples,
                desc="check_backprop",
                unit="example",
                file=self.stream,
                leave=False,
                mininterval=0.1,
                dynamic_ncols=True,
            )
        if out.failing is not None and not self.shrinking:
            self.shrinking = True
            self.bar.close()
            self.bar = tqdm(
                desc=f"check_backprop: mismatch after {out.searched} examples, shrinking",
                unit="call",
                file=self.stream,
                leave=False,
                mininterval=0.1,
                dynamic_ncols=True,
            )
        n = out.shrunk if self.shrinking else out.searched
        self.bar.update(n - self.bar.n)

    def close(self) -> None:
        """Erase the bar, if any."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
