"""One large file over several processes, with the same outputs as a single-process run.

The file is cut at billing-provider loops (2000A), each piece made into a small file of its own
(the piece's ISA, GS and transaction header, its 2000A loops, and closing SE/GE/IEA) that a worker
reads and checks. Workers send back only findings, keyed by (transaction, claim position). The
parent reads the whole file once more, in order, takes each claim's findings from the workers and
feeds the writers, so every output is written exactly as a single-process run writes it.

Checks are pure functions of a claim and its loops, and a piece holds the claim's whole context
(envelope, header, billing provider, subscriber, patient); the one thing a piece cannot see is a
structural problem spread across pieces (a repeated HL id), so any claim the parent reads as
structurally broken is checked by the parent itself.
"""

from __future__ import annotations

import bisect
import io
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scrubber.errors import InputError
from scrubber.model import ClaimUnit, Finding
from scrubber.pool import stopping
from scrubber.x12.segments import MAX_SEGMENT, Segment, Tokenizer

#: files smaller than this are not worth the second pass
MIN_SPLIT_BYTES = 1 << 20


@dataclass(slots=True)
class Unit:
    """One 2000A loop of one transaction: where it is and which claims it holds."""

    st: int  # global ordinal of the transaction (Transaction.index)
    first_claim: int  # position of its first claim within the transaction, from 0
    claims: int
    start: int  # byte offsets [start, end) in the file
    end: int
    first_number: int  # segment number of its first segment within the ST
    segments: int = 0


@dataclass(slots=True)
class Piece:
    """Consecutive units of one transaction, with what a worker needs to read them alone."""

    envelope: bytes  # ISA + GS, terminated
    header: bytes  # ST ... up to the first HL, terminated
    header_segments: int
    trailer: tuple[str, str, str, str]  # element separator, terminator, ST02, "GS06|ISA13"
    units: list[Unit] = field(default_factory=list)

    @property
    def claims(self) -> int:
        return sum(u.claims for u in self.units)


def plan(path: str | Path, pieces: int, max_segment: int = MAX_SEGMENT) -> list[Piece] | None:
    """Cut ``path`` into about ``pieces`` pieces of similar claim counts, or None when not worth it.

    None too for a file whose envelope is out of order (an ST outside a GS, say): the parent's
    one pass reads it, and reports what is wrong and where, as a single process does.
    """
    path = Path(path)
    if pieces < 2 or path.stat().st_size < MIN_SPLIT_BYTES:
        return None
    with open(path, "rb") as fh:
        head = fh.read(4)
        if head[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(head) > 3 and head[1:4:2] == b"\0\0"):
            return None  # offsets of decoded UTF-16 are not byte offsets
        fh.seek(0)
        units_by_st: list[tuple[bytes, bytes, int, tuple[str, str, str, str], list[Unit]]] = []
        tok = Tokenizer(fh, max_segment)
        isa = gs = b""
        gs_control = isa_control = ""
        header: list[Segment] = []
        in_header = False
        st_index = 0
        unit: Unit | None = None
        units: list[Unit] = []
        position = 0
        number = 0
        st_control = ""
        for seg in tok:
            sid = seg.els[0]
            d = tok.delimiters
            if sid == "ISA":
                isa = (seg.raw.lstrip() + d.segment).encode("latin-1")
            elif sid == "GS":
                gs = (seg.raw.lstrip() + d.segment).encode("latin-1")
                gs_control = seg.el(6)
                isa_control = isa.decode("latin-1").split(d.element)[13] if isa else ""
            elif sid == "ST":
                if not gs:
                    return None
                st_index += 1
                number = 1
                header = [seg]
                in_header = True
                units = []
                unit = None
                position = 0
                st_control = seg.el(2)
            elif sid == "SE":
                if not header:
                    return None
                if unit is not None:
                    unit.end = seg.offset
                    unit.segments = number - unit.first_number + 1
                text = "".join((s.raw.lstrip() if i == 0 else s.raw) + d.segment for i, s in enumerate(header))
                units_by_st.append((isa + gs, text.encode("latin-1"), len(header),
                                    (d.element, d.segment, st_control, f"{gs_control}|{isa_control}"), units))
                in_header = False
            else:
                number += 1
                if sid == "HL" and seg.el(3) == "20":
                    in_header = False
                    if unit is not None:
                        unit.end = seg.offset
                        unit.segments = number - unit.first_number
                    unit = Unit(st_index, position, 0, seg.offset, seg.offset, number)
                    units.append(unit)
                elif in_header:
                    if sid == "CLM":
                        return None  # a claim before any loop: read such a file in one piece
                    header.append(seg)
                elif sid == "CLM":
                    # Every claim counts for positions, even one outside any 2000A loop (the
                    # parent checks those itself), so the parent's positions and ours agree.
                    position += 1
                    if unit is not None:
                        unit.claims += 1
    all_units = [(e, h, n, t, u) for e, h, n, t, us in units_by_st for u in us]
    total = sum(u.claims for *_x, u in all_units)
    if len(all_units) < 2 or total < 2:
        return None
    target = total / pieces
    out: list[Piece] = []
    for envelope, hdr, n, trailer, u in all_units:
        last = out[-1] if out else None
        if last is None or last.units[-1].st != u.st or last.claims >= target:
            out.append(Piece(envelope, hdr, n, trailer))
        out[-1].units.append(u)
    return out


def piece_bytes(path: str | Path, piece: Piece) -> bytes:
    """The small file a worker reads: the piece's envelope, header and units, properly closed."""
    sep, term, st_control, controls = piece.trailer
    gs_control, isa_control = controls.split("|")
    chunks = [piece.envelope, piece.header]
    with open(path, "rb") as fh:
        for u in piece.units:
            fh.seek(u.start)
            chunks.append(fh.read(u.end - u.start))
    tail = f"SE{sep}0{sep}{st_control}{term}GE{sep}1{sep}{gs_control}{term}IEA{sep}1{sep}{isa_control}{term}"
    chunks.append(tail.encode("latin-1"))
    return b"".join(chunks)


_ENGINES: dict[Any, Any] = {}


def check_piece(path: str, piece: Piece, options: Any) -> dict[tuple[int, int], tuple[list[Finding], bool]]:
    """Worker: the findings of every claim of a piece, keyed by (transaction, claim position)."""
    from scrubber.engine import Engine
    from scrubber.x12.reader import Reader

    key = (id(options.payers) if options.payers is not None else None, repr(getattr(options, "rules", None)),
           getattr(options, "ncci", None))
    engine = _ENGINES.get(key)
    if engine is None:
        engine = _ENGINES[key] = Engine(payers=options.payers, only=options.only_edits,
                                        rules=getattr(options, "rules", None), ncci=getattr(options, "ncci", None))
    out: dict[tuple[int, int], tuple[list[Finding], bool]] = {}
    if stopping():
        return out
    reader = Reader(io.BytesIO(piece_bytes(path, piece)), options.max_segment)
    try:
        _check_events(reader, piece, engine, out)
    except InputError:
        # A piece is a file of our making: an error in it is the input's, and the parent's own
        # pass over the whole file reports it at its real position. Claims not checked here are
        # checked by the parent.
        pass
    return out


def _check_events(reader: Any, piece: Piece, engine: Any, out: dict[tuple[int, int], tuple[list[Finding], bool]]
                  ) -> None:
    units = iter(piece.units)
    unit = next(units)
    seen_in_unit = 0
    number_in_piece = piece.header_segments + 1
    for ev in reader.events():
        if not isinstance(ev, ClaimUnit):
            continue
        while seen_in_unit >= unit.claims:
            number_in_piece += unit.segments
            unit = next(units)
            seen_in_unit = 0
        findings = engine.check(ev)
        delta = unit.first_number - number_in_piece
        for f in findings:
            if f.segment_number is not None:
                f.segment_number += delta
        out[(unit.st, unit.first_claim + seen_in_unit)] = (findings, bool(ev.problems))
        seen_in_unit += 1


class SplitFindings:
    """The parent's view: findings per claim from the workers, in file order."""

    def __init__(self, path: str, pieces: list[Piece], options: Any, pool: ProcessPoolExecutor) -> None:
        self.futures: list[Future | None] = [pool.submit(check_piece, path, p, options) for p in pieces]
        self.pieces = pieces
        self._next = 0
        self._results: dict[tuple[int, int], tuple[list[Finding], bool]] = {}
        self._loaded: set[int] = set()
        # (transaction, first claim position) of each unit -> its piece; looked up per claim.
        self._units = sorted(((u.st, u.first_claim, u.claims, i) for i, p in enumerate(pieces) for u in p.units))

    def _piece_of(self, st: int, position: int) -> int | None:
        k = bisect.bisect_right(self._units, (st, position, float("inf"), 0)) - 1
        if k < 0:
            return None
        u_st, first, count, piece = self._units[k]
        return piece if u_st == st and first <= position < first + count else None

    def get(self, st: int, position: int) -> tuple[list[Finding], bool] | None:
        i = self._piece_of(st, position)
        if i is None:
            return None
        if i not in self._loaded:
            future = self.futures[i]
            self.futures[i] = None  # type: ignore[call-overload]  # let the piece's results go once read
            self._results.update(future.result())
            self._loaded.add(i)
        return self._results.pop((st, position), None)


