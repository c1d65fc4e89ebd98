"""A worker's share of a split run (scrubber.split): one piece of the file, every output's share of it.

The worker does per claim what a single process does (``scrubber.api.run``): reading, the per-claim
edits, the built-in validator, the cross-claim edits within the piece (its index seeded with the
earlier claims the parent names), and the writers (``scrubber.writers.pieces``). What it sends back
is small: counts per transaction, totals, the validator's errors and notices for the bytes it owns
(not for the copies of the envelope and header that give it context, nor the synthetic trailers),
and the cross-claim keys its claims looked up and recorded (so the parent can see whether an
earlier piece holds one of them; gathered per claim by the compiled scrubber.piecekeys).

A worker reads many pieces of one file: its validator starts each with the fast steps it learnt
on the one before (``GuideRun.learn_from``), and its collector is set once the inherited objects
are frozen, without counting them again.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from scrubber import collector
from scrubber.errors import InputError
from scrubber.guide import _Tap
from scrubber.guide.piece_run import PieceGuide
from scrubber.guide.validator import GuideError, GuideRun, TxnErrors, note_hl
from scrubber.guide.walker import WalkError
from scrubber.model import (
    ClaimUnit,
    Group,
    GroupEnd,
    InterchangeEnd,
    ScrubbedClaim,
    Segment,
    Transaction,
    TransactionEnd,
)
from scrubber.piecekeys import PieceKeys
from scrubber.pool import interruptible, stopping
from scrubber.runindex import ClaimKeys
from scrubber.split import Piece, PieceStream
from scrubber.writers.pieces import CountingText, Part277, Part837, Piece277, Piece837, PieceJson, PieceWorklist
from scrubber.writers.pieces_html import HtmlSeed, PieceHtml
from scrubber.x12.reader import Reader


@dataclass(slots=True)
class Task:
    """One piece to do (again, in a later round, with what the parent learnt meanwhile)."""

    path: str
    piece: Piece
    round: int
    folder: str  # where the piece's files go (the output set's staging folder)
    options: Any  # scrubber.api.Options, without its progress callback
    moment: Any  # the run's clock (277CA dates, control numbers)
    seeds: list[ClaimKeys] = field(default_factory=list)  # earlier accepted claims sharing keys
    html: HtmlSeed | None = None  # the page's shared references so far; None: no HTML report
    hl837: int = 0  # HL number the accepted 837 goes on from in a continued transaction (0: from 1)


class ElementNode(NamedTuple):
    """What the 999 reads of an element's map node (the map itself stays in the worker)."""

    ele_num: str
    dtype: str


@dataclass(slots=True)
class Part:
    """One transaction's share of a piece."""

    st: int  # global ordinal
    txn: Transaction  # the reader's, with its group and interchange
    claims: int
    first: int  # number of its first segment read from the file (1, or the plan's base)
    segments: int  # its segments read from the file (header, loops, claims, SE when real)
    hls: int
    hl_ids: tuple[int, int] | None  # lowest and highest HL01 (None: one is not a plain number)
    se_real: bool
    p277: Part277 | None
    p837: Part837 | None
    guide: TxnErrors | None


@dataclass(slots=True)
class PieceResult:
    index: int
    round: int
    parts: list[Part] = field(default_factory=list)
    claims: int = 0
    accepted: int = 0
    rejected: int = 0
    files: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] = field(default_factory=dict)
    worklist_start: int = 0
    html: dict[str, Any] | None = None
    #: global group ordinal -> (ISA, GS, delimiters, real GE or None)
    groups: dict[int, tuple[Segment, Segment, Any, Segment | None]] = field(default_factory=dict)
    guide_errors: int = 0
    guide_notices: list[str] = field(default_factory=list)
    #: trailers read from the file (global group / interchange ordinal -> segment)
    ge: dict[int, Segment] = field(default_factory=dict)
    iea: dict[int, Segment] = field(default_factory=dict)
    tallies: dict[str, Any] = field(default_factory=dict)
    lookups: bytes = b""  # array("q"): keys the claims looked up
    recorded: str = ""  # file: array("q") of the keys recorded, then the claims' keys (PieceKeys)
    error: tuple[str, int | None, int | None] | None = None  # an unusable input: message, offset, segment
    anomaly: str = ""  # something only a single pass can judge: the parent reads the file in one
    stopped: bool = False


class _HlTap:
    """HL counts and ids per transaction when the validator is off (it counts them otherwise)."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self.hl_counts: dict[int, int] = {}
        self.hl_ids: dict[int, list[int] | None] = {}

    def __iter__(self) -> Iterator[Segment]:
        st = 0
        for seg in self._tokenizer:
            sid = seg.els[0]
            if sid == "HL":
                self.hl_counts[st] = self.hl_counts.get(st, 0) + 1
                note_hl(self.hl_ids, st, seg)
            elif sid == "ST":
                st += 1
            yield seg

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)


#: engines built in a spawned worker, by the options they come from (one per run's settings)
_ENGINES: dict[bytes, Any] = {}
#: the parent's engine, inherited by forked workers (no rebuilding of tables per process)
INHERITED: list[Any] = []
#: the validator of the worker's last piece: the next one starts with what it learnt
_LEARNT: list[GuideRun] = []


def _engine(options: Any) -> Any:
    if INHERITED:
        return INHERITED[0]
    from scrubber.runparts import engine_for

    key = pickle.dumps((options.payers, options.rules, options.ncci, options.only_edits, options.guide))
    engine = _ENGINES.get(key)
    if engine is None:
        engine = _ENGINES[key] = engine_for(options)
    return engine


def run_piece(task: Task) -> PieceResult:
    """Worker entry: do one piece (nothing once Ctrl-C has been pressed)."""
    if stopping():
        return PieceResult(task.piece.index, task.round, stopped=True)
    with interruptible():
        return _Worker(task).run()


class _Worker:
    def __init__(self, task: Task) -> None:
        self.task = task
        self.piece = piece = task.piece
        self.engine = _engine(task.options)
        self.real = (len(piece.prefix), len(piece.prefix) + piece.size)
        self.result = PieceResult(piece.index, task.round)
        self.stem = os.path.join(task.folder, f"{piece.index}.{task.round}")
        self.closing: list[Any] = []

    def run(self) -> PieceResult:
        task, piece, engine = self.task, self.piece, self.engine
        options = task.options
        stream = PieceStream(task.path, piece)
        reader = Reader(stream, options.max_segment)
        reader.claims = piece.bases.ordinal
        renumber = {self.real[0]: piece.bases.segment} if piece.cont else {}
        reader.renumber = renumber
        guide: PieceGuide | None = None
        counter: Any
        if options.validator == "builtin" and engine.runs("X12-IG"):
            last = piece.last_st - piece.first_st + 1
            watch = {*((1,) if piece.cont else ()), *((last,) if piece.tail else ())}
            guide = PieceGuide(self.real, {1: piece.bases.hls} if piece.cont else {}, watch)
            if _LEARNT:
                guide.learn_from(_LEARNT[0])
            _LEARNT[:] = [guide]
            guide.renumber = renumber
            reader.tokenizer = _Tap(reader.tokenizer, guide)  # type: ignore[assignment]
            engine.context.extra["guide"] = guide
            counter = guide
        else:
            counter = reader.tokenizer = _HlTap(reader.tokenizer)  # type: ignore[assignment]
        files: dict[str, CountingText] = {}
        try:
            writers = self._writers(files)
            # the worker's collector set as a whole run's (a forked worker inherits the parent's freeze)
            with collector.for_a_run(frozen=bool(INHERITED)):
                self._read(reader, writers, guide)
            self._finish(reader, writers, guide, counter)
        except InputError as exc:
            self._input_error(exc)
        finally:
            engine.context.extra.pop("guide", None)
            stream.close()
            for f in [*files.values(), *self.closing]:
                f.close()
        self.result.files = {k: f.path for k, f in files.items()}
        return self.result

    def _writers(self, files: dict[str, CountingText]) -> dict[str, Any]:
        task, piece, engine = self.task, self.piece, self.engine
        options = task.options

        def out(kind: str, encoding: str = "latin-1") -> CountingText:
            files[kind] = CountingText(f"{self.stem}.{kind}", encoding)
            return files[kind]

        b = piece.bases
        writers: dict[str, Any] = {
            "837": Piece837(out("837"), first_hl=task.hl837 if piece.cont else 0),
            "277": Piece277(out("277"), first_hl=2 + b.blocks + b.claims if piece.cont else 0, now=task.moment,
                            control_base=options.control(task.moment), source_name=options.source_name,
                            source_id=options.source_id),
            "json": PieceJson(out("json", "ascii"), out("clean", "ascii")),
            "worklist": PieceWorklist(out("worklist", "utf-8")),
        }
        if task.html is not None:
            writers["html"] = PieceHtml(self.stem, seed=task.html, registry=engine.payers,
                                        titles={e.id: e.title for e in engine.catalog.edits.values()})
            self.closing.append(writers["html"])
        return writers

    def _read(self, reader: Reader, writers: dict[str, Any], guide: PieceGuide | None) -> None:
        engine = self.engine
        run_index = engine.new_run()
        for keys in self.task.seeds:
            run_index.record(keys)
        res = self.result
        piece_keys = PieceKeys()
        note_keys = piece_keys.claim
        cache = engine.context.claim_cache
        take = [w.claim for w in writers.values()]
        ws = list(writers.values())
        check, check_run = engine.check, engine.check_run
        groups = claims = rejected = 0
        try:
            for ev in reader.events():
                if ev.__class__ is ClaimUnit:
                    findings = check(ev)
                    across = check_run(ev, run_index, findings)
                    if across:
                        findings = findings + across
                    scrubbed = ScrubbedClaim(ev, findings)
                    claims += 1
                    accepted = not (findings and scrubbed.rejected)
                    if not accepted:
                        rejected += 1
                    keys = cache.get("keys")
                    if keys is not None:
                        # What the cross-claim index of an earlier piece could hold for this claim.
                        note_keys(keys, accepted)
                    for claim in take:
                        claim(scrubbed)
                elif isinstance(ev, TransactionEnd):
                    for w in ws:
                        w.end_transaction(ev.transaction)
                    if guide is not None:
                        guide.end_transaction()
                    self._part(ev.transaction, writers, guide)
                elif isinstance(ev, Group):
                    groups += 1
                elif isinstance(ev, GroupEnd):
                    ge = ev.group.ge
                    if ge is not None and self.real[0] <= ge.offset < self.real[1]:
                        res.ge[self.piece.first_group + groups - 1] = ge
                elif isinstance(ev, InterchangeEnd):
                    iea = ev.interchange.iea
                    if iea is not None and self.real[0] <= iea.offset < self.real[1]:
                        res.iea[self.piece.first_ix + ev.interchange.index - 1] = iea
        except InputError as exc:
            # The reader's last word, that the input holds no claim, is the parent's to say for the file.
            if exc.offset is not None or not exc.message.startswith("no claim (CLM)"):
                raise
        finally:
            res.claims, res.rejected, res.accepted = claims, rejected, claims - rejected
        res.tallies = dict(run_index.tallies)
        res.lookups = piece_keys.looked_up()
        self._recorded(piece_keys)

    def _recorded(self, keys: PieceKeys) -> None:
        """The keys the piece's accepted claims recorded (the parent marks them in its filter), then
        each claim's keys (for seeding a later piece that shares one)."""
        path = f"{self.stem}.keys"
        with open(path, "wb") as fh:
            data = keys.recorded()
            fh.write(len(data).to_bytes(8, "little"))
            fh.write(data)
            pickle.dump(keys, fh, protocol=pickle.HIGHEST_PROTOCOL)
        self.result.recorded = path

    def _part(self, txn: Transaction, writers: dict[str, Any], guide: PieceGuide | None) -> None:
        piece = self.piece
        local = txn.index
        se = txn.se
        assert se is not None
        se_real = se.offset < self.real[1]
        first = piece.bases.segment if piece.cont and local == 1 else 1
        last = se.number if se_real else se.number - 1
        self.result.parts.append(Part(
            st=piece.first_st + local - 1, txn=txn, claims=txn.claim_count, first=first,
            segments=last - first + 1, hls=0, hl_ids=None, se_real=se_real,
            p277=writers["277"].parts.get(local), p837=writers["837"].parts.get(local), guide=None))

    def _finish(self, reader: Reader, writers: dict[str, Any], guide: PieceGuide | None, counter: Any) -> None:
        res, piece = self.result, self.piece
        tok = reader.tokenizer
        if getattr(tok, "empty_count", 0):
            res.anomaly = "empty segments"
        for part in res.parts:
            local = part.st - piece.first_st + 1
            part.hls = counter.hl_counts.get(local, 0)
            ids = counter.hl_ids.get(local, [])
            part.hl_ids = None if ids is None else (ids[0], ids[1]) if ids else (0, -1)
        res.json = writers["json"].totals()
        res.worklist_start = writers["worklist"].start
        if "html" in writers:
            writers["html"].close()
            res.html = writers["html"].result()
        if guide is not None:
            self._guide(guide)

    def _guide(self, guide: PieceGuide) -> None:
        res, piece = self.result, self.piece
        if guide.parent_errors and piece.cont:
            res.anomaly = "an HL names a parent the piece cannot see"
        res.guide_errors = guide.owned
        res.guide_notices = guide.owned_notices
        group_no = piece.first_group - 1
        local_st = 0
        by_local = {p.st - piece.first_st + 1: p for p in res.parts}
        for group in guide.groups:
            group_no += 1
            ge = group.ge if group.ge is not None and guide.owns(group.ge) else None
            res.groups[group_no] = (group.isa, group.gs, group.delimiters, ge)
            for txn in group.transactions:
                local_st += 1
                part = by_local.get(local_st)
                if part is None:
                    continue
                errors = [_lite(e) for e in txn.errors if guide.owns(e.segment)]
                envelope = sum(1 for e in errors if e.segment_id in ("ST", "SE"))
                part.guide = TxnErrors(None, txn.st, errors, txn.se_count_wrong and part.se_real,
                                       txn.se_control_wrong and part.se_real, envelope)

    def _input_error(self, exc: InputError) -> None:
        """An unusable input: where it is in the file, or (outside the bytes the piece owns) for the parent to judge."""
        if exc.offset is not None and self.real[0] <= exc.offset < self.real[1]:
            self.result.error = (exc.message, self.piece.start + exc.offset - self.real[0], exc.segment)
        else:
            self.result.anomaly = self.result.anomaly or f"an unusable input the piece cannot place ({exc.message})"


def _lite(err: GuideError) -> GuideError:
    """The error without the map's nodes and the segment (what the 999 needs, picklable and small)."""
    walk = WalkError(err.walk.code, None, None) if err.walk is not None else None
    element = err.element
    if element is not None:
        node = element.node
        element = element._replace(node=ElementNode(getattr(node, "ele_num", ""), getattr(node, "dtype", "AN")))
    return GuideError(err.number, err.segment_id, None, walk=walk, element=element, reader=err.reader,
                      loop_id=err.loop_id)
