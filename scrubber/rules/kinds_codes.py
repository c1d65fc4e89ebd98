"""Line kinds about which codes may be billed: validity by date, add-ons and their primaries, companions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from scrubber.model import ClaimUnit, Finding, Line
from scrubber.rules.catalog import Edit, Row
from scrubber.rules.codesets import expand
from scrubber.rules.kinds import Context, finding, judged, kind, pack_dates, worded
from scrubber.rules.tables import (
    book,
    by_dos,
    codes_text,
    dated_codes,
    fmt_units,
    most_certain,
    param_trigger,
    rows,
    table_trigger,
    units,
)

#: eligible primaries remembered per (rows, day); the memory starts again when full
_ELIGIBLE = 1024


@kind("code_validity", triggers=dated_codes, bounds=pack_dates, reads="")
def code_validity(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    """A code billed outside the dates it is valid (``mode``: deleted | not_yet_valid)."""
    codes = book(ctx, edit)
    deleted = params.get("mode", "deleted") == "deleted"
    for ln in claim.lines:
        row = codes.rows.get(ln.code)
        if row is None:
            continue
        day = claim.line_dos(ln)
        if day is None:
            continue
        if deleted and row.valid_to is not None and day >= row.valid_to:
            key, boundary = "deleted", row.valid_to
        elif not deleted and row.valid_from is not None and day < row.valid_from:
            key, boundary = "not_yet_valid", row.valid_from
        else:
            continue
        options = replacements(ctx, edit, params, ln, day)
        yield finding(
            claim, edit,
            edit.message(key, code=ln.code, line=ln.number, date=boundary.isoformat(), dos=day.isoformat()),
            line=ln, suggestion=options or edit.message("no_replacement", code=ln.code, dos=day.isoformat()),
            row=row,
        )


def replacements(ctx: Context, edit: Edit, params: dict[str, Any], ln: Line, day: dt.date) -> str:
    """What to bill instead on that date, with the condition that picks each code."""
    codes = book(ctx, edit)
    table = params.get("replacements", "replacements")
    picks = []
    for row in ctx.catalog.table(edit.pack, table):
        if ln.code not in expand(row["code"])[0] or not row.valid_on(day):
            continue
        instead = [c for c in sorted(expand(row["replacement"])[0]) if codes.valid_on(c, day)]
        if instead:
            picks.append(f"{row['condition']}: {' + '.join(instead)}")
    if not picks:
        return ""
    text = f"Valid on {day.isoformat()}, by what was treated: " + "; ".join(picks) + "."
    count = units(ln)
    if count is not None and count > 1 and params.get("units_hint"):
        text += " " + edit.message("units_hint", code=ln.code, units=fmt_units(count))
    return text


# -- add-on codes ----------------------------------------------------------------------------------


def _addon_rows(ctx: Context, edit: Edit, table: str) -> dict[str, list[Row]]:
    """The edit's rows by add-on code, in table order."""

    def make() -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = {}
        for r in rows(ctx, edit, table):
            for code in sorted(expand(r["addon"])[0]):
                out.setdefault(code, []).append(r)
        return out

    return ctx.memo(("addon-rows", edit.pack, table, edit.id), make)


def _eligible(ctx: Context, edit: Edit, group: list[Row], day: dt.date) -> frozenset[str]:
    """The primaries ``group``'s rows accept on ``day`` (a role names a code only while it is valid)."""
    memo = ctx.memo(("eligible", edit.pack, edit.id), dict)
    key = (tuple(map(id, group)), day)  # rows live as long as the run's catalog
    found = memo.get(key)
    if found is None:
        codes = book(ctx, edit)
        out: set[str] = set()
        for r in group:
            out |= {c for c in codes.universe(r["primary"]) if codes.matches(c, r["primary"], day)}
        if len(memo) >= _ELIGIBLE:
            memo.clear()
        found = memo[key] = frozenset(out)
    return found


#: an add-on line without its primary: (its Line.index, the primaries it accepts, the row that says so)
Missing = tuple[int, frozenset[str], Row]


def _addon_judge(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> tuple[Missing, ...]:
    by_addon = _addon_rows(ctx, edit, params.get("table", "addons"))
    found = []
    for day, lines in by_dos(claim, ctx).items():
        if day is None:
            continue
        for ln in lines:
            candidates = by_addon.get(ln.code)
            if candidates:
                missing = _addon_line(edit, ctx, ln, lines, [r for r in candidates if r.valid_on(day)], day)
                if missing is not None:
                    found.append(missing)
    return tuple(found)


def _addon_line(edit: Edit, ctx: Context, ln: Line, lines: list[Line], applicable: list[Row],
                day: dt.date) -> Missing | None:
    # A row marked ``narrows`` names a stricter list a weaker source gives: checked only once
    # the others are met, so it can warn but never turns a valid pairing into a rejection.
    for group in ([r for r in applicable if not r.get("narrows")], [r for r in applicable if r.get("narrows")]):
        if not group:
            continue
        eligible = _eligible(ctx, edit, group, day)
        if any(o is not ln and o.code in eligible for o in lines):
            continue
        return ln.index, eligible, most_certain(group)
    return None


@judged("addon_primary", _addon_judge, triggers=table_trigger("addon", "addons"), bounds=pack_dates, reads="")
def addon_primary(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context,
                  verdict: tuple[Missing, ...]) -> Iterator[Finding]:
    """An add-on code needs an eligible primary on the same claim and date of service."""
    lines = claim.lines
    for index, eligible, row in verdict:
        ln = lines[index - 1]
        day = claim.line_dos(ln)
        message, suggestion = worded(ctx, edit, _missing_texts, ln.code, ln.number, day, eligible)
        yield finding(claim, edit, message, line=ln, suggestion=suggestion, row=row)


def _missing_texts(edit: Edit, code: str, number: int, day: dt.date, eligible: frozenset[str]) -> tuple[str, str]:
    primaries = codes_text(eligible)
    return (edit.message("missing", code=code, line=number, dos=day.isoformat(), primaries=primaries),
            edit.message("suggest", code=code, dos=day.isoformat(), primaries=primaries))


# -- companions on one claim ------------------------------------------------------------------------


@kind("companion", triggers=param_trigger("when"), bounds=pack_dates, reads="")
def companion(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    """Lines of ``params.when`` need some line of ``params.needs`` on the claim (any date)."""
    codes = book(ctx, edit)
    when, needs = params["when"], params["needs"]
    lines = [ln for ln in claim.lines if ln.sv1 is not None]
    if any(codes.matches(o.code, needs, claim.line_dos(o)) for o in lines):
        return
    for ln in lines:
        if codes.matches(ln.code, when, claim.line_dos(ln)):
            message, suggestion = worded(ctx, edit, _alone_texts, ln.code, ln.number)
            yield finding(claim, edit, message, line=ln, suggestion=suggestion)


def _alone_texts(edit: Edit, code: str, number: int) -> tuple[str, str]:
    return edit.message("alone", code=code, line=number), edit.message("suggest", code=code)
