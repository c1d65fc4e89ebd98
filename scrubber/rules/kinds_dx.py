"""Check kinds for diagnosis code sets by date of service (SNIP 5).

ICD-10-CM validity comes from the shipped table of every fiscal year FY2016-FY2026
(``scrubber.codesets.icd10cm``): a code is billable on a day or it is not, and the reason (never a
code, not yet valid, deleted, a header) comes from the same table. ICD-9-CM codes are checked against
the final CMS set (``scrubber.codesets.icd9cm``), which is certain only for dates of service from the
code freeze on. A diagnosis is judged on the dates of the lines that point to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from scrubber.codesets import icd9cm, icd10cm
from scrubber.model import ClaimUnit, Diagnosis, Finding
from scrubber.rules.catalog import Edit, Row, Source
from scrubber.rules.kinds import Context, finding, kind, pack_dates, run_kind, worded
from scrubber.text import icd_display

ICD10_QUALIFIERS = frozenset({"ABK", "ABF"})
ICD9_QUALIFIERS = frozenset({"BK", "BF"})


def _dates_for(claim: ClaimUnit, dx: Diagnosis) -> list[dt.date]:
    """The dates a diagnosis is used on: its pointing lines' dates, else the claim's."""
    pos = str(dx.position)
    days = {claim.line_dos(ln) for ln in claim.lines if pos in ln.pointers}
    days.discard(None)
    return sorted(days) if days else claim.service_dates()  # type: ignore[arg-type]


@kind("icd_version", bounds=pack_dates, reads="dx")
def icd_version(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    """Each diagnosis qualifier belongs to a code set valid only within dates (code_sets.csv)."""
    rows, by_qualifier = _code_sets(ctx, edit, params.get("table", "code_sets"))
    cdos = claim.dos
    lines = [(ln, cdos if ln.dtp is None else ln.dos) for ln in claim.lines]
    for dx in claim.diagnoses:
        row = by_qualifier.get(dx.qualifier)
        if row is None:
            continue
        bad = next(((ln, day) for ln, day in lines if day is not None and not row.valid_on(day)), None)
        if bad is None:
            continue
        ln, day = bad
        right = next((r for r in rows if r.valid_on(day)), None)
        expected = right["code_set"] if right else "another code set"
        qualifiers = "/".join(right["qualifiers"].split()) if right else "?"
        yield finding(
            claim, edit,
            edit.message("wrong", position=dx.position, dx=icd_display(dx.code, dx.qualifier in ICD9_QUALIFIERS),
                         code_set=row["code_set"], qualifier=dx.qualifier, line=ln.number, dos=day.isoformat(),
                         expected=expected),
            segment=dx.segment, code=dx.code,
            suggestion=edit.message("fix", expected=expected, qualifiers=qualifiers), row=row,
        )


def _code_sets(ctx: Context, edit: Edit, table: str) -> tuple[list[Row], dict[str, Row]]:
    """The code-set rows, and the row of each qualifier, read once per run."""

    def make() -> tuple[list[Row], dict[str, Row]]:
        rows = ctx.catalog.table(edit.pack, table)
        return rows, {q: r for r in rows for q in r["qualifiers"].split()}

    return ctx.memo(("code-sets", edit.pack, table), make)


def _icd_dates(edit: Edit, params: dict[str, Any], ctx: Context) -> list[dt.date]:
    """The days on which a code's verdict can change: the tables' and the parameters' dates."""
    return [*pack_dates(edit, params, ctx), *icd10cm.table().boundaries(),
            dt.date.fromisoformat(params.get("icd10_from", "2015-10-01")),
            dt.date.fromisoformat(params.get("icd9_certain_from", icd9cm.FREEZE.isoformat()))]


@kind("icd_code_validity", bounds=_icd_dates, reads="dx pointers claim")
def icd_code_validity(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    """ICD-10-CM (ABK/ABF) codes not billable on their dates; ICD-9-CM (BK/BF) codes outside the final set."""
    icd10_from = dt.date.fromisoformat(params.get("icd10_from", "2015-10-01"))
    dates = claim.service_dates()
    one_date = len(dates) <= 1  # nearly always: then every diagnosis is used on that date (_dates_for)
    for dx in claim.diagnoses:
        if not dx.code:
            continue
        if dx.qualifier in ICD10_QUALIFIERS:
            days = [d for d in (dates if one_date else _dates_for(claim, dx)) if d >= icd10_from]
            found = _icd10(claim, edit, ctx, dx, days)  # earlier days: DX-ICD-VERSION says so
            if found is not None:
                yield found
        elif dx.qualifier in ICD9_QUALIFIERS:
            days = [d for d in (dates if one_date else _dates_for(claim, dx)) if d < icd10_from]
            yield from _icd9(claim, edit, params, dx, days)


@run_kind("icd10_table_horizon")
def icd10_table_horizon(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    """Claims dated after the ICD-10-CM table's last year: one file notice for them all.

    Their codes are judged on the table's last day (a code not billable then still warns, per
    diagnosis); a warning on every claim of a file would only teach billers to skip warnings.
    """
    end = icd10cm.table().end
    cdos = claim.dos  # claim.line_dos, inline: this runs for every claim
    days = [d for ln in claim.lines if (d := cdos if ln.dtp is None else ln.dos) is not None and d >= end]
    if days and any(dx.qualifier in ICD10_QUALIFIERS for dx in claim.diagnoses):
        last = icd10cm.table().last_day
        ctx.extra["run"].tally(edit.message("beyond", last=last.isoformat(), fy=icd10cm.fiscal_year(last)), min(days))
    return iter(())


# -- ICD-10-CM -------------------------------------------------------------------------------------


def _icd10(claim: ClaimUnit, edit: Edit, ctx: Context, dx: Diagnosis, days: list[dt.date]) -> Finding | None:
    """The finding on the first of ``days`` the code is not billable on, if any."""
    table = icd10cm.table()
    code = dx.code.replace(".", "").upper()
    for day in days:
        late = day >= table.end
        judged = table.last_day if late else day
        if not table.billable_on(code, judged):
            return _icd10_finding(claim, edit, ctx, dx, code, judged, day, late)
    return None


@lru_cache(maxsize=1024)
def _icd10_facts(code: str, day: dt.date) -> tuple[icd10cm.Verdict, str, str]:
    """The verdict on a code that is not billable on ``day``, and the codes to name instead.

    Claims of a file repeat the same wrong code on the same days; the scans behind the
    wording are done once per code and day.
    """
    table = icd10cm.table()
    verdict = table.judge(code, day)
    return (verdict, _codes_text(verdict.children, verdict.more),
            _nearest_text(table.nearest(verdict.code, verdict.day), verdict.day))


def _icd10_finding(claim: ClaimUnit, edit: Edit, ctx: Context, dx: Diagnosis, code: str, judged: dt.date,
                   day: dt.date, late: bool) -> Finding:
    message, suggestion, source, confidence, shown = worded(ctx, edit, _icd10_texts, dx.position, code, judged,
                                                            day, late)
    return finding(claim, edit, message, segment=dx.segment, code=shown, suggestion=suggestion, source=source,
                   confidence=confidence)


def _icd10_texts(edit: Edit, position: int, code: str, judged: dt.date, day: dt.date,
                 late: bool) -> tuple[str, str, str, str, str]:
    """(message, suggestion, source, confidence, code as shown) of a code not billable on ``day``."""
    table = icd10cm.table()
    verdict, children, nearest = _icd10_facts(code, judged)
    shown = icd_display(verdict.code)
    values: dict[str, Any] = {
        "position": position, "dx": shown, "dos": day.isoformat(),
        "since": verdict.since.isoformat() if verdict.since else "",
        "children": children, "nearest": nearest,
    }
    message = edit.message(verdict.state, **values)
    confidence = "certain"
    if verdict.doubt:
        message += " " + edit.message("doubt", source=table.sources.get(verdict.doubt, verdict.doubt), **values)
        confidence = "likely"
    if late:
        message += " " + edit.message("late", last=table.last_day.isoformat(), fy=icd10cm.fiscal_year(table.last_day))
        confidence = "likely"
    return (message, edit.message(f"{verdict.state}_fix", **values), _icd10_source(edit, verdict), confidence,
            shown)


def _icd10_source(edit: Edit, verdict: icd10cm.Verdict) -> str:
    """The code set the verdict rests on, cited as a publication: the year's set, or a mid-year update."""
    table = icd10cm.table()
    key = table.change_source(verdict.code, verdict.since)
    if key:
        return table.sources.get(key, key)
    base = next((s for s in edit.sources if s.ref == "ICD10CM"), None)
    fy = icd10cm.fiscal_year(verdict.since if verdict.state in ("not_yet", "deleted") and verdict.since
                             else verdict.day)
    return _code_set_cited(fy, base.publisher if base else "CDC NCHS and CMS")


@lru_cache(maxsize=256)
def _code_set_cited(fy: int, publisher: str) -> str:
    return Source(document=f"ICD-10-CM code set FY{fy}", revision="", date=f"effective {fy - 1}-10-01",
                  publisher=publisher).cite()


# -- ICD-9-CM --------------------------------------------------------------------------------------


def _icd9(claim: ClaimUnit, edit: Edit, params: dict[str, Any], dx: Diagnosis,
          days: list[dt.date]) -> Iterator[Finding]:
    codes = icd9cm.codes()
    code = dx.code.replace(".", "").upper()
    if not days or code in codes:
        return
    certain_from = dt.date.fromisoformat(params.get("icd9_certain_from", icd9cm.FREEZE.isoformat()))
    day = max(days)  # the latest date decides: a code missing from the final set is surely invalid then
    children, total = codes.beneath(code)
    values = {"position": dx.position, "dx": icd_display(code, True), "dos": day.isoformat(),
              "freeze": certain_from.isoformat(), "version": codes.version,
              "children": _codes_text([icd_display(c, True) for c in children], total - len(children), raw=True),
              "nearest": _icd9_nearest(codes, code)}
    key = "icd9_header" if total else "icd9_unknown"
    certain = day >= certain_from
    message = edit.message(key, **values) + ("" if certain else " " + edit.message("icd9_before_freeze", **values))
    yield finding(
        claim, edit, message, segment=dx.segment, code=values["dx"],  # type: ignore[arg-type]  # a str
        suggestion=edit.message(f"{key}_fix", **values),
        source="; ".join(s.cite() for s in edit.sources if s.ref in ("ICD9CM", "FREEZE")) or None,
        confidence="certain" if certain else "likely",
    )


def _icd9_nearest(codes: icd9cm.Icd9Codes, code: str) -> str:
    prefix, found, total = codes.nearest(code)
    if not total:
        return ""
    return f" Codes beneath {icd_display(prefix, True)}: {_codes_text([icd_display(c, True) for c in found], total - len(found), raw=True)}."


# -- wording ---------------------------------------------------------------------------------------


def _codes_text(codes: list[str] | tuple[str, ...], more: int, raw: bool = False) -> str:
    shown = list(codes) if raw else [icd_display(c) for c in codes]
    text = ", ".join(shown)
    return f"{text} and {more:,} more" if more else text


def _nearest_text(found: tuple[str, list[str], int], day: dt.date) -> str:
    prefix, codes, total = found
    if not total:
        return ""
    return f" Billable on {day.isoformat()} beneath {icd_display(prefix)}: {_codes_text(codes, total - len(codes))}."
