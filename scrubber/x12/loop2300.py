"""Loop 2300 (claim) with its 2310-2330 and 2400-2440 children, made into a claim unit.

Only what edits and writers use is lifted out of the segments; everything else stays in
``segments`` and is copied verbatim by the accepted-837 writer.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

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
    if _PLAIN_AMOUNT.fullmatch(text):
        return True
    if not text or len(text) > AMOUNT_DIGITS + 2 or not _AMOUNT_CHARS.issuperset(text):
        return False
    body = text[1:] if text[0] == "-" else text
    if body.count(".") > 1 or body in ("", ".") or "-" in body:
        return False
    return len(body) <= AMOUNT_DIGITS or (len(body) == AMOUNT_DIGITS + 1 and "." in body)


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
    problems = claim.problems
    els = clm.els
    claim.claim_id = els[1] if len(els) > 1 else ""
    claim.charge = els[2] if len(els) > 2 else ""
    if not claim.claim_id:
        problems.append(("CLM01 (patient control number) is empty", clm))
    if not is_amount(claim.charge):
        problems.append(("CLM02 (total claim charge) is missing, not a number or longer than 18 digits", clm))
    clm05 = els[5].split(component) if len(els) > 5 else []
    claim.place = clm05[0] if clm05 else ""
    claim.frequency = clm05[2] if len(clm05) > 2 else ""
    for where in (billing, subscriber, patient):
        if where is not None and where.problem:
            problems.append((where.problem, clm))
    if billing is None:
        problems.append(("the claim is not under a billing provider loop (HL*20)", clm))
    if subscriber is None:
        problems.append(("the claim is not under a subscriber loop (HL*22)", clm))

    line: Line | None = None
    # After an NM1 or SBR at claim level we are in 2310x/2320/2330x, whose REFs are not the
    # claim's; after an NM1 in a line we are in 2420x. "sub" tracks that.
    sub = False
    dx_position = 0
    lines = claim.lines
    for seg in segments[1:]:
        e = seg.els
        sid = e[0]
        if sid == "LX":
            line = Line(len(lines) + 1, e[1] if len(e) > 1 else "", seg)
            lines.append(line)
            sub = False
            if not (line.lx.isascii() and line.lx.isdigit()) or len(line.lx) > _LX_DIGITS:
                problems.append((f"LX01 of line {line.index} is not a number of at most 6 digits", seg))
            continue
        if line is None:
            if sid == "HI":
                for comp in e[1:]:
                    parts = comp.split(component)
                    if parts[0] in DX_QUALIFIERS:
                        dx_position += 1
                        code = parts[1] if len(parts) > 1 else ""
                        claim.diagnoses.append(Diagnosis(dx_position, parts[0], code, seg))
                        if not code:
                            problems.append((f"diagnosis {dx_position} has no code", seg))
            elif sid == "NM1":
                sub = True
                claim.names.append((seg, None))
            elif sid == "SBR":
                sub = True
            elif sub:
                continue
            elif sid == "DTP" and len(e) > 3 and e[1] == "472":
                claim.dos_raw = e[3]
                claim.dos_segment = seg
                claim.dos, claim.dos_end = parse_dtp(e[2], e[3])
            elif sid == "REF" and len(e) > 2:
                if e[1] == "G1":
                    claim.prior_auth = e[2]
                elif e[1] == "D9":
                    claim.clearinghouse_trace = e[2]
            continue
        if sid == "SV1":
            if line.sv1 is not None:
                problems.append((f"line {line.lx} has two SV1 segments", seg))
                continue
            _read_sv1(line, seg, component, problems)
        elif sid == "NM1":
            sub = True
            claim.names.append((seg, line))
        elif sid in ("SVD", "LQ"):
            sub = True
        elif sid == "LIN" and not sub:
            line.lin = seg
            line.ndc_qualifier = e[2] if len(e) > 2 else ""
            line.ndc = e[3] if len(e) > 3 else ""
        elif sid == "CTP" and not sub:
            line.ctp = seg
            line.drug_quantity = e[4] if len(e) > 4 else ""
            line.drug_unit = e[5].split(component)[0] if len(e) > 5 else ""
        elif sub:
            continue
        elif sid == "DTP" and len(e) > 3 and e[1] == "472":
            line.dtp = seg
            line.dos_raw = e[3]
            line.dos, line.dos_end = parse_dtp(e[2], e[3])
        elif sid == "REF" and len(e) > 2:
            if e[1] == "6R":
                line.line_control = e[2]
            elif e[1] == "G1":
                line.prior_auth = e[2]
    for ln in lines:
        if ln.sv1 is None:
            problems.append((f"line {ln.lx or ln.index} has no SV1 (professional service)", ln.lx_segment))
    if not lines:
        problems.append(("the claim has no service line (LX/SV1)", clm))
    return claim


def _read_sv1(line: Line, seg: Segment, component: str, problems: list) -> None:
    e = seg.els
    line.sv1 = seg
    proc = e[1].split(component) if len(e) > 1 else [""]
    line.qualifier = proc[0]
    line.code = proc[1] if len(proc) > 1 else ""
    line.modifiers = tuple(filter(None, proc[2:6]))
    line.charge = e[2] if len(e) > 2 else ""
    line.basis = e[3] if len(e) > 3 else ""
    line.units = e[4] if len(e) > 4 else ""
    line.place = e[5] if len(e) > 5 else ""
    line.pointers = tuple(e[7].split(component)) if len(e) > 7 and e[7] else ()
    if not line.code:
        other = _other_separator(e[1] if len(e) > 1 else "", component)
        if other:
            problems.append((f"line {line.lx}: SV101 {e[1]!r} separates its parts with {other!r}, but ISA16 declares "
                             f"{component!r} as the component separator, so no procedure code can be read", seg))
        else:
            problems.append((f"line {line.lx} has no procedure code in SV101-2", seg))
    if not is_amount(line.charge):
        problems.append((f"line {line.lx}: SV102 (line charge) is missing, not a number or longer than 18 digits", seg))
