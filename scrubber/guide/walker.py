"""Where each segment belongs in the map, as pyx12's map_walker finds it, with its counts.

pyx12 scans from the current segment's position onwards through the enclosing loop, then pops to
the parent loop and scans on from that loop's position, and so on up to the root; a loop matches
when its first segment does (its qualifier included). On the way it notes required segments and
loops it passed that have not been seen (reported once the walk has clearly moved past them),
counts segments and loop repeats by path, and checks them against the map's maximums.

The scan itself depends only on the starting node and the segment's id and qualifiers, never on
the counts, so it is computed once per (node, id, qualifier) and kept as a plan: the candidates
that may be missing (checked against the counts when the plan is applied) and the final step
(a segment matched, a loop entered or repeated, or nothing found).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from scrubber.guide.tables import Loop, Seg, Tables


class WalkError(NamedTuple):
    code: str  # 999 IK304: 1 unrecognized, 3 required missing, 4 loop over max, 5 segment over max, I4 not used
    node: Seg | Loop | None
    missing_loop: Loop | None = None  # for a missing loop: the loop (node is its first segment)


class _Plan:
    """One walk without its counts: candidates that may be missing, and where it ends."""

    __slots__ = ("final", "loop", "miss_slots", "misses", "seg", "simple", "zeros")

    def __init__(self, misses: tuple[tuple[Seg, Loop | None, int], ...], final: int, seg: Seg | None,
                 loop: Loop | None) -> None:
        self.misses = misses  # (segment, loop or None, slot checked)
        self.final = final  # 0 not found, 1 segment, 2 loop entered at its first segment
        self.seg = seg
        self.loop = loop
        #: the common steps, taken inline by GuideRun.tap: a segment found, or a loop entered at
        #: its first segment, with nothing missing as long as these counts are not 0
        self.simple = seg is not None and seg.usage != "N" and (
            final == _SEGMENT or (final == _ENTER and loop is not None and loop.usage != "N"))
        self.miss_slots = tuple(m[2] for m in misses)
        below = loop.below if loop is not None else (0, 0)
        self.zeros = [0] * (below[1] - below[0])

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled with the run summary: see scrubber.guide.validator.GuideRun.__reduce__.
        return _Plan, ((), _NOT_FOUND, None, None), self.__getstate__()


_NOT_FOUND = 0
_SEGMENT = 1
_ENTER = 2


class Walker:
    __slots__ = ("_comp", "_first_component", "_key_kinds", "_plans", "always", "count", "last", "node", "tables")

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        #: counts by slot, and one more slot that is always 1 (a fast step with no count to look at
        #: looks at it: scrubber.guide.validator)
        self.count = [0] * tables.slots + [1]
        self.always = tables.slots
        self.node: Seg | Loop = tables.root
        self._plans: dict[tuple, _Plan] = {}
        self._key_kinds = tables.key_kinds
        self.last: _Plan | None = None  # the plan of the latest walk
        #: ids matched by the first component of element 01 (HI, SV1, SV5): keyed by it alone, so
        #: the memo holds one entry per qualifier, not one per diagnosis or procedure code
        self._first_component = first_component_ids(tables)
        self._comp = ":"

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled with the run summary: see scrubber.guide.validator.GuideRun.__reduce__.
        return Walker, (self.tables,), self.__getstate__()

    def force(self, path: tuple[str, ...]) -> Seg:
        """ISA and GS: pyx12 jumps to them and restarts the counts beneath their loop."""
        seg = self.tables.by_path(*path)
        assert isinstance(seg, Seg) and seg.parent is not None
        loop = seg.parent
        count = self.count
        a, b = loop.below
        count[a:b] = [0] * (b - a)
        count[loop.slot] += 1
        count[seg.slot] += 1
        self.node = seg
        return seg

    def delimiters_changed(self) -> None:
        self._plans.clear()  # plans are keyed by raw qualifiers, read with the old separator

    def plan_key(self, els: list[str]) -> tuple:
        """The memo key of a walk: the node, the id and the raw element that holds the qualifier."""
        sid = els[0]
        kinds = self._key_kinds.get(sid)
        if kinds is None:
            return (self.node, sid)
        if sid == "HL":
            return (self.node, sid, els[3] if len(els) > 3 else None)
        if sid == "PWK":  # a PWK*CT is placed by its PWK02 too (scrubber.guide.tables._correct)
            return (self.node, sid, els[1] if len(els) > 1 else None, els[2] if len(els) > 2 else None)
        return (self.node, sid, qualifier(els, self._first_component, self._comp))

    def set_component(self, comp: str) -> None:
        self._comp = comp

    def walk(self, els: list[str], comp: str) -> tuple[Seg | None, list[WalkError]]:
        """The map node of the next segment and the structure errors found on the way to it."""
        key = self.plan_key(els)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _plan(self.node, els[0], _qualifiers(els, comp))
        self.last = plan
        return self._apply(plan)

    def _apply(self, plan: _Plan) -> tuple[Seg | None, list[WalkError]]:
        count = self.count
        errors: list[WalkError] = []
        pending = [m for m in plan.misses if count[m[2]] < 1] if plan.misses else []
        final = plan.final
        if final == _SEGMENT:
            seg = plan.seg
            assert seg is not None
            count[seg.slot] += 1
            if seg.usage == "N":
                errors.append(WalkError("I4", seg))
            elif count[seg.slot] > seg.max_use:
                errors.append(WalkError("5", seg))
            if pending:
                parent_id = seg.parent.id if seg.parent else ""
                for m, loop, _slot in pending:
                    if m.id == seg.id and (m.parent.id if m.parent else "") == parent_id:
                        continue  # pyx12 compares nodes by id and parent id: a sibling satisfies it
                    if m.pos != seg.pos:
                        errors.append(WalkError("3", m, loop))
            self.node = seg
            return seg, errors
        if final == _ENTER:
            loop, seg = plan.loop, plan.seg
            assert loop is not None and seg is not None
            if loop.usage == "N":
                errors.append(WalkError("I4", loop))
            else:
                a, b = loop.below
                if b > a:
                    count[a:b] = [0] * (b - a)
                count[loop.slot] += 1
                if count[loop.slot] > loop.max_repeat:
                    errors.append(WalkError("4", loop))
            count[seg.slot] += 1
            for m, missing_loop, _slot in pending:
                errors.append(WalkError("3", m, missing_loop))
            self.node = seg
            return seg, errors
        errors.append(WalkError("1", None))
        return None, errors


def first_component_ids(tables: Tables) -> frozenset[str]:
    return frozenset(sid for sid, kinds in tables.key_kinds.items() if kinds == ("c1",))


def qualifier(els: list[str], first_component: frozenset[str], comp: str = ":") -> str | None:
    """The raw text a segment is matched by: element 01 (its first component for HI, SV1, SV5)."""
    if len(els) < 2:
        return None
    return els[1].partition(comp)[0] if els[0] in first_component else els[1]


def _qualifiers(els: list[str], comp: str) -> tuple[str | None, ...]:
    """What pyx12's matching reads: element 01 as a whole, its first component, HL03 (and 02)."""
    e1 = els[1] if len(els) > 1 else None
    return (e1.rstrip(comp) if e1 is not None else None,
            e1.split(comp, 1)[0] if e1 is not None else None,
            els[3].rstrip(comp) if len(els) > 3 else None,
            els[2].rstrip(comp) if len(els) > 2 else None)


def _matches(node: Seg, sid: str, vals: tuple) -> bool:
    if node.id != sid:
        return False
    key = node.key
    if key is None:
        return True
    where, codes = key
    value = vals[0] if where == "e1" else vals[1] if where == "c1" else vals[2]
    if value is None or value not in codes:
        return False
    refine = node.refine
    return refine is None or value != refine[0] or (vals[3] is not None and vals[3] in refine[2])


def _plan(start: Seg | Loop, sid: str, vals: tuple) -> _Plan:
    """pyx12's walk_errors from ``start`` for a segment, without the counts (see the module doc)."""
    misses: list[tuple[Seg, Loop | None, int]] = []

    def loop_match(loop: Loop) -> bool:
        if not loop.children:
            return False
        first = loop.children[0]
        if isinstance(first, Loop):
            return any(loop_match(c) for c in loop.children if isinstance(c, Loop))
        if _matches(first, sid, vals):
            return True
        if loop.usage == "R":
            misses.append((first, loop, loop.slot))
        return False

    def goto(loop: Loop) -> _Plan | None:
        first = loop.children[0] if loop.children else None
        if isinstance(first, Seg) and _matches(first, sid, vals):
            return _Plan(tuple(misses), _ENTER, first, loop)
        for child in loop.children:
            if isinstance(child, Loop):
                found = goto(child)
                if found is not None:
                    return found
        return None

    node: Loop | None
    if isinstance(start, Loop):
        node, node_pos = start, start.pos
    else:
        node, node_pos = start.parent, start.pos
    while node is not None:
        for child in node.children:
            if child.pos < node_pos:
                continue
            if isinstance(child, Seg):
                if _matches(child, sid, vals):
                    if node.parent is not None and loop_match(node):
                        found = goto(node)
                        if found is not None:
                            return found
                    return _Plan(tuple(misses), _SEGMENT, child, None)
                if child.usage == "R":
                    misses.append((child, None, child.slot))
            elif loop_match(child):
                found = goto(child)
                if found is not None:
                    return found
        if node.parent is None:
            break
        node_pos = node.pos
        node = node.parent
    return _Plan((), _NOT_FOUND, None, None)
