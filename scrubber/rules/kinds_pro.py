"""Check kinds of the ``professional`` pack: what every professional-claim scrubber checks.

NPI check digits, duplicate claims (across the run) and lines, place of service and modifiers
against CMS's dated code lists, timely filing against the payer's limit. Code lists are the pack's
tables (``edits/professional/*.csv``); filing limits come from the payer registry, else the table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from scrubber.model import ClaimUnit, Finding, Line
from scrubber.payers import is_medicare, payer_matches
from scrubber.rules.catalog import Edit, Row
from scrubber.rules.kinds import Context, finding, kind, no_dates, pack_dates, run_kind, worded
from scrubber.x12.dates import parse_d8
from scrubber.x12.segments import Segment

#: NM1 entity codes whose NPI the edit checks, with the loops they name (claim level, line level)
NPI_ENTITIES = {"85": ("billing provider", "2010AA", "2010AA"), "82": ("rendering provider", "2310B", "2420A"),
                "77": ("service facility", "2310C", "2420C"), "DN": ("referring provider", "2310A", "2420F"),
                "DK": ("ordering provider", "2420E", "2420E"), "DQ": ("supervising provider", "2310D", "2420D"),
                "QB": ("purchased service provider", "2420B", "2420B")}


#: a digit's Luhn contribution when it is doubled (the digits of twice the digit, added up)
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
#: the Luhn sum of the 80840 prefix, whose digits sit at the same places before every NPI's nine
_PREFIX_SUM = 24


@lru_cache(maxsize=4096)
def npi_check_digit(npi: str) -> int | None:
    """The Luhn check digit of a 10-digit NPI's first nine digits (with the 80840 prefix): from the
    right of the fourteen digits, the first, third, ... are doubled (npi[8], npi[6], ..., npi[0])."""
    if len(npi) != 10 or not npi.isdigit():
        return None
    d = [int(ch) for ch in npi[:9]]
    total = (_PREFIX_SUM + _DOUBLED[d[0]] + d[1] + _DOUBLED[d[2]] + d[3] + _DOUBLED[d[4]] + d[5] + _DOUBLED[d[6]]
             + d[7] + _DOUBLED[d[8]])
    return (10 - total % 10) % 10


def _npi_fails(seg: Segment) -> bool:
    """An NM1 with qualifier XX whose NPI is not 10 digits or fails its check digit."""
    e = seg.els
    if len(e) < 9 or e[8] != "XX":
        return False
    return _npi_bad(e[9] if len(e) > 9 else "")


@lru_cache(maxsize=4096)
def _npi_bad(npi: str) -> bool:
    """Not 10 digits, or failing its check digit (per NPI: a file names the same providers again and again)."""
    digit = npi_check_digit(npi)
    return digit is None or int(npi[9]) != digit


def _billing_fails(claim: ClaimUnit, ctx: Context) -> list[Segment]:
    """The billing provider loop's failing NM1s, worked out once per loop (claims share it)."""
    billing = claim.billing
    if billing is None:
        return []
    last = ctx.extra.get("npi-billing")
    if last is None or last[0] is not billing:
        bad = [s for s in billing.segments if s.els[0] == "NM1" and _npi_fails(s)]
        last = ctx.extra["npi-billing"] = (billing, bad)
    return last[1]


@kind("npi_check_digit")
def npi_check(claim: ClaimUnit, edit: Edit, params: dict, ctx: Context) -> Iterator[Finding]:
    for seg in _billing_fails(claim, ctx):
        yield _npi_finding(claim, edit, seg, None)
    for seg, line in claim.names:
        if _npi_fails(seg):
            yield _npi_finding(claim, edit, seg, line)


def _npi_finding(claim: ClaimUnit, edit: Edit, seg: Segment, line: Line | None) -> Finding:
    e = seg.els
    npi = e[9] if len(e) > 9 else ""
    digit = npi_check_digit(npi)
    who, claim_loop, line_loop = NPI_ENTITIES.get(e[1], (f"entity {e[1]}", "2310", "2420"))
    loop = line_loop if line is not None and e[1] != "85" else claim_loop
    what = (f"NPI {npi!r} is not 10 digits" if digit is None
            else f"NPI {npi} fails the check digit (the last digit should be {digit})")
    found = finding(claim, edit, edit.message("npi", who=who, loop=loop, what=what),
                    line=line if e[1] != "85" else None, segment=seg, code=npi or None)
    found.entity = e[1]  # status 562 is about an entity's NPI: the 277CA says whose
    return found


# -- duplicates -----------------------------------------------------------------------------------


@run_kind("duplicate_claim")
def duplicate_claim(claim: ClaimUnit, edit: Edit, params: dict, ctx: Context) -> Iterator[Finding]:
    run, keys = ctx.extra["run"], ctx.claim_cache["keys"]
    first = run.first(keys.claim_id)
    key = "same_id"
    if first is None:
        first, key = run.first(keys.content), "same_content"
    if first is not None:
        yield finding(claim, edit, edit.message(key, claim_id=claim.claim_id, first=first, ordinal=claim.ordinal),
                      segment=claim.clm)


EXPLAINS_REPEAT = frozenset({"76", "77", "91", "59", "XE", "XS", "XP", "XU", "RT", "LT"})


@kind("duplicate_line", bounds=no_dates, reads="mods")
def duplicate_line(claim: ClaimUnit, edit: Edit, params: dict, ctx: Context) -> Iterator[Finding]:
    seen: dict[tuple, Line] = {}
    for ln in claim.lines:
        if ln.sv1 is None:
            continue
        key = (claim.line_dos(ln), ln.code, tuple(sorted(ln.modifiers)))
        first = seen.setdefault(key, ln)
        if first is ln or EXPLAINS_REPEAT.intersection(ln.modifiers):
            continue
        mods = "-".join(ln.modifiers) or "no modifier"
        yield finding(claim, edit, edit.message("repeat", line=ln.number, first=first.number, code=ln.code, mods=mods,
                                                dos=key[0] or "no date"), line=ln)


# -- code lists by date: place of service, modifiers ---------------------------------------------


def _table(ctx: Context, edit: Edit, name: str) -> dict[str, list[Row]]:
    def make() -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = {}
        for row in ctx.catalog.table(edit.pack, name):
            out.setdefault(row["code"], []).append(row)
        return out

    return ctx.memo(("pro-table", edit.pack, name), make)


def _undated(ctx: Context, edit: Edit, table: dict[str, list[Row]]) -> set[str]:
    """Codes valid on every date: most claims need no date arithmetic at all."""
    return ctx.memo(("undated", edit.id), lambda: {c for c, rows in table.items()
                                                   if any(r.valid_from is None and r.valid_to is None for r in rows)})


def _judge(rows: list[Row] | None, day: dt.date) -> tuple[str, Row | None]:
    """("ok" | "unknown" | "not_yet" | "ended", the row that says so) for a code on a day."""
    if not rows:
        return "unknown", None
    for r in rows:
        if r.valid_on(day):
            return "ok", r
    later = [r for r in rows if r.valid_from and day < r.valid_from]
    if later:
        return "not_yet", min(later, key=lambda r: r.valid_from)  # type: ignore[arg-type, return-value]
    return "ended", max(rows, key=lambda r: r.valid_to or dt.date.max)


def _row_judgement(state: str, row: Row | None, partial: bool) -> dict[str, Any]:
    """Severity and confidence of a code-list finding: only a dated, certain row rejects.

    A code the list does not hold rejects when the list is complete; from a partial list it warns.
    """
    if state == "unknown":
        return {"severity": "warn", "confidence": "partial-list"} if partial else {}
    return {"row": row} if row is not None else {"severity": "warn", "confidence": "likely"}


@kind("place_of_service", bounds=pack_dates, reads="claim places")
def place_of_service(claim: ClaimUnit, edit: Edit, params: dict, ctx: Context) -> Iterator[Finding]:
    table = _table(ctx, edit, params.get("table", "pos"))
    undated = _undated(ctx, edit, table)
    if claim.place and claim.place not in undated:  # most claims: a code valid on every date (11, 22, ...)
        days = sorted({d for ln in claim.lines if not ln.place and (d := claim.line_dos(ln)) is not None})
        if days:
            yield from _pos(claim, edit, table, claim.place, days[0], None, "CLM05-1")
    for ln in claim.lines:
        if ln.place and ln.place not in undated and (day := claim.line_dos(ln)) is not None:
            yield from _pos(claim, edit, table, ln.place, day, ln, "SV105")


def _pos(claim: ClaimUnit, edit: Edit, table: dict[str, list[Row]], code: str, day: dt.date, line: Line | None,
         where: str) -> Iterator[Finding]:
    state, row = _judge(table.get(code), day)
    if state == "ok":
        return
    text = edit.message(state, where=where, code=code, dos=day, date=row and (row.valid_from or row.valid_to))
    yield finding(claim, edit, text, line=line, segment=line.sv1 if line else claim.clm, code=code,
                  **_row_judgement(state, row, partial=False))


@kind("modifier_code", bounds=pack_dates, reads="mods")
def modifier_code(claim: ClaimUnit, edit: Edit, params: dict, ctx: Context) -> Iterator[Finding]:
    table = _table(ctx, edit, params.get("table", "modifiers"))
    partial = bool(params.get("partial", True))
    undated = _undated(ctx, edit, table)
    for ln in claim.lines:
        for mod in ln.modifiers:
            if mod in undated:
                continue
            if len(mod) != 2 or not mod.isalnum() or not mod.isascii():
                yield finding(claim, edit, edit.message("malformed", line=ln.number, code=ln.code, mod=mod), line=ln)
                continue
            day = claim.line_dos(ln)
            if day is None:
                continue
            state, row = _judge(table.get(mod.upper()), day)
            if state == "ok":
                continue
            text = worded(ctx, edit, _modifier_text, state, ln.number, ln.code, mod, day,
                          row and (row.valid_from or row.valid_to))
            yield finding(claim, edit, text, line=ln, **_row_judgement(state, row, partial),
                          suggestion=edit.message("partial_fix") if state == "unknown" and partial else "")


def _modifier_text(edit: Edit, state: str, number: int, code: str, mod: str, day: dt.date,
                   date: dt.date | None) -> str:
    return edit.message(state, line=number, code=code, mod=mod, dos=day, date=date)


# -- timely filing --------------------------------------------------------------------------------


def transaction_date(claim: ClaimUnit) -> dt.date | None:
    """The day the transaction was created: the latest of BHT04, GS04 and ISA09."""
    txn = claim.transaction
    isa = txn.group.interchange.isa.els
    isa09 = parse_d8("20" + isa[9]) if len(isa) > 9 and len(isa[9]) == 6 else None
    days = [d for d in (parse_d8(txn.bht04), txn.group.date, isa09) if d is not None]
    return max(days) if days else None


def add_months(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    raise ValueError(day)


def _filing_rule(claim: ClaimUnit, edit: Edit, ctx: Context, params: dict[str, Any]):  # type: ignore[no-untyped-def]
    """(months, days, source text, table row or None) of the claim's payer, or None when it has no limit."""
    payer = ctx.payers.payer_for(claim) if ctx.payers is not None else None
    if payer is not None and (payer.filing_limit_days or payer.filing_limit_months):
        return payer.filing_limit_months or 0, payer.filing_limit_days or 0, \
            f"payer registry entry {payer.key} ({payer.name})", None
    rows = [r for r in ctx.catalog.table(edit.pack, params.get("table", "filing_limits"))
            if payer_matches(claim, r["payer"], ctx.payers) and (r["payer"] != "medicare" or is_medicare(claim, ctx.payers))]
    return [(int(r.get("months", "0") or 0), int(r.get("days", "0") or 0), r.source.cite(), r) for r in rows] or None


def _deadline(day: dt.date, months: int, days: int) -> tuple[dt.date, str]:
    return (add_months(day, months), f"{months} months") if months else (day + dt.timedelta(days=days), f"{days} days")


#: deadlines remembered per payer (and per day, within a payer's); each memory starts again when full
_DEADLINES = 1 << 12


@kind("timely_filing")
def timely_filing(claim: ClaimUnit, edit: Edit, params: dict, ctx: Context) -> Iterator[Finding]:
    sent, who, deadlines = _filing(claim, edit, ctx)
    if sent is None:
        return
    for day in claim.service_dates():
        limit = deadlines.get(day, False)
        if limit is False:
            if len(deadlines) >= _DEADLINES:
                deadlines.clear()
            limit = deadlines[day] = _limit(claim, edit, ctx, params, who, day)
        if limit is not None and sent > limit[0]:
            deadline, text, source = limit
            yield finding(claim, edit, edit.message("late", dos=day, sent=sent, limit=text, deadline=deadline,
                                                    late=(sent - deadline).days), source=source)


Filing = tuple["dt.date | None", tuple[str, str, str], "dict[dt.date, Any]"]


def _filing(claim: ClaimUnit, edit: Edit, ctx: Context) -> Filing:
    """(the day the claim's transaction was sent, its payer as the deadlines know it, the payer's
    deadlines by day of service), worked out once for the claims of one subscriber loop (they
    follow one another)."""
    txn, sub = claim.transaction, claim.subscriber
    last = ctx.extra.get("filing")
    if last is not None and last[0] is txn and last[1] is sub and last[2] is edit:
        return last[3]  # type: ignore[no-any-return]
    who = (edit.id, sub.payer_id, sub.filing_indicator) if sub is not None else (edit.id, "", "")
    payers: dict[tuple[str, str, str], dict[dt.date, Any]] = ctx.memo(("deadlines", edit.id), dict)
    deadlines = payers.get(who)
    if deadlines is None:
        if len(payers) >= _DEADLINES:
            payers.clear()
        deadlines = payers[who] = {}
    found = (_sent(claim, ctx), who, deadlines)
    ctx.extra["filing"] = (txn, sub, edit, found)
    return found


def _sent(claim: ClaimUnit, ctx: Context) -> dt.date | None:
    """``transaction_date`` of the claim's transaction, worked out once per transaction."""
    txn = claim.transaction
    last = ctx.extra.get("sent")
    if last is None or last[0] is not txn:
        last = ctx.extra["sent"] = (txn, transaction_date(claim))
    return last[1]


def _limit(claim: ClaimUnit, edit: Edit, ctx: Context, params: dict, who: tuple,
           day: dt.date) -> tuple[dt.date, str, str] | None:
    """(deadline, limit in words, source) of a service on ``day`` for the claim's payer, or None."""
    rule = ctx.memo(("filing-rule", who), lambda: _filing_rule(claim, edit, ctx, params))
    if not rule:
        return None
    rules = rule if isinstance(rule, list) else [rule]
    limit = next((r for r in rules if r[3] is None or r[3].valid_on(day)), None)
    if limit is None:
        return None
    deadline, text = _deadline(day, limit[0], limit[1])
    return deadline, text, limit[2]
