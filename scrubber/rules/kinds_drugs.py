"""Line kinds about drugs: whole billing units, the 2410 NDC, and services a payer excludes by diagnosis."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from scrubber.model import ClaimUnit, Finding, Line
from scrubber.payers import is_medicare, payer_matches
from scrubber.rules.catalog import Edit, Row
from scrubber.rules.codesets import CodeBook, expand
from scrubber.rules.kinds import Context, finding, kind, pack_dates
from scrubber.rules.tables import book, by_dos, fmt_units, lines_text, param_trigger, rows, units, universe
from scrubber.text import icd_display
from scrubber.x12.loop2300 import is_amount

_ZERO = Decimal(0)


def _limited_drugs(edit: Edit, params: dict[str, Any], ctx: Context) -> frozenset[str]:
    """The drug codes a per-date unit limit names (their units are summed and compared)."""
    return universe(ctx, edit, params.get("limits", "drug_limits"), "code")


def _products(ctx: Context, edit: Edit, params: dict[str, Any]) -> dict[str, Row]:
    table = params.get("products", "drugs")
    return ctx.memo(("products", edit.pack, table), lambda: {r["code"]: r for r in ctx.catalog.table(edit.pack, table)})


@kind("drug_units", triggers=param_trigger("codes", default="@drug"), bounds=pack_dates, units=_limited_drugs,
      reads="payer units")
def drug_units(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    """Units of a drug code must be a positive whole number of billing units; above a payer's
    per-date limit (a table row with its source) is a warning."""
    codes = book(ctx, edit)
    drugs = params.get("codes", "@drug")
    for ln in claim.lines:
        if ln.sv1 is None or not codes.matches(ln.code, drugs, claim.line_dos(ln)):
            continue
        count = units(ln)
        if count is None or count <= 0 or count != count.to_integral():
            product = _products(ctx, edit, params).get(ln.code)
            unit = product["billing_unit"] if product else "billing unit"
            yield finding(claim, edit, edit.message("not_whole", code=ln.code, line=ln.number, units=ln.units or "none",
                                                    unit=unit),
                          line=ln, suggestion=edit.message("not_whole_fix", code=ln.code, unit=unit))
    limits = rows(ctx, edit, params.get("limits", "drug_limits"))
    if limits:
        yield from _over_drug_limit(claim, edit, ctx, limits)


def _over_drug_limit(claim: ClaimUnit, edit: Edit, ctx: Context, limits: list[Row]) -> Iterator[Finding]:
    codes = book(ctx, edit)
    for day, lines in by_dos(claim, ctx).items():
        for row in limits:
            if day is None or not row.valid_on(day) or not payer_matches(claim, row.get("payer"), ctx.payers):
                continue
            hits = [ln for ln in lines if codes.matches(ln.code, row["code"], day)]
            total = sum((units(ln) or _ZERO for ln in hits), _ZERO)
            if hits and total > Decimal(row["max_units"]):
                yield finding(claim, edit, edit.message("over_limit", code=hits[0].code, line=hits[-1].number,
                                                        units=fmt_units(total), max=row["max_units"], dos=day.isoformat()),
                              line=hits[-1], suggestion=edit.message("over_limit_fix", max=row["max_units"]),
                              severity="warn", row=row)


@kind("ndc_format", triggers=param_trigger("codes", default="@drug"), bounds=pack_dates, reads="payer drug")
def ndc_format(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    """A drug line's 2410 NDC: 11 digits (qualifier N4) with a positive CTP quantity; required when
    the payer (registry) or ``params.require`` says so."""
    codes = book(ctx, edit)
    drugs = params.get("codes", "@drug")
    required = bool(params.get("require")) or bool(ctx.payers is not None and ctx.payers.requires_ndc(claim))
    for ln in claim.lines:
        if ln.sv1 is None or not codes.matches(ln.code, drugs, claim.line_dos(ln)):
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


@kind("diagnosis_exclusion", triggers=param_trigger("codes", default="@drug @primary"), bounds=pack_dates,
      reads="payer dx pointers")
def diagnosis_exclusion(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    """Lines of ``params.codes`` whose pointed diagnoses are all in the table's list, and lines billed
    with a listed procedure; with ``params.exclusion``, only for payers that exclude that class of
    service (e.g. cosmetic)."""
    excluded_rows = rows(ctx, edit, params.get("table", "cosmetic"))
    if not excluded_rows:
        return
    if params.get("exclusion") is not None:  # else: a diagnosis any payer may refuse for these codes
        excluded = ctx.payers.excludes(claim, params["exclusion"]) if ctx.payers is not None else None
        if excluded is None:
            excluded = is_medicare(claim, ctx.payers)
        if not excluded:
            return
    codes = book(ctx, edit)
    targets = params.get("codes", "@drug @primary")
    dx_rows, proc_rows = _exclusion_rows(ctx, edit, params.get("table", "cosmetic"))
    cdos = claim.dos
    for ln in claim.lines:
        day = cdos if ln.dtp is None else ln.dos
        if ln.sv1 is None or day is None or not codes.matches(ln.code, targets, day):
            continue
        found = _excluded_diagnoses(claim, edit, ln, day, dx_rows)
        if found is None:
            found = _excluded_with(claim, edit, ln, day, proc_rows, codes, params.get("with_procedure", targets))
        if found is not None:
            yield found


def _exclusion_rows(ctx: Context, edit: Edit, table: str) -> tuple[list[tuple[Row, str]], list[tuple[Row, frozenset[str]]]]:
    """The edit's rows, split once per run: diagnosis rows with their code as a prefix without the
    dot, procedure rows with the codes they name."""

    def make() -> tuple[list[tuple[Row, str]], list[tuple[Row, frozenset[str]]]]:
        found = rows(ctx, edit, table)
        return ([(r, r["code"].replace(".", "")) for r in found if r.get("kind", "diagnosis") == "diagnosis"],
                [(r, expand(r["code"])[0]) for r in found if r.get("kind") == "procedure"])

    return ctx.memo(("exclusion-rows", edit.pack, table, edit.id), make)


def _excluded_diagnoses(claim: ClaimUnit, edit: Edit, ln: Line, day: dt.date,
                        dx_rows: list[tuple[Row, str]]) -> Finding | None:
    """A line whose pointed diagnoses are all on the payer's excluded list."""
    dxs = claim.diagnoses
    n = len(dxs)
    pointed = [dxs[int(p) - 1] for p in ln.pointers if p.isascii() and p.isdigit() and len(p) <= 2 and 1 <= int(p) <= n]
    if not pointed:
        return None
    hits = []
    for d in pointed:
        code = d.code.replace(".", "")
        found = [(d, r) for r, prefix in dx_rows if code.startswith(prefix) and r.valid_on(day)]
        if not found:
            return None  # this diagnosis is not on the list: the line is not excluded
        hits += found
    if len({d.position for d in pointed}) != len(pointed):
        return None  # a diagnosis pointed at twice: not read as all-excluded (as ever)
    shown = sorted({icd_display(d.code) for d, _ in hits})
    return finding(claim, edit, edit.message("diagnosis", code=ln.code, line=ln.number, dx=", ".join(shown)),
                   line=ln, suggestion=edit.message("diagnosis_fix"), row=hits[0][1])


def _excluded_with(claim: ClaimUnit, edit: Edit, ln: Line, day: dt.date, proc_rows: list[tuple[Row, frozenset[str]]],
                   codes: CodeBook, with_procedure: str) -> Finding | None:
    """A line of ``with_procedure`` billed beside a procedure the payer excludes (e.g. the unlisted cosmetic code)."""
    for r, named in proc_rows:
        others = [o for o in claim.lines if o is not ln and o.code in named]
        if r.valid_on(day) and others and codes.matches(ln.code, with_procedure, day):
            return finding(claim, edit, edit.message("procedure", code=ln.code, line=ln.number,
                                                     other=others[0].code, other_lines=lines_text(others)),
                           line=ln, suggestion=edit.message("diagnosis_fix"), row=r)
    return None
