"""Plain words for the validator's errors: what is wrong, where, and nothing of the patient.

Values are quoted only where they are codes, dates, times or numbers; free text (names, ids,
addresses) is never repeated in a message.
"""

from __future__ import annotations

from typing import Any

from scrubber.guide.tables import Comp, Elem, Loop, Seg

_READER = {
    "hl_count": "HL01 does not count the HL segments of the transaction from 1 in order",
    "hl_parent": "HL02 names a parent that is not an open HL above this one",
    "lx": "LX01 does not number the claim's service lines from 1 in order",
    "seg_id": "the segment id is not two or three capital letters and digits",
    "trailing": "the segment ends with an element separator (empty trailing elements must be left out)",
}


def _quote(node: Elem | Comp | None, value: str, what: str = "") -> str:
    if not value or node is None:
        return ""
    if isinstance(node, Elem) and node.dtype == "AN" and what not in ("code", "date", "time"):
        return ""  # free text (names, ids, addresses) is not repeated
    return f" ({value})"


def _name(node: Any) -> str:
    return f" ({node.name})" if getattr(node, "name", "") else ""


def element_text(e: Any, segment_id: str) -> str:
    """One element error in our words: ``SV103 (...): 'XX' is not a code the guide allows here``."""
    node = e.node
    where = _refdes(segment_id, e.pos, e.sub)
    quoted = _quote(node, e.value, e.what)
    what = e.what
    if what == "missing":
        return f"{where}{_name(node)} is required but empty"
    if what == "missing_composite":
        return f"{where}{_name(node)} is required but absent"
    if what == "not_used":
        return f"{where}{_name(node)} must be left empty: the guide marks it not used"
    if what == "short":
        return f"{where}{_name(node)}{quoted} is shorter than its minimum of {e.detail}"
    if what == "long":
        return f"{where}{_name(node)}{quoted} is longer than its maximum of {e.detail}"
    if what == "control":
        return f"{where}{_name(node)} holds a control character ({e.detail})"
    if what == "trailing":
        return f"{where}{_name(node)} ends with blank space"
    if what == "code":
        listed = f" (list {e.detail})" if e.detail else ""
        return f"{where}{_name(node)}{quoted or ' (a free-text value)'} is not a code the guide allows here{listed}"
    if what == "date":
        return f"{where}{_name(node)}{quoted} is not a valid date{' for ' + e.detail if e.detail else ''}"
    if what == "time":
        return f"{where}{_name(node)}{quoted} is not a valid time"
    if what == "type":
        kind = {"R": "a decimal number", "ID": "an identifier", "AN": "text"}.get(e.detail, "a whole number")
        return f"{where}{_name(node)}{quoted} is not {kind} in the X12 character set"
    if what == "pattern":
        return f"{where}{_name(node)} does not have the form the guide requires"
    if what == "too_many":
        return f"{segment_id} has more elements than the {e.detail} the guide defines"
    if what == "components":
        return f"{where}{_name(node)} has more components than the {e.detail} the guide defines"
    if what == "composite":
        return f"{where}{_name(node)} holds components (the component separator) but is a simple element"
    if what == "syntax":
        return f"{segment_id} breaks the guide's syntax note {e.detail} at {where}: " + _syntax_words(e.detail, segment_id)
    return f"{where}: {what}"


def _syntax_words(note: str, sid: str) -> str:
    code, idxs = note[0], [note[i:i + 2] for i in range(1, len(note), 2)]
    names = ", ".join(f"{sid}{i}" for i in idxs)
    return {
        "P": f"{names} go together: all or none",
        "R": f"at least one of {names} is required",
        "E": f"only one of {names} may be given",
        "C": f"when {sid}{idxs[0]} is given, {', '.join(sid + i for i in idxs[1:])} must be too",
        "L": f"when {sid}{idxs[0]} is given, at least one of {', '.join(sid + i for i in idxs[1:])} must be too",
    }.get(code, names)


def _refdes(sid: str, pos: int, sub: int) -> str:
    return f"{sid}{pos:02d}" + (f"-{sub}" if sub else "")


def walk_text(err: Any) -> str:
    w = err.walk
    node = w.node
    if w.code == "3":
        if w.missing_loop is not None:
            return f"required loop {w.missing_loop.id} ({w.missing_loop.name}, starting with {node.id}) is missing"
        loop = node.parent.id if isinstance(node, Seg) and node.parent else ""
        return f"required segment {node.id} ({node.name}) of loop {loop} is missing"
    if w.code == "1":
        return (f"{err.segment_id} is not expected here: the guide has no place for it after the segments before it "
                "(out of order, repeated, or a qualifier the guide does not list)")
    if w.code == "5":
        return f"{err.segment_id} ({node.name}) appears more often than the {node.max_use} the guide allows"
    if w.code == "4":
        return f"loop {node.id} ({node.name}) repeats more often than the {node.max_repeat} the guide allows"
    if w.code == "I4":
        kind = "loop" if isinstance(node, Loop) else "segment"
        return f"{kind} {node.id} must not be sent: the guide marks it not used"
    return f"structure error {w.code}"


def where(err: Any) -> str:
    """The segment a finding points at: the one at fault, or the one a missing segment should follow."""
    seg = err.segment
    if err.walk is not None and err.walk.code == "3" and seg is not None:
        return f"after {seg.els[0]} (segment {seg.number})"
    return f"{err.segment_id} (segment {err.number})"


def describe(err: Any) -> str:
    """The error in a sentence, without the segment number (the finding carries that)."""
    if err.walk is not None:
        return walk_text(err)
    if err.element is not None:
        return element_text(err.element, err.segment_id)
    return _READER.get(err.reader, err.reader)
