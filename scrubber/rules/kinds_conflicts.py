"""Line kind: codes that must not be billed together (on one date, or on one claim)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from scrubber.model import ClaimUnit, Finding, Line
from scrubber.payers import payer_matches
from scrubber.rules.catalog import Edit, Row
from scrubber.rules.codesets import CodeBook
from scrubber.rules.kinds import Context, finding, judged, pack_dates, worded
from scrubber.rules.kinds_codes import replacements
from scrubber.rules.tables import book, by_dos, claim_codes, codes_text, numbers_text, row_codes, table_trigger

#: a line at fault: (the row, its Line.index, the anchor's (whose date the finding names), the partners')
Conflict = tuple[Row, int, int, tuple[int, ...]]


def _conflicts(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> tuple[Conflict, ...]:
    billed = claim_codes(claim)
    flagged: set[int] = set()  # line indexes already reported: one finding a line
    found: list[Conflict] = []
    for row, anchor_codes in row_codes(ctx, edit, params.get("table", "conflicts"), "code"):
        if anchor_codes.isdisjoint(billed) or not payer_matches(claim, row.get("payer"), ctx.payers):
            continue
        groups = by_dos(claim, ctx)
        for day, day_lines in groups.items():
            if day is None:
                continue
            pool = [ln for lines in groups.values() for ln in lines] if row.get("scope", "dos") == "claim" else day_lines
            for anchor, others in _pairs(book(ctx, edit), row, day, day_lines, pool):
                _at_fault(row, anchor, others, flagged, found)
    return tuple(found)


@judged("code_conflict", _conflicts, triggers=table_trigger("code", "conflicts"), bounds=pack_dates, reads="payer")
def code_conflict(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context,
                  verdict: tuple[Conflict, ...]) -> Iterator[Finding]:
    """Rows (code, with, scope dos|claim, mode both|only, flag code|with|both, context).

    ``both``: a line of ``code`` and a line of ``with`` together. ``only``: a line of ``code`` when
    every ``among`` code on its date is one of ``with`` (e.g. 95874 when 64617 is the only primary).
    ``context``: the row applies only when one of those codes is also on the date.
    """
    lines = claim.lines
    for row, index, anchor, partners in verdict:
        ln = lines[index - 1]
        day = claim.line_dos(lines[anchor - 1])
        partner = [lines[i - 1] for i in partners]
        instead = replacements(ctx, edit, params, ln, day) if params.get("replacements") else ""  # type: ignore[arg-type]
        message, suggestion = worded(ctx, edit, _conflict_texts, ln.code, ln.number, day,
                                     frozenset([o.code for o in partner]), tuple([o.number for o in partner]), instead)
        yield finding(claim, edit, message, line=ln, suggestion=suggestion, row=row)


def _pairs(codes: CodeBook, row: Row, day: dt.date, day_lines: list[Line],
           pool: list[Line]) -> Iterator[tuple[Line, list[Line]]]:
    """(line of the row's code, the lines it conflicts with) on ``day``."""
    anchors = [ln for ln in day_lines if codes.matches(ln.code, row["code"], day)]
    if not anchors or not row.valid_on(day):
        return
    if row.get("context") and not any(codes.matches(o.code, row["context"], day) for o in day_lines):
        return
    for a in anchors:
        if row.get("mode", "both") == "only":
            among = [o for o in day_lines if codes.matches(o.code, row["among"], day)]
            others = among if among and all(codes.matches(o.code, row["with"], day) for o in among) else []
        else:
            others = [o for o in pool if o is not a and codes.matches(o.code, row["with"], day) and o.code != a.code]
        if others:
            yield a, others


def _at_fault(row: Row, a: Line, others: list[Line], flagged: set[int], found: list[Conflict]) -> None:
    """A conflict for each line at fault (the row's ``flag`` says which) not reported yet."""
    flag = row.get("flag", "with")
    at_fault = ([a] if flag in ("code", "both") else []) + (others if flag in ("with", "both") else [])
    for ln in at_fault:
        if ln.index in flagged:
            continue
        flagged.add(ln.index)
        partner = [a] if ln is not a else others
        found.append((row, ln.index, a.index, tuple([o.index for o in partner])))


def _conflict_texts(edit: Edit, code: str, number: int, day: dt.date, partner_codes: frozenset[str],
                    partner_lines: tuple[int, ...], instead: str) -> tuple[str, str]:
    other = codes_text(partner_codes)
    return (edit.message("conflict", code=code, line=number, dos=day.isoformat(), other=other,
                         other_lines=numbers_text(partner_lines)),
            edit.message("suggest", code=code, other=other, instead=instead))
