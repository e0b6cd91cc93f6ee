"""A one-line progress bar on stderr, for long runs at a terminal (evaluate --cases, backtest)."""

from __future__ import annotations

import sys
import time


class Progress:
    """A one-line progress bar on stderr, by bytes read (the file is never counted twice)."""

    def __init__(self, size: int) -> None:
        self.size, self.read, self.cases = max(size, 1), 0, 0
        self.started = self.shown = time.monotonic()

    def advance(self, nbytes: int) -> None:
        self.read += nbytes
        self.cases += 1
        now = time.monotonic()
        if now - self.shown >= 0.2:
            self.shown = now
            share = min(self.read / self.size, 1.0)
            bar = "#" * int(share * 30)
            rate = self.cases / max(now - self.started, 1e-9)
            sys.stderr.write(f"\r[{bar:<30}] {share:4.0%}  {self.cases:,} lines  {rate:,.0f}/s")
            sys.stderr.flush()

    def done(self, total: int, failed: int) -> None:
        elapsed = time.monotonic() - self.started
        sys.stderr.write(f"\r[{'#' * 30}] 100%  {total:,} cases in {elapsed:.1f}s, {failed} failed\n")
