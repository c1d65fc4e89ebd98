"""Check kinds of the ``core`` pack: claim integrity (SNIP 3-4)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

from scrubber.model import ClaimUnit, Finding
from scrubber.rules.catalog import Edit
from scrubber.rules.kinds import Context, finding, kind, no_dates, worded
from scrubber.x12.dates import parse_d8
from scrubber.x12.loop2300 import amount_value, positive_whole
from scrubber.x12.segments import Segment


@kind("structure")
def structure(claim: ClaimUnit, edit: Edit, params: dict, ctx: Context) -> Iterator[Finding]:
    for problem, seg in claim.problems:
        line = next((ln for ln in claim.lines if seg is not None and seg in (ln.sv1, ln.lx_segment)), None)
        yield finding(claim, edit, f"The claim cannot be read: {problem}.", line=line, segment=seg)


@kind("claim_balance")
def claim_balance(claim: ClaimUnit, edit: Edit, params: dict, ctx: Context) -> Iterator[Finding]:
    lines = claim.lines
    if len(lines) == 1 and lines[0].charge == claim.charge:
        return  # one line charging what the claim does: equal, or unreadable alike (X12-STRUCTURE's)
    try:  # the common case first: the amounts read and add up exactly
        if Decimal(claim.charge) == sum([Decimal(ln.charge) for ln in lines], Decimal(0)):
            return
    except ArithmeticError:
        pass
    total = amount_value(claim.charge)
    charges = [amount_value(ln.charge) for ln in claim.lines]
    if total is None or any(c is None for c in charges):
        return  # unreadable amounts are X12-STRUCTURE's to report
    lines_sum: Decimal = sum(charges, Decimal(0))  # type: ignore[type-var, assignment]  # no None left
    if total.quantize(Decimal("0.01")) != lines_sum.quantize(Decimal("0.01")):
        n = len(charges)
        yield finding(
            claim,
            edit,
            f"CLM02 total charge {total:.2f} differs from the sum of the {n} line charge"
            f"{'s' if n != 1 else ''}, {lines_sum:.2f} (difference {total - lines_sum:+.2f}).",
            suggestion=f"Set CLM02 to {lines_sum:.2f}, or correct the line charges so they add up to {total:.2f}.",
        )


@kind("diagnosis_pointer", bounds=no_dates, reads="pointers dx")
def diagnosis_pointer(claim: ClaimUnit, edit: Edit, params: dict, ctx: Context) -> Iterator[Finding]:
    n_dx = len(claim.diagnoses)
    limit = int(params.get("max_pointers", 4))
    for ln in claim.lines:
        if ln.sv1 is None:
            continue
        if not ln.pointers or not any(ln.pointers):
            message, suggestion = worded(ctx, edit, _no_pointer_texts, ln.number, ln.code, n_dx)
            yield finding(claim, edit, message, line=ln, suggestion=suggestion)
            continue
        # SV107 pointers are N0 1/2: a longer one is bad without reading it as a number.
        bad = [p[:12] for p in ln.pointers if not (p.isascii() and p.isdigit()) or len(p) > 2 or not 1 <= int(p) <= n_dx]
        if bad:
            message, suggestion = worded(ctx, edit, _bad_pointer_texts, ln.number, ln.code, tuple(bad), n_dx)
            yield finding(claim, edit, message, line=ln, suggestion=suggestion)
        elif len(ln.pointers) > limit:
            yield finding(
                claim,
                edit,
                f"Line {ln.number} ({ln.code}) has {len(ln.pointers)} diagnosis pointers; at most {limit} are allowed.",
                line=ln,
                suggestion=f"Keep the {limit} most relevant pointers.",
            )


def _no_pointer_texts(edit: Edit, number: int, code: str, n_dx: int) -> tuple[str, str]:
    return (f"Line {number} ({code}) has no diagnosis pointer in SV107.",
            f"Point SV107 at the diagnosis that supports {code}"
            + (f" (1 to {n_dx})." if n_dx else "; the claim also needs an HI diagnosis."))


def _bad_pointer_texts(edit: Edit, number: int, code: str, bad: tuple[str, ...], n_dx: int) -> tuple[str, str]:
    has = f"the claim has {n_dx} diagnos{'i' if n_dx == 1 else 'e'}s" if n_dx else "the claim has no diagnosis"
    return (f"Line {number} ({code}) points to diagnosis {', '.join(repr(p) for p in bad)} but {has}.",
            f"Use pointers between 1 and {n_dx}, or add the missing diagnosis to HI." if n_dx
            else "Add the diagnosis to the claim's HI segment.")


@kind("service_date", bounds=no_dates, reads="claim")
def service_date(claim: ClaimUnit, edit: Edit, params: dict, ctx: Context) -> Iterator[Finding]:
    for ln in claim.lines:
        if ln.dtp is not None:
            if ln.dos is None:
                yield finding(
                    claim,
                    edit,
                    f"Line {ln.number} ({ln.code}) has date of service {ln.dos_raw!r}, which is not a real calendar date.",
                    line=ln,
                    segment=ln.dtp,
                    suggestion="Write the date as CCYYMMDD (D8), or CCYYMMDD-CCYYMMDD (RD8) with the end not before the start.",
                )
        elif claim.dos_segment is not None:
            if claim.dos is None:
                yield finding(
                    claim,
                    edit,
                    f"Line {ln.number} ({ln.code}) takes the claim's date of service {claim.dos_raw!r}, which is not a real calendar date.",
                    line=ln,
                    segment=claim.dos_segment,
                )
        else:
            yield finding(
                claim,
                edit,
                f"Line {ln.number} ({ln.code}) has no date of service (no DTP*472 on the line or the claim).",
                line=ln,
                suggestion=f"Add DTP*472*D8*CCYYMMDD after the SV1 of line {ln.number}.",
            )


@kind("service_units", bounds=no_dates, reads="units")
def service_units(claim: ClaimUnit, edit: Edit, params: dict, ctx: Context) -> Iterator[Finding]:
    for ln in claim.lines:
        if ln.sv1 is None or positive_whole(ln.units):
            continue
        units = amount_value(ln.units)
        if units is None:
            what = "no units (SV104 is empty)" if not ln.units else f"units {ln.units!r}, which is not a number"
        elif units <= 0:
            what = f"{ln.units} units"
        else:
            continue
        yield finding(
            claim,
            edit,
            f"Line {ln.number} ({ln.code}) has {what}.",
            line=ln,
            suggestion=f"Write the number of units of {ln.code} provided, greater than zero, in SV104.",
        )


def _created(claim: ClaimUnit, ctx: Context) -> tuple[dt.date, str] | None:
    """``_file_dates`` of the claim's transaction, worked out once per transaction."""
    txn = claim.transaction
    last = ctx.extra.get("file-dates")
    if last is None or last[0] is not txn:
        last = ctx.extra["file-dates"] = (txn, _file_dates(claim))
    return last[1]


def _file_dates(claim: ClaimUnit) -> tuple[dt.date, str] | None:
    """When the transaction was created: the latest of BHT04, GS04 and ISA09, and which one that is.

    One placeholder date (a GS04 of 19991231 from a translator, say) must not reject a claim the
    other two date correctly, so the latest readable one counts (edit catalog, version 2).
    """
    txn = claim.transaction
    group = txn.group
    isa09 = group.interchange.isa.el(9).strip()
    dates = [
        (parse_d8(txn.bht04), "BHT04"),
        (group.date, "GS04"),
        (parse_d8("20" + isa09) if len(isa09) == 6 else None, "ISA09"),
    ]
    known = [(d, name) for d, name in dates if d is not None]
    return max(known, key=lambda pair: pair[0]) if known else None


@kind("future_service_date")
def future_service_date(claim: ClaimUnit, edit: Edit, params: dict, ctx: Context) -> Iterator[Finding]:
    created = _created(claim, ctx)
    day = created[0] if created is not None else ctx.today
    cend = claim.dos_end
    for ln in claim.lines:
        end = ln.dos_end if ln.dtp is not None else cend
        if end is not None and end > day:
            where = (f"{created[1]}, the latest of BHT04, GS04 and ISA09" if created is not None
                     else "today: no readable BHT04, GS04 or ISA09")
            yield finding(
                claim,
                edit,
                f"Line {ln.number} ({ln.code}) has date of service {end.isoformat()}, after the file was created on "
                f"{day.isoformat()} ({where}).",
                line=ln,
                segment=ln.dtp or claim.dos_segment,
                suggestion="Correct the date of service (often a wrong year), or send the claim after the service.",
            )


def _line_of(claim: ClaimUnit, number: int):  # type: ignore[no-untyped-def]
    """The service line whose segments include segment ``number``, if any."""
    found = None
    for ln in claim.lines:
        if ln.lx_segment.number <= number:
            found = ln
        else:
            break
    return found


_SCOPE_WORDS = {
    "header": "the transaction header (BHT, 1000A submitter, 1000B receiver)",
    "billing": "the billing provider loop (2000A) above this claim",
    "subscriber": "the subscriber loop (2000B) above this claim",
    "patient": "the patient loop (2000C) above this claim",
}


def _guide_findings(claim: ClaimUnit, edit: Edit, guide) -> Iterator[Finding]:  # type: ignore[no-untyped-def]
    """The built-in validator's errors (scrubber.guide) that hold this claim, one finding each."""
    from_claim = guide.claim_errors(claim)
    if not from_claim:
        return
    for scope, err, line in from_claim:
        where = guide.where(err)
        text = guide.describe(err)
        if scope == "claim":
            yield finding(claim, edit, f"Implementation guide: {where}: {text}.", line=line, segment=err.segment,
                          code=None if line is None else line.code,
                          suggestion="Correct the segment as the 837P implementation guide requires.")
        else:
            name = _SCOPE_WORDS[scope]
            yield finding(claim, edit, f"Implementation guide: {name} breaks the guide at {where}: {text}.",
                          segment=err.segment or claim.clm,
                          suggestion=f"Correct {name.split(' above')[0]}; every claim beneath it is held until then.")


@kind("ig_errors")
def ig_errors(claim: ClaimUnit, edit: Edit, params: dict, ctx: Context) -> Iterator[Finding]:
    """pyx12's implementation-guide errors (``--validate``), on the claim whose segments hold them.

    Errors in the loops above the claim (billing provider, subscriber, patient) or in the
    transaction's header or trailer reject every claim beneath them.
    """
    report = ctx.extra.get("ig")
    if report is None:
        guide = ctx.extra.get("guide")
        if guide is not None and guide.by_unit:  # by_unit stays empty while no error is found
            yield from _guide_findings(claim, edit, guide)
        return
    errors = report.by_transaction.get(claim.transaction.index)
    if not errors:
        return
    by_number = {s.number: s for s in claim.segments}
    first, last = claim.segments[0].number, claim.segments[-1].number
    loops: dict[int, tuple[str, Segment]] = {}
    for name, loop in (("billing provider loop (2000A)", claim.billing), ("subscriber loop (2000B)", claim.subscriber),
                       ("patient loop (2000C)", claim.patient)):
        if loop is not None:
            for s in loop.segments:
                loops[s.number] = (name, s)
    txn = claim.transaction
    header = {s.number for s in txn.header}
    trailer = txn.se.number if txn.se is not None else None
    for err in errors:
        number = err.number
        if number is None or number in header or number == trailer:
            yield finding(claim, edit, f"The transaction has an implementation-guide error, so every claim in it is held: {err.describe()}.",
                          segment=txn.se if number == trailer else (txn.st if number is None else None),
                          suggestion="Correct the transaction header or trailer and send the claims again.")
        elif first <= number <= last:
            seg = by_number.get(number)
            yield finding(claim, edit, f"{err.describe()}.", line=_line_of(claim, number), segment=seg,
                          suggestion="Correct the segment as the 837P implementation guide requires.")
        elif number in loops:
            name, seg = loops[number]
            yield finding(claim, edit, f"The {name} above this claim has an implementation-guide error: {err.describe()}.",
                          segment=seg, suggestion=f"Correct the {name}; every claim beneath it is held until then.")
