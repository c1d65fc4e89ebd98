"""Loop 2300 (claim) with its 2310-2330 and 2400-2440 children, made into a claim unit.

Only what edits and writers use is lifted out of the segments; everything else stays in
``segments`` and is copied verbatim by the accepted-837 writer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

from scrubber.memo import Memo
from scrubber.model import BillingProvider, ClaimUnit, Diagnosis, Line, Patient, Subscriber, Transaction
from scrubber.x12.dates import parse_dtp
from scrubber.x12.segments import Segment

DX_QUALIFIERS = frozenset({"ABK", "ABF", "BK", "BF"})
_AMOUNT_CHARS = frozenset("0123456789.-")
#: digits an X12 R element may hold (a monetary amount is R 1/18): more is no amount at all
AMOUNT_DIGITS = 18
#: LX01 is N0 1/6
_LX_DIGITS = 6


#: the usual shape of an amount ("135.00", "0", "1250.5"): certainly an R element
_PLAIN_AMOUNT = re.compile(r"(?:0|[1-9][0-9]{0,15})(?:\.[0-9]{0,2})?")


def is_amount(text: str) -> bool:
    """X12 R (decimal) element: optional minus, at most 18 digits, at most one point."""
    return _AMOUNTS[text]


def _is_amount(text: str) -> bool:
    if _PLAIN_AMOUNT.fullmatch(text):
        return True
    if not text or len(text) > AMOUNT_DIGITS + 2 or not _AMOUNT_CHARS.issuperset(text):
        return False
    body = text[1:] if text[0] == "-" else text
    if body.count(".") > 1 or body in ("", ".") or "-" in body:
        return False
    return len(body) <= AMOUNT_DIGITS or (len(body) == AMOUNT_DIGITS + 1 and "." in body)


#: is_amount's answers: charges repeat from claim to claim
_AMOUNTS_MAX = 4096
_AMOUNTS = Memo(_is_amount, _AMOUNTS_MAX)


def amount_value(text: str) -> Decimal | None:
    """An X12 R element as a number; None when it is not one (the edits that read it say why)."""
    if not is_amount(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def positive_whole(text: str) -> bool:
    """"1", "250": a positive whole number written plainly, as units nearly always are."""
    return text.isdigit() and text.isascii() and text[0] != "0" and len(text) <= AMOUNT_DIGITS


def unreadable_claim(ordinal: int, segments: list[Segment], transaction: Transaction,
                     billing: BillingProvider | None, subscriber: Subscriber | None, patient: Patient | None,
                     exc: Exception) -> ClaimUnit:
    """A claim ``build_claim`` failed on: rejected with X12-STRUCTURE saying so, never dropped."""
    clm = segments[0]
    claim = ClaimUnit(ordinal, transaction, billing, subscriber, patient, segments, clm=clm)
    claim.claim_id = clm.el(1)
    # The exception's text may quote claim content: name its type only.
    claim.problems.append((f"a value in the claim could not be read ({type(exc).__name__})", clm))
    return claim


def _other_separator(composite: str, component: str) -> str:
    """The character a composite such as ``HC>64615`` uses between its parts when it is not ISA16's."""
    if len(composite) > 3 and composite[:2].isalpha():
        mark = composite[2]
        if not mark.isalnum() and mark not in (component, " ", "-", "."):
            return mark
    return ""


def build_claim(
    ordinal: int,
    segments: list[Segment],
    transaction: Transaction,
    billing: BillingProvider | None,
    subscriber: Subscriber | None,
    patient: Patient | None,
    component: str,
) -> ClaimUnit:
    clm = segments[0]
    claim = ClaimUnit(ordinal, transaction, billing, subscriber, patient, segments, clm=clm)
    _read_clm(claim, clm, component)
    if billing is None or subscriber is None or billing.problem or subscriber.problem or (
            patient is not None and patient.problem):
        _loop_problems(claim, clm)
    # The segments are read in one pass: 2300 (with its 2310x-2330x) up to the first LX, then
    # each 2400 up to the next one, all from one iterator.
    rest = iter(segments)
    next(rest)
    lx = _read_2300(claim, rest, component)
    while lx is not None:
        lx = _read_2400(claim, lx, rest, component)
    problems = claim.problems
    for ln in claim.lines:
        if ln.sv1 is None:
            problems.append((f"line {ln.lx or ln.index} has no SV1 (professional service)", ln.lx_segment))
    if not claim.lines:
        problems.append(("the claim has no service line (LX/SV1)", clm))
    return claim


def _read_clm(claim: ClaimUnit, clm: Segment, component: str) -> None:
    els = clm.els
    n = len(els)
    claim.claim_id = els[1] if n > 1 else ""
    claim.charge = els[2] if n > 2 else ""
    if not claim.claim_id:
        claim.problems.append(("CLM01 (patient control number) is empty", clm))
    if not is_amount(claim.charge):
        claim.problems.append(("CLM02 (total claim charge) is missing, not a number or longer than 18 digits", clm))
    clm05 = els[5].split(component) if n > 5 else []
    claim.place = clm05[0] if clm05 else ""
    claim.frequency = clm05[2] if len(clm05) > 2 else ""


def _loop_problems(claim: ClaimUnit, clm: Segment) -> None:
    """What the HL loops above the claim say is wrong with them (X12-STRUCTURE)."""
    problems = claim.problems
    for where in (claim.billing, claim.subscriber, claim.patient):
        if where is not None and where.problem:
            problems.append((where.problem, clm))
    if claim.billing is None:
        problems.append(("the claim is not under a billing provider loop (HL*20)", clm))
    if claim.subscriber is None:
        problems.append(("the claim is not under a subscriber loop (HL*22)", clm))


def _read_2300(claim: ClaimUnit, rest: Iterator[Segment], component: str) -> Segment | None:
    """The claim's own segments, up to its first LX (returned; None when there is none)."""
    # After an NM1 or SBR we are in 2310x/2320/2330x, whose REFs and DTPs are not the claim's.
    sub = False
    for seg in rest:
        e = seg.els
        sid = e[0]
        if sid == "LX":
            return seg
        if sid == "HI":
            _read_hi(claim, seg, component)
        elif sid == "NM1":
            sub = True
            claim.names.append((seg, None))
        elif sid == "SBR":
            sub = True
        elif sub:
            continue
        elif sid == "REF":
            if len(e) > 2:
                if e[1] == "G1":
                    claim.prior_auth = e[2]
                elif e[1] == "D9":
                    claim.clearinghouse_trace = e[2]
        elif sid == "DTP" and len(e) > 3 and e[1] == "472":
            claim.dos_raw = e[3]
            claim.dos_segment = seg
            claim.dos, claim.dos_end = parse_dtp(e[2], e[3])
    return None


def _read_hi(claim: ClaimUnit, seg: Segment, component: str) -> None:
    diagnoses = claim.diagnoses
    for comp in seg.els[1:]:
        parts = comp.split(component)
        if parts[0] in DX_QUALIFIERS:
            position = len(diagnoses) + 1
            code = parts[1] if len(parts) > 1 else ""
            diagnoses.append(Diagnosis(position, parts[0], code, seg))
            if not code:
                claim.problems.append((f"diagnosis {position} has no code", seg))


def _read_2400(claim: ClaimUnit, lx: Segment, rest: Iterator[Segment], component: str) -> Segment | None:
    """One service line from its LX up to the next LX (returned; None at the claim's end)."""
    lines = claim.lines
    e = lx.els
    line = Line(len(lines) + 1, e[1] if len(e) > 1 else "", lx)
    lines.append(line)
    if not (line.lx.isascii() and line.lx.isdigit()) or len(line.lx) > _LX_DIGITS:
        claim.problems.append((f"LX01 of line {line.index} is not a number of at most 6 digits", lx))
    # After an NM1 (2420x), SVD or LQ we are in a sub-loop, whose REFs, DTPs, LIN and CTP are not the line's.
    sub = False
    for seg in rest:
        e = seg.els
        sid = e[0]
        if sid == "SV1":
            if line.sv1 is not None:
                claim.problems.append((f"line {line.lx} has two SV1 segments", seg))
            else:
                _read_sv1(line, seg, component, claim.problems)
        elif sid == "DTP":
            if not sub and len(e) > 3 and e[1] == "472":
                line.dtp = seg
                line.dos_raw = e[3]
                line.dos, line.dos_end = parse_dtp(e[2], e[3])
        elif sid == "REF":
            if not sub and len(e) > 2:
                if e[1] == "6R":
                    line.line_control = e[2]
                elif e[1] == "G1":
                    line.prior_auth = e[2]
        elif sid == "LX":
            return seg
        elif sid == "NM1":
            sub = True
            claim.names.append((seg, line))
        elif sid == "SVD" or sid == "LQ":
            sub = True
        elif sub:
            continue
        elif sid == "LIN":
            line.lin = seg
            line.ndc_qualifier = e[2] if len(e) > 2 else ""
            line.ndc = e[3] if len(e) > 3 else ""
        elif sid == "CTP":
            line.ctp = seg
            line.drug_quantity = e[4] if len(e) > 4 else ""
            line.drug_unit = e[5].split(component)[0] if len(e) > 5 else ""
    return None


#: SV1 padded to SV107 (the pointers) when it stops earlier
_SV1_PAD = [""] * 8


def _read_sv1(line: Line, seg: Segment, component: str, problems: list) -> None:
    e = seg.els
    if len(e) < 8:
        e = (e + _SV1_PAD)[:8]
    line.sv1 = seg
    proc = e[1].split(component)
    line.qualifier = proc[0]
    line.code = proc[1] if len(proc) > 1 else ""
    line.modifiers = tuple(filter(None, proc[2:6])) if len(proc) > 2 else ()
    line.charge = e[2]
    line.basis = e[3]
    line.units = e[4]
    line.place = e[5]
    line.pointers = tuple(e[7].split(component)) if e[7] else ()
    if not line.code:
        _no_procedure(line, seg, component, problems)
    if not is_amount(line.charge):
        problems.append((f"line {line.lx}: SV102 (line charge) is missing, not a number or longer than 18 digits", seg))


def _no_procedure(line: Line, seg: Segment, component: str, problems: list) -> None:
    sv101 = seg.el(1)
    other = _other_separator(sv101, component)
    if other:
        problems.append((f"line {line.lx}: SV101 {sv101!r} separates its parts with {other!r}, but ISA16 declares "
                         f"{component!r} as the component separator, so no procedure code can be read", seg))
    else:
        problems.append((f"line {line.lx} has no procedure code in SV101-2", seg))
