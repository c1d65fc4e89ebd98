"""The writers as a worker runs them on one piece of a file (scrubber.split): the per-claim output,
without what spans pieces.

Each is the writer itself with its envelope and totals left to the parent: the 277CA writes its
2000C blocks and keeps each transaction's counts and amounts (the parent writes ST, 2200B and SE
from their sums); the accepted 837 writes its loops and claims, numbering HLs from where the
parent says (or from 1, renumbered when stitched) and counting segments for SE01; the JSON report
writes its claim rows and keeps its totals; the worklist its rows. The HTML report writes each row
to a file per list, a rejected claim's row in both forms (all segments, or the segments at fault:
the parent knows which one the page's size budget allows), and marks a text, payer or edit it has
not been given a shared reference for, so that the parent can number it in file order.
"""

from __future__ import annotations

import io
from array import array
from dataclasses import dataclass, field
from typing import Any

from scrubber.model import Group, Interchange, ScrubbedClaim, Transaction
from scrubber.writers.accepted837 import Accepted837Writer
from scrubber.writers.ack277 import Ack277Writer
from scrubber.writers.report_html import HtmlReportWriter, Limits
from scrubber.writers.report_json import JsonReportWriter, _Spool
from scrubber.writers.worklist import WorklistWriter

#: opens and closes a provisional reference in an HTML row; no text reaches a row with these
#: characters (``scrubber.text.for_markup`` turns control characters into U+FFFD)
MARK_OPEN, MARK_CLOSE = "\x00\x01", "\x01\x00"
#: the same in the JSON text of a row
JSON_MARK = "\\u0000\\u0001"
_UNLIMITED = 1 << 62
_BUFFER = 1 << 18


class CountingText:
    """A piece's text file; ``chars`` is where the next character goes (one byte each in latin-1 and
    ASCII), asked only where a transaction's share starts and ends."""

    def __init__(self, path: str, encoding: str = "latin-1") -> None:
        self.path = path
        # closed by close(); a large buffer: the default's 8 KiB cost a system call per 8 KiB of rows
        self._fh = open(path, "w", buffering=_BUFFER, encoding=encoding, errors="replace", newline="")
        self.write = self._fh.write
        self.text = self._fh

    @property
    def chars(self) -> int:
        return self.tell_bytes()

    def tell_bytes(self) -> int:
        self._fh.flush()
        return self._fh.buffer.tell()

    def close(self) -> None:
        self._fh.close()


@dataclass(slots=True)
class Part277:
    start: int
    end: int
    counts: tuple[int, int]  # claims accepted, rejected
    amounts: tuple[str, str]
    segments: int
    blocks: int


class Piece277(Ack277Writer):
    """2000C blocks of each transaction; HL numbers go on from ``first_hl`` in a continued one."""

    def __init__(self, out: CountingText, *, first_hl: int = 0, **kwargs: Any) -> None:
        super().__init__(out, **kwargs)  # type: ignore[arg-type]
        self.first_hl = first_hl
        self.parts: dict[int, Part277] = {}
        self._blocks = 0

    def _start_transaction(self, txn: Transaction) -> None:
        super()._start_transaction(txn)
        if self.first_hl and txn.index == 1:
            self._hl = self.first_hl
        self._blocks = 0

    def _close_block(self) -> None:
        if self._block is not None:
            self._blocks += 1
        super()._close_block()

    def end_transaction(self, txn: Transaction) -> None:
        if txn is not self._st:
            return
        self._close_block()
        body = self._body
        assert body is not None
        start = self.out.chars  # type: ignore[attr-defined]
        body.seek(0)
        while chunk := body.read(1 << 20):
            self.out.write(chunk)
        body.close()
        self.parts[txn.index] = Part277(start, self.out.chars, (self._st_counts[0], self._st_counts[1]),  # type: ignore[attr-defined]
                                        (str(self._st_amounts[0]), str(self._st_amounts[1])), self._st_segments,
                                        self._blocks)
        self._body = None
        self._st = None

    def end_group(self, group: Group) -> None:
        pass

    def end_interchange(self, interchange: Interchange) -> None:
        pass


@dataclass(slots=True)
class Part837:
    start: int
    end: int
    kept: int
    segments: int
    hls: int
    first_hl: int  # the HL number its first loop got (0 when none was kept)


class Piece837(Accepted837Writer):
    """Kept loops and claims of each transaction; no envelope, header or trailer."""

    def __init__(self, out: CountingText, *, first_hl: int = 0) -> None:
        super().__init__(out)  # type: ignore[arg-type]
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
        self._start = self.out.chars  # type: ignore[attr-defined]
        self._kept = self.accepted

    def end_transaction(self, txn: Transaction) -> None:
        if txn is not self._st:
            return
        self._close_subscriber()
        hls = self._hl - self._hl_start
        self.parts[txn.index] = Part837(self._start, self.out.chars, self.accepted - self._kept,  # type: ignore[attr-defined]
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
        super().__init__(io.StringIO(), input_name="", meta={})
        # The report's own row spools, each writing to the piece's file of its list (``,\n`` between rows).
        self._flagged = _Spool(flagged.text)
        self._clean = _Spool(clean.text)

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
        self.out = out
        self.start = out.tell_bytes()


# -- the HTML report ------------------------------------------------------------------------------

def mark(tag: str, n: int) -> str:
    return f"{MARK_OPEN}{tag}{n}{MARK_CLOSE}"


class _EditMark(str):
    """A provisional edit reference; sorts among the given (int) ones by its provisional number."""

    number: int

    def __lt__(self, other: object) -> bool:
        return self.number < (other.number if isinstance(other, _EditMark) else other)  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        return self.number > (other.number if isinstance(other, _EditMark) else other)  # type: ignore[operator]


class _Shared(dict):
    """A shared-reference table seeded with the parent's; a value it lacks gets a mark.

    Every use of a mark is noted in ``uses`` (tag, number), in the order the writer asks: the
    parent numbers a value where the writer would have, at its first use in a row that is listed.
    """

    def __init__(self, seed: dict, tag: str, uses: list[tuple[str, int]], cap: int | None = None) -> None:
        super().__init__(seed)
        self.tag = tag
        self.uses = uses
        self.local: dict[Any, str] = {}
        self.base = len(seed)
        #: the page's table is full: a value it lacks is written out where it is used, as the writer does
        self.full = cap is not None and len(seed) >= cap

    def get(self, key: Any, default: Any = None) -> Any:
        ref = dict.get(self, key)
        if ref is not None:
            return ref
        if self.full:
            return None  # the writer writes the value out itself
        ref = self.local.get(key)
        if ref is None:
            n = len(self.local)
            ref = mark(self.tag, n)
            if self.tag == "E":
                ref = _EditMark(ref)
                ref.number = self.base + n
            self.local[key] = ref
        self.uses.append((self.tag, int(ref[3:-2])))
        return ref

    def setdefault(self, key: Any, default: Any = None) -> Any:
        return self.get(key)


class _PayerCounts(dict):
    """Claims per payer keyed by the payer's mark too (the writer keys a reference it lacks as "")."""

    def __init__(self, writer: PieceHtml) -> None:
        super().__init__()
        self.writer = writer

    def setdefault(self, key: Any, default: Any = None) -> Any:
        last = self.writer.last_payer
        if key == "" and isinstance(last, str) and last.startswith(MARK_OPEN):
            key = last
        return dict.setdefault(self, key, default)


class RowFile:
    """One list's rows, each followed by a comma (as the page joins them), with each row's length in
    characters (the page's budgets count those) and in bytes (where the next row starts), standing
    in for the writer's spool."""

    size = 0  # never at a budget: the parent applies the budgets
    budget = None

    def __init__(self, path: str) -> None:
        self.path = path
        self._fh = open(path, "wb")  # closed by close()
        self.chars = array("q")
        self.nbytes = array("q")
        self.count = 0

    def fits(self) -> bool:
        return True

    def add(self, element: str) -> None:
        data = element.encode("utf-8", "replace") + b","
        self._fh.write(data)
        self.chars.append(len(element))
        self.nbytes.append(len(data))
        self.count += 1

    def close(self) -> None:
        self._fh.close()

    def index(self) -> tuple[str, bytes, bytes]:
        return self.path, self.chars.tobytes(), self.nbytes.tobytes()


@dataclass(slots=True)
class HtmlSeed:
    """The parent's shared-reference tables when the piece was handed out."""

    strings: dict[str, int] = field(default_factory=dict)
    payers: dict[tuple[str, str], int] = field(default_factory=dict)
    edits: dict[str, int] = field(default_factory=dict)
    caps: tuple[int, int] = (0, 0)  # the page's caps on shared texts and payers


class PieceHtml(HtmlReportWriter):
    """Rows to four files: rejected claims in full, and again with the segments at fault only; warned;
    accepted (the parent picks what the page's budgets allow)."""

    def __init__(self, stem: str, *, seed: HtmlSeed, registry: Any = None, titles: dict[str, str] | None = None) -> None:
        limits = Limits(rejected_full_bytes=_UNLIMITED, warned_bytes=_UNLIMITED, accepted_bytes=_UNLIMITED,
                        strings=seed.caps[0], payers=seed.caps[1])
        super().__init__(io.StringIO(), input_name="", meta={}, limits=limits, registry=registry, titles=titles)
        self.uses: list[tuple[str, int]] = []
        self.strings = _Shared(seed.strings, "T", self.uses, seed.caps[0])
        self.payers = _Shared(seed.payers, "P", self.uses, seed.caps[1])
        self.edits = _Shared(seed.edits, "E", self.uses)
        self.payer_counts = _PayerCounts(self)
        self.rows = {kind: RowFile(f"{stem}.html-{kind}") for kind in ("rejected", "short", "warned", "accepted")}
        self.spools = {kind: self.rows[kind] for kind in ("rejected", "warned", "accepted")}  # type: ignore[misc]
        self.last_payer: Any = None
        #: one letter a claim: r(ejected), w(arned), a(ccepted)
        self.order: list[str] = []
        #: (claim in the piece, its list's letter, uses[a:b]) for claims that used a mark
        self.row_uses: list[tuple[int, str, int, int]] = []

    def _payer(self, c: Any) -> int | str:
        self.last_payer = super()._payer(c)
        return self.last_payer

    def claim(self, scrubbed: ScrubbedClaim) -> None:
        before, rejected = len(self.uses), self.rejected
        super().claim(scrubbed)
        if self.rejected > rejected:
            self.rows["short"].add(self._row(scrubbed, self.last_payer, full=False))
            kind = "r"
        else:
            kind = "w" if scrubbed.findings else "a"
        if len(self.uses) > before:
            self.row_uses.append((len(self.order), kind, before, len(self.uses)))
        self.order.append(kind)

    def finish(self, notices: list[str]) -> None:
        pass

    def close(self) -> None:
        for rows in self.rows.values():
            rows.close()

    def result(self) -> dict[str, Any]:
        return {
            "total": self.total, "accepted": self.accepted, "rejected": self.rejected, "warned": self.warned,
            "charges": str(self.charges), "charges_rejected": str(self.charges_rejected),
            "findings": dict(self.findings), "claims_by_edit": dict(self.claims_by_edit),
            "payer_counts": [(k, v) for k, v in self.payer_counts.items()],
            "values": {t.tag: list(t.local) for t in (self.strings, self.payers, self.edits)},  # type: ignore[attr-defined]
            "uses": self.uses, "row_uses": self.row_uses, "order": "".join(self.order),
            "edit_base": self.edits.base,  # type: ignore[attr-defined]
            "rows": {kind: rows.index() for kind, rows in self.rows.items()},
        }
