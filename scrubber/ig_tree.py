"""pyx12's error tree as plain data: captured in a worker, merged in the parent, written as a 999.

pyx12 collects what it finds in an ``err_handler`` tree (interchange > group > transaction >
segment > element) and writes its 999 by visiting it. Validating one transaction in pieces means
merging the pieces' trees into the tree pyx12 would have built for the whole file; these classes
hold that tree in picklable form and offer the methods pyx12's 999 visitor calls, so the 999 is
still written by pyx12's own code.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

Err3 = tuple[str, str, Any]  # (code, text, bad value)


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
class Ele:
    ele_pos: int
    subele_pos: int | None
    repeat_pos: int | None
    ele_ref_num: str | None
    errors: list[Err3]

    def accept(self, visitor: Any) -> None:
        visitor.visit_ele(self)

    def err_count(self) -> int:
        return len(self.errors)

    get_error_count = err_count


@dataclass(slots=True)
class Seg:
    seg_id: str
    seg_count: int
    ls_id: str | None
    line: int  # pyx12's line count where the error was noticed (a missing segment: the next one)
    errors: list[Err3]
    elements: list[Ele]
    #: set by the capture: "3" errors noticed at the start of the next loop belong one segment back
    at: int = 0
    #: set by the capture: a known pyx12 false positive (PWK*CT), kept in the 999, not reported
    skip: bool = False

    def accept(self, visitor: Any) -> None:
        visitor.visit_seg(self)
        for ele in self.elements:
            ele.accept(visitor)

    def child_err_count(self) -> int:
        return sum(1 for e in self.elements if e.errors)

    def err_count(self) -> int:
        return len(self.errors) + (1 if self.child_err_count() else 0)

    get_error_count = err_count


@dataclass(slots=True)
class Txn:
    trn_set_id: str | None
    trn_set_control_num: str | None
    vriic: str | None
    ack_code: str
    errors: list[tuple[str, str]] = field(default_factory=list)
    elements: list[Ele] = field(default_factory=list)
    children: list[Seg] = field(default_factory=list)

    def accept(self, visitor: Any) -> None:
        visitor.visit_st_pre(self)
        for child in self.children:
            child.accept(visitor)
        visitor.visit_st_post(self)

    def child_err_count(self) -> int:
        return sum(1 for c in self.children if c.err_count())

    def err_count(self) -> int:
        return len(self.errors) + (1 if self.child_err_count() else 0)

    get_error_count = err_count


@dataclass(slots=True)
class Group:
    fic: str | None
    gs_control_num: str | None
    vriic: str | None
    ack_code: str | None
    st_count_orig: int
    st_count_recv: int
    seg_data: Any = None  # the GS as a pyx12 Segment (the 999 visitor reads it)
    errors: list[tuple[str, str]] = field(default_factory=list)
    elements: list[Ele] = field(default_factory=list)
    children: list[Txn] = field(default_factory=list)

    def accept(self, visitor: Any) -> None:
        visitor.visit_gs_pre(self)
        for child in self.children:
            child.accept(visitor)
        visitor.visit_gs_post(self)

    def count_failed_st(self) -> int:
        return sum(1 for c in self.children if c.ack_code not in ("A", "E"))

    def get_error_count(self) -> int:
        return (sum(e.get_error_count() for e in self.elements) + sum(c.get_error_count() for c in self.children)
                + len(self.errors))


@dataclass(slots=True)
class Ix:
    isa_trn_set_id: str | None
    ta1_req: str | None
    orig_date: str | None
    orig_time: str | None
    seg_data: Any = None  # the ISA as a pyx12 Segment
    errors: list[tuple[str, str]] = field(default_factory=list)
    elements: list[Ele] = field(default_factory=list)
    children: list[Group] = field(default_factory=list)

    def accept(self, visitor: Any) -> None:
        visitor.visit_isa_pre(self)
        for child in self.children:
            child.accept(visitor)
        visitor.visit_isa_post(self)


class _Root:
    """What pyx12's 999 visitor expects of its ``err_handler``."""

    def __init__(self, ix: Ix) -> None:
        self.children = [ix]
        self.cur_isa_node = ix
        self.cur_gs_node = ix.children[-1] if ix.children else None

    def accept(self, visitor: Any) -> None:
        visitor.visit_root_pre(self)
        for child in self.children:
            child.accept(visitor)
        visitor.visit_root_post(self)


def _ele(node: Any) -> Ele:
    return Ele(node.ele_pos, node.subele_pos, node.repeat_pos, node.ele_ref_num, list(node.errors))


def capture(errh: Any, skip: set[tuple[int, int]], starts: set[tuple[int, int]]) -> list[Ix]:
    """pyx12's ``err_handler`` tree as plain data. ``skip`` and ``starts`` are (ST in the text,
    segment number) pairs: PWK*CT segments, and where a claim, loop or the SE begins."""
    out = []
    st_no = 0
    for isa in errh.children:
        ix = Ix(isa.isa_trn_set_id, isa.ta1_req, isa.orig_date, isa.orig_time, isa.seg_data, list(isa.errors),
                [_ele(e) for e in isa.elements])
        for gs in isa.children:
            group = Group(gs.fic, gs.gs_control_num, gs.vriic, gs.ack_code, gs.st_count_orig, gs.st_count_recv,
                          gs.seg_data, list(gs.errors), [_ele(e) for e in gs.elements])
            for st in gs.children:
                st_no += 1
                txn = Txn(st.trn_set_id, st.trn_set_control_num, st.vriic, st.ack_code, list(st.errors),
                          [_ele(e) for e in st.elements])
                for seg in st.children:
                    n = seg.seg_count
                    node = Seg(str(seg.seg_id or ""), n, seg.ls_id, seg.cur_line, list(seg.errors),
                               [_ele(e) for e in seg.elements])
                    place(node, (st_no, n) in starts, (st_no, n) in skip)
                    txn.children.append(node)
                group.children.append(txn)
            ix.children.append(group)
        out.append(ix)
    return out


def place(node: Seg, at_start: bool, skip: bool) -> None:
    """Where the node's errors are reported, and whether at all (see ``Seg.at``, ``Seg.skip``)."""
    node.at = node.seg_count - 1 if at_start else node.seg_count
    node.skip = skip


def txn_errors(txn: Txn) -> list[IgError]:
    """The transaction's errors as the claims see them, in pyx12's order."""
    out = [IgError(None, "ST", "", str(code), str(text)) for code, text in txn.errors]
    for seg in txn.children:
        if seg.skip:
            continue
        sid = seg.seg_id
        for code, text, _val in seg.errors:
            out.append(IgError(seg.at if code == "3" else seg.seg_count, sid, "", str(code), str(text)))
        for ele in seg.elements:
            pos = ele.ele_pos
            name = f"{sid}{int(pos):02d}" if str(pos).isdigit() else sid
            out.extend(IgError(seg.seg_count, sid, name, str(code), str(text)) for code, text, _val in ele.errors)
    return out


def count(ix: Ix, by_txn: list[list[IgError]]) -> int:
    """Errors found in the interchange, as ``IgReport.errors`` counts them."""
    return len(level_errors(ix)) + sum(len(errs) for errs in by_txn)


def level_errors(ix: Ix) -> list[str]:
    """Interchange and group errors, as file notices."""
    out = [f"pyx12 error {code} in the interchange: {text}" for code, text in ix.errors]
    for group in ix.children:
        out += [f"pyx12 error {code} in the functional group: {text}" for code, text in group.errors]
    return out


def write_999(ix: Ix) -> str:
    """The 999 pyx12 writes for this interchange, written by pyx12's own visitor."""
    import pyx12.error_999

    fd = io.StringIO()
    _Root(ix).accept(pyx12.error_999.error_999_visitor(fd))
    return fd.getvalue()
