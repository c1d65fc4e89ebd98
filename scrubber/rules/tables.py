"""A pack's tables as the line kinds read them: rows by edit, per-row code sets, lines by date, wording.

Table conventions: ``valid_from``/``valid_to`` (to exclusive) are checked against each line's date
of service; ``enabled = no`` keeps a row documented but off; ``severity = warn`` turns a row the
research could not confirm into a warning; ``payer`` is empty/any, ``medicare`` or payer ids.
Everything built from a table is built once per run (``Context.memo``), not once per claim.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from scrubber.model import ClaimUnit, Line
from scrubber.rules.catalog import Edit, Row
from scrubber.rules.codesets import CodeBook
from scrubber.rules.kinds import Context
from scrubber.x12.loop2300 import amount_value, positive_whole

Trigger = Callable[[Edit, dict[str, Any], Context], frozenset[str]]


def book(ctx: Context, edit: Edit) -> CodeBook:
    """The pack's ``codes`` table: each code's role and validity."""
    return ctx.memo(("codebook", edit.pack), lambda: CodeBook(ctx.catalog.table(edit.pack, "codes")))


def rows(ctx: Context, edit: Edit, table: str) -> list[Row]:
    """The rows of ``table`` that serve ``edit`` and are switched on."""

    def make() -> list[Row]:
        return [r for r in ctx.catalog.table(edit.pack, table)
                if r.get("edit", edit.id) == edit.id and r.get("enabled", "yes").lower() not in ("no", "false", "0")]

    return ctx.memo(("rows", edit.pack, table, edit.id), make)


def row_codes(ctx: Context, edit: Edit, table: str, column: str) -> list[tuple[Row, frozenset[str]]]:
    """``rows`` with every code each can concern through ``column``: a row whose codes the claim
    does not bill is passed over with one set test."""

    def make() -> list[tuple[Row, frozenset[str]]]:
        codes = book(ctx, edit)
        return [(r, codes.universe(r[column])) for r in rows(ctx, edit, table)]

    return ctx.memo(("row-codes", edit.pack, table, edit.id, column), make)


def universe(ctx: Context, edit: Edit, table: str, *columns: str) -> frozenset[str]:
    """Every code the edit's rows can concern: the engine skips a claim that bills none of them."""

    def make() -> frozenset[str]:
        codes = book(ctx, edit)
        out: set[str] = set()
        for row in rows(ctx, edit, table):
            for col in columns:
                out |= codes.universe(row[col])
        return frozenset(out)

    return ctx.memo(("universe", edit.pack, table, edit.id, columns), make)


def claim_codes(claim: ClaimUnit) -> set[str]:
    return {ln.code for ln in claim.lines}


def units(line: Line) -> Decimal | None:
    """The line's units as a number; None when SV104 is no number (X12-UNITS reports that)."""
    text = line.units
    if positive_whole(text):
        return Decimal(text)
    return amount_value(text)


def fmt_units(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else str(value)


def by_dos(claim: ClaimUnit, ctx: Context) -> dict[dt.date | None, list[Line]]:
    """The claim's lines by date of service, built once per claim for all the kinds that need it."""
    cache = ctx.claim_cache
    groups = cache.get("by_dos")
    if groups is None:
        groups = cache["by_dos"] = {}
        cdos = claim.dos
        for ln in claim.lines:
            if ln.sv1 is not None:
                day = cdos if ln.dtp is None else ln.dos
                found = groups.get(day)
                if found is None:
                    groups[day] = [ln]
                else:
                    found.append(ln)
    return groups


def codes_text(codes: list[str] | frozenset[str] | set[str]) -> str:
    items = sorted(codes)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def lines_text(lines: list[Line]) -> str:
    return numbers_text(tuple([ln.number for ln in lines]))


def numbers_text(numbers: tuple[int, ...]) -> str:
    """Line numbers (LX01) as a phrase: "line 2", "lines 2, 3 and 5"."""
    nums = [str(n) for n in numbers]
    return ("line " if len(nums) == 1 else "lines ") + (nums[0] if len(nums) == 1 else ", ".join(nums[:-1]) + " and " + nums[-1])


def most_certain(found: list[Row]) -> Row:
    """Of several rows behind one finding, the one that speaks most surely."""
    return next((r for r in found if r.confidence == "certain"), found[0])


# -- triggers: the codes each kind can concern (the engine skips claims billing none of them) ----


def table_trigger(column: str, default_table: str) -> Trigger:
    def trigger(edit: Edit, params: dict[str, Any], ctx: Context) -> frozenset[str]:
        return universe(ctx, edit, params.get("table", default_table), column)

    return trigger


def param_trigger(*names: str, default: str = "") -> Trigger:
    def trigger(edit: Edit, params: dict[str, Any], ctx: Context) -> frozenset[str]:
        codes = book(ctx, edit)
        out: set[str] = set()
        for name in names:
            out |= codes.universe(params.get(name, default))
        return frozenset(out)

    return trigger


def dated_codes(edit: Edit, params: dict[str, Any], ctx: Context) -> frozenset[str]:
    codes = book(ctx, edit)
    return frozenset(c for c, r in codes.rows.items() if r.valid_from is not None or r.valid_to is not None)
