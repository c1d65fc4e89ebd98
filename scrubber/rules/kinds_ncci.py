"""Check kinds of the ``ncci`` pack: CMS NCCI PTP, MUE and add-on code edits.

The tables are ``Context.extra["ncci"]`` (``scrubber.rules.ncci_tables.Ncci``). PTP and MUE look
across the claims of the run as well (same patient, rendering provider and date of service), so they
are run-level kinds; the add-on code edit stays within the claim, as the catalog defines it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from scrubber.model import ClaimUnit, Finding
from scrubber.rules.catalog import Edit
from scrubber.rules.kinds import Context, finding, kind, run_kind
from scrubber.rules.ncci_tables import Ncci, PtpEdit
from scrubber.runindex import Earlier, LineKey, line_of

MODIFIER_TEXT = {0: "indicator 0: no modifier allows the pair", 1: "indicator 1: an NCCI-associated modifier "
                 "allows the pair when the services are distinct"}


def _verdict(edit: PtpEdit, col1: LineKey | Earlier, col2: LineKey | Earlier) -> str:
    """"fires", "bypassed" or "col1_only" (a bypass modifier on the column-one line only)."""
    if edit.modifier == 9:
        return "bypassed"
    if edit.modifier == 0:
        return "fires"
    if col2.bypass or col2.anatomic & ~col1.anatomic:
        return "bypassed"
    if col1.bypass or col1.anatomic & ~col2.anatomic:
        return "col1_only"
    return "fires"


def _pair(ncci: Ncci, a: LineKey | Earlier, b: LineKey) -> tuple[PtpEdit, Any, Any] | None:
    """The PTP edit in effect between ``a`` and ``b`` on b's date: (edit, column one, column two)."""
    found = ncci.ptp_edit(a.code, b.code, b.dos)
    if found is not None:
        return found, a, b
    found = ncci.ptp_edit(b.code, a.code, b.dos)
    return (found, b, a) if found is not None else None


@run_kind("ncci_ptp")
def ncci_ptp(claim: ClaimUnit, edit: Edit, params: dict, ctx: Context) -> Iterator[Finding]:
    ncci: Ncci = ctx.extra["ncci"]
    table = ncci.ptp
    if table is None:
        return
    run, keys = ctx.extra["run"], ctx.claim_cache["keys"]
    groups: dict[int, list[LineKey]] = {}
    for lk in keys.lines:
        if table.knows(lk.code):
            groups.setdefault(lk.day, []).append(lk)
    flagged: set[int] = set()
    for day_key, lines in groups.items():
        earlier = [e for e in run.day(day_key) if table.knows(e.code)]
        for j, b in enumerate(lines):
            for other in (*lines[:j], *earlier):
                if other.code == b.code or (hit := _pair(ncci, other, b)) is None:
                    continue
                yield from _ptp_finding(claim, edit, hit, flagged)


def _ptp_finding(claim: ClaimUnit, edit: Edit, hit: tuple[PtpEdit, Any, Any], flagged: set[int]) -> Iterator[Finding]:
    ptp, col1, col2 = hit
    verdict = _verdict(ptp, col1, col2)
    if verdict == "bypassed":
        return
    here = col2 if isinstance(col2, LineKey) else col1  # the line of this claim the finding is about
    if here.index in flagged:
        return
    flagged.add(here.index)
    values = {"col1": ptp.column1, "col2": ptp.column2, "dos": here.dos, "mi": MODIFIER_TEXT.get(ptp.modifier, ""),
              "line": here.number, "rationale": ptp.rationale or "no rationale given",
              "other": col1.number if isinstance(col1, LineKey) else col2.number}
    if isinstance(col1, Earlier):
        key, values["first"] = "after_col1", col1.ordinal
    elif isinstance(col2, Earlier):
        key, values["first"] = "before_col2", col2.ordinal
    else:
        key = "same_claim"
    fix = edit.message("col1_only_fix" if verdict == "col1_only" else ("fix1" if ptp.modifier == 1 else "fix0"), **values)
    yield finding(claim, edit, edit.message(key, **values) + (" " + edit.message("col1_only", **values)
                                                            if verdict == "col1_only" else ""),
                  line=line_of(claim, here.index), code=here.code, suggestion=fix,
                  severity="warn" if verdict == "col1_only" else None, source=_cite(ptp))


def _cite(ptp: PtpEdit) -> str:
    return f"{ptp.source.cite()}; PTP edit {ptp.column1}/{ptp.column2} effective {ptp.valid_from}"


def _mue_codes(edit: Edit, params: dict[str, Any], ctx: Context) -> frozenset[str]:
    return ctx.extra["ncci"].mue_codes()


@run_kind("ncci_mue", triggers=_mue_codes)
def ncci_mue(claim: ClaimUnit, edit: Edit, params: dict, ctx: Context) -> Iterator[Finding]:
    ncci: Ncci = ctx.extra["ncci"]
    run, keys = ctx.extra["run"], ctx.claim_cache["keys"]
    groups: dict[tuple[int, str], list[LineKey]] = {}
    for lk in keys.lines:
        groups.setdefault((lk.day, lk.code), []).append(lk)
    for (day_key, code), lines in groups.items():
        row = ncci.mue(code, lines[0].dos)
        if row is None:
            continue
        limit = row.value * 1000
        values = {"code": code, "dos": lines[0].dos, "mue": row.value, "mai": row.mai or "unknown",
                  "rationale": row.rationale or "no rationale given"}
        if row.mai in (2, 3):
            prior = [e for e in run.day(day_key) if e.code == code]
            total = sum(lk.units for lk in lines) + sum(e.units for e in prior)
            if total <= limit:
                continue
            values |= {"total": _units(total), "earlier": ", ".join(sorted({str(e.ordinal) for e in prior})) or "none"}
            key = "day_across" if prior else "day"
            over = lines
        else:
            over = [lk for lk in lines if lk.units > limit]
            key = "line"
        for lk in over:
            yield finding(claim, edit, edit.message(key, line=lk.number, units=_units(lk.units), **values),
                          line=line_of(claim, lk.index), code=code, source=row.row.source.cite(),
                          suggestion=edit.message("fix3" if row.mai == 3 else "fix", **values))


def _units(milli: int) -> str:
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli / 1000:g}"


def _addon_codes(edit: Edit, params: dict[str, Any], ctx: Context) -> frozenset[str]:
    return ctx.extra["ncci"].addon_codes()


def _addon_dates(edit: Edit, params: dict[str, Any], ctx: Context) -> list[dt.date]:
    ncci: Ncci = ctx.extra["ncci"]
    rows = [r.row for table in (ncci.aoc_builtin, ncci.aoc_imported) for rs in table.values() for r in rs]
    return sorted({d for r in rows for d in (r.valid_from, r.valid_to) if d is not None})


@kind("ncci_aoc", triggers=_addon_codes, bounds=_addon_dates, reads="")
def ncci_aoc(claim: ClaimUnit, edit: Edit, params: dict, ctx: Context) -> Iterator[Finding]:
    ncci: Ncci = ctx.extra["ncci"]
    for ln in claim.lines:
        day = claim.line_dos(ln)
        rows = ncci.aoc(ln.code, day) if day is not None else []
        if not rows:
            continue
        billed = {o.code for o in claim.lines if o is not ln and claim.line_dos(o) == day}
        listed = frozenset().union(*(r.primaries for r in rows if r.type in (1, 2)))
        some = frozenset().union(*(r.primaries for r in rows if r.type == 3))
        if not (listed or some) or billed & (listed | some):
            continue  # contractor-defined primaries only (CCCCC), or a primary is on the claim
        examples = ", ".join(sorted(listed or some)[:8]) + (" ..." if len(listed or some) > 8 else "")
        types = "/".join(sorted({str(r.type) for r in rows}))
        yield finding(claim, edit, edit.message("missing" if listed else "missing_type3", line=ln.number, code=ln.code,
                                                dos=day, type=types, examples=examples),
                      line=ln, severity=None if listed else "warn", source=rows[0].row.source.cite(),
                      suggestion=edit.message("fix", code=ln.code, examples=examples))
