"""Line kind: modifiers a code must, must not, or must not together carry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from scrubber.model import ClaimUnit, Finding, Line
from scrubber.payers import payer_matches
from scrubber.rules.catalog import Edit, Row
from scrubber.rules.kinds import Context, finding, judged, pack_dates, worded
from scrubber.rules.tables import book, by_dos, claim_codes, row_codes, table_trigger

#: a line breaking a rule: (the row, its Line.index, the row's modifiers, those of them the line has)
Broken = tuple[Row, int, tuple[str, ...], tuple[str, ...]]


def _broken(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> tuple[Broken, ...]:
    table = params.get("table", "modifier_rules")
    billed = claim_codes(claim)
    codes = book(ctx, edit)
    flagged: set[int] = set()  # line indexes already reported: one finding a line
    found: list[Broken] = []
    for row, concerned, mods, cell, payer in _rules(ctx, edit, table):
        if concerned.isdisjoint(billed) or not payer_matches(claim, payer, ctx.payers):
            continue
        for day, lines in by_dos(claim, ctx).items():
            if day is None or not row.valid_on(day):
                continue
            for ln in lines:
                if ln.index in flagged or not codes.matches(ln.code, cell, day):
                    continue
                have = [m for m in mods if m in ln.modifiers]
                if _breaks(table, row, mods, have, ln, lines):
                    flagged.add(ln.index)
                    found.append((row, ln.index, tuple(mods), tuple(have)))
    return tuple(found)


@judged("modifier_rule", _broken, triggers=table_trigger("codes", "modifier_rules"), bounds=pack_dates,
        reads="payer mods")
def modifier_rule(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context,
                  verdict: tuple[Broken, ...]) -> Iterator[Finding]:
    """Rows (codes, rule, modifiers, payer, unless_line): forbidden | one_of | not_together | not_with_line.

    ``not_with_line`` (modifiers "A B"): a line with A while another line of the same code and date
    carries B.
    """
    lines = claim.lines
    for row, index, mods, have in verdict:
        ln = lines[index - 1]
        message, suggestion = worded(ctx, edit, _rule_texts, row["rule"], mods, row.valid_from, ln.code, ln.number,
                                     claim.line_dos(ln), have)
        yield finding(claim, edit, message, line=ln, suggestion=suggestion, row=row)


def _rule_texts(edit: Edit, rule: str, mods: tuple[str, ...], since: dt.date | None, code: str, number: int,
                day: dt.date, have: tuple[str, ...]) -> tuple[str, str]:
    return (edit.message(rule, code=code, line=number, dos=day.isoformat(),
                         modifiers=" and ".join(mods) if rule != "one_of" else " or ".join(mods),
                         have=" and ".join(have) or "none", first=mods[0], second=mods[-1],
                         since=since.isoformat() if since else ""),
            edit.message(f"{rule}_fix", code=code, first=mods[0], second=mods[-1], modifiers=" or ".join(mods)))


def _rules(ctx: Context, edit: Edit, table: str) -> list[tuple[Row, frozenset[str], list[str], str, str]]:
    """The edit's rows with the codes each concerns, its modifiers, codes cell and payer cell, read once per run."""
    return ctx.memo(("modifier-rules", edit.pack, table, edit.id), lambda: [
        (row, concerned, row["modifiers"].split(), row["codes"], row.get("payer"))
        for row, concerned in row_codes(ctx, edit, table, "codes")])


def _breaks(table: str, row: Row, mods: list[str], have: list[str], ln: Line, lines: list[Line]) -> bool:
    """Whether line ``ln`` (carrying ``have`` of the row's modifiers) breaks the row's rule."""
    rule = row["rule"]
    if rule == "forbidden":
        return bool(have)
    if rule == "one_of":
        # ``unless_line``: another line of the code and date carrying that modifier settles it
        # (the administered line of a JW pair carries no modifier).
        unless = row.get("unless_line").split()
        return not have and not any(
            o is not ln and o.code == ln.code and any(m in o.modifiers for m in unless) for o in lines)
    if rule == "not_together":
        return len(have) > 1
    if rule == "not_with_line":
        return mods[0] in ln.modifiers and any(
            o is not ln and o.code == ln.code and mods[1] in o.modifiers for o in lines)
    raise ValueError(f"{table}.csv line {row.line}: unknown modifier rule {rule!r}")
