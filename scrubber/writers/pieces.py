"""The writers as a worker runs them on one piece of a file (scrubber.split): the per-claim output,
without what spans pieces.

Each is the writer itself with its envelope and totals left to the parent: the 277CA writes its
2000C blocks and keeps each transaction's counts and amounts (the parent writes ST, 2200B and SE
from their sums); the accepted 837 writes its loops and claims, numbering HLs from where the
parent says (or from 1, renumbered when stitched) and counting segments for SE01; the JSON report
writes its claim rows and keeps its totals; the worklist its rows. The HTML report writes each row
to a file per list, a rejected claim's row in both forms (all segments, or the segments at fault:
the parent knows which one the page's size budget allows), and marks a text, payer or edit it has
not been given a shared reference for, so that the parent can number it in file order
(scrubber.writers.pieces_html).

Compiled (scrubber._native) with the writers they extend: a Python subclass of a compiled writer
reaches the writer's own methods through generic calls, one per claim and call (the 277CA's
claim, patient and lines, the 837's HL segments), about a tenth of a worker's time.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from typing import IO, Any

from scrubber.model import Group, Interchange, Transaction
from scrubber.writers.accepted837 import Accepted837Writer
from scrubber.writers.ack277 import Ack277Writer
from scrubber.writers.report_json import JsonReportWriter, _Spool
from scrubber.writers.worklist import WorklistWriter

#: a provisional reference (scrubber.writers.pieces_html) as it reads in the JSON text of an HTML row
JSON_MARK = "\\u0000\\u0001"
_BUFFER = 1 << 18


class CountingText:
    """A piece's text file; ``chars`` is where the next character goes (one byte each in latin-1 and
    ASCII), asked only where a transaction's share starts and ends."""

    write: Callable[[str], int]

    def __init__(self, path: str, encoding: str = "latin-1") -> None:
        self.path = path
        # closed by close(); a large buffer: the default's 8 KiB cost a system call per 8 KiB of rows
        self._fh: IO[str] = open(path, "w", buffering=_BUFFER, encoding=encoding, errors="replace", newline="")
        self.write = self._fh.write
        self.text: IO[str] = self._fh

    @property
    def chars(self) -> int:
        return self.tell_bytes()

    def tell_bytes(self) -> int:
        self._fh.flush()
        return self._fh.buffer.tell()  # type: ignore[attr-defined]

    def close(self) -> None:
        self._fh.close()


class Part277:
    """A transaction's 2000C blocks in a piece's 277CA file, with what its 2200B and SE need."""

    def __init__(self, start: int, end: int, counts: tuple[int, int], amounts: tuple[str, str], segments: int,
                 blocks: int) -> None:
        self.start = start
        self.end = end
        self.counts = counts  # claims accepted, rejected
        self.amounts = amounts
        self.segments = segments
        self.blocks = blocks

    def __reduce__(self) -> tuple[Any, ...]:
        # Compiled, a class with required __init__ arguments pickles this way only (scrubber._native).
        return Part277, (self.start, self.end, self.counts, self.amounts, self.segments, self.blocks)


class Piece277(Ack277Writer):
    """2000C blocks of each transaction; HL numbers go on from ``first_hl`` in a continued one.

    The blocks go straight into the piece's file: the writer spools a transaction's blocks only
    because its 2200B header, written first, needs their counts, and here the parent writes that.
    """

    def __init__(self, out: CountingText, *, first_hl: int = 0, now: dt.datetime, control_base: int,
                 source_name: str = "", source_id: str = "") -> None:
        super().__init__(out, now=now, control_base=control_base, source_name=source_name,  # type: ignore[arg-type]
                         source_id=source_id)
        self.piece_out = out
        self.first_hl = first_hl
        self.parts: dict[int, Part277] = {}
        self._start = self._hl_start = 0

    def _start_transaction(self, txn: Transaction) -> None:
        super()._start_transaction(txn)
        if self.first_hl and txn.index == 1:
            self._hl = self.first_hl
        self._hl_start = self._hl
        self._start = self.piece_out.chars

    def _new_body(self) -> IO[str]:
        return self.piece_out.text

    def end_transaction(self, txn: Transaction) -> None:
        if txn is not self._st:
            return
        self._close_block()
        counts = (self._st_counts[0], self._st_counts[1])
        # Each 2000C block and each claim took one HL number.
        blocks = self._hl - self._hl_start - counts[0] - counts[1]
        self.parts[txn.index] = Part277(self._start, self.piece_out.chars, counts,
                                        (str(self._st_amounts[0]), str(self._st_amounts[1])), self._st_segments,
                                        blocks)
        self._body = None
        self._st = None

    def end_group(self, group: Group) -> None:
        pass

    def end_interchange(self, interchange: Interchange) -> None:
        pass


class Part837:
    """A transaction's kept loops and claims in a piece's accepted-837 file."""

    def __init__(self, start: int, end: int, kept: int, segments: int, hls: int, first_hl: int) -> None:
        self.start = start
        self.end = end
        self.kept = kept
        self.segments = segments
        self.hls = hls
        self.first_hl = first_hl  # the HL number its first loop got (0 when none was kept)

    def __reduce__(self) -> tuple[Any, ...]:
        return Part837, (self.start, self.end, self.kept, self.segments, self.hls, self.first_hl)


class Piece837(Accepted837Writer):
    """Kept loops and claims of each transaction; no envelope, header or trailer."""

    def __init__(self, out: CountingText, *, first_hl: int = 0) -> None:
        super().__init__(out)  # type: ignore[arg-type]
        self.piece_out = out
        self._first = False  # the parent writes the first segment of the file
        self.first_hl = first_hl
        self.parts: dict[int, Part837] = {}
        self._start = self._kept = self._hl_start = 0

    def _enter(self, txn: Transaction) -> None:
        self._close_subscriber()
        self._st = txn
        self._segs_in_st = 0
        self._hl = self.first_hl - 1 if self.first_hl and txn.index == 1 else 0
        self._hl_start = self._hl
        self._billing = None
        self._start = self.piece_out.chars
        self._kept = self.accepted

    def end_transaction(self, txn: Transaction) -> None:
        if txn is not self._st:
            return
        self._close_subscriber()
        hls = self._hl - self._hl_start
        self.parts[txn.index] = Part837(self._start, self.piece_out.chars, self.accepted - self._kept,
                                        self._segs_in_st, hls, self._hl_start + 1 if hls else 0)
        self._st = None
        self._billing = None

    def end_group(self, group: Group) -> None:
        pass

    def end_interchange(self, interchange: Interchange) -> None:
        pass

    def finish(self, notices: list[str]) -> None:
        pass


class PieceJson(JsonReportWriter):
    """The piece's rows of both lists (claims with findings, clean claims), each list in its own file."""

    def __init__(self, flagged: CountingText, clean: CountingText) -> None:
        self._files = (flagged, clean)
        super().__init__(io.StringIO(), input_name="", meta={})

    def _new_rows(self) -> tuple[Any, Any]:
        # The report's own row spools, each writing to the piece's file of its list (``,\n`` between rows).
        return _Spool(self._files[0].text), _Spool(self._files[1].text)

    def finish(self, notices: list[str]) -> None:
        pass

    def totals(self) -> dict[str, Any]:
        self._flagged.flush()
        self._clean.flush()
        return {"total": self.total, "accepted": self.accepted, "rejected": self.rejected, "warned": self.warned,
                "charges": str(self.charges), "charges_rejected": str(self.charges_rejected),
                "by_edit": dict(self.by_edit), "flagged": self._flagged.count, "clean": self._clean.count}


class PieceWorklist(WorklistWriter):
    """Rows of the piece; the header row the writer starts with is left out when stitched (``start``)."""

    def __init__(self, out: CountingText) -> None:
        super().__init__(out)  # type: ignore[arg-type]
        self.start = out.tell_bytes()
