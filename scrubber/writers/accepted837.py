"""The accepted 837: the input with every rejected claim removed.

Kept segments are copied from their raw text, byte for byte; only HL01/HL02/HL04 and the control
counts (SE01, GE01, IEA01) are rebuilt. Envelopes and loops that end up with no accepted claim
are left out. A subscriber loop is held until it is complete, because its HL04 (has children)
depends on whether any of its dependents' claims were kept.
"""

from __future__ import annotations

from typing import IO

from mypy_extensions import mypyc_attr

from scrubber.model import (
    BillingProvider,
    ClaimUnit,
    Group,
    Interchange,
    Patient,
    ScrubbedClaim,
    Subscriber,
    Transaction,
)
from scrubber.writers.base import Writer
from scrubber.x12.segments import Segment

_WS = " \t\r\n"
_NOT_LINE_BREAK = str.maketrans("", "", " \t")


def _lead(raw: str) -> str:
    """The line break between the previous terminator and a segment, without spaces or tabs.

    Blank space between segments is not part of either: indentation is dropped (pyx12 and
    payers' front ends refuse a segment that starts with a space), a line break is kept.
    """
    first = raw[:1]
    if first == "\n" and raw[1:2] not in _WS:  # the usual "~\n" layout
        return "\n"
    if first not in _WS:
        return ""
    return raw[: len(raw) - len(raw.lstrip(_WS))].translate(_NOT_LINE_BREAK)


def _bare(raw: str) -> str:
    """The segment as written, with the line break before it kept and any indentation dropped."""
    if raw and raw[0] in _WS:
        if raw[0] == "\n" and raw[1:2] not in _WS:  # the usual "~\n" layout: nothing to drop
            return raw
        body = raw.lstrip(_WS)
        return raw[: len(raw) - len(body)].translate(_NOT_LINE_BREAK) + body
    return raw


def _segments(segments: list[Segment], term: str) -> str:
    """Segments as written (indentation dropped), each with its terminator."""
    text = term.join([seg.raw for seg in segments]) + term
    if _indented(text, term):
        return term.join([_bare(seg.raw) for seg in segments]) + term
    return text


def _indented(text: str, term: str) -> bool:
    """Whether a segment in ``text`` (segments joined by ``term``) may start with a space or a tab
    (``_bare`` has something to drop): the first such character of a segment's lead follows the
    terminator or a line break. Tabs are rare anywhere, spaces often absent from a claim: one-character
    searches (the fast ones) settle most claims."""
    if "\t" in text or text[:1] == " ":
        return True
    return " " in text and (term + " " in text or "\n " in text or "\r " in text)


@mypyc_attr(allow_interpreted_subclasses=True)  # subclassed in Python (scrubber._native: split runs)
class Accepted837Writer(Writer):
    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.accepted = 0
        self._ix: Interchange | None = None
        self._gs: Group | None = None
        self._st: Transaction | None = None
        self._billing: BillingProvider | None = None
        self._sub: Subscriber | None = None
        self._pat: Patient | None = None
        self._groups_in_ix = 0
        self._txns_in_gs = 0
        self._segs_in_st = 0
        self._hl = 0
        self._hl_billing = self._hl_sub = ""
        self._sub_buf: list[str] = []
        self._sub_hl: tuple[Segment, str, str, str, str] | None = None
        self._sub_has_child = False
        self._first = True
        self._tail = ""
        self._delims = ("", "")  # element separator and terminator of the transaction being written

    # -- output helpers -------------------------------------------------------------------
    def _term(self, claim_or_txn: Transaction) -> tuple[str, str]:
        d = claim_or_txn.group.interchange.delimiters
        return d.element, d.segment

    def _raw(self, seg: Segment, term: str, buf: list[str] | None = None) -> None:
        text = _bare(seg.raw)
        if self._first:
            text = text.lstrip(_WS)
            self._first = False
        if buf is None:
            self.out.write(text + term)
        else:
            buf.append(text + term)

    def _hl_segment(self, seg: Segment, sep: str, term: str, new_id: str, parent: str, child: str) -> str:
        els = list(seg.els)
        while len(els) < 5:
            els.append("")
        els[1], els[2], els[4] = new_id, parent, child
        return _lead(seg.raw) + sep.join(els) + term

    def _close_subscriber(self) -> None:
        if self._sub is None:
            return
        buf = self._sub_buf
        if self._sub_hl is not None:
            # Now that the loop is complete, HL04 can tell the truth about kept dependents.
            seg, sep, term, new_id, parent = self._sub_hl
            buf[0] = self._hl_segment(seg, sep, term, new_id, parent, "1" if self._sub_has_child else "0")
        self.out.write("".join(buf))
        self._sub_buf = []
        self._sub = None
        self._pat = None
        self._sub_hl = None

    def _enter(self, txn: Transaction) -> None:
        """The first kept claim of a transaction: its envelope and header go out."""
        group = txn.group
        ix = group.interchange
        term = ix.delimiters.segment
        if ix is not self._ix:
            self._ix = ix
            self._groups_in_ix = 0
            self._raw(ix.isa, term)
            # Files that break lines after terminators end with one too: follow the last interchange.
            self._tail = _lead(group.gs.raw)
        if group is not self._gs:
            self._gs = group
            self._groups_in_ix += 1
            self._txns_in_gs = 0
            self._raw(group.gs, term)
        self._close_subscriber()
        self._st = txn
        self._txns_in_gs += 1
        self._segs_in_st = len(txn.header)
        self._hl = 0
        self._billing = None
        for seg in txn.header:
            self._raw(seg, term)

    # -- events ---------------------------------------------------------------------------
    def claim(self, scrubbed: ScrubbedClaim) -> None:
        if scrubbed.rejected:
            return
        claim: ClaimUnit = scrubbed.claim
        txn = claim.transaction
        if txn is not self._st:
            self._enter(txn)
            self._delims = self._term(txn)
        sep, term = self._delims
        billing = claim.billing
        if billing is not self._billing:
            self._close_subscriber()
            self._billing = billing
            if billing is not None:
                self._hl += 1
                self._hl_billing = str(self._hl)
                segs = billing.segments
                self.out.write(self._hl_segment(segs[0], sep, term, self._hl_billing, "", "1"))
                if len(segs) > 1:
                    self.out.write(_segments(segs[1:], term))
                self._segs_in_st += len(segs)
        sub = claim.subscriber
        if sub is not self._sub:
            self._close_subscriber()
            self._sub = sub
            self._sub_has_child = False
            if sub is not None:
                self._hl += 1
                self._hl_sub = str(self._hl)
                segs = sub.segments
                self._sub_hl = (segs[0], sep, term, self._hl_sub, self._hl_billing if billing else "")
                self._sub_buf.append("")  # the HL, written when the loop closes
                if len(segs) > 1:
                    self._sub_buf.append(_segments(segs[1:], term))
                self._segs_in_st += len(segs)
        pat = claim.patient
        if pat is not self._pat:
            self._pat = pat
            if pat is not None:
                self._hl += 1
                self._sub_has_child = True
                segs = pat.segments
                self._sub_buf.append(
                    self._hl_segment(segs[0], sep, term, str(self._hl), self._hl_sub if sub else "", "0")
                )
                if len(segs) > 1:
                    self._sub_buf.append(_segments(segs[1:], term))
                self._segs_in_st += len(segs)
        text = _segments(claim.segments, term)  # a claim is never the first segment of the file
        if self._sub is not None:
            self._sub_buf.append(text)
        else:
            self.out.write(text)
        self._segs_in_st += len(claim.segments)
        self.accepted += 1

    def end_transaction(self, txn: Transaction) -> None:
        if txn is not self._st:
            return
        self._close_subscriber()
        sep, term = self._term(txn)
        se = txn.se
        lead = _lead(se.raw) if se is not None else ""
        self.out.write(f"{lead}SE{sep}{self._segs_in_st + 1}{sep}{txn.control}{term}")
        self._st = None
        self._billing = None

    def end_group(self, group: Group) -> None:
        if group is not self._gs:
            return
        d = group.interchange.delimiters
        lead = _lead(group.ge.raw) if group.ge is not None else ""
        self.out.write(f"{lead}GE{d.element}{self._txns_in_gs}{d.element}{group.control}{d.segment}")
        self._gs = None

    def end_interchange(self, interchange: Interchange) -> None:
        if interchange is not self._ix:
            return
        d = interchange.delimiters
        lead = _lead(interchange.iea.raw) if interchange.iea is not None else ""
        self.out.write(f"{lead}IEA{d.element}{self._groups_in_ix}{d.element}{interchange.control}{d.segment}")
        self._ix = None

    def finish(self, notices: list[str]) -> None:
        if self.accepted and self._tail:
            self.out.write(self._tail)
