"""The 277CA claim acknowledgment (005010X214).

One 277 interchange per 837 interchange (sender and receiver swapped, same delimiters, so no
echoed value can collide with a separator), one GS per GS, one ST per 837 ST, one 2000C per 837
billing provider loop and one 2000D/2200D per claim; a 2220D for each line that caused a
rejection. 2200B/2200C counts and amounts are only known once their claims are seen, so each
transaction body is spooled (memory, then disk) and its header written when the ST closes.

TR3 conventions followed where pyx12's X214 map disagrees (see the README): 2220D STC02 is not
sent, 2200C is always sent (the TR3 allows it; pyx12 requires it).

Whatever the 837 holds, the 277CA validates: every value echoed from it is cut to the X214
element's maximum length and keeps only characters of the X12 character set that are not the
277CA's delimiters (``Values``); the delimiters are the input's, unless one of them is unusable
here (a clash, or a character the 277CA writes itself: digits, letters, "-", ".", space); ids the
guide requires but the 837 lacks are written as ``UNKNOWN`` (see the README).
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
import unicodedata
from decimal import Decimal
from functools import lru_cache
from typing import IO

from mypy_extensions import mypyc_attr

from scrubber.errors import InputError
from scrubber.memo import Memo
from scrubber.model import BillingProvider, ClaimUnit, Finding, Group, Interchange, Line, ScrubbedClaim, Transaction
from scrubber.writers.base import Writer
from scrubber.x12.dates import d8
from scrubber.x12.loop2300 import AMOUNT_DIGITS, is_amount
from scrubber.x12.segments import Delimiters

_SPOOL = 1 << 20  # bytes kept in memory before a spool moves to disk
ACCEPTED_STATUS = ("A1", "20")  # received and accepted for processing (forwarded on)
SVC_QUALIFIERS = frozenset({"AD", "ER", "HC", "HP", "IV", "N4", "NU", "WK"})
#: what goes where the guide requires an id (or a name) the 837 does not give
UNKNOWN = "UNKNOWN"
#: characters the 277CA writes itself (codes, dates, D8 ranges, amounts, names): never a delimiter
_RESERVED = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-. ")
#: delimiters to fall back on, per role, when the input's cannot serve
_FALLBACK = {"element": "*|!`", "component": ":>^{", "repetition": "^{}`!", "segment": "~'|!"}
#: X214 element lengths (pyx12 dataele.xml) of the values echoed from the 837
NAME_LAST, NAME_FIRST, NAME_MIDDLE, NAME_SUFFIX = 60, 35, 25, 10
ID_MIN, ID_MAX = 2, 80  # NM109
REF_MAX = 50  # TRN02, REF02
PROC_MAX = 48  # SVC01-2
QTY_DIGITS = 15  # SVC07
APP_MIN, APP_MAX = 2, 15  # GS02, GS03
ISA_ID = 15  # ISA06, ISA08
ISA_QUALIFIERS = frozenset({"01", "14", "20", "27", "28", "29", "30", "33", "ZZ"})


_PLAIN_AMOUNT = re.compile(r"(0|[1-9][0-9]{0,15})(?:\.([0-9]{1,2}))?")


def _money(text: str) -> Decimal:
    return Decimal(text) if is_amount(text) else Decimal(0)


def _charge(text: str) -> tuple[Decimal, str]:
    """A charge as a number and as the 277CA writes it (X12 R)."""
    return _CHARGES[text]


def _read_charge(text: str) -> tuple[Decimal, str]:
    """Charges are nearly always plain ("135.00"): their R form comes from the text, with no Decimal
    arithmetic (``_amount`` gives the same for them)."""
    plain = _PLAIN_AMOUNT.fullmatch(text)
    if plain is None:
        value = _money(text)
        return value, _amount(value)
    whole, frac = plain.groups()
    frac = (frac or "").rstrip("0")
    return Decimal(text), f"{whole}.{frac}" if frac else whole


#: charges seen (CLM02 text -> ``_charge``): charges repeat from claim to claim
_CHARGES_MAX = 4096
_CHARGES = Memo(_read_charge, _CHARGES_MAX)


@lru_cache(maxsize=4096)
def _d8(day: dt.date) -> str:
    """CCYYMMDD; dates of service repeat from claim to claim, so each is formatted once."""
    return d8(day)


def _amount(value: Decimal) -> str:
    """X12 R type: no trailing zeros beyond what is needed, no exponent, at most 18 digits."""
    if value and value.adjusted() >= AMOUNT_DIGITS:
        raise _too_large()
    q = value.quantize(Decimal("0.01"))
    text = format(q, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if len(text.lstrip("-").replace(".", "")) > AMOUNT_DIGITS:
        raise _too_large()
    return text or "0"


def _too_large() -> InputError:
    # Each charge has at most 18 digits (more is X12-STRUCTURE); only sums of absurd ones get here.
    return InputError("the claims' charges add up to more than a 277CA amount can hold (18 digits)")


def delimiters_277(d: Delimiters) -> Delimiters:
    """The 277CA's delimiters: the input's where they can serve, else unused fallbacks."""
    used: list[str] = []
    for role, mine in (("element", d.element), ("component", d.component), ("repetition", d.repetition),
                       ("segment", d.segment)):
        ok = len(mine) == 1 and mine not in used and mine not in _RESERVED and (
            mine.isprintable() or (role == "segment" and mine in "\r\n"))
        used.append(mine if ok else next(c for c in _FALLBACK[role] if c not in used))
    return Delimiters(*used)


#: printable ASCII: the X12 extended character set that pyx12 checks AN and ID values against
PRINTABLE = frozenset(chr(c) for c in range(32, 127))


def _to_ascii(text: str) -> str:
    """Letters with accents as their base letters (the 837's bytes were read as latin-1, and are
    UTF-8 more often than not); what has no ASCII form goes."""
    try:
        text = text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


class Values:
    """Values from the 837 made fit for a 277CA with delimiters ``d``.

    Only printable ASCII (accented letters become their base letter); the 277CA's delimiters
    become a space and control characters go (pyx12 refuses both); no surrounding blanks; at most
    ``max_len`` characters. A value that ends up shorter than ``min_len`` is "" (the caller decides
    what goes there then).
    """

    def __init__(self, d: Delimiters) -> None:
        delims = {d.element, d.component, d.repetition, d.segment}
        self.allowed = PRINTABLE.difference(delims)
        self._bad = re.compile("[^" + "".join(re.escape(c) for c in sorted(self.allowed)) + "]")
        self._delims = delims

    def __call__(self, value: str, max_len: int, min_len: int = 1) -> str:
        # Letters and digits only (most ids and names): nothing to change, whatever the delimiters
        # (never a letter or a digit here).
        if value.isalnum() and value.isascii() and len(value) <= max_len:
            return value if len(value) >= min_len else ""
        if len(value) <= max_len and self._bad.search(value) is None and value[:1] != " " and value[-1:] != " ":
            return value if len(value) >= min_len else ""
        text = value[: 4 * max_len + 64]  # a megabyte of name needs no more than its start looked at
        if not text.isascii():
            text = _to_ascii(text)
        allowed, delims = self.allowed, self._delims
        text = "".join(c if c in allowed else " " if c in delims else "" for c in text)
        text = " ".join(text.split())[:max_len].strip(" ")
        return text if len(text) >= min_len else ""


@mypyc_attr(native_class=False)  # a list: a plain Python class even where compiled (scrubber._native)
class _Buffer(list):
    """Collects segments like a file, written out in one piece."""

    write = list.append


class _Block:
    """One 2000C (billing provider) and the 2000D claims beneath it, being collected.

    Its claims' text is kept as a list of strings (one a claim); past ``_SPOOL`` characters, as
    in a billing provider loop of many thousand claims, it moves to a temporary file.
    """

    def __init__(self, billing: BillingProvider | None, hl: int) -> None:
        self.billing = billing
        self.hl = hl
        self.parts: list[str] = []
        self.size = 0
        self.spill: IO[str] | None = None
        self.accepted = self.rejected = 0
        self.amount_ok = Decimal(0)
        self.amount_rej = Decimal(0)

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)
        if self.size > _SPOOL:
            if self.spill is None:
                self.spill = tempfile.TemporaryFile(mode="w+", encoding="latin-1", newline="")
            self.spill.write("".join(self.parts))
            self.parts.clear()
            self.size = 0

    def copy_to(self, out: IO[str]) -> None:
        if self.spill is not None:
            self.spill.seek(0)
            while chunk := self.spill.read(1 << 20):
                out.write(chunk)
            self.spill.close()
        out.write("".join(self.parts))


@mypyc_attr(allow_interpreted_subclasses=True)  # subclassed in Python (scrubber._native: split runs)
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
        self._fmt_ix: Interchange | None = None
        self._last_patient: tuple | None = None
        self._fmt: tuple[tuple[str, str, str, str], Values]
        self._clean: Values

    # -- formatting ------------------------------------------------------------------------
    def _for(self, ix: Interchange) -> tuple[tuple[str, str, str, str], Values]:
        """The 277CA's delimiters (element, component, terminator + newline, repetition) and cleaner."""
        if ix is not self._fmt_ix:
            d = delimiters_277(ix.delimiters)
            nl = "\n" if d.newline_after else ""
            self._fmt = ((d.element, d.component, d.segment + nl, d.repetition), Values(d))
            self._fmt_ix = ix
        return self._fmt

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
        self._cur, self._clean = self._for(txn.group.interchange)
        self._accepted = self._cur[1].join(ACCEPTED_STATUS)
        sep, _comp, term, _rep = self._cur
        # An accepted claim's STC and a one-day DTP depend only on the charge and the day: each is
        # written once per transaction.
        self._accepted_stc = Memo(self._accepted_status)
        self._one_day = Memo(lambda day: f"DTP{sep}472{sep}D8{sep}{_d8(day)}{term}")
        self._body = self._new_body()
        self._block = None
        self._hl = 2
        self._st_counts = [0, 0]
        self._st_amounts = [Decimal(0), Decimal(0)]
        self._st_segments = 0

    def _new_body(self) -> IO[str]:
        """Where a transaction's 2000C blocks wait for its 2200B, which counts them and goes first.

        A split run's writers put them elsewhere (scrubber.writers.pieces, stitching): making a spool
        only to drop it would leave its ``__del__``, Python code, where Ctrl-C can land.
        """
        return tempfile.SpooledTemporaryFile(_SPOOL, mode="w+", encoding="latin-1", newline="")

    def _write_claim(self, scrubbed: ScrubbedClaim, block: _Block) -> None:
        """2000D with its 2100D, 2200D and the 2220D of each line at fault: one string per claim."""
        claim = scrubbed.claim
        sep, _comp, term, _rep = self._cur
        rejected = scrubbed.findings and scrubbed.rejected  # most claims have no finding
        if rejected:
            charge, amount = _charge(claim.charge)
            stc = self._rejected_status(scrubbed, amount)
            block.rejected += 1
            block.amount_rej += charge
        else:
            charge, stc = self._accepted_stc[claim.charge]
            block.accepted += 1
            block.amount_ok += charge
        trace = self._clean(claim.clearinghouse_trace, REF_MAX) if claim.clearinghouse_trace else ""
        self._hl += 1
        text = (f"HL{sep}{self._hl}{sep}{block.hl}{sep}PT{term}{self._patient(claim)}"
                f"TRN{sep}2{sep}{self._clean(claim.claim_id, REF_MAX) or '0'}{term}{stc}"
                f"{f'REF{sep}D9{sep}{trace}{term}' if trace else ''}{self._claim_dates(claim)}")
        n = 6 if trace else 5  # HL, NM1, TRN, STC, (REF), DTP
        if rejected:
            fh = _Buffer()
            n += self._write_lines(fh, scrubbed)  # type: ignore[arg-type]
            text += "".join(fh)
        block.add(text)
        self._st_segments += n

    def _accepted_status(self, charge_text: str) -> tuple[Decimal, str]:
        """The charge of an accepted claim and its 2200D STC."""
        sep, _comp, term, _rep = self._cur
        charge, amount = _charge(charge_text)
        return charge, f"STC{sep}{self._accepted}{sep}{self.date}{sep}WQ{sep}{amount}{term}"

    def _rejected_status(self, scrubbed: ScrubbedClaim, amount: str) -> str:
        """2200D STC of a rejected claim: up to three distinct category and status codes."""
        sep, comp, term, _rep = self._cur
        codes = _distinct_codes(f for f in scrubbed.findings if f.rejects)
        extra = [comp.join(c) for c in codes[1:3]]
        tail = sep * 6 + sep.join(extra) if extra else ""
        return f"STC{sep}{comp.join(codes[0])}{sep}{self.date}{sep}U{sep}{amount}{tail}{term}"

    def _patient(self, claim: ClaimUnit) -> str:
        """2100D: the patient's name and the subscriber's member id (NM108/NM109 are required:
        UNKNOWN when the 837 has no usable one). Claims of one patient in a row share it."""
        who = (claim.patient, claim.subscriber, self._cur)
        last = self._last_patient
        if last is not None and last[0] is who[0] and last[1] is who[1] and last[2] is who[2]:
            return last[3]
        text = self._patient_segment(claim)
        self._last_patient = (*who, text)
        return text

    def _patient_segment(self, claim: ClaimUnit) -> str:
        sep, _comp, term, _rep = self._cur
        clean = self._clean
        who = claim.patient or claim.subscriber
        if who is not None:
            last = clean(who.last, NAME_LAST) or UNKNOWN
            first, middle = clean(who.first, NAME_FIRST), clean(who.middle, NAME_MIDDLE)
            suffix = clean(who.suffix, NAME_SUFFIX)
        else:
            last, first, middle, suffix = UNKNOWN, "", "", ""
        member = clean(claim.subscriber.member_id, ID_MAX, ID_MIN) if claim.subscriber else ""
        return sep.join(("NM1", "QC", "1", last, first, middle, "", suffix, "MI", member or UNKNOWN)) + term

    def _claim_dates(self, claim: ClaimUnit) -> str:
        """DTP*472, required here: the claim's date or range; a claim with no readable date is dated by its file."""
        sep, _comp, term, _rep = self._cur
        dates = claim.service_dates()
        if not dates:
            dates = [claim.transaction.group.date or self.now.date()]
        if dates[0] == dates[-1]:
            return self._one_day[dates[0]]
        return f"DTP{sep}472{sep}RD8{sep}{_d8(dates[0])}-{_d8(dates[-1])}{term}"

    def _write_lines(self, fh: IO[str], scrubbed: ScrubbedClaim) -> int:
        """A 2220D for every line a rejecting finding names; returns the segments written."""
        claim = scrubbed.claim
        by_line: dict[int, list[Finding]] = {}
        for f in scrubbed.findings:
            if f.rejects and f.line_index is not None:
                by_line.setdefault(f.line_index, []).append(f)
        n = 0
        for ln in claim.lines:
            found = by_line.get(ln.index)
            code = self._clean(ln.code, PROC_MAX) if found else ""
            if code:
                n += self._write_line(fh, claim, ln, code, found)  # type: ignore[arg-type]
        return n

    def _write_line(self, fh: IO[str], claim: ClaimUnit, ln: Line, code: str, found: list[Finding]) -> int:
        """2220D: SVC, STC, REF*FJ when the line has a control number, DTP when it has a date."""
        sep, comp, term, _rep = self._cur
        clean = self._clean
        qualifier = ln.qualifier if ln.qualifier in SVC_QUALIFIERS else "HC"
        modifiers = [m for m in (clean(m, 2, 2) for m in ln.modifiers) if m]
        proc = comp.join([qualifier, code, *modifiers])
        units = ln.units if is_amount(ln.units) and len(ln.units.lstrip("-").replace(".", "")) <= QTY_DIGITS else ""
        charge = _charge(ln.charge)[1]  # "0" when SV102 is no amount
        fh.write(f"SVC{sep}{proc}{sep}{charge}{sep * 5}{units}{term}" if units else f"SVC{sep}{proc}{sep}{charge}{term}")
        codes = _distinct_codes(found)
        extra = [comp.join(c) for c in codes[1:3]]
        fh.write(f"STC{sep}{comp.join(codes[0])}{sep}{sep}U{sep * 7 + sep.join(extra) if extra else ''}{term}")
        n = 2
        line_control = clean(ln.line_control, REF_MAX)
        if line_control:
            fh.write(f"REF{sep}FJ{sep}{line_control}{term}")
            n += 1
        day = claim.line_dos(ln)
        if day is not None:
            end = (ln.dos_end if ln.dtp is not None else claim.dos_end) or day
            fh.write(self._one_day[day] if end == day else f"DTP{sep}472{sep}RD8{sep}{_d8(day)}-{_d8(end)}{term}")
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
        clean = self._clean
        self._seg(fh, "HL", str(block.hl), "2", "19", "1")
        kind = billing.entity_type if billing and billing.entity_type in ("1", "2") else "2"
        name = (clean(billing.name, NAME_LAST) if billing else "") or UNKNOWN
        first = clean(billing.first, NAME_FIRST) if billing and kind == "1" else ""
        # NM108/NM109 are required: the NPI, else the tax id, else XX with UNKNOWN.
        npi = clean(billing.npi, ID_MAX, ID_MIN) if billing else ""
        tax_id = clean(billing.tax_id, ID_MAX, ID_MIN) if billing and not npi else ""
        qualifier, ident = ("XX", npi) if npi else ("FI", tax_id) if tax_id else ("XX", UNKNOWN)
        self._seg(fh, "NM1", "85", kind, name, first, "", "", "", qualifier, ident)
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
        block.copy_to(fh)
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
        self._cur, clean = self._for(ix)
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
            clean(self.source_name or txn.receiver_name, NAME_LAST) or "CLAIM SCRUBBER",
            "",
            "",
            "",
            "",
            "46",
            clean(self.source_id or txn.receiver_id or ix.receiver_id, ID_MAX, ID_MIN) or "SCRUBBER",
        )
        self._seg(out, "TRN", "1", ref)
        self._seg(out, "DTP", "050", "D8", self.date)
        self._seg(out, "DTP", "009", "D8", self.date)
        self._seg(out, "HL", "2", "1", "21", "1")
        sub_type = txn.submitter_type if txn.submitter_type in ("1", "2") else "2"
        sub_first = clean(txn.submitter_first, NAME_FIRST) if sub_type == "1" else ""
        self._seg(
            out,
            "NM1",
            "41",
            sub_type,
            clean(txn.submitter_name, NAME_LAST) or UNKNOWN,
            sub_first,
            "",
            "",
            "",
            "46",
            clean(txn.submitter_id or ix.sender_id, ID_MAX, ID_MIN) or UNKNOWN,
        )
        self._seg(out, "TRN", "2", clean(txn.bht03, REF_MAX) or "0")
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
        (sep, comp, term, rep), clean = self._for(ix)
        ctl = f"{(self.control_base + self._ix_count) % 1_000_000_000:09d}"
        isa = [
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            ix.receiver_qualifier if ix.receiver_qualifier in ISA_QUALIFIERS else "ZZ",
            (clean(ix.receiver_id, ISA_ID) or UNKNOWN).ljust(ISA_ID),
            ix.sender_qualifier if ix.sender_qualifier in ISA_QUALIFIERS else "ZZ",
            (clean(ix.sender_id, ISA_ID) or UNKNOWN).ljust(ISA_ID),
            self.now.strftime("%y%m%d"),
            self.time,
            rep,
            "00501",
            ctl,
            "0",
            ix.usage if ix.usage in ("P", "T") else "P",
            comp,
        ]
        self.out.write(sep.join(isa) + term)

    def _write_gs(self, group: Group) -> None:
        self._gs_written = True
        self._groups += 1
        self._txns = 0
        (sep, _comp, term, _rep), clean = self._for(group.interchange)
        self._gs_seq += 1
        self._gs_control = str((self.control_base + self._gs_seq) % 1_000_000_000)
        gs = [
            "GS",
            "HN",
            clean(group.receiver, APP_MAX, APP_MIN) or "RECEIVER",
            clean(group.sender, APP_MAX, APP_MIN) or "SENDER",
            self.date,
            self.time,
            self._gs_control,
            "X",
            "005010X214",
        ]
        self.out.write(sep.join(gs) + term)

    def end_group(self, group: Group) -> None:
        if not self._gs_written or self._ix is not group.interchange:
            return
        sep, _comp, term, _rep = self._for(group.interchange)[0]
        self.out.write(sep.join(["GE", str(self._txns), self._gs_control]) + term)
        self._gs_written = False

    def end_interchange(self, interchange: Interchange) -> None:
        if not self._ix_written or self._ix is not interchange:
            return
        sep, _comp, term, _rep = self._for(interchange)[0]
        ctl = f"{(self.control_base + self._ix_count) % 1_000_000_000:09d}"
        self.out.write(sep.join(["IEA", str(self._groups), ctl]) + term)
        self._ix_written = False


#: STC01-3 entity codes the X214 guide allows in the claim and line status (2200D, 2220D)
STC_ENTITIES = frozenset({"03", "1P", "1Z", "40", "41", "71", "72", "73", "77", "82", "85", "87", "DK", "DN", "DQ",
                          "FA", "GB", "HK", "IL", "LI", "MSC", "PR", "PRP", "QB", "QC", "QD", "SEP", "TL", "TTP",
                          "TU"})


def _distinct_codes(findings) -> list[tuple[str, ...]]:  # type: ignore[no-untyped-def]
    """STC composites: category, status and, for a status about an entity (562: its NPI), whose."""
    seen: list[tuple[str, ...]] = []
    for f in findings:
        code: tuple[str, ...] = (f.category or "A7", f.status_code or "21")
        if f.entity in STC_ENTITIES:
            code += (f.entity,)
        if code not in seen:
            seen.append(code)
    return seen or [("A7", "21")]
