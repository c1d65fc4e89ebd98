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
from array import array
from collections.abc import Iterator
from decimal import Decimal
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

    def seek(self, pos: int) -> int:
        # Returns the position as a file does: compiled writers (scrubber._native) check the type.
        if self.into is None:
            self._it = self._chunks()
            return pos
        self.copy_to(self.into)
        self._it = iter(())
        return pos

    def copy_to(self, out: IO[str]) -> None:
        """The ranges, ``sep`` between them, appended to ``out`` (as the report's spool copies its rows)."""
        for i, (path, start, end) in enumerate(self.ranges):
            if i and self.sep:
                out.write(self.sep)
            append_file(out, path, start, end)

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


def _fileno(out: IO[str]) -> int | None:
    try:
        return out.fileno()
    except (OSError, ValueError, AttributeError):
        return None  # an output held in memory (a stream's spool)


def start_write_back(fd: int, start: int) -> int:
    """Ask the kernel to start writing bytes [start, end of file) of ``fd`` to disk, without waiting
    for it, so that an fsync or a rename later finds them written; returns the end. Nothing where
    the platform has no ``posix_fadvise`` or ``fd`` is not a file."""
    try:
        end = os.fstat(fd).st_size
        if end > start and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, start, end - start, os.POSIX_FADV_DONTNEED)
        return end
    except OSError:
        return start


def append_file(out: IO[str], path: str, start: int = 0, end: int | None = None) -> None:
    """Bytes [start, end) of ``path`` to the end of the output ``out``, by the kernel where it can."""
    out.flush()
    buffer = out.buffer  # type: ignore[attr-defined]
    fd = _fileno(out)
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

    def _new_body(self) -> IO[str]:
        return Chain(into=self.out)  # type: ignore[return-value]

    def add_part(self, txn: Transaction, path: str, part: Part277) -> None:
        if txn is not self._st:
            self._start_transaction(txn)
        self._body.add(path, part.start, part.end)  # type: ignore[union-attr]
        self._st_counts[0] += part.counts[0]
        self._st_counts[1] += part.counts[1]
        self._st_amounts[0] += Decimal(part.amounts[0])
        self._st_amounts[1] += Decimal(part.amounts[1])
        self._st_segments += part.segments


def renumber_hls(text: str, shift: int, d: Delimiters) -> str:
    """HL01 and HL02 of the accepted 837's loops moved by ``shift`` (loops kept before in the transaction).

    An HL segment is ``HL`` after a terminator (or the text's start) and any line breaks, with a
    number in HL01 and a number or nothing in HL02. Found with ``str.find`` (the segments between
    are copied as slices): a regular expression over the whole span cost the parent 15 ns a byte.
    """
    sep, term = d.element, d.segment
    needle = "HL" + sep
    out: list[str] = []
    done = 0  # text[:done] is in out
    at = text.find(needle)
    while at >= 0:
        k = at + len(needle)
        e1 = text.find(sep, k)
        e2 = text.find(sep, e1 + 1) if e1 > k else -1
        if e2 >= 0 and _segment_start(text, at, term) and _number(text[k:e1]) and \
                (e2 == e1 + 1 or _number(text[e1 + 1:e2])):
            parent = text[e1 + 1:e2]
            out += (text[done:k], str(int(text[k:e1]) + shift), sep, str(int(parent) + shift) if parent else "", sep)
            done = e2 + 1
            at = text.find(needle, done)
        else:
            at = text.find(needle, k)
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def _segment_start(text: str, at: int, term: str) -> bool:
    """Whether ``at`` starts a segment: after the text's start or a terminator, then only line breaks."""
    j = at
    while j > 0 and text[j - 1] in "\r\n":
        j -= 1
    return j == 0 or text[j - 1] == term or term in text[j:at]


def _number(s: str) -> bool:
    return s.isdecimal() and s.isascii()


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
    """The JSON report: totals summed, each list's rows the pieces' files joined as the writer joins rows."""

    def _new_rows(self) -> tuple[Any, Any]:
        return Chain(",\n", "ascii", into=self.out), Chain(",\n", "ascii", into=self.out)

    def write_to(self, out: IO[str]) -> None:
        self.out = self._flagged.into = self._clean.into = out  # type: ignore[attr-defined]

    def files(self) -> list[str]:
        """The pieces' files the rows are copied from."""
        return [path for chain in (self._flagged, self._clean) for path, _s, _e in chain.ranges]  # type: ignore[attr-defined]

    def add_piece(self, totals: dict[str, Any], flagged: str, clean: str) -> None:
        self.total += totals["total"]
        self.accepted += totals["accepted"]
        self.rejected += totals["rejected"]
        self.warned += totals["warned"]
        self.charges += Decimal(totals["charges"])
        self.charges_rejected += Decimal(totals["charges_rejected"])
        for edit, n in totals["by_edit"].items():
            self.by_edit[edit] = self.by_edit.get(edit, 0) + n
        if totals["flagged"]:
            self._flagged.add(flagged, 0, os.path.getsize(flagged))  # type: ignore[attr-defined]
        if totals["clean"]:
            self._clean.add(clean, 0, os.path.getsize(clean))  # type: ignore[attr-defined]


class StitchWorklist(WorklistWriter):
    """The worklist: the header row, then each piece's rows as the piece is settled (nothing in it
    depends on what comes after, so it is complete when the last piece is)."""

    def add_piece(self, path: str, start: int) -> None:
        append_file(self.out, path, start)


# -- the HTML report --------------------------------------------------------------------------------

_MARK = re.compile(re.escape('"' + JSON_MARK) + r"([TPE])(\d+)" + re.escape("\\u0001\\u0000" + '"'))


class _Rows:
    """One list of the page: ranges of files holding final rows (each joined to the next by a comma),
    counted as the writer's spool counts (characters, plus one for each comma)."""

    def __init__(self, budget: int | None) -> None:
        self.budget = budget
        self.ranges: list[tuple[str, int, int]] = []
        self.count = 0
        self.size = 0

    def fits(self) -> bool:
        return self.budget is None or self.size < self.budget

    def copy_to(self, out: IO[str]) -> None:
        out.write("[")
        for i, (path, start, end) in enumerate(self.ranges):
            if i:
                out.write(",")
            append_file(out, path, start, end)
        out.write("]")


class StitchHtml(HtmlReportWriter):
    """The page: counts summed, shared references numbered in file order, size budgets applied row by row."""

    def _new_spools(self) -> dict[str, Any]:
        lim = self.limits
        return {"rejected": _Rows(None), "warned": _Rows(lim.warned_bytes), "accepted": _Rows(lim.accepted_bytes)}

    # -- the pieces, settled in file order ---------------------------------------------------------
    def add_piece(self, h: dict[str, Any], stem: str) -> None:
        """One piece's rows and totals (``h`` from scrubber.writers.pieces_html.PieceHtml.result)."""
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


def _index(entry: tuple[str, bytes, bytes]) -> tuple[str, array, array]:
    path, chars, nbytes = entry
    a, b = array("q"), array("q")
    a.frombytes(chars)
    b.frombytes(nbytes)
    return path, a, b


def _read_rows(entry: tuple[str, array, array]) -> list[str]:
    path, _chars, nbytes = entry
    with open(path, "rb") as fh:
        data = fh.read()
    rows, pos = [], 0
    for n in nbytes:
        rows.append(data[pos:pos + n - 1].decode("utf-8"))
        pos += n
    return rows


class _HtmlPiece:
    """One piece's rows made final: marks numbered (or written out past a cap), budgets applied.

    A piece without marks whose lists fit their budgets goes in as the worker wrote it (its files
    copied by the kernel); otherwise its rows are read back one by one.
    """

    def __init__(self, page: StitchHtml, h: dict[str, Any]) -> None:
        self.page = page
        self.h = h
        self.values: dict[str, list[Any]] = h["values"]
        self.refs: dict[tuple[str, int], Any] = {}
        self.added: list[tuple[str, Any]] = []  # texts and edits numbered for this piece (undone on a retry)
        self.files = {kind: _index(entry) for kind, entry in h["rows"].items()}
        self.resort = True
        self.table: dict[str, str] = {}  # a mark's JSON text -> what replaces it

    def payer(self, key: Any) -> Any:
        """A payer as the piece keyed it (a given reference, a mark, or "": past the cap) as the page numbers it."""
        return self.ref("P", int(key[3:-2])) if isinstance(key, str) and key else key

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
        self.table.clear()

    def _number(self, listed: set[str]) -> None:
        """Number marks at their first use, in the writer's order: rows in file order, and the order
        each row asked for them; a payer for every claim, texts and edits only in rows listed."""
        if listed >= {"r", "w", "a"}:
            # Every row listed: first uses come in the order the worker numbered its marks.
            for tag in ("P", "T", "E"):
                for n in range(len(self.values[tag])):
                    self.ref(tag, n)
        else:
            uses = self.h["uses"]
            for _seq, kind, a, b in self.h["row_uses"]:
                for tag, n in uses[a:b]:
                    if (tag, n) not in self.refs and (tag == "P" or kind in listed):
                        self.ref(tag, n)
        refs = [self.refs.get(("E", n)) for n in range(len(self.values["E"]))]
        # New edits numbered above the given ones and in the worker's order: its sorting holds.
        self.resort = not all(isinstance(r, int) for r in refs) or refs != sorted(refs) or \
            (bool(refs) and refs[0] < self.h["edit_base"])

    def render(self, row: str) -> str:
        if JSON_MARK not in row:
            return row
        text = _MARK.sub(self._sub, row)
        if self.resort and "\\u0001E" in row:
            value = json.loads(text)
            if len(value) > 6 and isinstance(value[6], list):
                value[6].sort()  # the writer's sorted edit references, now that they are numbered
            text = _json(value)
        return text

    def _sub(self, m: re.Match[str]) -> str:
        text = self.table.get(m[0])
        if text is None:
            got = self.ref(m[1], int(m[2]))
            text = self.table[m[0]] = str(got) if isinstance(got, int) else _json(got)
        return text

    def _final(self, kind: str) -> str:
        """A list's rows made final, joined by commas as the page joins them (marks numbered first)."""
        entry = self.files[kind]
        path, _chars, nbytes = entry
        if not nbytes:
            return ""
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8")[:-1]
        if JSON_MARK not in text:
            return text
        if self.resort and "\\u0001E" in text:
            return ",".join(self.render(r) for r in _read_rows(entry))
        return _MARK.sub(self._sub, text)

    def _fits(self, kind: str, chars: int, n: int) -> bool:
        spool = self.page.spools[kind]
        return spool.budget is None or not n or spool.size + chars + n <= spool.budget

    def rows(self, stem: str) -> None:
        page, files = self.page, self.files
        spools = page.spools
        open_kinds = [k for k in ("warned", "accepted") if spools[k].fits()]
        closed = [k for k in ("warned", "accepted") if k not in open_kinds]
        counts = {k: len(files[k][1]) for k in files}
        if not self.h["uses"]:
            if all(self._fits(k, sum(files[k][1]), counts[k]) for k in open_kinds):
                for k in open_kinds:
                    self._whole(k, files[k])
                for k in closed:
                    page.unlisted[k] += counts[k]
                self._rejected(stem)
                return
            self._row_by_row(stem)
            return
        self._number({"r", *(k[0] for k in open_kinds)})
        final = {k: self._final(k) for k in open_kinds}
        # Joined rows are one comma short of what the budgets count (a comma a row).
        if all(self._fits(k, len(final[k]) - counts[k] + 1, counts[k]) for k in open_kinds):
            for k in open_kinds:
                self._emit(k, final[k], counts[k], stem)
            for k in closed:
                page.unlisted[k] += counts[k]
            self._rejected(stem)
            return
        self.rollback()
        self._row_by_row(stem)

    def _whole(self, kind: str, entry: tuple[str, array, array], as_kind: str | None = None) -> None:
        path, chars, nbytes = entry
        if not nbytes:
            return
        spool = self.page.spools[as_kind or kind]
        spool.ranges.append((path, 0, sum(nbytes) - 1))  # without the last comma
        spool.count += len(nbytes)
        spool.size += sum(chars) + len(chars)

    def _rejected(self, stem: str) -> None:
        """Rejected claims in full while the page's budget for them lasts, then with the segments at fault."""
        page, files = self.page, self.files
        budget = page.limits.rejected_full_bytes
        full, short = files["rejected"], files["short"]
        size = page.spools["rejected"].size
        n = len(full[1])
        if not n:
            return
        if not self.h["uses"] and (size + sum(full[1]) + n <= budget or size >= budget):
            all_full = size < budget
            page.full_rejected += n if all_full else 0
            self._whole("rejected", full if all_full else short, "rejected")
            return
        if size >= budget:
            self._emit("rejected", self._final("short"), n, stem)
            return
        text = self._final("rejected")
        if size + len(text) + 1 <= budget:
            page.full_rejected += n
            self._emit("rejected", text, n, stem)
            return
        chosen = []
        for f, s_ in zip(_read_rows(full), _read_rows(short), strict=True):
            row = self.render(f if size < budget else s_)
            page.full_rejected += size < budget
            chosen.append(row)
            size += len(row) + 1
        self._emit("rejected", ",".join(chosen), n, stem)

    def _emit(self, kind: str, text: str, n: int, stem: str) -> None:
        """``n`` final rows joined by commas into the list ``kind``."""
        if not n:
            return
        spool = self.page.spools[kind]
        path = f"{stem}.final-{kind}"
        data = text.encode("utf-8", "replace")
        with open(path, "wb") as fh:
            fh.write(data)
        spool.ranges.append((path, 0, len(data)))
        spool.count += n
        spool.size += len(text) + 1

    def _row_by_row(self, stem: str) -> None:
        """Rows in claim order, each listed or not as the writer decides it (a budget is met in this piece)."""
        page, h = self.page, self.h
        spools = page.spools
        full_budget = page.limits.rejected_full_bytes
        lines = {kind: _read_rows(entry) for kind, entry in self.files.items()}
        uses = h["uses"]
        uses_at = {seq: (a, b) for seq, _k, a, b in h["row_uses"]}
        pos = {"r": 0, "w": 0, "a": 0}
        out: dict[str, list[str]] = {"rejected": [], "warned": [], "accepted": []}
        sizes = {k: spools[k].size for k in out}
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
            pos[letter] += 1
            if not listed:
                page.unlisted[kind] += 1
                continue
            if letter == "r":
                is_full = sizes[kind] < full_budget
                page.full_rejected += is_full
                row = self.render(lines["rejected"][i] if is_full else lines["short"][i])
            else:
                row = self.render(lines[kind][i])
            out[kind].append(row)
            sizes[kind] += len(row) + 1
        for kind, rows in out.items():
            self._emit(kind, ",".join(rows), len(rows), stem)
