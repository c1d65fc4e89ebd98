"""A one-line progress display on stderr for long runs, only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import IO


class Progress:
    def __init__(self, files: int, stream: IO[str] | None = None, *, force: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.enabled = force or (hasattr(self.stream, "isatty") and self.stream.isatty())
        self.files = files
        self.done = 0
        self.claims = 0
        self.start = time.monotonic()
        self._last = 0.0

    def file_done(self, claims: int) -> None:
        self.done += 1
        self.claims += claims
        self.show(force=True)

    def claims_seen(self, claims: int) -> None:
        """Called while a single file is read (claims so far in it)."""
        self.show(extra=claims)

    def show(self, *, extra: int = 0, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        claims = self.claims + extra
        rate = claims / max(now - self.start, 1e-6)
        width = 24
        filled = int(width * self.done / self.files) if self.files else width
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.files} files, {claims:,} claims, {rate:,.0f} claims/s ")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
