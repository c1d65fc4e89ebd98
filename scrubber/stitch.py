"""The parent of a split run (design: scrubber.split): hand out pieces, settle them in file order, stitch.

Pieces go to the workers as the pre-scan finds them, a few ahead. Each result is settled in file
order: its numbering checked against what the pieces before it counted, its cross-claim keys
against those recorded before it (``KeyFilter``); a piece that got either wrong is done again
with the right numbers or a seeded index. A settled piece is stitched at once into the 277CA and
accepted-837 spools and the report writers' state; the outputs are opened and written only when
every piece has settled, so a file the split path gives up on (``Fallback``) is read by the
single-process path from a clean slate.
"""

from __future__ import annotations

import copy
import datetime as dt
import gc
import multiprocessing
import os
import pickle
import shutil
import sys
import threading
from array import array
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import Any

from scrubber.commit import OutputSet
from scrubber.errors import InputError
from scrubber.guide.validator import GroupRecord, GuideError, TxnErrors
from scrubber.model import Group, Interchange, Transaction
from scrubber.piecekeys import mark
from scrubber.piecekeys import maybe as maybe_recorded
from scrubber.piecework import INHERITED, Part, PieceResult, Task, run_piece
from scrubber.pool import process_pool, stop
from scrubber.runindex import ClaimKeys, RunIndex
from scrubber.split import Bases, Piece, PlanError, Planner, plan
from scrubber.writers.pieces_html import HtmlSeed
from scrubber.writers.stitching import (
    Stitch277,
    Stitch837,
    StitchHtml,
    StitchJson,
    StitchWorklist,
    append_file,
    start_write_back,
)
from scrubber.x12.reader import MAX_NOTICES

_ONE_AT_A_TIME = threading.Lock()
#: validator errors filed at an HL before the gap it reveals in the claim before it
_AT_HL = frozenset({"hl_count", "hl_parent", "seg_id", "trailing"})


class Fallback(Exception):
    """The split path cannot vouch for this file: the single-process path reads it."""


class KeyFilter:
    """Keys recorded by the accepted claims of settled pieces: a bit filter in memory (three bits a
    key in one block of 512, about 40 bits a key in all), and each piece's keys in its file, read
    again only for the few lookups the filter cannot rule out; the pieces' ClaimKeys are read for
    seeding."""

    def __init__(self, expected_keys: int) -> None:
        bits = 1 << max(16, min(28, (max(1, expected_keys) * 40).bit_length()))
        self.bits = bytearray(bits >> 3)
        self.files: list[str] = []

    def add(self, path: str) -> None:
        mark(self.bits, _little(_recorded(path)))
        self.files.append(path)

    def shared(self, lookups: bytes) -> set[int]:
        """The keys of ``lookups`` (array("q") bytes) recorded by an earlier piece."""
        maybe = set(maybe_recorded(self.bits, _little(lookups)))  # a key may be looked up twice
        found: set[int] = set()
        for path in self.files:
            if not maybe:
                break
            keys = _recorded(path)
            if len(maybe) <= _FEW_MAYBE:  # the usual case: a false positive or two in a whole run
                here = {k for k in maybe if _holds(keys, k)}
            else:  # many shared keys (a file sent twice): one pass over the piece's keys
                column = array("q")
                column.frombytes(keys)
                here = maybe.intersection(column)
            found |= here
            maybe -= here
        return found

    def seeds(self, shared: set[int]) -> list[ClaimKeys]:
        """The earlier accepted claims that hold one of ``shared``, in file order."""
        out: list[ClaimKeys] = []
        for path in self.files:
            with open(path, "rb") as fh:
                n = int.from_bytes(fh.read(8), "little")
                fh.seek(8 + n)
                out += pickle.load(fh).holding(shared)
        return out


#: up to this many keys to confirm, each is searched for in a piece's keys (C speed, about 1 ms in
#: 3 MB); more, and the piece's keys are read into a set's intersection once
_FEW_MAYBE = 8


def _recorded(path: str) -> bytes:
    """A piece's recorded keys as its worker wrote them (array("q") bytes, this machine's order)."""
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        return fh.read(n)


def _holds(keys: bytes, key: int) -> bool:
    """Whether array("q") bytes ``keys`` hold ``key`` (at a whole key's place, not across two)."""
    needle = key.to_bytes(8, sys.byteorder, signed=True)
    at = keys.find(needle)
    while at >= 0 and at % 8:
        at = keys.find(needle, at + 1)
    return at >= 0


def _little(data: bytes) -> bytes:
    """array("q") bytes as the filter reads them: little-endian."""
    if sys.byteorder == "little":
        return data
    keys = array("q", data)
    keys.byteswap()
    return keys.tobytes()


class _OpenTransaction:
    """Sums over the settled parts of the transaction the next piece may continue."""

    def __init__(self, st: int) -> None:
        self.st = st
        self.segments = self.claims = self.hls = self.blocks = self.hls837 = 0
        self.parts = 0
        self.hl_high = 0
        self.plain_hls = True

    def add(self, part: Part) -> None:
        self.parts += 1
        self.segments += part.segments
        self.claims += part.claims
        self.hls += part.hls
        self.blocks += part.p277.blocks if part.p277 else 0
        self.hls837 += part.p837.hls if part.p837 else 0

    @classmethod
    def after(cls, ot: _OpenTransaction | None, result: PieceResult) -> _OpenTransaction | None:
        """The sums once ``result`` is added (a copy: for looking ahead; counts do not depend on verdicts)."""
        out = ot
        for part in result.parts:
            if out is None or out.st != part.st:
                out = cls(part.st)
            elif out is ot:
                out = copy.copy(ot)
            out.add(part)
        return out


class _Slot:
    """A piece handed out: its first round, and its second when it was done again early (``_ahead``)."""

    def __init__(self, piece: Piece, first: Future) -> None:
        self.piece = piece
        self.first = first
        self.again: Future | None = None
        self.again_piece = piece
        self.again_seeds: tuple[int, ...] = ()

    def futures(self) -> list[Future]:
        return [self.first] if self.again is None else [self.first, self.again]


def scrub_split(path: str, out: OutputSet, label: str, options: Any, engine: Any, moment: dt.datetime,
                engine_given: bool = False, open_output: Any = None) -> Any:
    """Scrub one file over ``options.jobs`` processes into ``out``; None when the single-process path should.

    Forked workers use ``engine`` as it is; where processes are spawned (not Linux), each builds its
    own from ``options``, so an engine the caller made itself is used by one process instead.
    """
    if engine_given and multiprocessing.get_start_method() != "fork":
        return None
    if not _ONE_AT_A_TIME.acquire(blocking=False):
        return None  # another thread of this process runs a split run: workers inherit one engine at a time
    try:
        return _scrub_split(path, out, label, options, engine, moment, open_output or out.open)
    finally:
        _ONE_AT_A_TIME.release()


def _scrub_split(path: str, out: OutputSet, label: str, options: Any, engine: Any, moment: dt.datetime,
                 open_output: Any) -> Any:
    planner = plan(path, options.jobs, options.max_segment)
    if planner is None:
        return None
    folder = out.stage / "pieces"
    folder.mkdir()
    split = _SplitRun(planner, str(folder), label, options, engine, moment)
    try:
        try:
            split.collect()
        finally:
            planner.close()
    except Fallback as exc:
        shutil.rmtree(folder, ignore_errors=True)
        if os.environ.get("SCRUBBER_DEBUG"):
            print(f"--jobs: {exc or 'a file without claims'}; one process reads the file", file=sys.stderr)
        return None
    try:
        return split.write(out, open_output)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class _SplitRun:
    def __init__(self, planner: Planner, folder: str, label: str, options: Any, engine: Any,
                 moment: dt.datetime) -> None:
        from scrubber.runparts import Summary, meta

        self.planner = planner
        self.skeleton = planner.skeleton
        self.folder = folder
        self.label = label
        self.options = options
        self.engine = engine
        self.moment = moment
        self.summary = Summary(label)
        self.filter = KeyFilter(0)  # sized once the workers are forked (``collect``)
        self.tallies: dict[str, tuple[int, dt.date, dt.date]] = {}
        self.open: _OpenTransaction | None = None
        self.txns: dict[int, Transaction] = {}
        self.groups: dict[int, Group] = {}
        self.interchanges: dict[int, Interchange] = {}
        self.st_totals: dict[int, list[int]] = {}  # segments, claims of each transaction not yet ended
        self.ended = 0  # entries of the skeleton's order done
        self.transactions = 0
        self.real_ge: dict[int, Any] = {}  # trailers as the file has them, for the 837's line breaks
        self.real_iea: dict[int, Any] = {}
        self.reader_notices: list[str] = []
        self.dropped_notices = 0
        self.guide_on = options.validator == "builtin" and engine.runs("X12-IG")
        self.guide_groups: dict[int, GroupRecord] = {}
        self.guide_isa: dict[int, Any] = {}
        self.guide_txns: dict[int, TxnErrors] = {}
        self.guide_errors = 0
        self.guide_notices: list[str] = []
        self.worklist = StitchWorklist(open(f"{folder}/stitched.worklist", "w", encoding="utf-8", newline=""))
        self._written: dict[int, int] = {}  # fd -> bytes of a stitched file the disk was asked to write
        self.s277 = Stitch277(open(f"{folder}/stitched.277", "w", encoding="latin-1", newline=""), now=moment,
                              control_base=options.control(moment), source_name=options.source_name,
                              source_id=options.source_id)
        self.s837 = Stitch837(open(f"{folder}/stitched.837", "w", encoding="latin-1", newline=""))
        the_meta = meta(engine)
        self.json = StitchJson(None, input_name=label, meta=the_meta)  # type: ignore[arg-type]
        self.html = StitchHtml(None, input_name=label, meta=the_meta, registry=engine.payers,  # type: ignore[arg-type]
                               titles={e.id: e.title for e in engine.catalog.edits.values()}) if options.html else None

    # -- handing out and settling ---------------------------------------------------------------
    def collect(self) -> None:
        INHERITED[:] = [self.engine]  # forked workers use this process's engine as it is
        if self.guide_on:
            from scrubber.guide.tables import load_tables

            load_tables()
        gc.freeze()  # what the workers inherit stays out of their collections (no copy-on-write for it)
        self.pool = process_pool(self.options.jobs)
        # Made once the workers are forked: a worker would otherwise carry the filter (32 MB at a
        # million claims) in its resident memory without ever reading it.
        self.filter = KeyFilter(self.planner.size // 160)
        pending: deque[_Slot] = deque()
        self._pieces = self.planner.pieces()
        self._more = True
        try:
            while True:
                self._refill(pending)
                if not pending:
                    break
                slot = pending[0]
                if not slot.first.done():
                    self._wait(pending)
                    continue
                pending.popleft()
                piece, result = self._settle(slot, pending)
                self._accept(piece, result)
            if self.summary.claims == 0:
                raise Fallback  # the single pass says what is wrong with a file without claims
            self._end_until(None)
        except KeyboardInterrupt:
            stop(self.pool, [f for slot in pending for f in slot.futures()])
            raise
        except PlanError:
            raise Fallback from None
        finally:
            for slot in pending:
                for f in slot.futures():
                    f.cancel()
            self.pool.shutdown(wait=True, cancel_futures=True)
            gc.unfreeze()
            INHERITED.clear()
            self.s277.out.close()
            self.s837.finish([])
            self.s837.out.close()
            self.worklist.out.close()

    def _refill(self, pending: deque[_Slot], busy: int = 0) -> None:
        """Keep every worker busy with one piece and one waiting, however far settling lags behind."""
        running = busy + sum(1 for slot in pending for f in slot.futures() if not f.done())
        while self._more and running < self.options.jobs + 2:
            piece = next(self._pieces, None)
            if piece is None:
                self._more = False
                return
            pending.append(_Slot(piece, self.pool.submit(run_piece, self._task(piece, 1))))
            running += 1

    def _wait(self, pending: deque[_Slot], *also: Future) -> None:
        waiting = [*also, *(f for slot in pending for f in slot.futures() if not f.done())]
        if waiting:
            wait(waiting, return_when=FIRST_COMPLETED)

    def _task(self, piece: Piece, round_: int, seeds: list[ClaimKeys] | None = None, hl837: int = 0) -> Task:
        html = None
        if self.html is not None:
            page = self.html
            html = HtmlSeed(dict(page.strings), dict(page.payers), dict(page.edits),
                            (page.limits.strings, page.limits.payers))
        return Task(self.planner.path, piece, round_, self.folder, replace(self.options, progress=None), self.moment,
                    seeds or [], html, hl837)

    def _checked(self, piece: Piece, result: PieceResult, bases: Bases) -> None:
        if result.stopped:
            raise KeyboardInterrupt
        if result.anomaly:
            raise Fallback(result.anomaly)
        if result.error is not None and bases == piece.bases:
            message, offset, segment = result.error  # numbered right: as one pass says it
            raise InputError(message, offset=offset, segment=segment)
        if result.error is None and [p.st for p in result.parts] != list(range(piece.first_st, piece.last_st + 1)):
            raise Fallback("the pieces' transactions are not the plan's")

    def _seeds(self, result: PieceResult) -> list[ClaimKeys]:
        """The earlier accepted claims (of settled pieces) that share a cross-claim key with the piece's."""
        if result.error is not None:
            return []
        shared = self.filter.shared(result.lookups)
        return self.filter.seeds(shared) if shared else []

    def _settle(self, slot: _Slot, pending: deque[_Slot]) -> tuple[Piece, PieceResult]:
        """The piece's result as a single process would have it: done again when numbering or keys say so."""
        piece, result = slot.piece, _result(slot.first)
        bases, hl837 = self._bases(piece, self.summary.claims, self.open)
        self._checked(piece, result, bases)
        seeds = self._seeds(result)
        if bases == piece.bases and not seeds:
            return piece, result
        ahead = slot.again
        if ahead is not None and slot.again_piece.bases == bases and slot.again_seeds == _ordinals(seeds):
            future, piece = ahead, slot.again_piece  # done again early, as it would be now
        else:
            if ahead is not None:
                ahead.cancel()
            piece = replace(piece, bases=bases)
            future = self.pool.submit(run_piece, self._task(piece, 2, seeds, hl837))
        _remove(result)
        while not future.done():
            self._refill(pending, busy=1)
            self._ahead(piece, result, pending)
            self._wait(pending, future)
        again = _result(future)
        self._checked(piece, again, bases)
        if again.error is not None:
            raise AssertionError("unreachable: an error is raised by _checked")
        return piece, again

    def _ahead(self, head: Piece, head_result: PieceResult, pending: deque[_Slot]) -> None:
        """While a piece is done again, do the later ones that need it too, where nothing unsettled
        before them can change what they need: their keys meet none of those pieces' lookups."""
        unsettled = set(array("q", head_result.lookups))
        claims = self.summary.claims + head_result.claims
        ot = _OpenTransaction.after(self.open, head_result)
        for slot in pending:
            if not slot.first.done() or slot.first.exception() is not None:
                return
            result = slot.first.result()
            if result.stopped or result.anomaly or result.error is not None:
                return
            lookups = array("q")
            lookups.frombytes(result.lookups)
            if slot.again is None and unsettled.isdisjoint(lookups):
                try:
                    bases, _hl837 = self._bases(slot.piece, claims, ot)
                except Fallback:
                    return
                seeds = self._seeds(result)
                if seeds or bases != slot.piece.bases:
                    slot.again_piece = replace(slot.piece, bases=bases)
                    slot.again_seeds = _ordinals(seeds)
                    slot.again = self.pool.submit(run_piece, self._task(slot.again_piece, 2, seeds))
            unsettled.update(lookups)
            claims += result.claims
            ot = _OpenTransaction.after(ot, result)

    def _bases(self, piece: Piece, ordinal: int, ot: _OpenTransaction | None) -> tuple[Bases, int]:
        if not piece.cont:
            return Bases(ordinal), 0
        if ot is None or ot.st != piece.first_st:
            raise Fallback("a piece continues a transaction no piece began")
        return Bases(ordinal, ot.segments + 1, ot.claims, ot.hls, ot.blocks), ot.hls837 + 1

    # -- a settled piece ----------------------------------------------------------------------------
    def _accept(self, piece: Piece, res: PieceResult) -> None:
        s = self.summary
        s.claims += res.claims
        s.accepted += res.accepted
        s.rejected += res.rejected
        self.real_ge.update(res.ge)
        self.real_iea.update(res.iea)
        if self.guide_on:
            self.guide_errors += res.guide_errors
            self.guide_notices += res.guide_notices
            for g, (isa, gs, delims, ge) in res.groups.items():
                record = self.guide_groups.get(g)
                if record is None:
                    # One ISA object per interchange: the 999 groups its AK1s by it.
                    isa = self.guide_isa.setdefault(self.skeleton.groups[g].ix, isa)
                    record = self.guide_groups[g] = GroupRecord(isa, gs, delims)
                if ge is not None:
                    record.ge = ge
        for part in res.parts:
            self._part(piece, res, part)
        # Copied into the stitched 837 (the 277CA's blocks wait for their transaction's end): freed
        # now, while the workers run, not at the end.
        _drop(res.files.get("837"))
        self._write_back()
        self.filter.add(res.recorded)
        for template, (n, first, last) in res.tallies.items():
            had = self.tallies.get(template)
            self.tallies[template] = (n, first, last) if had is None else (had[0] + n, min(had[1], first), max(had[2], last))
        self.json.add_piece(res.json, res.files["json"], res.files["clean"])
        self.worklist.add_piece(res.files["worklist"], res.worklist_start)
        _drop(res.files["worklist"])
        if self.html is not None and res.html is not None:
            self.html.add_piece(res.html, f"{self.folder}/{res.index}.{res.round}")
        if self.options.progress is not None:
            self.options.progress(piece.end, s.claims, "scrub")  # the bytes before piece.end are done

    def _write_back(self) -> None:
        """Start the disk writing what the stitched files gained (the kernel does it while the
        workers run): left to the end, the renames and the commit's fsyncs waited on a quarter of a
        gigabyte at once, at the speed of the disk."""
        for fh in (self.s277.out, self.s837.out, self.worklist.out):
            fd = fh.fileno()
            self._written[fd] = start_write_back(fd, self._written.get(fd, 0))

    def _part(self, piece: Piece, res: PieceResult, part: Part) -> None:
        st = part.st
        ot = self.open
        if ot is None or ot.st != st:
            self._end_until(st)
            ot = self.open = _OpenTransaction(st)
            self.st_totals[st] = [0, 0]
        ot.add(part)
        if part.hl_ids is None:
            ot.plain_hls = False
        elif part.hl_ids[1] >= part.hl_ids[0]:
            if part.hl_ids[0] <= ot.hl_high:
                ot.plain_hls = False
            ot.hl_high = max(ot.hl_high, part.hl_ids[1])
        if ot.parts > 1 and not ot.plain_hls:
            raise Fallback("HL ids that repeat or are not plain numbers across pieces")
        if ot.parts == 1 and part is res.parts[-1] and piece.tail and not ot.plain_hls:
            raise Fallback("HL ids that are not plain numbers in a transaction cut in pieces")
        totals = self.st_totals[st]
        totals[0] += part.segments
        totals[1] += part.claims
        txn = self._transaction(st, part.txn)
        if part.se_real:
            txn.se = part.txn.se
        if part.p277 is not None:
            self.s277.add_part(txn, res.files["277"], part.p277)
        if part.p837 is not None:
            self.s837.add_part(txn, res.files["837"], part.p837)
        if self.guide_on and part.guide is not None:
            self._guide_part(st, part)

    def _guide_part(self, st: int, part: Part) -> None:
        got = part.guide
        assert got is not None
        have = self.guide_txns.get(st)
        if have is None:
            g = self.skeleton.txns[st].group
            have = self.guide_txns[st] = TxnErrors(None, got.st, [])
            record = self.guide_groups.get(g)
            if record is None:
                raise Fallback("validator records out of step")
            record.transactions.append(have)
        _merge_errors(have.errors, got.errors, part.first)
        have.envelope += got.envelope
        have.se_count_wrong |= got.se_count_wrong
        have.se_control_wrong |= got.se_control_wrong

    # -- envelopes ----------------------------------------------------------------------------------
    def _transaction(self, st: int, txn: Transaction) -> Transaction:
        canon = self.txns.get(st)
        if canon is None:
            g = self.skeleton.txns[st].group
            canon = self.txns[st] = txn
            canon.index = st
            canon.group = self._group(g, txn.group)
        return canon

    def _group(self, g: int, group: Group | None) -> Group:
        canon = self.groups.get(g)
        if canon is None:
            if group is None:
                raise Fallback("a group's trailer before its header")
            canon = self.groups[g] = group
            canon.interchange = self._interchange(self.skeleton.groups[g].ix, group.interchange)
        return canon

    def _interchange(self, i: int, ix: Interchange | None) -> Interchange:
        canon = self.interchanges.get(i)
        if canon is None:
            if ix is None:
                raise Fallback("an interchange's trailer before its header")
            canon = self.interchanges[i] = ix
            canon.index = i
            canon.isa.raw = self.skeleton.interchanges[i].isa_lead + canon.isa.raw.lstrip(" \t\r\n")
        return canon

    def _end_until(self, st: int | None) -> None:
        """Envelope ends in file order up to transaction ``st`` (all of them: None)."""
        order = self.skeleton.order
        while self.ended < len(order):
            kind, n = order[self.ended]
            if kind == "st" and n == st:
                return
            self.ended += 1
            if kind == "st":
                self.transactions = n
                txn = self.txns.pop(n)
                self.s277.end_transaction(txn)
                self.s837.end_transaction(txn)
                self._se_notices(n, txn)
            elif kind == "ge":
                group = self.groups.pop(n)
                group.ge = self.real_ge.pop(n, group.ge)
                self.s277.end_group(group)
                self.s837.end_group(group)
                self._ge_notices(n, group)
            else:
                ix = self.interchanges.pop(n)
                ix.iea = self.real_iea.pop(n, ix.iea)
                self.s277.end_interchange(ix)
                self.s837.end_interchange(ix)
                self._iea_notices(n, ix)
        if st is not None:
            raise Fallback("a transaction the plan did not find")

    # The reader's notices about the envelope, from the whole file's counts (a piece sees a share).
    def _notice(self, text: str) -> None:
        if len(self.reader_notices) < MAX_NOTICES:
            self.reader_notices.append(text)
        else:
            self.dropped_notices += 1

    def _se_notices(self, st: int, txn: Transaction) -> None:
        sk = self.skeleton.txns.pop(st)
        count, claims = self.st_totals.pop(st)
        els = sk.se_els
        if _el(els, 1) != str(count):
            self._notice(f"SE01 of transaction {txn.control!r} says {_el(els, 1)!r} segments, it has {count}")
        if _el(els, 2) != txn.control:
            self._notice(f"SE02 {_el(els, 2)!r} does not match ST02 {txn.control!r}")
        if claims == 0:
            self._notice(f"transaction {txn.control!r} holds no claim, so the 277CA has no transaction for it")

    def _ge_notices(self, g: int, group: Group) -> None:
        sk = self.skeleton.groups.pop(g)
        els = sk.ge_els
        if _el(els, 1) != str(sk.txns):
            self._notice(f"GE01 says {_el(els, 1)!r} transactions, group {group.control!r} has {sk.txns}")
        if _el(els, 2) != group.control:
            self._notice(f"GE02 {_el(els, 2)!r} does not match GS06 {group.control!r}")

    def _iea_notices(self, i: int, ix: Interchange) -> None:
        sk = self.skeleton.interchanges.pop(i)
        els = sk.iea_els
        if _el(els, 1) != str(sk.groups):
            self._notice(f"IEA01 says {_el(els, 1)!r} groups, interchange {ix.control!r} has {sk.groups}")
        if _el(els, 2) != ix.control:
            self._notice(f"IEA02 {_el(els, 2)!r} does not match ISA13 {ix.control!r}")

    # -- the outputs ----------------------------------------------------------------------------------
    def write(self, out: OutputSet, open_output: Any) -> Any:
        from scrubber.runparts import ack_999, open_outputs

        s = self.summary
        s.transactions = self.transactions
        run = RunIndex()
        run.tallies = self.tallies
        notices = [*self.engine.notices(run), *self.reader_notices]
        if self.dropped_notices:
            notices.append(f"{self.dropped_notices} more notices not listed")
        if self.guide_on:
            s.guide = _Guide(list(self.guide_groups.values()), self.guide_errors, self.guide_notices)
            if self.guide_errors:
                notices = [f"the implementation-guide check found {self.guide_errors} error(s); see the 999", *notices,
                           *self.guide_notices]
        s.notices = notices
        handles = open_outputs(open_output, self.options.html)
        # Only the JSON report waits for the end (its totals come first): its rows are copied in
        # behind them and written to disk on a side thread while this one moves the stitched
        # files into place (a rename over a file makes ext4 write the renamed one's data first) and
        # writes the rest. The kernel copies and writes back, letting go of the interpreter's lock;
        # the commit's fsyncs then find the files on disk.
        with ThreadPoolExecutor(1) as side:
            json_copied = side.submit(self._write_json, handles["json"], notices)
            json_on_disk = side.submit(_fsync, handles["json"])
            stitched = (("277", self.s277.out.name), ("837", self.s837.out.name), ("worklist", self.worklist.out.name))
            for key, spool in stitched:
                moved = out.adopt(key, handles[key], spool)  # the spool becomes the output where it can
                if moved is None:
                    append_file(handles[key], spool)
            if self.html is not None:
                self.html.out = handles["html"]
                self.html.finish(notices)
            text = ack_999(s, self.moment, self.options.control(self.moment))
            if text:
                out.open("999").write(text)
            json_copied.result()
            _drop(*self.json.files())  # while the JSON report is written back
            json_on_disk.result()
        return s

    def _write_json(self, handle: Any, notices: list[str]) -> None:
        self.json.write_to(handle)
        self.json.finish(notices)


class _Guide:
    """What a 999 and the summary read of the validator's run, merged from the pieces."""

    def __init__(self, groups: list[GroupRecord], errors: int, notices: list[str]) -> None:
        self.groups = groups
        self.errors = errors
        self.notices = notices


def _result(future: Future) -> PieceResult:
    """A worker's result; a worker that failed (a bug, a killed process) leaves the file to one pass."""
    try:
        return future.result()
    except (InputError, KeyboardInterrupt):
        raise
    except Exception:
        if os.environ.get("SCRUBBER_DEBUG"):
            raise
        raise Fallback("a worker failed") from None


def _ordinals(seeds: list[ClaimKeys]) -> tuple[int, ...]:
    return tuple(k.ordinal for k in seeds)


def _merge_errors(have: list[GuideError], new: list[GuideError], first: int) -> None:
    """Add a piece's errors of a transaction after those of the pieces before it, in the order one
    pass files them: at the HL a piece starts with, the HL's own reader checks come before the gaps
    it reveals at the end of the claim before it (which the piece before filed)."""
    lead = 0
    while lead < len(new) and new[lead].number == first and new[lead].reader in _AT_HL:
        lead += 1
    if lead:
        cut = len(have)
        while cut and have[cut - 1].number == first:
            cut -= 1
        have[cut:cut] = new[:lead]
    have.extend(new[lead:])


def _fsync(handle: Any) -> None:
    """``handle``'s file on disk now, so that the commit's fsync finds it there."""
    try:
        handle.flush()
        os.fsync(handle.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # an output sent to a stream: nothing to write to disk here; the commit says what failed


def _drop(*paths: str | None) -> None:
    """Pieces' files done with (the folder goes at the end; freeing their pages early shortens it)."""
    for path in paths:
        if path:
            Path(path).unlink(missing_ok=True)


def _remove(result: PieceResult) -> None:
    rows = (result.html or {}).get("rows", {}).values()
    _drop(*result.files.values(), result.recorded, *(entry[0] for entry in rows))


def _el(els: list[str], i: int) -> str:
    return els[i] if i < len(els) else ""
