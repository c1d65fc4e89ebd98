"""Generic check kinds over service lines, driven by a pack's tables.

Nothing here knows about a code family: codes, groups, dates, limits and wordings come from the
pack (``codes.csv`` gives each code its role and validity; other tables name the edit they serve in
an ``edit`` column). A new family of codes is a new folder of tables.

Table conventions: ``valid_from``/``valid_to`` (to exclusive) are checked against each line's date
of service; ``enabled = no`` keeps a row documented but off; ``severity = warn`` turns a row the
research could not confirm into a warning; ``payer`` is empty/any, ``medicare`` or payer ids.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from scrubber.model import ClaimUnit, Finding, Line
from scrubber.payers import is_medicare, payer_matches
from scrubber.rules.catalog import Edit, Row
from scrubber.rules.codesets import CodeBook, expand
from scrubber.rules.kinds import Context, finding, kind
from scrubber.text import icd_display
from scrubber.x12.loop2300 import is_amount


def _book(ctx: Context, edit: Edit) -> CodeBook:
    return ctx.memo(("codebook", edit.pack), lambda: CodeBook(ctx.catalog.table(edit.pack, "codes")))


def _rows(ctx: Context, edit: Edit, table: str) -> list[Row]:
    """The rows of ``table`` that serve ``edit`` and are switched on."""

    def make() -> list[Row]:
        return [r for r in ctx.catalog.table(edit.pack, table)
                if r.get("edit", edit.id) == edit.id and r.get("enabled", "yes").lower() not in ("no", "false", "0")]

    return ctx.memo(("rows", edit.pack, table, edit.id), make)


def _universe(ctx: Context, edit: Edit, table: str, *columns: str) -> frozenset[str]:
    """Every code the edit's rows can concern: the engine skips a claim that bills none of them."""

    def make() -> frozenset[str]:
        book = _book(ctx, edit)
        out: set[str] = set()
        for row in _rows(ctx, edit, table):
            for col in columns:
                out |= book.universe(row[col])
        return frozenset(out)

    return ctx.memo(("universe", edit.pack, table, edit.id, columns), make)


def _units(line: Line) -> Decimal | None:
    if not is_amount(line.units):
        return None
    try:
        return Decimal(line.units)
    except InvalidOperation:
        return None


def _fmt_units(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else str(value)


def _by_dos(claim: ClaimUnit, ctx: Context) -> dict[dt.date | None, list[Line]]:
    """The claim's lines by date of service, built once per claim for all the kinds that need it."""
    cache = ctx.claim_cache
    groups = cache.get("by_dos")
    if groups is None:
        groups = cache["by_dos"] = defaultdict(list)
        for ln in claim.lines:
            if ln.sv1 is not None:
                groups[claim.line_dos(ln)].append(ln)
    return groups


def _codes_text(codes: list[str] | frozenset[str] | set[str]) -> str:
    items = sorted(codes)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _lines_text(lines: list[Line]) -> str:
    nums = [str(ln.number) for ln in lines]
    return ("line " if len(nums) == 1 else "lines ") + (nums[0] if len(nums) == 1 else ", ".join(nums[:-1]) + " and " + nums[-1])


def _most_certain(rows: list[Row]) -> Row:
    """Of several rows behind one finding, the one that speaks most surely."""
    return next((r for r in rows if r.confidence == "certain"), rows[0])


# -- triggers: the codes each kind can concern (the engine skips claims billing none of them) ----


def _table_trigger(column: str, default_table: str):  # type: ignore[no-untyped-def]
    def trigger(edit: Edit, params: dict[str, Any], ctx: Context) -> frozenset[str]:
        return _universe(ctx, edit, params.get("table", default_table), column)

    return trigger


def _param_trigger(*names: str, default: str = ""):  # type: ignore[no-untyped-def]
    def trigger(edit: Edit, params: dict[str, Any], ctx: Context) -> frozenset[str]:
        book = _book(ctx, edit)
        out: set[str] = set()
        for name in names:
            out |= book.universe(params.get(name, default))
        return frozenset(out)

    return trigger


def _dated_codes(edit: Edit, params: dict[str, Any], ctx: Context) -> frozenset[str]:
    book = _book(ctx, edit)
    return frozenset(c for c, r in book.rows.items() if r.valid_from is not None or r.valid_to is not None)


# -- code validity by date of service ------------------------------------------------------------


@kind("code_validity", triggers=_dated_codes)
def code_validity(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    """A code billed outside the dates it is valid (``mode``: deleted | not_yet_valid)."""
    book = _book(ctx, edit)
    deleted = params.get("mode", "deleted") == "deleted"
    for ln in claim.lines:
        row = book.rows.get(ln.code)
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
        options = _replacements(ctx, edit, params, ln, day)
        yield finding(
            claim, edit,
            edit.message(key, code=ln.code, line=ln.number, date=boundary.isoformat(), dos=day.isoformat()),
            line=ln, suggestion=options or edit.message("no_replacement", code=ln.code, dos=day.isoformat()),
            row=row,
        )


def _replacements(ctx: Context, edit: Edit, params: dict[str, Any], ln: Line, day: dt.date) -> str:
    """What to bill instead on that date, with the condition that picks each code."""
    book = _book(ctx, edit)
    table = params.get("replacements", "replacements")
    picks = []
    for row in ctx.catalog.table(edit.pack, table):
        if ln.code not in expand(row["code"])[0] or not row.valid_on(day):
            continue
        codes = [c for c in sorted(expand(row["replacement"])[0]) if book.valid_on(c, day)]
        if codes:
            picks.append(f"{row['condition']}: {' + '.join(codes)}")
    if not picks:
        return ""
    text = f"Valid on {day.isoformat()}, by what was treated: " + "; ".join(picks) + "."
    units = _units(ln)
    if units is not None and units > 1 and params.get("units_hint"):
        text += " " + edit.message("units_hint", code=ln.code, units=_fmt_units(units))
    return text


# -- add-on codes ----------------------------------------------------------------------------------


@kind("addon_primary", triggers=_table_trigger("addon", "addons"))
def addon_primary(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    """An add-on code needs an eligible primary on the same claim and date of service."""
    table = params.get("table", "addons")
    book = _book(ctx, edit)
    rows = _rows(ctx, edit, table)
    groups = _by_dos(claim, ctx)
    for day, lines in groups.items():
        if day is None:
            continue
        for ln in lines:
            applicable = [r for r in rows if ln.code in expand(r["addon"])[0] and r.valid_on(day)]
            # A row marked ``narrows`` names a stricter list a weaker source gives: checked only once
            # the others are met, so it can warn but never turns a valid pairing into a rejection.
            for group in ([r for r in applicable if not r.get("narrows")], [r for r in applicable if r.get("narrows")]):
                eligible: set[str] = set()
                for r in group:
                    eligible |= {c for c in book.universe(r["primary"]) if book.matches(c, r["primary"], day)}
                if not group or any(o is not ln and o.code in eligible for o in lines):
                    continue
                yield finding(
                    claim, edit,
                    edit.message("missing", code=ln.code, line=ln.number, dos=day.isoformat(),
                                 primaries=_codes_text(eligible)),
                    line=ln, suggestion=edit.message("suggest", code=ln.code, dos=day.isoformat(),
                                                     primaries=_codes_text(eligible)),
                    row=_most_certain(group),
                )
                break


# -- codes that must not appear together ------------------------------------------------------------


@kind("code_conflict", triggers=_table_trigger("code", "conflicts"))
def code_conflict(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    """Rows (code, with, scope dos|claim, mode both|only, flag code|with|both, context).

    ``both``: a line of ``code`` and a line of ``with`` together. ``only``: a line of ``code`` when
    every ``among`` code on its date is one of ``with`` (e.g. 95874 when 64617 is the only primary).
    ``context``: the row applies only when one of those codes is also on the date.
    """
    table = params.get("table", "conflicts")
    book = _book(ctx, edit)
    groups = _by_dos(claim, ctx)
    flagged: set[int] = set()
    for row in _rows(ctx, edit, table):
        if not payer_matches(claim, row.get("payer"), ctx.payers):
            continue
        scope_claim = row.get("scope", "dos") == "claim"
        for day, day_lines in groups.items():
            if day is None:
                continue
            pool = [ln for lines in groups.values() for ln in lines] if scope_claim else day_lines
            anchors = [ln for ln in day_lines if book.matches(ln.code, row["code"], day)]
            if not anchors or not row.valid_on(day):
                continue
            if row.get("context") and not any(book.matches(o.code, row["context"], day) for o in day_lines):
                continue
            for a in anchors:
                if row.get("mode", "both") == "only":
                    among = [o for o in day_lines if book.matches(o.code, row["among"], day)]
                    others = among if among and all(book.matches(o.code, row["with"], day) for o in among) else []
                else:
                    others = [o for o in pool if o is not a and book.matches(o.code, row["with"], day)
                              and o.code != a.code]
                if not others:
                    continue
                flag = row.get("flag", "with")
                at_fault = ([a] if flag in ("code", "both") else []) + (others if flag in ("with", "both") else [])
                for ln in at_fault:
                    if ln.index in flagged:
                        continue
                    flagged.add(ln.index)
                    partner = [a] if ln is not a else others
                    other = _codes_text({o.code for o in partner})
                    instead = _replacements(ctx, edit, params, ln, day) if params.get("replacements") else ""
                    yield finding(
                        claim, edit,
                        edit.message("conflict", code=ln.code, line=ln.number, dos=day.isoformat(),
                                     other=other, other_lines=_lines_text(partner)),
                        line=ln, suggestion=edit.message("suggest", code=ln.code, other=other, instead=instead),
                        row=row,
                    )


# -- units per date of service ------------------------------------------------------------------------


@kind("unit_limit", triggers=_table_trigger("codes", "unit_limits"))
def unit_limit(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    """Rows (codes, max, count units|lines|units_and_lines): the lines past the limit on a date are at fault."""
    table = params.get("table", "unit_limits")
    book = _book(ctx, edit)
    for row in _rows(ctx, edit, table):
        if not payer_matches(claim, row.get("payer"), ctx.payers):
            continue
        limit = Decimal(row["max"])
        count = row.get("count", "units")
        for day, lines in _by_dos(claim, ctx).items():
            if day is None or not row.valid_on(day):
                continue
            hits = [ln for ln in lines if book.matches(ln.code, row["codes"], day)]
            total = Decimal(0)
            for n, ln in enumerate(hits, start=1):
                units = _units(ln)
                if units is None:
                    continue  # X12-UNITS reports unreadable units
                total += units
                over_units = count in ("units", "units_and_lines") and total > limit
                over_lines = count in ("lines", "units_and_lines") and n > limit
                if over_units or over_lines:
                    all_units = sum((_units(h) or Decimal(0) for h in hits), Decimal(0))
                    yield finding(
                        claim, edit,
                        edit.message("over", code=ln.code, line=ln.number, dos=day.isoformat(),
                                     codes="/".join(sorted({h.code for h in hits})), max=_fmt_units(limit),
                                     units=_fmt_units(all_units), lines=len(hits)),
                        line=ln, suggestion=edit.message("suggest", code=ln.code, max=_fmt_units(limit),
                                                         codes="/".join(sorted({h.code for h in hits}))),
                        row=row,
                    )


# -- modifiers ---------------------------------------------------------------------------------------


@kind("modifier_rule", triggers=_table_trigger("codes", "modifier_rules"))
def modifier_rule(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    """Rows (codes, rule, modifiers, payer, unless_line): forbidden | one_of | not_together | not_with_line.

    ``not_with_line`` (modifiers "A B"): a line with A while another line of the same code and date
    carries B.
    """
    table = params.get("table", "modifier_rules")
    book = _book(ctx, edit)
    flagged: set[int] = set()
    groups = _by_dos(claim, ctx)
    for row in _rows(ctx, edit, table):
        if not payer_matches(claim, row.get("payer"), ctx.payers):
            continue
        mods = row["modifiers"].split()
        rule = row["rule"]
        for day, lines in groups.items():
            if day is None or not row.valid_on(day):
                continue
            for ln in lines:
                if ln.index in flagged or not book.matches(ln.code, row["codes"], day):
                    continue
                have = [m for m in mods if m in ln.modifiers]
                if rule == "forbidden":
                    bad = bool(have)
                elif rule == "one_of":
                    # ``unless_line``: another line of the code and date carrying that modifier
                    # settles it (the administered line of a JW pair carries no modifier).
                    unless = row.get("unless_line").split()
                    bad = not have and not any(
                        o is not ln and o.code == ln.code and any(m in o.modifiers for m in unless) for o in lines)
                elif rule == "not_together":
                    bad = len(have) > 1
                elif rule == "not_with_line":
                    bad = mods[0] in ln.modifiers and any(
                        o is not ln and o.code == ln.code and mods[1] in o.modifiers for o in lines)
                else:
                    raise ValueError(f"{table}.csv line {row.line}: unknown modifier rule {rule!r}")
                if not bad:
                    continue
                flagged.add(ln.index)
                yield finding(
                    claim, edit,
                    edit.message(rule, code=ln.code, line=ln.number, dos=day.isoformat(),
                                 modifiers=" and ".join(mods) if rule != "one_of" else " or ".join(mods),
                                 have=" and ".join(have) or "none", first=mods[0], second=mods[-1],
                                 since=row.valid_from.isoformat() if row.valid_from else ""),
                    line=ln, suggestion=edit.message(f"{rule}_fix", code=ln.code, first=mods[0], second=mods[-1],
                                                     modifiers=" or ".join(mods)),
                    row=row,
                )


@kind("bilateral_one_line", triggers=_table_trigger("codes", "bilateral"))
def bilateral_one_line(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    """Rows (codes, payer): a bilateral service on one line with modifier 50 and 1 unit.

    Fires on more than 1 unit of such a code on a line, and on RT and LT lines of one code and date.
    """
    table = params.get("table", "bilateral")
    book = _book(ctx, edit)
    for row in _rows(ctx, edit, table):
        if not payer_matches(claim, row.get("payer"), ctx.payers):
            continue
        flagged: set[int] = set()
        for day, lines in _by_dos(claim, ctx).items():
            if day is None or not row.valid_on(day):
                continue
            hits = [ln for ln in lines if book.matches(ln.code, row["codes"], day)]
            for ln in hits:
                units = _units(ln)
                if units is not None and units > 1:
                    flagged.add(ln.index)
                    key = "units_with_50" if "50" in ln.modifiers else "units"
                    yield finding(claim, edit, edit.message(key, code=ln.code, line=ln.number, units=_fmt_units(units),
                                                            dos=day.isoformat()),
                                  line=ln, suggestion=edit.message("fix", code=ln.code), row=row)
            for code in {ln.code for ln in hits}:
                right = [ln for ln in hits if ln.code == code and "RT" in ln.modifiers]
                left = [ln for ln in hits if ln.code == code and "LT" in ln.modifiers]
                if not (right and left):
                    continue
                for ln in right + left:
                    if ln.index in flagged:
                        continue
                    flagged.add(ln.index)
                    other = left if ln in right else right
                    yield finding(claim, edit, edit.message("split", code=code, line=ln.number, dos=day.isoformat(),
                                                            other_lines=_lines_text(other)),
                                  line=ln, suggestion=edit.message("fix", code=code), row=row)


# -- companions on one claim ------------------------------------------------------------------------


@kind("companion", triggers=_param_trigger("when"))
def companion(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    """Lines of ``params.when`` need some line of ``params.needs`` on the claim (any date)."""
    book = _book(ctx, edit)
    when, needs = params["when"], params["needs"]
    lines = [ln for ln in claim.lines if ln.sv1 is not None]
    if any(book.matches(o.code, needs, claim.line_dos(o)) for o in lines):
        return
    for ln in lines:
        if book.matches(ln.code, when, claim.line_dos(ln)):
            yield finding(claim, edit, edit.message("alone", code=ln.code, line=ln.number),
                          line=ln, suggestion=edit.message("suggest", code=ln.code))


# -- drugs -------------------------------------------------------------------------------------------


@kind("drug_units", triggers=_param_trigger("codes", default="@drug"))
def drug_units(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    """Units of a drug code must be a positive whole number of billing units; above a payer's
    per-date limit (a table row with its source) is a warning."""
    book = _book(ctx, edit)
    drugs = params.get("codes", "@drug")
    toxins = {r["code"]: r for r in ctx.catalog.table(edit.pack, params.get("products", "drugs"))}
    for ln in claim.lines:
        if ln.sv1 is None or not book.matches(ln.code, drugs, claim.line_dos(ln)):
            continue
        units = _units(ln)
        if units is None or units <= 0 or units != units.to_integral():
            product = toxins.get(ln.code)
            yield finding(claim, edit, edit.message("not_whole", code=ln.code, line=ln.number, units=ln.units or "none",
                                                    unit=product["billing_unit"] if product else "billing unit"),
                          line=ln, suggestion=edit.message("not_whole_fix", code=ln.code,
                                                           unit=product["billing_unit"] if product else "billing unit"))
    limits = _rows(ctx, edit, params.get("limits", "drug_limits"))
    if not limits:
        return
    for day, lines in _by_dos(claim, ctx).items():
        for row in limits:
            if day is None or not row.valid_on(day) or not payer_matches(claim, row.get("payer"), ctx.payers):
                continue
            hits = [ln for ln in lines if book.matches(ln.code, row["code"], day)]
            total = sum((_units(ln) or Decimal(0) for ln in hits), Decimal(0))
            if hits and total > Decimal(row["max_units"]):
                yield finding(claim, edit, edit.message("over_limit", code=hits[0].code, line=hits[-1].number,
                                                        units=_fmt_units(total), max=row["max_units"], dos=day.isoformat()),
                              line=hits[-1], suggestion=edit.message("over_limit_fix", max=row["max_units"]),
                              severity="warn", row=row)


@kind("ndc_format", triggers=_param_trigger("codes", default="@drug"))
def ndc_format(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    """A drug line's 2410 NDC: 11 digits (qualifier N4) with a positive CTP quantity; required when
    the payer (registry) or ``params.require`` says so."""
    book = _book(ctx, edit)
    drugs = params.get("codes", "@drug")
    required = bool(params.get("require")) or bool(ctx.payers is not None and ctx.payers.requires_ndc(claim))
    for ln in claim.lines:
        if ln.sv1 is None or not book.matches(ln.code, drugs, claim.line_dos(ln)):
            continue
        if ln.lin is None:
            if required:
                yield finding(claim, edit, edit.message("missing", code=ln.code, line=ln.number), line=ln,
                              suggestion=edit.message("missing_fix", code=ln.code), category="A6")
            continue
        if ln.ndc_qualifier != "N4" or len(ln.ndc) != 11 or not ln.ndc.isdigit():
            yield finding(claim, edit, edit.message("format", code=ln.code, line=ln.number, ndc=ln.ndc or "empty",
                                                    qualifier=ln.ndc_qualifier or "empty"),
                          line=ln, segment=ln.lin, suggestion=edit.message("format_fix"))
        quantity = Decimal(ln.drug_quantity) if is_amount(ln.drug_quantity) else None
        if quantity is None or quantity <= 0:
            yield finding(claim, edit, edit.message("quantity", code=ln.code, line=ln.number,
                                                    quantity=ln.drug_quantity or "missing"),
                          line=ln, segment=ln.ctp or ln.lin, suggestion=edit.message("quantity_fix"))


# -- diagnoses ------------------------------------------------------------------------------------------


@kind("diagnosis_exclusion", triggers=_param_trigger("codes", default="@drug @primary"))
def diagnosis_exclusion(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    """Lines of ``params.codes`` whose pointed diagnoses are all in the table's list, and lines billed
    with a listed procedure; with ``params.exclusion``, only for payers that exclude that class of
    service (e.g. cosmetic)."""
    table = params.get("table", "cosmetic")
    rows = _rows(ctx, edit, table)
    book = _book(ctx, edit)
    targets = params.get("codes", "@drug @primary")
    if not rows:
        return
    if params.get("exclusion") is not None:  # else: a diagnosis any payer may refuse for these codes
        excluded = ctx.payers.excludes(claim, params["exclusion"]) if ctx.payers is not None else None
        if excluded is None:
            excluded = is_medicare(claim, ctx.payers)
        if not excluded:
            return
    dx_rows = [r for r in rows if r.get("kind", "diagnosis") == "diagnosis"]
    proc_rows = [r for r in rows if r.get("kind") == "procedure"]
    for ln in claim.lines:
        day = claim.line_dos(ln)
        if ln.sv1 is None or day is None or not book.matches(ln.code, targets, day):
            continue
        pointed = [claim.diagnoses[int(p) - 1] for p in ln.pointers
                   if p.isascii() and p.isdigit() and len(p) <= 2 and 1 <= int(p) <= len(claim.diagnoses)]
        hits = [(d, r) for d in pointed for r in dx_rows
                if r.valid_on(day) and d.code.replace(".", "").startswith(r["code"].replace(".", ""))]
        if pointed and len({d.position for d, _ in hits}) == len(pointed):
            codes = sorted({icd_display(d.code) for d, _ in hits})
            yield finding(claim, edit, edit.message("diagnosis", code=ln.code, line=ln.number, dx=", ".join(codes)),
                          line=ln, suggestion=edit.message("diagnosis_fix"), row=hits[0][1])
            continue
        for r in proc_rows:
            others = [o for o in claim.lines if o is not ln and o.code in expand(r["code"])[0]]
            if r.valid_on(day) and others and book.matches(ln.code, params.get("with_procedure", targets), day):
                yield finding(claim, edit, edit.message("procedure", code=ln.code, line=ln.number,
                                                        other=others[0].code, other_lines=_lines_text(others)),
                              line=ln, suggestion=edit.message("diagnosis_fix"), row=r)
                break
