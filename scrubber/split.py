"""One large file over several processes, with the outputs of a single-process run, byte for byte.

Design (``--jobs N`` on one file; ``--jobs 1`` is the reference path, ``scrubber.api.run``):

1. **Plan** (parent, this module). A pre-scan at C speed (``bytes.find``/``count`` over chunks,
   no tokenizing) finds the envelope (ISA, GS, ST, SE, GE, IEA) and cuts the file into pieces of a
   few megabytes: between transactions where they are small, at billing-provider loops (2000A)
   inside a large one. It also counts, up to each cut, what the numbering after it depends on:
   claims before it in the file (claim ordinals), and inside a transaction its segments, HLs,
   2000A loops and claims (segment numbers, the validator's HL count, the 277CA's HL numbers).
   Pieces are handed out as they are found, so workers start at once; the first ones are small,
   so the tables that make reports smaller (shared texts, payers) fill early.
2. **Work** (workers, ``scrubber.piecework``). A worker reads its piece as a file of its own: the
   real bytes, preceded by copies of the envelope and transaction header they sit in and followed
   by synthetic trailers. It does everything a single process does per claim: reads the claims,
   runs the per-claim edits, the built-in implementation-guide validator on the piece (numbering
   and HL counts continue from the plan's counts, so errors and findings name the same segments),
   the cross-claim edits within the piece, and writes its share of every output to files in the
   output set's staging folder: 277CA blocks and the counts and amounts its 2200B/2200C headers
   need, accepted-837 spans per transaction (with their HL numbers and segment counts), JSON
   rows, worklist rows and HTML rows (texts and payers the page shares by reference are numbered
   provisionally). It sends back small things only: counts, totals, validator errors, and the
   cross-claim keys (``runindex``) its claims look up and record.
3. **Reconcile** (parent, ``scrubber.stitch``), piece by piece in file order, as they complete.
   Workers report what they counted; where that differs from the plan (a file the pre-scan could
   not count exactly), the piece is done again with the right numbers. Cross-claim edits: the
   parent keeps a compact filter of the keys recorded by accepted claims of earlier pieces; a
   piece whose lookups meet one of them (the same claim, or the same patient, provider and day, in
   an earlier piece) is done again with the index seeded by those earlier claims, so first-claim-
   wins holds across pieces exactly as in one process. This is rare in real files; everything
   else is reused as the worker wrote it.
4. **Stitch** (parent, ``scrubber.writers.stitching``). The writers' own envelope and header code
   writes what spans pieces from summed totals: the 277CA's ISA/GS/ST, 2200B counts and SE01, the
   accepted 837's envelopes and control counts (its HL numbers renumbered where a transaction was
   cut), the JSON and HTML headers and totals, the 999. Pieces' files are copied in, never parsed,
   except HTML rows that carry provisional references or sit at a size budget's edge.

Anything the plan cannot vouch for (an envelope out of order, UTF-16, a BOM, empty segments, HL
ids that repeat or name parents across pieces, delimiters that change) is read by the single-
process path instead, which reports what is wrong and where. An unusable input is reported by
the piece that meets it, at its position in the file; Ctrl-C stops the workers and commits
nothing. Every process reads a bounded window: memory does not grow with the file.

Limits: a transaction is cut only between billing-provider loops, so a file of one transaction
with a single 2000A loop goes to one worker; a file of very many tiny transactions spends parent
time per transaction on the envelopes, as a single process does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from scrubber.errors import InputError
from scrubber.x12.segments import MAX_SEGMENT, Delimiters, parse_isa

#: files smaller than this are read by one process
MIN_SPLIT_BYTES = 1 << 20
#: piece sizes (bytes): the first pieces small (the page's shared tables fill before big pieces go
#: out, so that few rows need renumbering), then about the remaining bytes
#: over twice the workers, between these bounds (smaller at the end, so no worker waits long)
FIRST_PIECE = 256 << 10
MIN_PIECE = 512 << 10
MAX_PIECE = 8 << 20
_CHUNK = 8 << 20
_OVERLAP = 512  # bytes read past a chunk so that a pattern across its end is seen once
_WS = b" \t\r\n"
_PADDING = b"\x00\x1a"
#: what may stand between a terminator and the next segment for the pre-scan to find it
_LEADS = (b"", b"\n", b"\r\n")


class PlanError(Exception):
    """The pre-scan cannot vouch for the file's structure: read it in one process."""


@dataclass(slots=True)
class Bases:
    """What comes before a piece: the numbering of its first transaction continues from these."""

    ordinal: int = 0  # claims before the piece in the file
    segment: int = 0  # number of the piece's first segment in its transaction (0: it starts one)
    claims: int = 0  # claims of that transaction before the piece
    hls: int = 0  # HL segments of that transaction before the piece
    blocks: int = 0  # 2000A loops of that transaction before the piece (277CA 2000C blocks)


@dataclass(slots=True)
class Piece:
    """Bytes [start, end) of the file, with the context a worker needs to read them alone."""

    index: int
    start: int
    end: int
    prefix: bytes  # copies of the ISA, GS and (inside a transaction) its header the bytes sit in
    suffix: bytes  # synthetic SE/GE/IEA closing what is open at ``end``
    header_segments: int  # segments of the copied transaction header (0 unless ``cont``)
    first_st: int  # global ordinal of the first transaction read (continued or started)
    first_group: int
    first_ix: int
    cont: bool  # starts inside a transaction, at a 2000A loop
    tail: bool  # ends inside a transaction
    bases: Bases = field(default_factory=Bases)
    last_st: int = 0

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(slots=True)
class Txn:
    index: int
    group: int
    control: str
    se_els: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Grp:
    index: int
    ix: int
    gs_els: list[str]
    ge_els: list[str] = field(default_factory=list)
    txns: int = 0


@dataclass(slots=True)
class Ix:
    index: int
    isa_lead: str  # what the reader keeps before this ISA in its raw text (a line break), "" for the first
    isa_els: list[str]
    iea_els: list[str] = field(default_factory=list)
    groups: int = 0


@dataclass(slots=True)
class Skeleton:
    """The envelope as the pre-scan found it (filled while the plan runs)."""

    txns: dict[int, Txn] = field(default_factory=dict)
    groups: dict[int, Grp] = field(default_factory=dict)
    interchanges: dict[int, Ix] = field(default_factory=dict)
    order: list[tuple[str, int]] = field(default_factory=list)  # ("st"|"ge"|"iea", ordinal) in file order
    done: bool = False


class Planner:
    """The pre-scan of one file; iterate ``pieces()`` (pieces are found as the scan goes)."""

    def __init__(self, path: str | Path, jobs: int, max_segment: int = MAX_SEGMENT) -> None:
        self.path = str(path)
        self.jobs = max(1, jobs)
        self.max_segment = max_segment
        self.fh: BinaryIO = open(path, "rb")  # closed by close()
        try:
            self.size = self.fh.seek(0, 2)
            self.delimiters = self._first_isa()
        except BaseException:
            self.fh.close()
            raise
        d = self.delimiters
        self.term, self.sep = d.segment.encode("latin-1"), d.element.encode("latin-1")
        self.skeleton = Skeleton()
        self._cursor = -1  # anchor positions counted so far: [.., cursor)
        self._totals = [0, 0, 0, 0]  # CLM, terminators, HL, HL level 20
        self._full = False
        lead = self.lead
        self._clm = [self.term + x + b"CLM" + self.sep for x in (lead,)]
        self._hl = self.term + lead + b"HL" + self.sep
        self._se = self.term + lead + b"SE" + self.sep
        fields = re.escape(self.sep) + b"[^" + re.escape(self.sep + self.term) + b"]*"
        self._hl20 = re.compile(re.escape(self._hl) + b"[^" + re.escape(self.sep + self.term) + b"]*" + fields
                                + re.escape(self.sep) + b"20(?=" + re.escape(self.sep) + b"|" + re.escape(self.term) + b")")

    def close(self) -> None:
        self.fh.close()

    # -- reading ------------------------------------------------------------------------------
    def _read(self, start: int, n: int) -> bytes:
        self.fh.seek(start)
        return self.fh.read(n)

    def _first_isa(self) -> Delimiters:
        head = self._read(0, 1024)
        if head[:3] == b"\xef\xbb\xbf" or head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\0" in head[:4]:
            raise PlanError("a byte-order mark or UTF-16")
        if not head.startswith(b"ISA"):
            raise PlanError("the file does not start with its ISA")
        try:
            delims, isa_len = parse_isa(head.decode("latin-1"), 0)
        except InputError as exc:
            raise PlanError(str(exc)) from None
        after = head[isa_len:]
        lead = after[: len(after) - len(after.lstrip(_WS))]
        if lead not in _LEADS:
            raise PlanError("unusual blank space between segments")
        self.lead = lead
        return delims

    def _segment(self, pos: int) -> tuple[int, int, list[str]]:
        """(where its text starts, end after its terminator, elements) of the segment whose raw text starts at pos."""
        data = self._read(pos, 4096)
        text_at = len(data) - len(data.lstrip(_WS))
        end = data.find(self.term, text_at)
        if end < 0 or text_at >= len(data):
            raise PlanError(f"no envelope segment at byte {pos}")
        els = data[text_at:end].decode("latin-1").split(self.delimiters.element)
        return pos + text_at, pos + end + 1, els

    def _chunks(self, start: int, end: int, first: int = _CHUNK) -> Iterator[tuple[int, bytes, int]]:
        """(offset, data, usable length): data runs _OVERLAP bytes past the usable part. Chunks
        start at ``first`` bytes and double (a search that ends soon reads little)."""
        pos = start
        size = first
        while pos < end:
            lim = min(size, end - pos)
            yield pos, self._read(pos, lim + _OVERLAP), lim
            pos += lim
            size = min(size * 2, _CHUNK)

    def _find(self, pattern: bytes, start: int, end: int) -> int:
        """Offset of the first ``pattern`` starting in [start, end), or -1."""
        for pos, data, lim in self._chunks(start, end, 1 << 12):
            i = data.find(pattern, 0, lim + len(pattern) - 1)
            if i >= 0:
                return pos + i
        return -1

    def _find_hl20(self, start: int, end: int) -> int:
        for pos, data, lim in self._chunks(start, end, 1 << 16):
            m = self._hl20.search(data, 0)
            while m is not None and m.start() < lim:
                return pos + m.start()
        return -1

    def _advance(self, to: int) -> None:
        """Count anchors starting in [cursor, to): claims always; segments and HLs when ``_full``."""
        start = self._cursor
        if to <= start:
            return
        totals = self._totals
        for _pos, data, lim in self._chunks(max(start, 0), to):
            for clm in self._clm:
                totals[0] += data.count(clm, 0, lim + len(clm) - 1)
            if self._full:
                totals[1] += data.count(self.term, 0, lim)
                totals[2] += data.count(self._hl, 0, lim + len(self._hl) - 1)
                totals[3] += sum(1 for m in self._hl20.finditer(data, 0) if m.start() < lim)
        self._cursor = to

    # -- the walk ------------------------------------------------------------------------------
    def _target(self, at: int, emitted: int) -> int:
        if emitted < self.jobs + 2:  # as many as are handed out before the first comes back
            return FIRST_PIECE
        return max(MIN_PIECE, min(MAX_PIECE, (self.size - at) // (2 * self.jobs)))

    def pieces(self) -> Iterator[Piece]:
        """The pieces in file order; the skeleton is complete once this is exhausted. Raises PlanError."""
        sk = self.skeleton
        d = self.delimiters
        pos = 0
        expect = ("ISA",)
        ix = grp = st = 0
        isa_bytes = gs_bytes = b""
        cur_ix: Ix | None = None
        cur_grp: Grp | None = None
        piece: Piece | None = None
        emitted = 0
        closed = True  # the previous segment closed something (a cut may go before this one)
        while True:
            rest = self._read(pos, 1 << 16)
            if not rest.strip(_WS + _PADDING):
                if expect != ("ISA",) or pos + len(rest) < self.size:
                    raise PlanError("the file ends inside an interchange, or in a long run of blank space")
                break
            text_at, end, els = self._segment(pos)
            sid = els[0]
            if sid not in expect:
                raise PlanError(f"{sid[:3]!r} where {'/'.join(expect)} was expected")
            if sid in ("ISA", "GS", "ST") and closed and piece is not None and pos - piece.start >= \
                    self._target(piece.start, emitted):
                self._advance(pos - 1)
                piece.end = pos
                piece.suffix = self._suffix(sid, cur_grp, cur_ix)
                piece.last_st = st
                yield piece
                emitted += 1
                prefix = (isa_bytes if sid in ("GS", "ST") else b"") + (gs_bytes if sid == "ST" else b"")
                piece = Piece(emitted, pos, 0, prefix, b"", 0, st + 1, grp + (sid != "ST"),
                              ix + (sid == "ISA"), False, False, Bases(self._totals[0]))
            if piece is None:
                piece = Piece(0, 0, 0, b"", b"", 0, 1, 1, 1, False, False, Bases())
            closed = False
            if sid == "ISA":
                raw = self._read(pos, end - pos)
                lead = raw[: text_at - pos]
                if ix and (len(lead) > 16 or lead.strip(_WS)):
                    raise PlanError("unusual blank space before an ISA")
                try:
                    if parse_isa(raw[text_at - pos:].decode("latin-1") + "\n", text_at)[0] != d:
                        raise PlanError("an interchange with other delimiters")
                except InputError as exc:
                    raise PlanError(str(exc)) from None
                ix += 1
                cur_ix = sk.interchanges[ix] = Ix(ix, lead.decode("latin-1") if ix > 1 else "", els)
                isa_bytes = raw[text_at - pos:]
                expect = ("GS",)
            elif sid == "GS":
                grp += 1
                assert cur_ix is not None
                cur_ix.groups += 1
                cur_grp = sk.groups[grp] = Grp(grp, ix, els)
                gs_bytes = self._read(pos, end - pos)
                expect = ("ST",)
            elif sid == "ST":
                st += 1
                assert cur_grp is not None
                cur_grp.txns += 1
                txn = sk.txns[st] = Txn(st, grp, els[2] if len(els) > 2 else "")
                sk.order.append(("st", st))
                piece, emitted, end = yield from self._transaction(piece, emitted, txn, pos, end, isa_bytes, gs_bytes,
                                                                   ix, grp)
                closed = True
                expect = ("ST", "GE")
            elif sid == "GE":
                assert cur_grp is not None
                cur_grp.ge_els = els
                sk.order.append(("ge", grp))
                cur_grp = None
                closed = True
                expect = ("GS", "IEA")
            else:  # IEA
                assert cur_ix is not None
                cur_ix.iea_els = els
                sk.order.append(("iea", ix))
                cur_ix = None
                closed = True
                expect = ("ISA",)
            pos = end
        if piece is None or st == 0:
            raise PlanError("no transaction")
        self._advance(self.size)
        piece.end = self.size
        piece.last_st = st
        sk.done = True
        yield piece

    def _suffix(self, opening: str, grp: Grp | None, ix: Ix | None) -> bytes:
        """Synthetic trailers for what is open before ``opening`` (the real ones come later)."""
        sep, term = self.delimiters.element, self.delimiters.segment
        out = ""
        if opening == "ST" and grp is not None:
            out += f"GE{sep}1{sep}{_el(grp.gs_els, 6)}{term}"
        if opening in ("ST", "GS") and ix is not None:
            out += f"IEA{sep}1{sep}{_el(ix.isa_els, 13)}{term}"
        return out.encode("latin-1")

    def _transaction(self, piece: Piece, emitted: int, txn: Txn, pos: int, st_end: int, isa_bytes: bytes,
                     gs_bytes: bytes, ix: int, grp: int):  # type: ignore[no-untyped-def]
        """Find the transaction's SE; cut it at 2000A loops when it is large. Returns (piece, emitted, end)."""
        se_at = self._find(self._se, st_end - 1, self.size)
        if se_at < 0:
            raise PlanError(f"transaction {txn.control!r} has no SE")
        hl_at = self._find(self._hl, st_end - 1, se_at)
        body = (hl_at if hl_at >= 0 else se_at) + 1
        if any(self._find(c, st_end - 1, body - 1) >= 0 for c in self._clm):
            raise PlanError("a claim before the first HL")
        _text_at, se_end, se_els = self._segment(se_at + 1)
        txn.se_els = se_els
        self._advance(pos - 1)
        target = self._target(piece.start, emitted)
        if se_end - piece.start <= target * 3 // 2:
            return piece, emitted, se_end
        header = self._read(pos, body - pos)
        self._full = True
        start = list(self._totals)
        cut_from = max(piece.start + target, body + 1)
        while True:
            at = self._find_hl20(cut_from - 1, se_at)
            if at < 0 or se_end - (at + 1) < MIN_PIECE // 2:
                break
            cut = at + 1
            self._advance(at)
            clm, terms, hls, blocks = (t - s for t, s in zip(self._totals, start, strict=True))
            piece.end = cut
            piece.tail = True
            piece.last_st = txn.index
            sep, term = self.delimiters.element, self.delimiters.segment
            piece.suffix = (f"SE{sep}0{sep}{txn.control}{term}GE{sep}1{sep}{_el(self.skeleton.groups[grp].gs_els, 6)}"
                            f"{term}IEA{sep}1{sep}{_el(self.skeleton.interchanges[ix].isa_els, 13)}{term}"
                            ).encode("latin-1")
            yield piece
            emitted += 1
            piece = Piece(emitted, cut, 0, isa_bytes + gs_bytes + header, b"", header.count(self.term), txn.index,
                          grp, ix, True, False, Bases(self._totals[0], terms + 1, clm, hls, blocks))
            cut_from = cut + self._target(cut, emitted)
        self._advance(se_at)
        self._full = False
        return piece, emitted, se_end


def _el(els: list[str], i: int) -> str:
    return els[i] if i < len(els) else ""


def plan(path: str | Path, jobs: int, max_segment: int = MAX_SEGMENT) -> Planner | None:
    """The pre-scan of ``path`` for ``jobs`` workers, or None when one process should read it."""
    path = Path(path)
    try:
        if jobs < 2 or path.stat().st_size < MIN_SPLIT_BYTES:
            return None
        return Planner(path, jobs, max_segment)
    except (OSError, PlanError):
        return None


class PieceStream:
    """A piece as a binary stream: its prefix, the file's bytes [start, end), its suffix."""

    def __init__(self, path: str, piece: Piece) -> None:
        self._fh = open(path, "rb")  # closed by close()
        self._fh.seek(piece.start)
        self._left = piece.end - piece.start
        self._parts = [piece.prefix]
        self._suffix = piece.suffix

    def read(self, n: int = -1) -> bytes:
        """The next bytes (never b"" before the end: the tokenizer takes that for the end)."""
        while self._parts:
            data = self._parts.pop()
            if data:
                return data
        if self._left > 0:
            data = self._fh.read(min(n if n > 0 else self._left, self._left))
            if not data:
                raise OSError("the input changed while it was read")
            self._left -= len(data)
            return data
        data, self._suffix = self._suffix, b""
        return data

    def close(self) -> None:
        self._fh.close()
