"""The 999 implementation acknowledgment (005010X231A1) from the built-in validator's errors.

One 999 interchange per input interchange (sender and receiver swapped), one ST*999 per input
functional group (AK1), one AK2 per transaction with an IK3 per segment in error and an IK4 per
element in error, IK5 per transaction and AK9 per group. A transaction whose header or envelope
is at fault is rejected (IK5 R: none of its claims can go on); one whose errors sit in claims or
their loops is accepted with errors noted (IK5 E): the 277CA rejects those claims one by one and
the accepted 837 carries the others. Fixed separators (* : ^ ~) are used, and a bad value quoted
in IK404 loses any character that would read as one of them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

SEP, COMP, REP, TERM = "*", ":", "^", "~"
_DROP = str.maketrans("", "", SEP + COMP + REP + TERM + "\r\n\t")
VERSION = "005010X231A1"
#: IK403 codes the guide knows (others are not written)
_IK4_CODES = frozenset({"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "12", "13",
                        "I10", "I11", "I12", "I13", "I6", "I9"})
#: reader-level checks: the element they concern and its data element number
_READER_ELEMENT = {"hl_count": (1, "628"), "hl_parent": (2, "734"), "lx": (1, "554")}


def _seg(*els: str) -> str:
    out = list(els)
    while len(out) > 1 and out[-1] == "":
        out.pop()
    return SEP.join(out) + TERM + "\n"


def _clean(value: str, limit: int = 99) -> str:
    return value.translate(_DROP)[:limit]


def write_999(guide: Any, *, now: dt.datetime, control: int) -> str:
    """The 999 text for every interchange the validator saw (``guide`` is a scrubber.guide.GuideRun)."""
    by_isa: list[tuple[Any, list[Any]]] = []
    for group in guide.groups:
        if by_isa and by_isa[-1][0] is group.isa:
            by_isa[-1][1].append(group)
        else:
            by_isa.append((group.isa, [group]))
    out: list[str] = []
    for n, (isa, groups) in enumerate(by_isa):
        out.append(_interchange(isa, groups, now, control + n))
    return "".join(out)


def _interchange(isa: Any, groups: list[Any], now: dt.datetime, control: int) -> str:
    e = isa.els
    el = lambda i: e[i] if i < len(e) else ""  # noqa: E731
    body: list[str] = [_seg("ISA", "00", " " * 10, "00", " " * 10, el(7), f"{_clean(el(8)):<15}"[:15],
                            el(5), f"{_clean(el(6)):<15}"[:15], now.strftime("%y%m%d"), now.strftime("%H%M"),
                            REP, "00501", f"{control % 1_000_000_000:09d}", "0", el(15) or "P", COMP)]
    for i, group in enumerate(groups, start=1):
        body += _group(group, now, f"{control % 100_000_000}{i}"[-9:])
    body.append(_seg("IEA", str(len(groups)), f"{control % 1_000_000_000:09d}"))
    return "".join(body)


def _group(group: Any, now: dt.datetime, gs_control: str) -> list[str]:
    gs = group.gs
    out = [_seg("GS", "FA", _clean(gs.el(3))[:15] or "RECEIVER", _clean(gs.el(2))[:15] or "SENDER",
                now.strftime("%Y%m%d"), now.strftime("%H%M"), gs_control, "X", VERSION)]
    st = [_seg("ST", "999", "0001", VERSION), _seg("AK1", "HC", _clean(gs.el(6))[:9], _clean(gs.el(8))[:12])]
    accepted = 0
    for txn in group.transactions:
        lines, ok = _transaction(txn, gs.el(8))
        st += lines
        accepted += ok
    received = len(group.transactions)
    if accepted == received:
        ak901 = "E" if any(t.errors for t in group.transactions) else "A"
    else:
        ak901 = "P" if accepted else "R"
    st.append(_seg("AK9", ak901, str(received), str(received), str(accepted)))
    st.append(_seg("SE", str(len(st) + 1), "0001"))
    out += st
    out.append(_seg("GE", "1", gs_control))
    return out


def _transaction(txn: Any, gs08: str) -> tuple[list[str], int]:
    st = txn.st
    lines = [_seg("AK2", "837", _clean(st.el(2))[:9], _clean(st.el(3) or gs08)[:35])]
    by_segment: dict[tuple[str, int], list[Any]] = {}
    for err in txn.errors:
        by_segment.setdefault((err.segment_id, err.number), []).append(err)
    rejected = (txn.envelope > 0 or txn.se_count_wrong or txn.se_control_wrong
                or any(_in_header(err) for err in txn.errors))
    for (sid, number), errors in by_segment.items():
        codes: list[str] = []
        ik4: list[str] = []
        for err in errors:
            code = err.ik3
            if code not in codes:
                codes.append(code)
            ik4 += _element_lines(err)
        for code in codes:
            lines.append(_seg("IK3", _clean(sid)[:3] or "UNK", str(max(number, 1)), "", code))
            if code == "8":
                lines += ik4
                ik4 = []
    ik5 = []
    if txn.se_count_wrong:
        ik5.append("4")
    if txn.se_control_wrong:
        ik5.append("3")
    if by_segment:
        ik5.append("5")
    status = "R" if rejected else ("E" if ik5 else "A")
    lines.append(_seg("IK5", status, *ik5[:5]))
    return lines, status != "R"


def _in_header(err: Any) -> bool:
    return err.loop_id in ("HEADER", "1000A", "1000B", "ST_LOOP")


def _element_lines(err: Any) -> list[str]:
    e = err.element
    if e is not None:
        if e.code not in _IK4_CODES:
            return []
        pos = f"{e.pos}" + (f"{COMP}{e.sub}" if e.sub else "")
        node = e.node
        ele_num = getattr(node, "ele_num", "") if node is not None else ""
        value = ""
        if e.value and (e.what in ("code", "date", "time") or getattr(node, "dtype", "AN") != "AN"):
            value = _clean(e.value)  # codes, dates and numbers; never free text (names, ids)
        return [_seg("IK4", pos, ele_num if ele_num.isdigit() else "", e.code, value)]
    if err.reader in _READER_ELEMENT:
        pos, ele_num = _READER_ELEMENT[err.reader]
        return [_seg("IK4", str(pos), ele_num, "I12")]
    return []
