"""Line kinds about units: limits per date of service, bilateral services on one line."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from scrubber.model import ClaimUnit, Finding, Line
from scrubber.payers import payer_matches
from scrubber.rules.catalog import Edit, Row
from scrubber.rules.kinds import Context, finding, judged, pack_dates, worded
from scrubber.rules.tables import book, by_dos, claim_codes, fmt_units, numbers_text, row_codes, table_trigger, units

_ZERO = Decimal(0)


#: a line past a limit: (the row, its Line.index, the Line.index of every line the row counts that date)
Over = tuple[Row, int, tuple[int, ...]]


def _over_limits(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> tuple[Over, ...]:
    billed = claim_codes(claim)
    codes = book(ctx, edit)
    found: list[Over] = []
    for row, limited in row_codes(ctx, edit, params.get("table", "unit_limits"), "codes"):
        if limited.isdisjoint(billed) or not payer_matches(claim, row.get("payer"), ctx.payers):
            continue
        for day, lines in by_dos(claim, ctx).items():
            if day is None or not row.valid_on(day):
                continue
            hits = [ln for ln in lines if codes.matches(ln.code, row["codes"], day)]
            if hits:
                counted = tuple([h.index for h in hits])
                found += [(row, ln.index, counted) for ln in _over_limit(row, hits)]
    return tuple(found)


def _over_limit(row: Row, hits: list[Line]) -> list[Line]:
    """The lines past the row's limit among ``hits`` (one date's lines the row counts)."""
    limit = Decimal(row["max"])
    count = row.get("count", "units")
    total = _ZERO
    over = []
    for n, ln in enumerate(hits, start=1):
        billed = units(ln)
        if billed is None:
            continue  # X12-UNITS reports unreadable units
        total += billed
        over_units = count in ("units", "units_and_lines") and total > limit
        over_lines = count in ("lines", "units_and_lines") and n > limit
        if over_units or over_lines:
            over.append(ln)
    return over


@judged("unit_limit", _over_limits, triggers=table_trigger("codes", "unit_limits"), bounds=pack_dates,
        units=table_trigger("codes", "unit_limits"), reads="payer units")
def unit_limit(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context,
               verdict: tuple[Over, ...]) -> Iterator[Finding]:
    """Rows (codes, max, count units|lines|units_and_lines): the lines past the limit on a date are at fault."""
    lines = claim.lines
    for row, index, counted in verdict:
        ln = lines[index - 1]
        hits = [lines[i - 1] for i in counted]
        all_units = sum((units(h) or _ZERO for h in hits), _ZERO)
        message, suggestion = worded(ctx, edit, _over_texts, ln.code, ln.number, claim.line_dos(ln),
                                     frozenset([h.code for h in hits]), fmt_units(Decimal(row["max"])),
                                     fmt_units(all_units), len(hits))
        yield finding(claim, edit, message, line=ln, suggestion=suggestion, row=row)


def _over_texts(edit: Edit, code: str, number: int, day: dt.date, hit_codes: frozenset[str], limit: str,
                all_units: str, lines: int) -> tuple[str, str]:
    codes = "/".join(sorted(hit_codes))
    return (edit.message("over", code=code, line=number, dos=day.isoformat(), codes=codes, max=limit,
                         units=all_units, lines=lines),
            edit.message("suggest", code=code, max=limit, codes=codes))


#: a bilateral line at fault: (the row, its Line.index, the Line.index of the other side's lines; ()
#: for a line of more than one unit)
Sides = tuple[Row, int, tuple[int, ...]]


def _bilateral(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> tuple[Sides, ...]:
    billed = claim_codes(claim)
    codes = book(ctx, edit)
    found: list[Sides] = []
    for row, bilateral in row_codes(ctx, edit, params.get("table", "bilateral"), "codes"):
        if bilateral.isdisjoint(billed) or not payer_matches(claim, row.get("payer"), ctx.payers):
            continue
        flagged: set[int] = set()
        for day, lines in by_dos(claim, ctx).items():
            if day is None or not row.valid_on(day):
                continue
            hits = [ln for ln in lines if codes.matches(ln.code, row["codes"], day)]
            for ln in hits:
                count = units(ln)
                if count is not None and count > 1:
                    flagged.add(ln.index)
                    found.append((row, ln.index, ()))
            found += [(row, ln.index, other) for ln, other in _sides_split(hits, flagged)]
    return tuple(found)


def _sides_split(hits: list[Line], flagged: set[int]) -> list[tuple[Line, tuple[int, ...]]]:
    """RT and LT lines of one code and date (one line with modifier 50 instead), each with the other side's."""
    out = []
    for code in dict.fromkeys(ln.code for ln in hits):  # codes in line order: findings in a stable order
        right = [ln for ln in hits if ln.code == code and "RT" in ln.modifiers]
        left = [ln for ln in hits if ln.code == code and "LT" in ln.modifiers]
        if not (right and left):
            continue
        for ln in right + left:
            if ln.index in flagged:
                continue
            flagged.add(ln.index)
            other = left if ln in right else right
            out.append((ln, tuple([o.index for o in other])))
    return out


@judged("bilateral_one_line", _bilateral, triggers=table_trigger("codes", "bilateral"), bounds=pack_dates,
        units=table_trigger("codes", "bilateral"), reads="payer units mods")
def bilateral_one_line(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context,
                       verdict: tuple[Sides, ...]) -> Iterator[Finding]:
    """Rows (codes, payer): a bilateral service on one line with modifier 50 and 1 unit.

    Fires on more than 1 unit of such a code on a line, and on RT and LT lines of one code and date.
    """
    lines = claim.lines
    for row, index, other in verdict:
        ln = lines[index - 1]
        day = claim.line_dos(ln)
        if other:
            message, suggestion = worded(ctx, edit, _split_texts, ln.code, ln.number, day,
                                         tuple([lines[i - 1].number for i in other]))
        else:
            key = "units_with_50" if "50" in ln.modifiers else "units"
            message, suggestion = worded(ctx, edit, _units_texts, key, ln.code, ln.number,
                                         fmt_units(units(ln)), day)  # type: ignore[arg-type]
        yield finding(claim, edit, message, line=ln, suggestion=suggestion, row=row)


def _units_texts(edit: Edit, key: str, code: str, number: int, count: str, day: dt.date) -> tuple[str, str]:
    return (edit.message(key, code=code, line=number, units=count, dos=day.isoformat()),
            edit.message("fix", code=code))


def _split_texts(edit: Edit, code: str, number: int, day: dt.date, other: tuple[int, ...]) -> tuple[str, str]:
    return (edit.message("split", code=code, line=number, dos=day.isoformat(), other_lines=numbers_text(other)),
            edit.message("fix", code=code))
