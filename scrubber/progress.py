"""The progress bar of a scrub on a terminal: bytes of input done (percentage, time left), claims/s.

Drawn with tqdm on stderr, and only when stderr is a terminal: piped or redirected, a run prints
nothing more than without it. The bar counts bytes of input, over all the inputs of the run; with
``--validate pyx12`` every input is read twice (pyx12, then the scrub), so it counts both passes.

Whoever does the work reports where it is with ``advance(bytes_done, claims_done, stage)``: the
reader every thousand claims (``Options.progress``), pyx12's pieces as they come back, or the parent
of a split run as its workers' pieces are stitched; ``file_done`` when an input is finished. Both
are cheap when called often: the bar is redrawn at most five times a second.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import IO, Any

#: seconds between two redraws
INTERVAL = 0.2


def _size(path: str) -> int:
    """The input's size in bytes; 0 when unknown (standard input, a file that is not there)."""
    try:
        return os.path.getsize(path) if path != "-" else 0
    except OSError:
        return 0


class Progress:
    """Progress over ``inputs`` (paths, or "-" for standard input: its size is not known)."""

    def __init__(self, inputs: Sequence[str] | int, stream: IO[str] | None = None, *, force: bool = False,
                 passes: int = 1) -> None:
        self.stream = stream or sys.stderr
        self.enabled = force or (hasattr(self.stream, "isatty") and self.stream.isatty())
        from scrubber.commit import show_path

        paths = [f"#{i}" for i in range(inputs)] if isinstance(inputs, int) else list(inputs)
        self.sizes = {p: _size(p) for p in paths}
        #: the label an outcome names its input by (scrubber.parallel.scrub_one), to its path
        self.labels = {("stdin" if p == "-" else show_path(p)): p for p in paths}
        self.labels |= {show_path(os.path.abspath(p)): p for p in paths if p != "-"}  # as --dask names them
        self.files = len(paths)
        self.passes = passes
        self.done = 0  # inputs finished
        self.claims = 0  # claims of the inputs finished
        self.base = 0  # bytes (times passes) of the inputs finished
        self.current: tuple[str, int, int] = ("scrub", 0, 0)  # stage, bytes, claims in the input under way
        self.stages: list[str] = []  # stages of the input under way, in order
        self.start = time.monotonic()
        self._last = 0.0
        self._bar: Any = None
        if self.enabled:
            self._draw(self.start)  # at once: tqdm's rate and time left count from here

    # -- what the work reports --------------------------------------------------------------------

    def advance(self, bytes_done: int, claims_done: int, stage: str = "scrub") -> None:
        """Where the input under way is: bytes and claims done in this stage ("pyx12" or "scrub")."""
        if not self.enabled:
            return
        if stage not in self.stages:
            self.stages.append(stage)
        self.current = (stage, bytes_done, claims_done)
        now = time.monotonic()
        if now - self._last >= INTERVAL:
            self._last = now
            self._draw(now)

    def file_done(self, claims: int, path: str | None = None) -> None:
        """An input finished (``path`` as given, or its label in the outcome): its size counts as done."""
        if path is None:
            path = next(iter(self.sizes), "") if self.files == 1 else ""
        self.done += 1
        self.claims += claims
        self.base += self.sizes.get(self.labels.get(path, path), 0) * self.passes
        self.current, self.stages = ("scrub", 0, 0), []
        if self.enabled:
            self._draw(time.monotonic())

    def close(self) -> None:
        if self._bar is not None:
            self._draw(time.monotonic())
            self._bar.close()
            self._bar = None

    # -- drawing ----------------------------------------------------------------------------------

    def _position(self) -> tuple[int, int]:
        _stage, bytes_done, claims_done = self.current
        size = self.current_size()
        earlier = max(0, len(self.stages) - 1) * size  # the passes over the input already done
        return self.base + min(earlier + bytes_done, size * self.passes or earlier + bytes_done), claims_done

    def current_size(self) -> int:
        """Size of the input under way: the next one not finished, in a run of one at a time."""
        sizes = list(self.sizes.values())
        return sizes[self.done] if self.done < len(sizes) else 0

    def _unsized(self) -> bool:
        """A terminal that reports no size (0 x 0, as a bare pseudo-terminal does): tqdm would draw
        nothing there, so it is given 100 x 24."""
        try:
            size = os.get_terminal_size(self.stream.fileno())
        except (AttributeError, OSError, ValueError):
            return True
        return not (size.columns and size.lines)

    def _draw(self, now: float) -> None:
        bar = self._bar
        if bar is None:
            from tqdm import tqdm

            total = sum(self.sizes.values()) * self.passes or None
            fixed = self._unsized()
            bar = self._bar = tqdm(total=total, file=self.stream, unit="B", unit_scale=True, unit_divisor=1024,
                                   dynamic_ncols=not fixed, ncols=100 if fixed else None, nrows=24 if fixed else None,
                                   mininterval=INTERVAL, leave=True, smoothing=0.1)
        done, claims_now = self._position()
        claims = self.claims + claims_now
        rate = claims / max(now - self.start, 1e-6)
        files = f"{self.done}/{self.files} files, " if self.files > 1 else ""
        bar.set_description_str(self.current[0] if self.stages else "scrub", refresh=False)
        bar.set_postfix_str(f"{files}{claims:,} claims, {rate:,.0f} claims/s", refresh=False)
        bar.update(max(0, done - bar.n))
        bar.refresh()
