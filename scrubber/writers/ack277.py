"""The 277CA claim acknowledgment (005010X214).

One 277 interchange per 837 interchange (sender and receiver swapped, same delimiters, so no
echoed value can collide with a separator), one GS per GS, one ST per 837 ST, one 2000C per 837
billing provider loop and one 2000D/2200D per claim; a 2220D for each line that caused a
rejection. 2200B/2200C counts and amounts are only known once their claims are seen, so each
transaction body is spooled (memory, then disk) and its header written when the ST closes.

TR3 conventions followed where pyx12's X214 map disagrees (see the README): 2220D STC02 is not
sent, 2200C is always sent (the TR3 allows it; pyx12 requires it).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal
from typing import IO

from scrubber.model import BillingProvider, ClaimUnit, Finding, Group, Interchange, Line, ScrubbedClaim, Transaction
from scrubber.writers.base import Writer
from scrubber.x12.dates import d8
from scrubber.x12.loop2300 import is_amount

_SPOOL = 1 << 20  # bytes kept in memory before a spool moves to disk
ACCEPTED_STATUS = ("A1", "20")  # received and accepted for processing (forwarded on)
SVC_QUALIFIERS = frozenset({"AD", "ER", "HC", "HP", "IV", "N4", "NU", "WK"})


def _money(text: str) -> Decimal:
    return Decimal(text) if is_amount(text) else Decimal(0)


def _amount(value: Decimal) -> str:
    """X12 R type: no trailing zeros beyond what is needed, no exponent."""
    q = value.quantize(Decimal("0.01"))
    text = format(q, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


class _Buffer(list):
    """Collects segments like a file, written out in one piece."""

    write = list.append


class _Block:
    """One 2000C (billing provider) and the 2000D claims beneath it, being collected."""

    def __init__(self, billing: BillingProvider | None, hl: int) -> None:
        self.billing = billing
        self.hl = hl
        self.body = tempfile.SpooledTemporaryFile(_SPOOL, mode="w+", encoding="latin-1", newline="")
        self.accepted = self.rejected = 0
        self.amount_ok = Decimal(0)
        self.amount_rej = Decimal(0)


class Ack277Writer(Writer):
    def __init__(
        self, out: IO[str], *, now: dt.datetime, control_base: int, source_name: str = "", source_id: str = ""
    ) -> None:
        self.out = out
        self.now = now
        self.date = d8(now.date())
        self.time = now.strftime("%H%M")
        self.control_base = control_base
        self.source_name = source_name
        self.source_id = source_id
        self.transactions = 0
        self._ix: Interchange | None = None
        self._ix_written = False
        self._gs_written = False
        self._ix_count = 0
        self._gs_seq = 0
        self._groups = 0
        self._txns = 0
        self._st: Transaction | None = None
        self._body: IO[str] | None = None
        self._block: _Block | None = None
        self._hl = 2
        self._st_counts = [0, 0]
        self._st_amounts = [Decimal(0), Decimal(0)]
        self._st_segments = 0

    # -- formatting ------------------------------------------------------------------------
    def _delims(self, txn: Transaction) -> tuple[str, str, str, str]:
        d = txn.group.interchange.delimiters
        nl = "\n" if d.newline_after else ""
        return d.element, d.component, d.segment + nl, d.repetition

    def _seg(self, fh: IO[str], *els: str) -> None:
        sep, _comp, term, _rep = self._cur
        while len(els) > 1 and els[-1] == "":
            els = els[:-1]
        fh.write(sep.join(els) + term)

    # -- events ----------------------------------------------------------------------------
    def claim(self, scrubbed: ScrubbedClaim) -> None:
        claim = scrubbed.claim
        txn = claim.transaction
        if txn is not self._st:
            self._start_transaction(txn)
        if self._block is None or claim.billing is not self._block.billing:
            self._close_block()
            self._hl += 1
            self._block = _Block(claim.billing, self._hl)
        self._write_claim(scrubbed, self._block)

    def _start_transaction(self, txn: Transaction) -> None:
        self._st = txn
        self._cur = self._delims(txn)
        self._body = tempfile.SpooledTemporaryFile(_SPOOL, mode="w+", encoding="latin-1", newline="")
        self._block = None
        self._hl = 2
        self._st_counts = [0, 0]
        self._st_amounts = [Decimal(0), Decimal(0)]
        self._st_segments = 0

    def _write_claim(self, scrubbed: ScrubbedClaim, block: _Block) -> None:
        claim = scrubbed.claim
        _sep, comp, _term, _rep = self._cur
        fh = _Buffer()  # one write per claim: spool writes are not cheap
        charge = _money(claim.charge)
        rejected = scrubbed.rejected
        self._hl += 1
        n = 0
        self._seg(fh, "HL", str(self._hl), str(block.hl), "PT")
        who = claim.patient or claim.subscriber
        last = (who.last if who else "") or "UNKNOWN"
        first = who.first if who else ""
        middle = who.middle if who else ""
        suffix = who.suffix if who else ""
        member = claim.subscriber.member_id if claim.subscriber else ""
        if member:
            self._seg(fh, "NM1", "QC", "1", last, first, middle, "", suffix, "MI", member)
        else:
            self._seg(fh, "NM1", "QC", "1", last, first, middle, "", suffix)
        self._seg(fh, "TRN", "2", claim.claim_id or "0")
        n += 3
        if rejected:
            codes = _distinct_codes(f for f in scrubbed.findings if f.rejects)
            stc = ["STC", comp.join(codes[0]), self.date, "U", _amount(charge)]
            extra = [comp.join(c) for c in codes[1:3]]
            if extra:
                stc += [""] * 5 + extra
            self._seg(fh, *stc)
            block.rejected += 1
            block.amount_rej += charge
        else:
            self._seg(fh, "STC", comp.join(ACCEPTED_STATUS), self.date, "WQ", _amount(charge))
            block.accepted += 1
            block.amount_ok += charge
        n += 1
        if claim.clearinghouse_trace:
            self._seg(fh, "REF", "D9", claim.clearinghouse_trace)
            n += 1
        dates = claim.service_dates()
        if not dates:
            # DTP*472 is required here; a claim with no readable date is dated by its file.
            created = claim.transaction.group.date or self.now.date()
            dates = [created]
        if dates[0] == dates[-1]:
            self._seg(fh, "DTP", "472", "D8", d8(dates[0]))
        else:
            self._seg(fh, "DTP", "472", "RD8", f"{d8(dates[0])}-{d8(dates[-1])}")
        n += 1
        if rejected:
            by_line: dict[int, list[Finding]] = {}
            for f in scrubbed.findings:
                if f.rejects and f.line_index is not None:
                    by_line.setdefault(f.line_index, []).append(f)
            for ln in claim.lines:
                found = by_line.get(ln.index)
                if found and ln.code:
                    n += self._write_line(fh, claim, ln, found)
        block.body.write("".join(fh))
        self._st_segments += n

    def _write_line(self, fh: IO[str], claim: ClaimUnit, ln: Line, found: list[Finding]) -> int:
        _sep, comp, _term, _rep = self._cur
        qualifier = ln.qualifier if ln.qualifier in SVC_QUALIFIERS else "HC"
        proc = comp.join([qualifier, ln.code, *ln.modifiers])
        self._seg(fh, "SVC", proc, _amount(_money(ln.charge)), "", "", "", "", ln.units if is_amount(ln.units) else "")
        codes = _distinct_codes(found)
        stc = ["STC", comp.join(codes[0]), "", "U"]
        extra = [comp.join(c) for c in codes[1:3]]
        if extra:
            stc += [""] * 6 + extra
        self._seg(fh, *stc)
        n = 2
        if ln.line_control:
            self._seg(fh, "REF", "FJ", ln.line_control)
            n += 1
        day = claim.line_dos(ln)
        if day is not None:
            end = (ln.dos_end if ln.dtp is not None else claim.dos_end) or day
            if end != day:
                self._seg(fh, "DTP", "472", "RD8", f"{d8(day)}-{d8(end)}")
            else:
                self._seg(fh, "DTP", "472", "D8", d8(day))
            n += 1
        return n

    def _close_block(self) -> None:
        block = self._block
        if block is None:
            return
        self._block = None
        fh = self._body
        assert fh is not None
        billing = block.billing
        self._seg(fh, "HL", str(block.hl), "2", "19", "1")
        kind = (billing.entity_type if billing else "2") or "2"
        name = (billing.name if billing else "") or "UNKNOWN"
        first = billing.first if billing and kind == "1" else ""
        if billing and billing.npi:
            self._seg(fh, "NM1", "85", kind, name, first, "", "", "", "XX", billing.npi)
        elif billing and billing.tax_id:
            self._seg(fh, "NM1", "85", kind, name, first, "", "", "", "FI", billing.tax_id)
        else:
            self._seg(fh, "NM1", "85", kind, name, first)
        self._seg(fh, "TRN", "1", "0")
        total = block.amount_ok + block.amount_rej
        _sep, comp, _t, _r = self._cur
        self._seg(fh, "STC", comp.join(("A1", "19", "85")), "", "WQ", _amount(total))
        n = 4  # HL, NM1, TRN, STC
        if block.accepted:
            self._seg(fh, "QTY", "QA", str(block.accepted))
            n += 1
        if block.rejected:
            self._seg(fh, "QTY", "QC", str(block.rejected))
            n += 1
        if block.accepted:
            self._seg(fh, "AMT", "YU", _amount(block.amount_ok))
            n += 1
        if block.rejected:
            self._seg(fh, "AMT", "YY", _amount(block.amount_rej))
            n += 1
        block.body.seek(0)
        while chunk := block.body.read(1 << 20):
            fh.write(chunk)
        block.body.close()
        self._st_segments += n
        self._st_counts[0] += block.accepted
        self._st_counts[1] += block.rejected
        self._st_amounts[0] += block.amount_ok
        self._st_amounts[1] += block.amount_rej

    def end_transaction(self, txn: Transaction) -> None:
        if txn is not self._st:
            return
        self._close_block()
        group = txn.group
        ix = group.interchange
        if not self._ix_written or self._ix is not ix:
            self._write_isa(ix)
        if not self._gs_written:
            self._write_gs(group)
        self._txns += 1
        self.transactions += 1
        ctl = f"{self._txns:04d}"
        out = self.out
        saved = self._cur
        self._cur = self._delims(txn)
        _sep, comp, _t, _r = self._cur
        ref = f"{self.control_base + self._ix_count:09d}{self._txns:04d}"
        self._seg(out, "ST", "277", ctl, "005010X214")
        self._seg(out, "BHT", "0085", "08", ref, self.date, self.time, "TH")
        self._seg(out, "HL", "1", "", "20", "1")
        self._seg(
            out,
            "NM1",
            "AY",
            "2",
            self.source_name or txn.receiver_name or "CLAIM SCRUBBER",
            "",
            "",
            "",
            "",
            "46",
            self.source_id or txn.receiver_id or ix.receiver_id or "SCRUBBER",
        )
        self._seg(out, "TRN", "1", ref)
        self._seg(out, "DTP", "050", "D8", self.date)
        self._seg(out, "DTP", "009", "D8", self.date)
        self._seg(out, "HL", "2", "1", "21", "1")
        sub_first = txn.submitter_first if txn.submitter_type == "1" else ""
        self._seg(
            out,
            "NM1",
            "41",
            txn.submitter_type or "2",
            txn.submitter_name or "UNKNOWN",
            sub_first,
            "",
            "",
            "",
            "46",
            txn.submitter_id or ix.sender_id or "UNKNOWN",
        )
        self._seg(out, "TRN", "2", txn.bht03 or "0")
        total = self._st_amounts[0] + self._st_amounts[1]
        self._seg(out, "STC", comp.join(("A1", "19", "AY")), self.date, "WQ", _amount(total))
        n = 11  # ST through the 2200B STC
        if self._st_counts[0]:
            self._seg(out, "QTY", "90", str(self._st_counts[0]))
            n += 1
        if self._st_counts[1]:
            self._seg(out, "QTY", "AA", str(self._st_counts[1]))
            n += 1
        if self._st_counts[0]:
            self._seg(out, "AMT", "YU", _amount(self._st_amounts[0]))
            n += 1
        if self._st_counts[1]:
            self._seg(out, "AMT", "YY", _amount(self._st_amounts[1]))
            n += 1
        body = self._body
        assert body is not None
        body.seek(0)
        while chunk := body.read(1 << 20):
            out.write(chunk)
        body.close()
        self._body = None
        n += self._st_segments + 1
        self._seg(out, "SE", str(n), ctl)
        self._cur = saved
        self._st = None

    def _write_isa(self, ix: Interchange) -> None:
        self._ix = ix
        self._ix_written = True
        self._ix_count += 1
        self._groups = 0
        d = ix.delimiters
        nl = "\n" if d.newline_after else ""
        ctl = f"{(self.control_base + self._ix_count) % 1_000_000_000:09d}"
        isa = [
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            (ix.receiver_qualifier or "ZZ")[:2].ljust(2),
            ix.receiver_id[:15].ljust(15),
            (ix.sender_qualifier or "ZZ")[:2].ljust(2),
            ix.sender_id[:15].ljust(15),
            self.now.strftime("%y%m%d"),
            self.time,
            d.repetition,
            "00501",
            ctl,
            "0",
            ix.usage if ix.usage in ("P", "T") else "P",
            d.component,
        ]
        self.out.write(d.element.join(isa) + d.segment + nl)

    def _write_gs(self, group: Group) -> None:
        self._gs_written = True
        self._groups += 1
        self._txns = 0
        d = group.interchange.delimiters
        nl = "\n" if d.newline_after else ""
        self._gs_seq += 1
        self._gs_control = str((self.control_base + self._gs_seq) % 1_000_000_000)
        gs = [
            "GS",
            "HN",
            group.receiver or "RECEIVER",
            group.sender or "SENDER",
            self.date,
            self.time,
            self._gs_control,
            "X",
            "005010X214",
        ]
        self.out.write(d.element.join(gs) + d.segment + nl)

    def end_group(self, group: Group) -> None:
        if not self._gs_written or self._ix is not group.interchange:
            return
        d = group.interchange.delimiters
        nl = "\n" if d.newline_after else ""
        self.out.write(d.element.join(["GE", str(self._txns), self._gs_control]) + d.segment + nl)
        self._gs_written = False

    def end_interchange(self, interchange: Interchange) -> None:
        if not self._ix_written or self._ix is not interchange:
            return
        d = interchange.delimiters
        nl = "\n" if d.newline_after else ""
        ctl = f"{(self.control_base + self._ix_count) % 1_000_000_000:09d}"
        self.out.write(d.element.join(["IEA", str(self._groups), ctl]) + d.segment + nl)
        self._ix_written = False


def _distinct_codes(findings) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    seen: list[tuple[str, str]] = []
    for f in findings:
        pair = (f.category or "A7", f.status_code or "21")
        if pair not in seen:
            seen.append(pair)
    return seen or [("A7", "21")]
