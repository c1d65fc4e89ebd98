"""The writers as the parent of a split run uses them (scrubber.split): pieces in, one output out.

Each is the writer itself, fed the pieces' files and totals instead of claims; its own envelope,
header and trailer code writes what spans pieces (the 277CA's ST/2200B/SE from summed counts and
amounts, the accepted 837's ISA/GS/ST and SE/GE/IEA counts, the reports' totals), and its body is
the pieces' files in file order, copied, not parsed. Where numbers in a body depend on what came
before (the accepted 837's HL numbers in a transaction cut in pieces, the HTML report's shared
references and size budgets) the parent rewrites just those.
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Iterator
from decimal import Decimal
from functools import lru_cache
from typing import IO, Any

from scrubber.errors import OutputError
from scrubber.model import Transaction
from scrubber.writers.accepted837 import Accepted837Writer
from scrubber.writers.ack277 import Ack277Writer
from scrubber.writers.pieces import JSON_MARK, Part277, Part837
from scrubber.writers.report_html import HtmlReportWriter, _json
from scrubber.writers.report_json import JsonReportWriter
from scrubber.writers.worklist import WorklistWriter
from scrubber.x12.segments import Delimiters

_BLOCK = 1 << 20
#: errors after which a copy goes through Python instead of the kernel (other file systems, old kernels)
_NO_COPY = frozenset({errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM, errno.EBADF})


def read_range(path: str, start: int, end: int, encoding: str = "latin-1") -> str:
    with open(path, "rb") as fh:
        fh.seek(start)
        return fh.read(end - start).decode(encoding)


class Chain:
    """Ranges of pieces' files read as one text file (what a writer's spool would have held).

    With ``into`` set, it stands in for a spool the writer copies into that output: seeking to
    its start appends the ranges there at once (by the kernel where it can), and reading then
    finds nothing left, so the writer's own copying loop writes nothing twice.
    """

    def __init__(self, sep: str = "", encoding: str = "latin-1", into: IO[str] | None = None) -> None:
        self.ranges: list[tuple[str, int, int]] = []
        self.sep = sep
        self.encoding = encoding
        self.into = into
        self._it: Iterator[str] = iter(())

    def add(self, path: str, start: int, end: int) -> None:
        if end > start:
            self.ranges.append((path, start, end))

    def seek(self, pos: int) -> None:
        if self.into is None:
            self._it = self._chunks()
            return
        for i, (path, start, end) in enumerate(self.ranges):
            if i and self.sep:
                self.into.write(self.sep)
            append_file(self.into, path, start, end)
        self._it = iter(())

    def _chunks(self) -> Iterator[str]:
        for i, (path, start, end) in enumerate(self.ranges):
            if i and self.sep:
                yield self.sep
            with open(path, "rb") as fh:
                fh.seek(start)
                left = end - start
                while left > 0:
                    data = fh.read(min(_BLOCK * 4, left))
                    left -= len(data)
                    yield data.decode(self.encoding)

    def read(self, n: int = -1) -> str:
        return next(self._it, "")

    def close(self) -> None:
        pass


def append_file(out: IO[str], path: str, start: int = 0, end: int | None = None) -> None:
    """Bytes [start, end) of ``path`` to the end of the output ``out``, by the kernel where it can."""
    out.flush()
    buffer = out.buffer  # type: ignore[attr-defined]
    try:
        fd: int | None = out.fileno()
    except (OSError, ValueError, AttributeError):
        fd = None  # an output held in memory (a stream's spool)
    try:
        with open(path, "rb") as src:
            left = (os.fstat(src.fileno()).st_size if end is None else end) - start
            pos = start
            copy = getattr(os, "copy_file_range", None)
            while left > 0 and copy is not None and fd is not None:
                try:
                    n = copy(src.fileno(), fd, left, pos)
                except OSError as exc:
                    if exc.errno not in _NO_COPY:
                        raise
                    n = 0
                if n <= 0:
                    break
                pos += n
                left -= n
            src.seek(pos)
            while left > 0:
                data = src.read(min(_BLOCK, left))
                buffer.write(data)
                left -= len(data)
            buffer.flush()
    except OutputError:
        raise
    except OSError as exc:
        outdir = getattr(getattr(buffer, "raw", None), "outdir", None)
        if outdir is None:
            raise
        from scrubber.commit import folder_error

        raise folder_error(outdir, exc, "cannot write the outputs") from None


class Stitch277(Ack277Writer):
    """The 277CA from the pieces' 2000C blocks; ISA, GS, ST, 2200A/B and SE as the writer writes them."""

    def add_part(self, txn: Transaction, path: str, part: Part277) -> None:
        if txn is not self._st:
            self._start_transaction(txn)
            assert self._body is not None
            self._body.close()
            self._body = Chain(into=self.out)  # type: ignore[assignment]
        self._body.add(path, part.start, part.end)  # type: ignore[union-attr]
        self._st_counts[0] += part.counts[0]
        self._st_counts[1] += part.counts[1]
        self._st_amounts[0] += Decimal(part.amounts[0])
        self._st_amounts[1] += Decimal(part.amounts[1])
        self._st_segments += part.segments


@lru_cache(maxsize=8)
def _hl_pattern(sep: str, term: str) -> re.Pattern[str]:
    s, t = re.escape(sep), re.escape(term)
    return re.compile(f"(?:(?<={t})|^)([\\r\\n]*)HL{s}(\\d+){s}(\\d*){s}")


def renumber_hls(text: str, shift: int, d: Delimiters) -> str:
    """HL01 and HL02 of the accepted 837's loops moved by ``shift`` (loops kept before in the transaction)."""
    sep = d.element

    def moved(m: re.Match[str]) -> str:
        parent = m[3]
        return f"{m[1]}HL{sep}{int(m[2]) + shift}{sep}{int(parent) + shift if parent else ''}{sep}"

    return _hl_pattern(sep, d.segment).sub(moved, text)


class Stitch837(Accepted837Writer):
    """The accepted 837 from the pieces' loops and claims; envelopes and SE/GE/IEA counts as the writer writes them."""

    def add_part(self, txn: Transaction, path: str, part: Part837) -> None:
        if not part.kept:
            return
        if txn is not self._st:
            self._enter(txn)
        shift = self._hl + 1 - part.first_hl
        if shift:
            self.out.write(renumber_hls(read_range(path, part.start, part.end), shift,
                                        txn.group.interchange.delimiters))
        else:
            append_file(self.out, path, part.start, part.end)
        self._hl += part.hls
        self._segs_in_st += part.segments
        self.accepted += part.kept


class StitchJson(JsonReportWriter):
    """The JSON report: totals summed, claim rows the pieces' files joined as the writer joins rows."""

    def __init__(self, out: IO[str], *, input_name: str, meta: dict[str, Any]) -> None:
        super().__init__(out, input_name=input_name, meta=meta)
        self._spool.close()
        self._spool = Chain(",\n", "ascii", into=out)  # type: ignore[assignment]

    def write_to(self, out: IO[str]) -> None:
        self.out = self._spool.into = out  # type: ignore[attr-defined]

    def add_piece(self, totals: dict[str, Any], path: str) -> None:
        self.total += totals["total"]
        self.accepted += totals["accepted"]
        self.rejected += totals["rejected"]
        self.warned += totals["warned"]
        self.charges += Decimal(totals["charges"])
        self.charges_rejected += Decimal(totals["charges_rejected"])
        for edit, n in totals["by_edit"].items():
            self.by_edit[edit] = self.by_edit.get(edit, 0) + n
        if totals["total"]:
            self._spool.add(path, 0, os.path.getsize(path))  # type: ignore[attr-defined]


class StitchWorklist(WorklistWriter):
    """The worklist: the header row, then the pieces' rows."""

    def __init__(self, out: IO[str]) -> None:
        super().__init__(out)
        self.out = out
        self.pieces: list[tuple[str, int]] = []

    def add_piece(self, path: str, start: int) -> None:
        self.pieces.append((path, start))

    def finish(self, notices: list[str]) -> None:
        for path, start in self.pieces:
            append_file(self.out, path, start)


# -- the HTML report --------------------------------------------------------------------------------

_MARK = re.compile(re.escape('"' + JSON_MARK) + r"([TPE])(\d+)" + re.escape("\\u0001\\u0000" + '"'))


class _Rows:
    """One list of the page: final rows in files (comma-joined), counted as the writer's spool counts."""

    def __init__(self, budget: int | None) -> None:
        self.budget = budget
        self.files: list[str] = []
        self.count = 0
        self.size = 0

    def fits(self) -> bool:
        return self.budget is None or self.size < self.budget

    def copy_to(self, out: IO[str]) -> None:
        out.write("[")
        for i, path in enumerate(self.files):
            if i:
                out.write(",")
            append_file(out, path)
        out.write("]")


class StitchHtml(HtmlReportWriter):
    """The page: counts summed, shared references numbered in file order, size budgets applied row by row."""

    def __init__(self, out: IO[str], **kwargs: Any) -> None:
        super().__init__(out, **kwargs)
        lim = self.limits
        self.spools = {"rejected": _Rows(None), "warned": _Rows(lim.warned_bytes),  # type: ignore[dict-item]
                       "accepted": _Rows(lim.accepted_bytes)}

    # -- shared references, as the writer numbers them ----------------------------------------------
    def _payer_ref(self, key: tuple[str, str]) -> int | str:
        ref = self.payers.get(key)
        if ref is None:
            if len(self.payers) >= self.limits.payers:
                return key[0]
            ref = self.payers[key] = len(self.payers)
        return ref

    def add_piece(self, h: dict[str, Any], stem: str) -> None:
        """One piece's rows and totals (``h`` from scrubber.writers.pieces.PieceHtml.result)."""
        self.total += h["total"]
        self.accepted += h["accepted"]
        self.rejected += h["rejected"]
        self.warned += h["warned"]
        self.charges += Decimal(h["charges"])
        self.charges_rejected += Decimal(h["charges_rejected"])
        self.findings.update(h["findings"])
        self.claims_by_edit.update(h["claims_by_edit"])
        piece = _HtmlPiece(self, h)
        for key, (n, rej) in h["payer_counts"]:
            ref = piece.payer(key)
            counts = self.payer_counts.setdefault(ref if isinstance(ref, int) else "", [0, 0])
            counts[0] += n
            counts[1] += rej
        piece.rows(stem)


_KINDS = {"r": "rejected", "w": "warned", "a": "accepted"}


class _HtmlPiece:
    """One piece's rows made final: marks numbered (or written out past a cap), budgets applied."""

    def __init__(self, page: StitchHtml, h: dict[str, Any]) -> None:
        self.page = page
        self.h = h
        self.values: dict[str, list[Any]] = h["values"]
        self.refs: dict[tuple[str, int], Any] = {}
        self.added: list[tuple[str, Any]] = []  # texts and edits numbered for this piece (undone on a retry)

    def payer(self, key: Any) -> Any:
        """A payer as the piece keyed it (a given reference, or a mark) as the page numbers it."""
        return self.ref("P", int(key[3:-2])) if isinstance(key, str) else key

    def ref(self, tag: str, n: int) -> Any:
        got = self.refs.get((tag, n))
        if got is None:
            page = self.page
            value = self.values[tag][n]
            if tag == "P":
                got = page._payer_ref(tuple(value))
            else:
                table = page.strings if tag == "T" else page.edits
                before = len(table)
                got = page._text(value) if tag == "T" else page._edit(value)
                if len(table) > before:
                    self.added.append((tag, value))
            self.refs[(tag, n)] = got
        return got

    def rollback(self) -> None:
        page = self.page
        for tag, key in reversed(self.added):
            (page.strings if tag == "T" else page.edits).pop(key)
        self.added.clear()
        self.refs = {k: v for k, v in self.refs.items() if k[0] == "P"}

    def _number(self, seq_kinds: set[str]) -> None:
        """Number marks at their first use, in the writer's order: rows in file order, and the order
        each row asked for them; a payer for every claim, texts and edits only in rows listed."""
        uses = self.h["uses"]
        for _seq, kind, a, b in self.h["row_uses"]:
            listed = kind in seq_kinds
            for tag, n in uses[a:b]:
                if tag == "P" or listed:
                    self.ref(tag, n)

    def render(self, row: str) -> str:
        if JSON_MARK not in row:
            return row
        text = _MARK.sub(self._sub, row)
        if "\\u0001E" in row:
            value = json.loads(text)
            if len(value) > 6 and isinstance(value[6], list):
                value[6].sort()  # the writer's sorted edit references, now that they are numbered
            text = _json(value)
        return text

    def _sub(self, m: re.Match[str]) -> str:
        got = self.ref(m[1], int(m[2]))
        return str(got) if isinstance(got, int) else _json(got)

    def rows(self, stem: str) -> None:
        page, h = self.page, self.h
        spools = page.spools
        lines = {}
        for kind, path in h["files"].items():
            with open(path, encoding="utf-8") as fh:
                lines[kind] = fh.read().split("\n")[:-1]
        full_budget = page.limits.rejected_full_bytes
        open_kinds = {k for k in ("warned", "accepted") if spools[k].fits()}
        self._number({"r", *(k[0] for k in open_kinds)})
        final = {k: [self.render(r) for r in lines[k]] for k in open_kinds}
        if all(spools[k].size + sum(map(len, final[k])) + len(final[k]) <= spools[k].budget  # type: ignore[operator]
               for k in open_kinds):
            rejected = [self.render(r) for r in lines["rejected"]]
            for k in open_kinds:
                self._emit(k, final[k], stem)
            for k in {"warned", "accepted"} - open_kinds:
                page.unlisted[k] += len(lines[k])
            self._rejected(rejected, full_budget, stem)
            return
        self.rollback()
        self._row_by_row(lines, full_budget, stem)

    def _rejected(self, rows: list[str], budget: int, stem: str) -> None:
        size = self.page.spools["rejected"].size
        full, short = rows[0::2], rows[1::2]
        if size + sum(map(len, full)) + len(full) <= budget:
            chosen, n_full = full, len(full)
        elif size >= budget:
            chosen, n_full = short, 0
        else:
            chosen, n_full = [], 0
            for f, s in zip(full, short, strict=True):
                row = f if size < budget else s
                n_full += row is f
                chosen.append(row)
                size += len(row) + 1
        self.page.full_rejected += n_full
        self._emit("rejected", chosen, stem)

    def _emit(self, kind: str, rows: list[str], stem: str) -> None:
        if not rows:
            return
        spool = self.page.spools[kind]
        path = f"{stem}.final-{kind}"
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(",".join(rows))
        spool.files.append(path)
        spool.count += len(rows)
        spool.size += sum(map(len, rows)) + len(rows)

    def _row_by_row(self, lines: dict[str, list[str]], full_budget: int, stem: str) -> None:
        """Rows in claim order, each listed or not as the writer decides it (a budget is met in this piece)."""
        page, h = self.page, self.h
        spools = page.spools
        uses = h["uses"]
        uses_at = {seq: (a, b) for seq, _k, a, b in h["row_uses"]}
        pos = {"r": 0, "w": 0, "a": 0}
        out: dict[str, list[str]] = {"rejected": [], "warned": [], "accepted": []}
        sizes = {k: spools[k].size for k in out}
        full = 0
        for seq, letter in enumerate(h["order"]):
            kind = _KINDS[letter]
            budget = spools[kind].budget
            listed = budget is None or sizes[kind] < budget
            span = uses_at.get(seq)
            if span is not None:
                for tag, n in uses[span[0]:span[1]]:
                    if tag == "P" or listed:
                        self.ref(tag, n)
            i = pos[letter]
            pos[letter] += 2 if letter == "r" else 1
            if not listed:
                page.unlisted[kind] += 1
                continue
            if letter == "r":
                is_full = sizes[kind] < full_budget
                full += is_full
                row = self.render(lines[kind][i if is_full else i + 1])
            else:
                row = self.render(lines[kind][i])
            out[kind].append(row)
            sizes[kind] += len(row) + 1
        page.full_rejected += full
        for kind, rows in out.items():
            self._emit(kind, rows, stem)
