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
"""

from __future__ import annotations

import io
import json
import logging
import tempfile
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from scrubber.pool import process_pool
from scrubber.x12.segments import MAX_SEGMENT, Segment, Tokenizer

PYX12_VERSION = "005010X222A1"
_MAPS: dict[tuple[str, str | None], Any] = {}


@dataclass(slots=True)
class IgError:
    number: int | None  # segment number within the ST (pyx12's seg_count), None above segments
    segment_id: str
    element: str  # "SV103" or ""
    code: str  # pyx12's error code
    text: str

    def describe(self) -> str:
        where = f"{self.segment_id} (segment {self.number})" if self.number else self.segment_id or "envelope"
        if self.element:
            where += f", element {self.element}"
        return f"pyx12 error {self.code} at {where}: {self.text}"


@dataclass(slots=True)
class IgReport:
    """Errors per transaction (by the reader's global ST ordinal), file-level errors, the 999s."""

    by_transaction: dict[int, list[IgError]] = field(default_factory=dict)
    file_level: list[str] = field(default_factory=list)
    acks: list[str] = field(default_factory=list)
    errors: int = 0

    def ack_999(self) -> str:
        return "".join(self.acks)


def _cached_map_loader() -> None:
    import pyx12.map_if

    if getattr(pyx12.map_if.load_map_file, "_scrubber_cached", False):
        return
    original = pyx12.map_if.load_map_file

    def load(map_file: str, param: Any, map_path: str | None = None) -> Any:
        key = (map_file, map_path)
        if key not in _MAPS:
            _MAPS[key] = original(map_file, param, map_path)
        return _MAPS[key]

    load._scrubber_cached = True  # type: ignore[attr-defined]
    pyx12.map_if.load_map_file = load


def _normalise(seg: Segment, sep: str, term: str, newline: str) -> str:
    """The segment as pyx12 should read it: no surrounding blank space, A1 for any X222 version."""
    els = seg.els
    sid = els[0]
    if sid == "GS" and len(els) > 8 and els[8].startswith("005010X222") and els[8] != PYX12_VERSION:
        text = sep.join([*els[:8], PYX12_VERSION, *els[9:]])
    elif sid == "ST" and len(els) > 3 and els[3].startswith("005010X222") and els[3] != PYX12_VERSION:
        text = sep.join([*els[:3], PYX12_VERSION, *els[4:]])
    else:
        text = seg.raw.strip(" \t\r\n")
    return text + term + newline


def validate_stream(stream: BinaryIO, jobs: int = 1, max_segment: int = MAX_SEGMENT) -> IgReport:
    """Validate every interchange of ``stream`` with pyx12; raises InputError as the reader does.

    With ``jobs`` > 1 each transaction is validated as an interchange of its own (its ISA and GS,
    the ST ... SE, and a GE and IEA that count it) in ``jobs`` processes, pyx12 being the slow part;
    every error is then the same, and the 999 comes as one interchange per transaction with errors.
    """
    report = IgReport()
    tok = Tokenizer(stream, max_segment)
    pool = process_pool(jobs) if jobs > 1 else None
    pending: deque[Future] = deque()
    txn_base = 0  # transactions before the current chunk
    buf: list[str] = []
    envelope: list[str] = []  # ISA and GS of the current interchange (per-transaction chunks)
    skip: set[tuple[int, int]] = set()  # (ST in the chunk, segment number): pyx12 false positives
    # Where a claim or loop starts, or the ST ends: pyx12 reports a missing segment at the segment
    # after the gap, which there belongs to the next claim; such errors are moved back one segment.
    starts: set[tuple[int, int]] = set()
    st_in_chunk = 0
    number = 0
    controls = ("", "")
    spool: Any = None

    def submit(text: Any) -> None:
        nonlocal txn_base, skip, starts, st_in_chunk
        job = (text, txn_base, frozenset(skip), frozenset(starts), st_in_chunk)
        if pool is None:
            _merge(report, _pyx12_errors(*job))
        else:
            pending.append(pool.submit(_pyx12_errors, *job))
            while len(pending) > 2 * jobs:  # keep memory flat: a few transactions in flight
                _merge(report, pending.popleft().result())
        txn_base += st_in_chunk
        skip, starts, st_in_chunk = set(), set(), 0

    try:
        for seg in tok:
            sid = seg.els[0]
            d = tok.delimiters
            assert d is not None
            newline = "\n" if d.newline_after else ""
            text = _normalise(seg, d.element, d.segment, newline)
            if sid == "ISA":
                envelope = [text]
                controls = (seg.el(13), "")
            elif sid == "GS":
                envelope.append(text)
                controls = (controls[0], seg.el(6))
            if sid == "ST":
                st_in_chunk += 1
                number = 1
            elif sid not in ("GE", "IEA", "GS", "ISA"):
                number += 1
            if sid == "PWK" and seg.el(1) == "CT":
                skip.add((st_in_chunk, number))
            elif sid in ("CLM", "HL", "SE"):
                starts.add((st_in_chunk, number))
            if pool is None:
                # One interchange at a time, spooled to disk past 8 MB: pyx12 reads it from there.
                if spool is None:
                    spool = tempfile.SpooledTemporaryFile(8 << 20, mode="w+", encoding="latin-1", newline="")
                spool.write(text)
                if sid == "IEA":
                    spool.seek(0)
                    submit(spool)
                    spool.close()
                    spool = None
            elif sid == "ST":
                buf = [text]
            elif sid == "SE":
                buf.append(text)
                sep, term, nl = d.element, d.segment, newline
                tail = f"GE{sep}1{sep}{controls[1]}{term}{nl}IEA{sep}1{sep}{controls[0]}{term}{nl}"
                submit("".join(envelope) + "".join(buf) + tail)
                buf = []
            elif buf:
                buf.append(text)
        while pending:
            _merge(report, pending.popleft().result())
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    report.file_level = list(dict.fromkeys(report.file_level))  # per-transaction chunks repeat them
    return report


def _merge(report: IgReport, found: tuple[dict[int, list[IgError]], list[str], str, int]) -> None:
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
    import pyx12.params
    import pyx12.x12n_document

    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    _cached_map_loader()
    part = IgReport()
    try:
        _run_pyx12(io.StringIO(text) if isinstance(text, str) else text, part, txn_base, set(skip), set(starts), pyx12)
    except Exception as exc:
        # pyx12 itself fails on some malformed input (a padded ISA12, CLM05 of separators only):
        # nothing it checked can be trusted, so every claim of the chunk is held, saying why.
        return _pyx12_failed(exc, txn_base, transactions)
    return part.by_transaction, part.file_level, part.ack_999(), part.errors


def _pyx12_failed(exc: Exception, txn_base: int, transactions: int
                  ) -> tuple[dict[int, list[IgError]], list[str], str, int]:
    text = f"pyx12 stopped with {type(exc).__name__} and could not check the transaction"
    by_transaction = {txn_base + i: [IgError(None, "ST", "", "-", text)] for i in range(1, transactions + 1)}
    notice = f"pyx12 stopped with {type(exc).__name__} on an interchange; its claims are held (X12-IG), no 999 for it"
    return by_transaction, [notice], "", max(1, transactions)


def _run_pyx12(text: Any, report: IgReport, txn_base: int, skip: set[tuple[int, int]],
               starts: set[tuple[int, int]], pyx12: Any) -> None:
    fd_999, fd_json = io.StringIO(), io.StringIO()
    ok = pyx12.x12n_document.x12n_document(
        param=pyx12.params.params(), src_file=text, fd_997=fd_999, fd_html=None, fd_xmldoc=None,
        fd_json=fd_json, map_path=None)
    raw = fd_json.getvalue()
    doc = json.loads(raw) if raw.strip() else {"interchanges": []}
    found = 0
    st_no = 0  # transactions count on across the groups of the interchange, as the reader counts them
    for ix in doc.get("interchanges", []):
        found += _level_errors(ix, "interchange", report)
        for group in ix.get("groups", []):
            found += _level_errors(group, "functional group", report)
            for txn in group.get("transactions", []):
                st_no += 1
                errors = report.by_transaction.setdefault(txn_base + st_no, [])
                for err in txn.get("errors", []):
                    errors.append(IgError(None, "ST", "", str(err.get("err_cde", "")), str(err.get("err_str", ""))))
                    found += 1
                for seg in txn.get("segments", []):
                    number = seg.get("seg_count")
                    if (st_no, number) in skip:
                        continue
                    sid = str(seg.get("seg_id", ""))
                    for err in seg.get("errors", []):
                        code = str(err.get("err_cde", ""))
                        at = number - 1 if code == "3" and (st_no, number) in starts else number
                        errors.append(IgError(at, sid, "", code, str(err.get("err_str", ""))))
                        found += 1
                    for ele in seg.get("elements", []):
                        pos = ele.get("ele_pos")
                        name = f"{sid}{int(pos):02d}" if str(pos).isdigit() else sid
                        for err in ele.get("errors", []):
                            errors.append(IgError(number, sid, name, str(err.get("err_cde", "")),
                                                  str(err.get("err_str", ""))))
                            found += 1
    if not ok and not found and not doc.get("interchanges"):
        report.file_level.append("pyx12 could not read an interchange (it reported no error it could place)")
        found = 1
    report.errors += found
    if found:
        report.acks.append(fd_999.getvalue())


def _level_errors(node: dict, level: str, report: IgReport) -> int:
    n = 0
    for err in node.get("errors", []):
        report.file_level.append(f"pyx12 error {err.get('err_cde', '')} in the {level}: {err.get('err_str', '')}")
        n += 1
    return n
