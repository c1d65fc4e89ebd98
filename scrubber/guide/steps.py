"""The validator's fast steps, and the states that spare it counting.

A ``Step`` goes from one map node to the next for a segment the walker has placed that way
before without an error: the next node, the counts it looks at (the next segment's or the loop's
against its maximum, required segments passed over that must have been seen) and what it
changes (one more of that segment, a loop entered with the counts beneath it set back to 0).
``GuideRun.tap`` looks a step up by the segment's text, checks it against the counts and takes
it; anything else goes the full way (scrubber.guide.walker and elements).

Checking and changing counts costs more than finding the step, and a file repeats a few
shapes of claims and loops over and over. So the tap mostly walks states instead: a ``State``
is a map node with every count that is not 0 (and the claim's LX number), and from a state a
step leads to one state, worked out once (``States.move``) and then taken with a dictionary
lookup and no counting. A count with no maximum only matters as 0 or not, so it is kept as 1
once it is 1, and the states of a file are few: about 200 in the realistic bench file, capped.
A step whose counts say no (an error: the full path says which) leaves the state: its counts
are written back into the walker's (``GuideRun._leave``), the tap counts there as before, and
its next loop entry takes up a state again from the walker's counts (``States.root``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from scrubber.guide.tables import MAXINT, Tables

#: segments with bookkeeping besides the walk (their steps are never taken blind)
HL: Final = "HL"
CLM: Final = "CLM"
LX: Final = "LX"


class Step:
    """A fast step from one map node to the next (made by ``GuideRun._learn``)."""

    __slots__ = ("_lines", "book", "enter", "limit", "limit_slot", "lx01", "miss", "more", "nxt", "plain", "slot")

    def __init__(self, slot: int, limit_slot: int, limit: int, miss: int, more: tuple[int, ...],
                 book: str | None, enter: tuple[int, int, int, list[int]] | None, nxt: Node) -> None:
        self.slot = slot  # the next segment's counter
        self.limit_slot = limit_slot  # the counter held to ``limit``: the segment's, or the loop's it enters
        self.limit = limit
        self.miss = miss  # a counter that must not be 0 (a required segment passed over), or one always 1
        self.more = more  # more such counters
        self.book = book  # HL, CLM, LX or None
        self.enter = enter  # (loop's counter, [a, b) of the counters beneath it, zeros) or None
        self.nxt = nxt
        #: one more of a segment, nothing else to look at
        self.plain = book is None and enter is None and not more
        #: for an LX step of one text: its LX01 (a state's LX number says whether it is right)
        self.lx01: str | None = None
        self._lines: dict[str, Step] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled with a run summary (scrubber.guide.validator.GuideRun.__reduce__): made blank, then
        # its attributes as state, as steps, nodes and states point at each other.
        return Step, (0, 0, 0, 0, (), None, None, _BLANK), self.__getstate__()

    def line(self, els: list[str]) -> Step:
        """This LX step for the text ``els``: the same step, knowing its LX01."""
        lx = els[1] if len(els) > 1 else ""
        found = self._lines.get(lx)
        if found is None:
            found = self._lines[lx] = Step(self.slot, self.limit_slot, self.limit, self.miss, self.more, self.book,
                                           self.enter, self.nxt)
            found.lx01 = lx
        return found


class Entry:
    """A step from a node known by the segment's id (and qualifier), taken when its expression
    accepts the text (``match``: its ``fullmatch``, looked up once); ``seen``: texts accepted
    lately (None: none comes twice there)."""

    __slots__ = ("match", "seen", "step")

    def __init__(self, step: Step, pattern: Any, seen: set[str] | None) -> None:
        self.step = step
        self.match: Callable[[str], Any] = pattern.fullmatch if pattern is not None else _refuse
        self.seen = seen

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled with a run summary (scrubber.guide.validator.GuideRun.__reduce__): made blank, then
        # its attributes as state, as steps, nodes and states point at each other.
        return Entry, (_BLANK_STEP, None, None), self.__getstate__()


class Node:
    """The fast steps from one map node: by the segment's whole text, and by id (and qualifier)."""

    __slots__ = ("booked", "follow", "ids", "node", "texts")

    def __init__(self, node: Any) -> None:
        self.node = node
        #: texts accepted more than once here -> their step
        self.texts: dict[str, Step] = {}
        #: {segment id: entry}, or {segment id: {qualifier: entry}}
        self.ids: dict[str, Entry | dict[str | None, Entry]] = {}
        #: a map node knows no counts: nothing to follow blind (shared, never written)
        self.follow: dict[Step, State] = _NOTHING
        self.booked: dict[Step, State] = _NOTHING

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled with a run summary (scrubber.guide.validator.GuideRun.__reduce__): made blank, then
        # its attributes as state, as steps, nodes and states point at each other.
        return Node, (None,), self.__getstate__()


class State:
    """A map node with the walker's counts that are not 0 (and the claim's LX number)."""

    __slots__ = ("at", "booked", "counts", "follow", "ids", "lx", "lx_text", "texts")

    def __init__(self, at: Node, lx: int, counts: dict[int, int]) -> None:
        self.at = at  # the map node's steps
        self.texts = at.texts
        self.ids = at.ids
        self.counts = counts
        self.lx = lx  # LX segments since the claim's CLM
        self.lx_text = str(lx)
        #: steps without bookkeeping (LX steps of a text with the right LX01 too) -> the state they lead to
        self.follow: dict[Step, State] = {}
        #: HL, CLM and LX steps -> the state they lead to; steps whose counts say no -> LEAVE
        self.booked: dict[Step, State] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled with a run summary (scrubber.guide.validator.GuideRun.__reduce__): made blank, then
        # its attributes as state, as steps, nodes and states point at each other.
        return State, (_BLANK, 0, {}), self.__getstate__()


_NOTHING: Final[dict[Step, State]] = {}


def _refuse(text: str) -> None:
    return None

#: what a pickled step, entry or state is made with before its attributes are set
_BLANK = Node(None)
_BLANK_STEP = Step(0, 0, 0, 0, (), None, None, _BLANK)


class States:
    """Every state of one run, shared by node, LX number and counts; at most ``limit`` of them."""

    def __init__(self, tables: Tables, limit: int) -> None:
        self.tables = tables  # (for pickling)
        self.limit = limit
        self.slots = tables.slots  # the walker's counters (it has one more, always 1)
        self._known: dict[tuple[Any, ...], State] = {}
        self._unlimited = frozenset(_unlimited(tables))

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled with a run summary: see Step.__reduce__.
        return States, (self.tables, self.limit), self.__getstate__()

    def __len__(self) -> int:
        return len(self._known)

    def clear(self) -> None:
        self._known.clear()

    def root(self, at: Node, lx: int, count: list[int]) -> State | None:
        """The state of the walker's counts ``count`` at ``at`` (None past the limit)."""
        unlimited = self._unlimited
        counts = {s: 1 if s in unlimited else n for s, n in enumerate(count[:self.slots]) if n}
        return self._state(at, lx, counts)

    def move(self, state: State, step: Step) -> State:
        """The state ``step`` leads to from ``state``, or LEAVE where its counts say no (or past
        the limit); remembered in the state either way."""
        nxt = self._move(state, step)
        if nxt is not LEAVE and (step.book is None or step.lx01 == nxt.lx_text):  # an LX01 known right
            state.follow[step] = nxt
        else:
            state.booked[step] = nxt
        return nxt

    def _move(self, state: State, step: Step) -> State:
        counts = state.counts
        if counts.get(step.limit_slot, 0) >= step.limit:
            return LEAVE
        for m in (step.miss, *step.more):
            if m != self.slots and not counts.get(m):  # (the walker's last counter is always 1)
                return LEAVE
        after = dict(counts)
        enter = step.enter
        if enter is not None:
            loop, a, b, _zeros = enter
            after = {s: n for s, n in after.items() if not a <= s < b}  # the loop starts again
            after[loop] = self._add(after, loop)
        after[step.slot] = self._add(after, step.slot)
        book = step.book
        lx = 0 if book == CLM else state.lx + 1 if book == LX else state.lx
        return self._state(step.nxt, lx, after) or LEAVE

    def _add(self, counts: dict[int, int], slot: int) -> int:
        return 1 if slot in self._unlimited else counts.get(slot, 0) + 1

    def _state(self, at: Node, lx: int, counts: dict[int, int]) -> State | None:
        key = (at, lx, *sorted(counts.items()))
        found = self._known.get(key)
        if found is None:
            if len(self._known) >= self.limit:
                return None
            found = self._known[key] = State(at, lx, counts)
        return found


def _unlimited(tables: Tables) -> set[int]:
    """Counters no node holds to a maximum: only 0 or not matters for them."""
    limited = {s.slot for s in tables.segments if s.max_use < MAXINT}
    limited |= {loop.slot for loop in tables.loops if loop.max_repeat < MAXINT}
    every = {s.slot for s in tables.segments} | {loop.slot for loop in tables.loops}
    return every - limited


#: where a step's counts say no (remembered, so that it is not worked out again)
LEAVE: Final = State(Node(None), 0, {})
