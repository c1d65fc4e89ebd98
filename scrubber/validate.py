"""Implementation-guide validation (WEDI SNIP types 1-2) through pyx12, mapped to claims.

pyx12 walks its 837P map and writes a 999; this module feeds it what it can read and maps every
error it reports to the segment, and so the claim, it belongs to. Its known gaps are worked around
here rather than in pyx12 (research notes, shared/domain/x12-837p-277ca-pyx12.md section 3.4):

- its map is parsed on every call (about 0.4 s): loaded maps are cached per process;
- it reads a path as ASCII and stops at anything before ISA: it gets text we decoded, from ISA on;
- it keeps the first interchange's delimiters: each interchange is validated on its own;
- it maps only GS08/ST03 005010X222A1: 005010X222 and 005010X222A2 are given to it as A1;
- an empty segment silently ends its read: empty segments are left out (the reader notes them);
- ``PWK*CT`` is in both 2400 PWK qualifier lists of its map, so its PWK02 is reported as invalid:
  errors on such a segment are dropped.

With several processes a large transaction is validated in pieces of claims (scrubber.ig_pieces),
with the outcome pyx12 gives on the whole interchange; its error tree is read as plain data
(scrubber.ig_tree), from which pyx12's own visitor writes the 999.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from scrubber.ig_tree import IgError, level_errors, txn_errors
from scrubber.pool import process_pool, stop
from scrubber.pyx12_run import run_pyx12
from scrubber.x12.segments import MAX_SEGMENT, Segment, Tokenizer

PYX12_VERSION = "005010X222A1"

#: smaller inputs are validated in this process: starting workers (each loads pyx12's map, about
#: 0.4 s) costs more than pyx12 takes on a few hundred claims
MIN_PIECES = 256 << 10
#: one interchange's outcome: errors by global transaction, file-level notices, its 999, the error count
Result = tuple[dict[int, list[IgError]], list[str], str, int]


@dataclass(slots=True)
class IgReport:
    """Errors per transaction (by the reader's global ST ordinal), file-level errors, the 999s."""

    by_transaction: dict[int, list[IgError]] = field(default_factory=dict)
    file_level: list[str] = field(default_factory=list)
    acks: list[str] = field(default_factory=list)
    errors: int = 0
    #: pieces pyx12 validated, and why interchanges were validated whole instead (validation in pieces)
    pieces: int = 0
    whole: list[str] = field(default_factory=list)

    def ack_999(self) -> str:
        return "".join(self.acks)


def _body(seg: Segment, sep: str) -> tuple[str, list[str]]:
    """The segment as pyx12 should read it (no surrounding blank space, A1 for any X222 version),
    without its terminator, and its elements."""
    els = seg.els
    sid = els[0]
    if sid == "GS" and len(els) > 8 and els[8].startswith("005010X222") and els[8] != PYX12_VERSION:
        els = [*els[:8], PYX12_VERSION, *els[9:]]
        return sep.join(els), els
    if sid == "ST" and len(els) > 3 and els[3].startswith("005010X222") and els[3] != PYX12_VERSION:
        els = [*els[:3], PYX12_VERSION, *els[4:]]
        return sep.join(els), els
    return seg.raw.strip(" \t\r\n"), els


Progress = Callable[[int, int], None]


def validate_stream(stream: BinaryIO, jobs: int = 1, max_segment: int = MAX_SEGMENT, *,
                    claims_per_piece: int = 0, progress: Progress | None = None,
                    pool: Executor | None = None) -> IgReport:
    """Validate every interchange of ``stream`` with pyx12; raises InputError as the reader does.

    With ``jobs`` > 1 (an input of ``MIN_PIECES`` bytes or more that can be read twice, or a
    ``pool`` or ``claims_per_piece`` given) transactions are cut into pieces of
    ``claims_per_piece`` claims (by default from the file's size) that ``jobs`` processes validate
    (scrubber.ig_pieces); errors, counts and the 999 are those of pyx12 over each whole interchange.
    ``progress(offset, claims)`` is called as the pieces come back. ``pool``: worker processes to
    use (and leave running) instead of ``jobs`` new ones, e.g. for many files in a row.
    """
    report = IgReport()
    if (jobs > 1 or pool is not None) and _seekable(stream) and \
            (pool is not None or claims_per_piece or _size(stream) >= MIN_PIECES):
        per_piece = claims_per_piece or _piece_size(stream, max(jobs, 2))
        results = _in_pieces(stream, max(jobs, 2), max_segment, per_piece, progress, report, pool)
    else:
        results = [_pyx12_errors(spool, base, frozenset(skip), frozenset(starts), n)
                   for _o, spool, base, skip, starts, n in _interchanges(stream, max_segment)]
    for found in results:
        _merge(report, found)
    report.file_level = list(dict.fromkeys(report.file_level))
    return report


def _seekable(stream: BinaryIO) -> bool:
    try:
        return stream.seekable() and stream.tell() == 0
    except (AttributeError, OSError, ValueError):
        return False


def _size(stream: BinaryIO) -> int:
    size = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    return size


def _piece_size(stream: BinaryIO, jobs: int) -> int:
    """Claims per piece: a few pieces per process, so the last ones end close together (pyx12
    takes about 2 ms a claim; an 837P claim is about 500 bytes)."""
    return max(20, min(500, _size(stream) // 500 // (jobs * 6)))


def _interchanges(stream: BinaryIO, max_segment: int, wanted: set[int] | None = None
                  ) -> Iterator[tuple[int, Any, int, set[tuple[int, int]], set[tuple[int, int]], int]]:
    """Each interchange (those ``wanted``, by ordinal) as pyx12 should read it, spooled (to disk past
    8 MB), with the transactions before it, its PWK*CT and loop-start segments and its ST count."""
    tok = Tokenizer(stream, max_segment)
    ordinal = txn_base = st_in = number = 0
    skip: set[tuple[int, int]] = set()  # (ST in the interchange, segment number): pyx12 false positives
    # Where a claim or loop starts, or the ST ends: pyx12 reports a missing segment at the segment
    # after the gap, which there belongs to the next claim; such errors are moved back one segment.
    starts: set[tuple[int, int]] = set()
    spool: Any = None
    try:
        for seg in tok:
            sid = seg.els[0]
            d = tok.delimiters
            assert d is not None
            if sid == "ISA":
                ordinal += 1
                if spool is not None:
                    spool.close()
                spool = None if wanted is not None and ordinal not in wanted else \
                    tempfile.SpooledTemporaryFile(8 << 20, mode="w+", encoding="latin-1", newline="")
            if sid == "ST":
                st_in += 1
                number = 1
            elif sid not in ("GE", "IEA", "GS", "ISA"):
                number += 1
            if sid == "PWK" and seg.el(1) == "CT":
                skip.add((st_in, number))
            elif sid in ("CLM", "HL", "SE"):
                starts.add((st_in, number))
            if spool is not None:
                spool.write(_body(seg, d.element)[0] + d.segment + ("\n" if d.newline_after else ""))
            if sid == "IEA":
                if spool is not None:
                    spool.seek(0)
                    yield ordinal, spool, txn_base, skip, starts, st_in
                    spool.close()
                    spool = None
                txn_base += st_in
                skip, starts, st_in = set(), set(), 0
    finally:
        if spool is not None:
            spool.close()


def _in_pieces(stream: BinaryIO, jobs: int, max_segment: int, per_piece: int,
               progress: Progress | None, report: IgReport, given: Executor | None) -> list[Result]:
    """Every interchange's result, from pieces where they stand for it, else validated whole."""
    from scrubber.ig_pieces import Cutter, complete, merge, piece_tree

    pool = given or process_pool(jobs)
    cutter = Cutter(per_piece)
    pending: deque[tuple[Any, Future]] = deque()
    results: dict[int, Result | None] = {}
    claims = 0

    def collect() -> None:
        nonlocal claims
        piece, fut = pending.popleft()
        merge(piece, fut.result())
        claims += piece.claims
        report.pieces += 1
        if piece.ix.ended and not piece.ix.out:
            results[piece.ix.ordinal] = complete(piece.ix)
            if piece.ix.whole:
                report.whole.append(piece.ix.whole)
        if progress is not None:
            progress(piece.end, claims)

    def submit(pieces: list[Any]) -> None:
        for piece in pieces:
            pending.append((piece, pool.submit(piece_tree, "".join(piece.parts))))
            piece.parts = []
            while len(pending) > 2 * jobs:  # memory stays flat: a few pieces in flight
                collect()

    try:
        tok = Tokenizer(stream, max_segment)
        for seg in tok:
            d = tok.delimiters
            assert d is not None
            body, els = _body(seg, d.element)
            submit(cutter.feed(els, body, seg.offset, (d.segment, d.element, d.component)))
        submit(cutter.finish())
        while pending:
            collect()
        redo = {o for o in range(1, cutter.ordinal + 1) if results.get(o) is None}
        report.whole += ["the input ends inside an interchange"] * (len(redo) - len(report.whole))
        if redo:
            stream.seek(0)
            results.update(_whole(stream, max_segment, redo, pool))
    except KeyboardInterrupt:
        if given is None:
            stop(pool, [f for _p, f in pending])  # type: ignore[arg-type]
        raise
    finally:
        if given is None:
            pool.shutdown(cancel_futures=True)
    return [found for _o, found in sorted(results.items()) if found is not None]


def _whole(stream: BinaryIO, max_segment: int, wanted: set[int], pool: Any) -> dict[int, Result]:
    """The ``wanted`` interchanges validated whole, as without pieces, in the pool's processes."""
    futures: dict[int, tuple[Future, str]] = {}
    try:
        for ordinal, spool, base, skip, starts, n in _interchanges(stream, max_segment, wanted):
            fd, path = tempfile.mkstemp(prefix="scrubber-ig-", suffix=".x12")
            with os.fdopen(fd, "w", encoding="latin-1", newline="") as fh:
                shutil.copyfileobj(spool, fh)
            futures[ordinal] = (pool.submit(_pyx12_errors, Path(path), base, frozenset(skip), frozenset(starts), n),
                                path)
        return {o: fut.result() for o, (fut, _path) in futures.items()}
    finally:
        for _fut, path in futures.values():
            with contextlib.suppress(OSError):
                os.unlink(path)


def _merge(report: IgReport, found: Result) -> None:
    by_transaction, file_level, ack, errors = found
    for txn, errs in by_transaction.items():
        report.by_transaction.setdefault(txn, []).extend(errs)
    report.file_level += file_level
    report.errors += errors
    if errors:
        report.acks.append(ack)


def _pyx12_errors(text: Any, txn_base: int, skip: frozenset[tuple[int, int]], starts: frozenset[tuple[int, int]],
                  transactions: int = 0) -> tuple[dict[int, list[IgError]], list[str], str, int]:
    """Run pyx12 over one interchange: (errors by global transaction, file-level errors, 999, count)."""
    try:
        if isinstance(text, Path):
            with open(text, encoding="latin-1", newline="") as fh:
                tree, ack = run_pyx12(fh, set(skip), set(starts))
        else:
            tree, ack = run_pyx12(text, set(skip), set(starts))
    except Exception as exc:
        # pyx12 itself fails on some malformed input (a padded ISA12, CLM05 of separators only):
        # nothing it checked can be trusted, so every claim of the chunk is held, saying why.
        return _pyx12_failed(exc, txn_base, transactions)
    part = IgReport()
    found = 0
    st_no = 0  # transactions count on across the groups of the interchange, as the reader counts them
    for ix in tree:
        part.file_level += level_errors(ix)
        found += len(level_errors(ix))
        for group in ix.children:
            for txn in group.children:
                st_no += 1
                errors = txn_errors(txn)
                part.by_transaction.setdefault(txn_base + st_no, []).extend(errors)
                found += len(errors)
    if not tree:
        part.file_level.append("pyx12 could not read an interchange (it reported no error it could place)")
        found = 1
    return part.by_transaction, part.file_level, ack if found else "", found


def _pyx12_failed(exc: Exception, txn_base: int, transactions: int
                  ) -> tuple[dict[int, list[IgError]], list[str], str, int]:
    text = f"pyx12 stopped with {type(exc).__name__} and could not check the transaction"
    by_transaction = {txn_base + i: [IgError(None, "ST", "", "-", text)] for i in range(1, transactions + 1)}
    notice = f"pyx12 stopped with {type(exc).__name__} on an interchange; its claims are held (X12-IG), no 999 for it"
    return by_transaction, [notice], "", max(1, transactions)
