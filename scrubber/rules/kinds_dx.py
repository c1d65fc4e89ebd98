"""Check kinds for diagnosis code sets by date of service (SNIP 5).

ICD-10-CM validity comes from the maintained ``simple-icd-10-cm`` package's code list (one code
set, its newest; see ``scrubber.icd10cm``); a pack table of additions, deletions and header changes with their dates makes the check
date-aware.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

from scrubber import icd10cm
from scrubber.model import ClaimUnit, Diagnosis, Finding
from scrubber.rules.catalog import Edit, Row
from scrubber.rules.codesets import expand
from scrubber.rules.kinds import Context, finding, kind
from scrubber.text import icd_display

ICD10_QUALIFIERS = frozenset({"ABK", "ABF"})
# A letter, a digit, then up to five characters (digits or letters): the ICD-10-CM shape.
_ICD10_SHAPE = re.compile(r"^[A-TV-Z][0-9][0-9A-Z]{1,5}$")


def package_status(code: str) -> tuple[str, tuple[str, ...]]:
    """("billable" | "header" | "unknown", a few children of a header) in the package's code set."""
    state = icd10cm.status(code)
    return state, tuple(icd10cm.children(code)) if state == "header" else ()


def _dates_for(claim: ClaimUnit, dx: Diagnosis) -> list[dt.date]:
    """The dates a diagnosis is used on: its pointing lines' dates, else the claim's."""
    pos = str(dx.position)
    days = {claim.line_dos(ln) for ln in claim.lines if pos in ln.pointers}
    days.discard(None)
    return sorted(days) if days else claim.service_dates()  # type: ignore[arg-type]


def _changes(ctx: Context, edit: Edit, table: str) -> dict[str, list[Row]]:
    def make() -> dict[str, list[Row]]:
        index: dict[str, list[Row]] = {}
        for row in ctx.catalog.table(edit.pack, table):
            for code in expand(row["code"].replace(".", ""))[0]:
                index.setdefault(code, []).append(row)
        return index

    return ctx.memo(("icd10-changes", edit.pack, table), make)


@kind("icd_version")
def icd_version(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    """Each diagnosis qualifier belongs to a code set valid only within dates (code_sets.csv)."""
    rows = ctx.catalog.table(edit.pack, params.get("table", "code_sets"))
    by_qualifier = {q: r for r in rows for q in r["qualifiers"].split()}
    lines = [(ln, claim.line_dos(ln)) for ln in claim.lines]
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
            edit.message("wrong", position=dx.position, dx=icd_display(dx.code, dx.qualifier in ("BK", "BF")),
                         code_set=row["code_set"], qualifier=dx.qualifier, line=ln.number, dos=day.isoformat(),
                         expected=expected),
            segment=dx.segment, code=dx.code,
            suggestion=edit.message("fix", expected=expected, qualifiers=qualifiers),
            source=row.source.cite(),
        )


@kind("icd10_validity")
def icd10_validity(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    changes = _changes(ctx, edit, params.get("table", "icd10_changes"))
    code_set_from = dt.date.fromisoformat(params.get("code_set_from", "2025-10-01"))
    for dx in claim.diagnoses:
        if dx.qualifier not in ICD10_QUALIFIERS or not dx.code:
            continue
        code = dx.code.replace(".", "").upper()
        shown = icd_display(code)
        days = _dates_for(claim, dx)
        if not days:
            continue  # no date to judge by: X12-LINE-DOS reports that
        found = _judge(code, days, changes.get(code, []), code_set_from)
        if found is None:
            continue
        key, day, row, extra = found
        values = {"position": dx.position, "dx": shown, "dos": day.isoformat(), "code_set": "ICD-10-CM", **extra}
        yield finding(
            claim, edit, edit.message(key, **values), segment=dx.segment, code=shown,
            suggestion=edit.message(f"{key}_fix", **values),
            severity=(row.get("severity") or None) if row is not None else ("warn" if key == "gone" else None),
            source=row.source.cite() if row is not None else None,
        )


def _judge(code: str, days: list[dt.date], rows: list[Row], code_set_from: dt.date
           ) -> tuple[str, dt.date, Row | None, dict[str, str]] | None:
    """Why ``code`` cannot be billed on one of ``days``, or None."""
    for row in rows:
        change = row["change"]
        for day in days:
            if change == "added" and row.valid_from and day < row.valid_from:
                before = f" (it did not exist before {row.valid_from.isoformat()})"
                return "not_yet", day, row, {"since": row.valid_from.isoformat(), "before": before}
            if change == "deleted" and row.valid_to and day >= row.valid_to:
                return "gone", day, row, {"code_set": f"code set after {row.valid_to.isoformat()}"}
            if change == "header" and row.valid_from and day >= row.valid_from:
                children = ", ".join(icd_display(c) for c in package_status(code)[1]) or "a longer code"
                # Within the package's code set the package is the authority; the row (and its
                # confidence) only speaks for older dates.
                return "header", day, (row if day < code_set_from else None), {"children": children}
    if any(r["change"] == "header" for r in rows):
        return None  # billable before it became a header, and every date is before that
    if any(r["change"] == "deleted" for r in rows):
        return None  # known to the table as deleted later: valid on these dates
    status, children = package_status(code)
    if status == "billable":
        return None
    if status == "header":
        return "header", days[-1], None, {"children": ", ".join(icd_display(c) for c in children)}
    if _ICD10_SHAPE.match(code) and days[0] < code_set_from:
        return "gone", days[0], None, {"code_set": "current"}
    return "unknown", days[0], None, {}
