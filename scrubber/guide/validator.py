"""One input's implementation-guide check: every segment as the reader meets it, errors by unit.

The reader's segments are checked as its tokenizer makes them (``attach`` puts ``tap`` in its
place; ``feed`` checks one segment the same way, in full), so the walk sees the whole file in
order, loops without claims included, once. Errors are filed under
the unit that holds them, the way the reader cuts the file: the transaction header (ST up to the
first HL), each HL loop (2000A/B/C with its 2010 loops) and each claim (CLM up to the next HL,
CLM or SE); envelope segments (ISA, GS, ST, SE, GE, IEA) are file notices. A required segment
found missing belongs to the unit the gap is in: the one before the segment that revealed it.

Checks beyond the map, as pyx12's reader makes them: HL01 counting from 1 in each transaction,
HL02 naming an open HL, LX01 counting from 1 in each claim, a segment id of two or three letters
and digits, no element separator before the terminator.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from scrubber.guide.elements import ElementError, SegmentChecker
from scrubber.guide.steps import CLM, HL, LEAVE, LX, Entry, Node, State, States, Step
from scrubber.guide.tables import Loop, Seg, Tables, load_tables
from scrubber.guide.walker import Walker, WalkError, first_component_ids
from scrubber.x12.segments import Delimiters, Segment, Tokenizer

_ENVELOPE = frozenset({"ISA", "GS", "ST", "SE", "GE", "IEA"})
#: accepted texts remembered per map node, and texts looked up whole per node (memory stays
#: small whatever the file)
_SEEN: Final = 256
_TEXTS: Final = 512
#: states remembered (scrubber.guide.steps): a file of one billing provider makes a few hundred
STATES = 8192
#: segments with bookkeeping besides the walk
_HL: Final = HL
_CLM: Final = CLM
_LX: Final = LX
_BOOKKEEPING: Final = {_HL: _HL, _CLM: _CLM, _LX: _LX}
_WS: Final = " \t\r\n"
_A1 = "005010X222A1"
#: versions the reader takes; pyx12 maps only A1, so GS08/ST03 are checked as A1
_READ_AS_A1 = frozenset({"005010X222", "005010X222A2"})
HEADER = 0  # unit key of a transaction's header
_SEG_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}")


@dataclass(slots=True)
class GuideError:
    """One error: where (segment number in its ST, the segment), what (walk or element error)."""

    number: int  # the segment pyx12 would name (for a missing segment: the one that revealed the gap)
    segment_id: str  # IK301: the segment's id, or the missing segment's
    segment: Segment | None  # the segment a finding points at (for a gap: the one before it)
    walk: WalkError | None = None
    element: ElementError | None = None
    reader: str = ""  # a reader-level check: "hl_count", "hl_parent", "lx", "seg_id", "trailing"
    loop_id: str = ""  # the map loop the error sits in ("2400", "2010BA", ...)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled with the run summary: see GuideRun.__reduce__.
        return GuideError, (self.number, self.segment_id, None), self.__getstate__()

    @property
    def ik3(self) -> str:
        if self.walk is not None:
            return self.walk.code
        if self.reader == "seg_id":
            return "1"
        return "8"


@dataclass(slots=True)
class TxnErrors:
    """What a 999 needs of one transaction."""

    group: Any  # GroupRecord
    st: Segment
    errors: list[GuideError] = field(default_factory=list)
    se_count_wrong: bool = False
    se_control_wrong: bool = False
    #: errors of envelope segments ST and SE (also in ``errors``)
    envelope: int = 0

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled with the run summary: see GuideRun.__reduce__.
        return TxnErrors, (None, self.st), self.__getstate__()


@dataclass(slots=True)
class GroupRecord:
    isa: Segment
    gs: Segment
    delimiters: Delimiters
    transactions: list[TxnErrors] = field(default_factory=list)
    ge: Segment | None = None
    notes: list[str] = field(default_factory=list)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled with the run summary: see GuideRun.__reduce__.
        return GroupRecord, (self.isa, self.gs, self.delimiters), self.__getstate__()


#: outside a transaction nothing is taken inline
_OUTSIDE: Final = Node(None)


def _counted(count: list[int], slots: tuple[int, ...]) -> bool:
    for m in slots:
        if not count[m]:
            return False
    return True


def note_hl(ids: dict[int, list[int] | None], st: int, seg: Segment) -> None:
    """The lowest and highest HL01 of transaction ``st`` in ``ids`` (None once one is not a plain number)."""
    text = seg.els[1] if len(seg.els) > 1 else ""
    span = ids.get(st, [])
    if span is None:
        return
    if not (text.isascii() and text.isdigit() and str(int(text)) == text):
        ids[st] = None
        return
    n = int(text)
    ids[st] = [min(span[0], n), max(span[1], n)] if span else [n, n]


class GuideRun:
    """The validator's state for one input; ``findings`` in scrubber.rules.kinds_core reads it."""

    def __init__(self, tables: Tables | None = None, hl_before: dict[int, int] | None = None) -> None:
        self.tables = tables or load_tables()
        self.walker = Walker(self.tables)
        self.check = SegmentChecker(self.tables.external)
        self.groups: list[GroupRecord] = []
        self.notices: list[str] = []
        self.errors = 0
        #: errors by (transaction ordinal, unit): unit is HEADER or the number of its HL or CLM
        self.by_unit: dict[tuple[int, int], list[GuideError]] = {}
        self._hl_before = hl_before or {}
        #: transactions (ordinals) whose lowest and highest HL01 go to ``hl_ids`` (a split run's pieces
        #: compare them across pieces: scrubber.piecework); None there: an HL01 that is not a plain number
        self.hl_watch: set[int] = set()
        self.hl_ids: dict[int, list[int] | None] = {}
        #: byte offset of an HL -> its segment number (a piece of a transaction read on its own)
        self.renumber: dict[int, int] = {}
        self._group: GroupRecord | None = None
        self._txn: TxnErrors | None = None
        self._delims: Delimiters | None = None
        self._comp = ":"
        self._sep = "*"
        self._ordinal = 0
        self._number = 0
        self._unit = HEADER
        self._prev: Segment | None = None
        self._prev_unit = HEADER
        self._hl_count = 0
        #: the open HLs (pyx12 keeps every billing provider's open: the stack grows with them, so
        #: whether HL02 names one is looked up in a set)
        self._hl_stack: list[int] = []
        self._hl_open: set[int | None] = set()
        self._lx = 0
        self._in_txn = False
        #: fast steps by the map node they start from
        self._nodes: dict[Any, Node] = {}
        #: map nodes with the counts of the loop entered last (scrubber.guide.steps)
        self.states = States(self.tables, STATES)
        #: segment texts a node's expression accepted lately (a set lookup is cheaper than a match),
        #: and by node: the entries of ``Node.ids`` that lead there, the nodes a text came to twice
        #: since their set was last emptied, and the nodes whose texts are no longer remembered
        self._seen: dict[Any, set[str]] = {}
        self._uses: dict[Any, list[Entry]] = {}
        self._again: set[Any] = set()
        self._off: set[Any] = set()
        self._qualified = frozenset(self.tables.key_kinds)
        self._first_component = first_component_ids(self.tables)
        #: ids told apart by element 01 as a whole
        self._plain_qualifier = self._qualified - self._first_component - {"HL"}

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent back from --jobs workers in the run summary; compiled (scrubber._native), a class pickles
        # only this way: made with cheap arguments, then its attributes (cycles too) as state.
        return GuideRun, (self.tables,), self.__getstate__()

    def learn_from(self, other: GuideRun) -> None:
        """Start with the fast steps, states and texts ``other`` learnt, where it read with the same
        tables (a split run's worker reads piece after piece of one file: each would learn them
        again). Other delimiters at the first ISA clear them, as they do within one run."""
        if other.tables is not self.tables or other._delims is None or self._delims is not None:
            return
        self._nodes, self.states, self._seen = other._nodes, other.states, other._seen
        self._uses, self._again, self._off = other._uses, other._again, other._off
        self._delims, self._sep, self._comp = other._delims, other._sep, other._comp

    # -- feeding -----------------------------------------------------------------------------
    def tap(self, tokenizer: Tokenizer) -> Iterator[Segment]:
        """The tokenizer's segments, each checked as it is made (``units``, one at a time)."""
        for item in self.units(tokenizer):
            if isinstance(item, list):
                yield from item
            else:
                yield item

    def units(self, tokenizer: Tokenizer) -> Iterator[Segment | list[Segment]]:
        """The tokenizer's segments, each checked as it is made, for the reader: a segment that
        may open or close a unit (HL, CLM, envelopes, anything not taken on a fast step) on its
        own, and the segments between such segments as lists, which the reader takes whole
        (``Reader._unit_batched``; a list is never reused).

        One long loop on purpose: it runs for every segment of the input, and each call or
        attribute it saves is saved a million times a file. It is the tokenizer's own loop over
        its runs (``Tokenizer.runs``), so a segment is split, checked and handed on in one pass.
        The segment's text names a step from the current map node: looked up whole once seen
        twice there (``Node.texts``), else by its id and qualifier (``Node.ids``) and the step's
        expression. From a state (scrubber.guide.steps) a step is taken blind (``follow``), or
        with its bookkeeping only (HL, CLM, LX: ``booked``); a new one is worked out once
        (``States.move``). A step whose counts say no leaves the state: it is checked against the
        walker's counts, where the state has written its own, as are the steps after it until a
        loop entered starts a state again. Everything else goes through ``_full``, which makes
        the same checks in full and learns new steps.
        """
        count = self.walker.count
        states = self.states
        # The segment number, the previous segment and the current unit live in locals here and
        # are handed to self only around the full path, which reads and changes them.
        number, prev, unit = self._number, self._prev, self._unit
        cur: Node | State = self._node(self.walker.node) if self._in_txn else _OUTSIDE
        plain_qualifier = self._plain_qualifier
        skip = tokenizer.skip_empty
        pending: list[Segment] = []
        for run in tokenizer.runs():
            if isinstance(run, Segment):  # an ISA, or a last IEA without its terminator: envelopes
                number, prev, unit, cur = self._full(run, tokenizer, None, number, prev, unit, unit, cur)
                yield run
                continue
            # The tokenizer's own loop (Tokenizer.__iter__), with the check of each segment in it.
            parts, start, stop, base, sep = run
            # The segment number of parts[i], were it counted, is i + shift: nothing to count on
            # a plain step (``number`` is worked out where it is needed, and shift set back from it).
            shift = number + 1 - start
            for i in range(start, stop):
                raw = parts[i]
                text = raw.strip(_WS)
                if not text:
                    skip(base)
                    base += len(raw) + 1
                    shift -= 1
                    continue
                els = text.split(sep)
                seg = Segment(els, raw, base)
                base += len(raw) + 1
                step = cur.texts.get(raw)
                if step is None:
                    # Not looked up whole (yet): by id (and qualifier), then by the step's expression.
                    found = cur.ids.get(els[0])
                    if isinstance(found, dict):
                        found = found.get(els[1] if els[0] in plain_qualifier and len(els) > 1 else self._qualifier(els))
                    if found is not None:
                        entry: Entry = found
                        step = entry.step
                        seen = entry.seen
                        if seen is None:  # no text comes twice here (``_window``): the expression only
                            if not entry.match(raw):
                                step = None
                        elif raw in seen:  # the second time: from now on the whole text names the step
                            texts = cur.texts
                            if len(texts) < _TEXTS:
                                texts[raw] = step if step.book != _LX else step.line(els)
                            self._again.add(step.nxt.node)
                        elif entry.match(raw):
                            if len(seen) >= _SEEN:
                                self._window(step.nxt.node, seen)
                            seen.add(raw)
                        else:
                            step = None
                    if step is None:
                        number, prev, unit, cur = self._full(seg, tokenizer, None, i + shift - 1, prev, unit, unit,
                                                             cur)
                        shift = number - i
                        if pending:  # the segments before it, as one list
                            yield pending
                            pending = []
                        yield seg
                        continue
                nxt = cur.follow.get(step)
                if nxt is not None:  # most segments: a step inside the unit, its counts known
                    cur = nxt
                    prev = seg
                    pending.append(seg)
                    continue
                number = i + shift
                nxt = cur.booked.get(step)
                if nxt is None and isinstance(cur, State):
                    nxt = states.move(cur, step)
                    if nxt is not LEAVE and step.book is None:
                        cur = nxt
                        prev = seg
                        pending.append(seg)
                        continue
                if nxt is not None and nxt is not LEAVE:
                    # HL, CLM or LX inside the unit: its counts are known, its bookkeeping is done here
                    book = step.book
                    cur = nxt
                    prev = seg
                    if book == _LX:
                        if (els[1] if len(els) > 1 else None) != nxt.lx_text:
                            self._unit = unit
                            self._file(seg, GuideError(number, _LX, seg, reader="lx"))
                        pending.append(seg)
                        continue
                    if book == _CLM:
                        unit = number
                    else:
                        self._number = number
                        self._book(seg, els, _HL)
                        number, unit = self._number, self._unit
                        shift = number - i
                    if pending:  # the segments before it, as one list
                        yield pending
                        pending = []
                    yield seg
                    continue
                # Counted in the walker's counts (where a state left here writes its own first).
                if isinstance(cur, State):
                    cur = self._leave(cur)
                before = unit  # the unit of the previous segment: only an HL or a CLM starts another
                if step.plain:  # one more of the same loop, no bookkeeping
                    slot = step.slot
                    n = count[slot]
                    if n < step.limit and count[step.miss]:
                        count[slot] = n + 1
                        prev = seg
                        cur = step.nxt
                        pending.append(seg)
                        continue
                else:
                    book = step.book
                    if book == _LX:
                        self._lx += 1
                        if (els[1] if len(els) > 1 else None) != str(self._lx):
                            self._unit = unit
                            self._file(seg, GuideError(number, _LX, seg, reader="lx"))
                    elif book == _CLM:
                        unit = number
                        self._lx = 0
                    elif book == _HL:
                        self._number = number
                        self._book(seg, els, _HL)
                        number, unit = self._number, self._unit
                        shift = number - i
                    more = step.more
                    if count[step.limit_slot] < step.limit and count[step.miss] and (not more or _counted(count, more)):
                        enter = step.enter
                        if enter is not None:  # a loop (re)entered: the counts beneath it start again
                            loop_slot, a, b, zeros = enter
                            count[a:b] = zeros
                            count[loop_slot] += 1
                        count[step.slot] += 1
                        prev = seg
                        cur = step.nxt
                        if enter is not None:  # back to states (after an error, or at the start)
                            cur = states.root(cur, self._lx, count) or cur
                        if book != _HL and book != _CLM:
                            pending.append(seg)
                            continue
                        if pending:  # the segments before it, as one list
                            yield pending
                            pending = []
                        yield seg
                        continue
                number, prev, unit, cur = self._full(seg, tokenizer, step, number, prev, before, unit, cur)
                shift = number - i
                if pending:  # the segments before it, as one list
                    yield pending
                    pending = []
                yield seg
            number = stop - 1 + shift
            if pending:  # at each read's end at the latest: a list never holds more than a read
                yield pending
                pending = []
        if isinstance(cur, State):
            cur = self._leave(cur)
        if cur is not _OUTSIDE:
            self.walker.node = cur.node
        self._number, self._prev, self._prev_unit, self._unit = number, prev, unit, unit

    def _leave(self, state: State) -> Node:
        """Out of a state: its counts and LX number into the walker's."""
        slots = self.states.slots
        full = [0] * slots
        for slot, n in state.counts.items():
            full[slot] = n
        self.walker.count[:slots] = full
        self._lx = state.lx
        return state.at

    def _full(self, seg: Segment, tokenizer: Any, step: Step | None, number: int, prev: Segment | None,
              prev_unit: int, unit: int, at: Node | State) -> tuple[int, Segment | None, int, Node]:
        """The full path for ``tap``: its state handed over, the segment checked, the state taken back.

        Without a step the segment is new here (or an envelope, or outside a transaction); with
        one it has been counted and booked already and only failed the counts.
        """
        if isinstance(at, State):
            at = self._leave(at)
        if at is not _OUTSIDE:
            self.walker.node = at.node
        self._number, self._prev, self._prev_unit, self._unit = number, prev, prev_unit, unit
        if step is None:
            self._slow(seg, tokenizer)
        else:
            self._segment(seg, seg.els, seg.els[0])
        node = self._node(self.walker.node) if self._in_txn else _OUTSIDE
        return self._number, self._prev, self._unit, node

    def _qualifier(self, els: list[str]) -> str | None:
        """What tells apart the map nodes a segment id may name (as ``_learn`` keys them)."""
        if len(els) < 2:
            return None
        sid = els[0]
        if sid == "HL":
            return els[3] if len(els) > 3 else None
        if sid in self._first_component:
            return els[1].partition(self._comp)[0]
        return els[1]

    def _slow(self, seg: Segment, tokenizer: Any) -> None:
        """What ``tap`` has no step for: envelopes, segments outside a transaction, new steps."""
        els = seg.els
        sid = els[0]
        if not self._in_txn or sid in _ENVELOPE:
            if sid == "ISA":
                self.delimiters(tokenizer.delimiters)
            self.feed(seg)
            return
        start = self.walker.node
        self.feed(seg)
        self._learn(start, els, sid)

    def _node(self, node: Any) -> Node:
        found = self._nodes.get(node)
        if found is None:
            found = self._nodes[node] = Node(node)
        return found

    def _learn(self, start: Any, els: list[str], sid: str) -> None:
        """Keep the walk just made as a step for ``tap``'s fast branch, when it is a plain one."""
        plan = self.walker.last
        if plan is None or not plan.simple or sid == "PWK":  # PWK is placed by two elements: no fast step
            return
        nxt = plan.seg
        assert nxt is not None  # a simple plan places the segment
        pattern = self.check.pattern(nxt)
        if not pattern:
            return
        loop = plan.loop
        if loop is None:
            limit_slot, limit, enter = nxt.slot, nxt.max_use, None
        else:
            a, b = loop.below
            limit_slot, limit, enter = loop.slot, loop.max_repeat, (loop.slot, a, b, plan.zeros)
        # The start's own count is never 0 (placing a segment counts it): no need to look at it.
        misses = [m for m in plan.miss_slots if not (isinstance(start, Seg) and m == start.slot)]
        miss = misses[0] if misses else self.walker.always
        step = Step(nxt.slot, limit_slot, limit, miss, tuple(misses[1:]), _BOOKKEEPING.get(sid), enter,
                    self._node(nxt))
        seen = self._seen.get(nxt)
        if seen is None:
            seen = self._seen[nxt] = set()
        entry = Entry(step, pattern, None if nxt in self._off else seen)
        self._uses.setdefault(nxt, []).append(entry)
        ids = self._node(start).ids
        if sid in self._qualified:
            by_qualifier = ids.setdefault(sid, {})
            assert isinstance(by_qualifier, dict)
            by_qualifier[self._qualifier(els)] = entry
        else:
            ids[sid] = entry

    def _window(self, node: Seg, seen: set[str]) -> None:
        """The texts accepted at ``node`` lately fill ``seen``: empty it, and stop remembering texts
        there if none came twice in it (an id, an amount: the texts of such a node are all new,
        and remembering them only costs)."""
        seen.clear()
        if node in self._again:
            self._again.discard(node)
            return
        self._off.add(node)
        for entry in self._uses[node]:
            entry.seen = None

    def delimiters(self, d: Delimiters) -> None:
        if self._delims is not None and (d.element, d.component) != (self._sep, self._comp):
            self.walker.delimiters_changed()
            self._nodes.clear()  # their expressions and qualifiers were read with the old separators
            self._seen.clear()
            self._uses.clear()
            self._again.clear()
            self._off.clear()
            self.states.clear()
        self._delims = d
        self._sep, self._comp = d.element, d.component
        self.walker.set_component(d.component)
        self.check.delimiters(d)

    def feed(self, seg: Segment) -> None:
        """Check one segment (``tap`` does the same, faster, for a whole tokenizer)."""
        els = seg.els
        sid = els[0]
        if sid in _ENVELOPE:
            self._envelope(seg, sid)
            return
        if not self._in_txn:
            return  # outside ST ... SE the reader stops the file itself
        self._number += 1
        if sid in _BOOKKEEPING:
            self._book(seg, els, sid)
        self._segment(seg, els, sid)

    def _book(self, seg: Segment, els: list[str], sid: str) -> None:
        """Units and counters: an HL or CLM starts a unit; HL and LX numbers are checked."""
        if sid == "HL":
            if self.renumber:
                self._number = self.renumber.get(seg.offset, self._number)
            self._unit = self._number
            self._hl(seg)
        elif sid == "CLM":
            self._unit = self._number
            self._lx = 0
        else:  # LX
            self._lx += 1
            if (els[1] if len(els) > 1 else None) != str(self._lx):
                self._file(seg, GuideError(self._number, sid, seg, reader="lx"))

    def _segment(self, seg: Segment, els: list[str], sid: str) -> None:
        if _SEG_ID.fullmatch(sid) is None:
            self._file(seg, GuideError(self._number, sid, seg, reader="seg_id"))
        if len(els) > 1 and els[-1] == "":
            self._file(seg, GuideError(self._number, sid, seg, reader="trailing"))
        node, walk_errors = self.walker.walk(els, self._comp)
        for w in walk_errors:
            if w.code == "3":
                missing = w.node
                assert isinstance(missing, Seg)
                loop = w.missing_loop or missing.parent
                err = GuideError(self._number, missing.id, self._prev, walk=w, loop_id=loop.id if loop else "")
                self._file_at(self._prev_unit, err)
            else:
                where = w.node.parent.id if isinstance(w.node, Seg) and w.node.parent else (
                    w.node.id if isinstance(w.node, Loop) else "")
                self._file(seg, GuideError(self._number, sid, seg, walk=w, loop_id=where))
        if node is not None:
            for e in self.check(node, els, seg.raw):
                self._file(seg, GuideError(self._number, sid, seg, element=e, loop_id=node.loop_id))
        self._prev = seg
        self._prev_unit = self._unit

    def _hl(self, seg: Segment) -> None:
        """pyx12's reader: HL01 counts the HLs of the transaction; HL02 names an open HL."""
        els = seg.els
        self._hl_count += 1
        if _int(els[1] if len(els) > 1 else None) != self._hl_count:
            self._file(seg, GuideError(self._number, "HL", seg, reader="hl_count"))
        parent_text = els[2] if len(els) > 2 else None
        stack, open_ = self._hl_stack, self._hl_open
        if parent_text:  # pyx12 reads "" as no parent; an absent HL02 (None) too
            parent = _int(parent_text)
            if parent not in open_:
                self._file(seg, GuideError(self._number, "HL", seg, reader="hl_parent"))
            while stack and parent != stack[-1]:
                open_.discard(stack.pop())
        stack.append(self._hl_count)
        open_.add(self._hl_count)
        if self.hl_watch and self._ordinal in self.hl_watch:
            note_hl(self.hl_ids, self._ordinal, seg)

    def _envelope(self, seg: Segment, sid: str) -> None:
        els = seg.els
        if sid == "ISA":
            self.walker.force(("ISA_LOOP", "ISA"))
            assert self._delims is not None
            self._group = None
            self._isa = seg
            self._envelope_elements(seg, self.tables.control["ISA"])
            return
        if sid == "GS":
            self.walker.force(("ISA_LOOP", "GS_LOOP", "GS"))
            assert self._delims is not None
            self._group = GroupRecord(self._isa, seg, self._delims)
            self.groups.append(self._group)
            self._envelope_elements(seg, self.tables.control["GS"], as_a1=8)
            return
        if sid == "ST":
            self._ordinal += 1
            self._number = 1
            self._in_txn = True
            self._unit = self._prev_unit = HEADER
            self._hl_count = self._hl_before.get(self._ordinal, 0)
            self._hl_stack = []
            self._hl_open = set()
            self._prune()
            if self._group is not None:
                self._txn = TxnErrors(self._group, seg)
                self._group.transactions.append(self._txn)
        elif sid == "SE":
            self._number += 1
            self._in_txn = False
            if self._txn is not None:
                self._txn.se_count_wrong = _int(els[1] if len(els) > 1 else None) != self._number
                self._txn.se_control_wrong = (els[2] if len(els) > 2 else None) != self._txn.st.el(2)
        elif sid == "GE" and self._group is not None:
            self._group.ge = seg
        node, walk_errors = self.walker.walk(_as_a1(els, 3) if sid == "ST" else els, self._comp)
        number = self._number if sid in ("ST", "SE") else 0
        for w in walk_errors:
            if w.code == "3" and sid == "SE" and self._prev is not None:
                # a gap at the end of the last claim: that claim's, not the trailer's
                missing = w.node
                assert isinstance(missing, Seg)
                loop = w.missing_loop or missing.parent
                self._file_at(self._prev_unit, GuideError(number, missing.id, self._prev, walk=w,
                                                          loop_id=loop.id if loop else ""))
            else:
                self._envelope_error(seg, GuideError(number, sid, seg, walk=w))
        if node is not None:
            for e in self.check(node, _as_a1(els, 3) if sid == "ST" else els, None):
                self._envelope_error(seg, GuideError(number, sid, seg, element=e))
        if sid in ("ST", "SE"):
            self._prev = seg
            self._prev_unit = HEADER if sid == "ST" else self._prev_unit

    def _envelope_elements(self, seg: Segment, node: Seg, as_a1: int = 0) -> None:
        els = _as_a1(seg.els, as_a1) if as_a1 else seg.els
        for e in self.check(node, els, None):
            self._envelope_error(seg, GuideError(0, seg.els[0], seg, element=e))

    # -- filing ------------------------------------------------------------------------------
    def _file(self, seg: Segment, err: GuideError) -> None:
        self._file_at(self._unit, err)

    def _file_at(self, unit: int, err: GuideError) -> None:
        self.errors += 1
        self.by_unit.setdefault((self._ordinal, unit), []).append(err)
        if self._txn is not None:
            self._txn.errors.append(err)

    def _envelope_error(self, seg: Segment, err: GuideError) -> None:
        self.errors += 1
        if err.segment_id in ("ST", "SE") and self._txn is not None:
            self._txn.errors.append(err)
            self._txn.envelope += 1
        elif self._group is not None:
            self._group.notes.append(describe_envelope(err))
        self.notices.append(describe_envelope(err))

    def _prune(self) -> None:
        """Keep the errors of the transaction before this one (its last claim is checked after its SE)."""
        if self.by_unit:
            old = [k for k in self.by_unit if k[0] < self._ordinal - 1]
            for k in old:
                del self.by_unit[k]

    # -- reading back ------------------------------------------------------------------------
    def unit_errors(self, transaction: int, unit: int) -> list[GuideError]:
        return self.by_unit.get((transaction, unit), [])

    def claim_errors(self, claim: Any) -> list[tuple[str, GuideError, Any]]:
        return claim_errors(self, claim)

    @staticmethod
    def describe(err: GuideError) -> str:
        from scrubber.guide.messages import describe

        return describe(err)

    @staticmethod
    def where(err: GuideError) -> str:
        from scrubber.guide.messages import where

        return where(err)


def _int(text: str | None) -> int | None:
    try:
        return int(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _as_a1(els: list[str], i: int) -> list[str]:
    if len(els) > i and els[i] in _READ_AS_A1:
        return [*els[:i], _A1, *els[i + 1:]]
    return els


def describe_envelope(err: GuideError) -> str:
    from scrubber.guide.messages import describe

    where = f"{err.segment_id} (segment {err.number})" if err.number else err.segment_id
    return f"Implementation guide, envelope: {where}: {describe(err)}"


#: where an error sits relative to a claim, for the finding's wording
SCOPES = (
    ("header", "the transaction header (BHT, submitter 1000A, receiver 1000B)"),
    ("billing", "the billing provider loop (2000A)"),
    ("subscriber", "the subscriber loop (2000B)"),
    ("patient", "the patient loop (2000C)"),
)


def claim_errors(run: GuideRun, claim: Any) -> list[tuple[str, GuideError, Any]]:
    """(scope, error, line or None) for every error that holds ``claim``: its own and its loops'.

    An error in a 2400 loop (or a segment the guide does not expect after the first LX) is the
    line's; the others are the claim's, or those of a loop or header above it.
    """
    txn = claim.transaction.index
    out: list[tuple[str, GuideError, Any]] = []
    units = (
        ("header", HEADER),
        ("billing", claim.billing.segments[0].number if claim.billing is not None else None),
        ("subscriber", claim.subscriber.segments[0].number if claim.subscriber is not None else None),
        ("patient", claim.patient.segments[0].number if claim.patient is not None else None),
        ("claim", claim.segments[0].number),
    )
    by_unit = run.by_unit
    for scope, unit in units:
        if unit is None:
            continue
        errors = by_unit.get((txn, unit))
        if not errors:
            continue
        for err in errors:
            out.append((scope, err, _line_of(claim, err) if scope == "claim" else None))
    return out


def _line_of(claim: Any, err: GuideError) -> Any:
    lines = claim.lines
    if not lines or err.segment is None:
        return None
    in_line = err.loop_id.startswith("24") or (err.walk is not None and err.walk.code == "1")
    if not in_line:
        return None
    number = err.segment.number
    found = None
    for ln in lines:
        if ln.lx_segment.number <= number:
            found = ln
        else:
            break
    return found

