"""Check kinds for payer policies: covered diagnoses, paired groups, prior authorization, notes.

Everything comes from the payer registry in the run context (``Context.payers``); a claim whose
payer the registry does not know has no policy and passes these edits.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Iterator
from typing import Any

from scrubber.model import ClaimUnit, Diagnosis, Finding, Line
from scrubber.payers import DxRow, Policy, Rule
from scrubber.rules.catalog import Edit
from scrubber.rules.kinds import Context, finding, judged, kind, template_fields, worded
from scrubber.text import icd_display


def _pointed(claim: ClaimUnit, ln: Line) -> list[Diagnosis]:
    n = len(claim.diagnoses)
    return [claim.diagnoses[int(p) - 1] for p in ln.pointers if p.isascii() and p.isdigit() and len(p) <= 2 and 1 <= int(p) <= n]


def _show(d: Diagnosis) -> str:
    return icd_display(d.code, d.qualifier in ("BK", "BF"))


def _show_row(row: DxRow) -> str:
    return icd_display(row.dx[:-1]) + "*" if row.dx.endswith("*") else icd_display(row.dx)


def _examples(rows: list[DxRow], limit: int = 6) -> str:
    shown = []
    for r in rows:
        text = _show_row(r)
        if text not in shown:
            shown.append(text)
    more = f" and {len(shown) - limit} more" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more if shown else "none listed"


def _covering(ctx: Context, claim: ClaimUnit) -> list[tuple[Line, dt.date, Policy, str]]:
    """(line, date, policy, payer name) for every line a policy of the claim's payer covers; worked
    out once per claim for the four payer kinds."""
    found = ctx.claim_cache.get("payer-covering")
    if found is None:
        found = ctx.claim_cache["payer-covering"] = list(_lines_covered(ctx, claim))
    return found


def _lines_covered(ctx: Context, claim: ClaimUnit) -> Iterator[tuple[Line, dt.date, Policy, str]]:
    registry = ctx.payers
    if registry is None:
        return
    payer = registry.payer_for(claim)
    if payer is None:
        return
    for ln in claim.lines:
        day = claim.line_dos(ln)
        if ln.sv1 is None or day is None:
            continue
        for policy in payer.policies:
            if policy.covers(ln.code, day):
                yield ln, day, policy, payer.name


def _policy_codes(edit: Edit, params: dict[str, Any], ctx: Context) -> frozenset[str]:
    """Only claims billing a procedure some policy of the registry covers concern these kinds."""
    registry = ctx.payers
    if registry is None:
        return frozenset()
    return frozenset(c for p in registry.policies.values() for c in p.procedures)


def _source(policy: Policy, row: DxRow | Rule | None = None) -> str:
    """The policy as a citation, and the row's own source when another publication confirms the row."""
    text = policy.source.cite()
    if row is not None and row.source != policy.source:
        text += f"; {row.source.cite()}"
    return text


def _fix(edit: Edit, key: str, **values: Any) -> str:
    """The edit's fix, then what an appeal needs (every payer finding says it)."""
    return edit.message(key, **values) + " " + edit.message("appeal")


def _fix_text(edit: Edit, key: str, names: tuple[str, ...], values: tuple[Any, ...]) -> str:
    return _fix(edit, key, **dict(zip(names, values, strict=True)))


def _policy_dates(edit: Edit, params: dict[str, Any], ctx: Context) -> list[dt.date]:
    """Every date of the registry's policies: their windows and their rows'."""
    registry = ctx.payers
    out: set[dt.date | None] = set()
    for p in registry.policies.values() if registry is not None else ():
        out |= {p.effective_from, p.effective_to}
        for row in (*p.diagnoses, *p.prior_auth, *p.notes):
            out |= {row.valid_from, row.valid_to}
    out.discard(None)
    return sorted(out)  # type: ignore[type-var, arg-type]


class _Covered:
    """What a policy says of one procedure code on one day: its rows, and how to match a diagnosis."""

    __slots__ = ("exact", "examples", "prefixes", "rows", "source")

    def __init__(self, policy: Policy, code: str, day: dt.date) -> None:
        self.rows = policy.rows_for(code, day)
        self.exact = frozenset(r.dx for r in self.rows if not r.dx.endswith("*"))
        self.prefixes = tuple(r.dx[:-1] for r in self.rows if r.dx.endswith("*"))
        self.examples = _examples(self.rows) if self.rows else ""
        self.source = _source(policy, self.rows[0]) if self.rows else ""

    def matches(self, dx: str) -> bool:
        """``DxRow.matches`` of any of the rows."""
        code = dx.replace(".", "").upper()
        return code in self.exact or code.startswith(self.prefixes)


def _covered(ctx: Context, policy: Policy, code: str, day: dt.date) -> _Covered:
    """``_Covered`` once per policy, code and stretch of days between the dates of its rows."""
    memo = ctx.memo("payer-covered", dict)
    dates = ctx.memo(("payer-row-dates", id(policy)), lambda: sorted(
        {d for r in policy.diagnoses for d in (r.valid_from, r.valid_to) if d is not None}))
    # rows_for(code, day) changes only where a row starts or ends (bisect_right: a start counts on its day)
    key = (id(policy), code, bisect_right(dates, day))  # policies live as long as the run's registry
    found = memo.get(key)
    if found is None:
        if len(memo) >= 1024:
            memo.clear()
        found = memo[key] = _Covered(policy, code, day)
    return found


#: a line no pointed diagnosis covers: (its Line.index, the policy, the payer's name, the policy's rows)
Uncovered = tuple[int, Policy, str, _Covered]


def _uncovered(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> tuple[Uncovered, ...]:
    found = []
    for ln, day, policy, payer in _covering(ctx, claim):
        covered = _covered(ctx, policy, ln.code, day)
        if not covered.rows:
            continue  # the policy lists nothing for this code on this date: nothing to judge
        if not any(covered.matches(d.code) for d in _pointed(claim, ln)):
            found.append((ln.index, policy, payer, covered))
    return tuple(found)


@judged("payer_dx_covered", _uncovered, triggers=_policy_codes, bounds=_policy_dates, reads="payer dx pointers")
def payer_dx_covered(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context,
                     verdict: tuple[Uncovered, ...]) -> Iterator[Finding]:
    lines = claim.lines
    for index, policy, payer, covered in verdict:
        ln = lines[index - 1]
        day = claim.line_dos(ln)
        yield _not_covered(claim, edit, ctx, ln, day, policy, payer, covered, _pointed(claim, ln))  # type: ignore[arg-type]


def _not_covered(claim: ClaimUnit, edit: Edit, ctx: Context, ln: Line, day: dt.date, policy: Policy, payer: str,
                 covered: _Covered, pointed: list[Diagnosis]) -> Finding:
    rows = covered.rows
    elsewhere = next((d for d in claim.diagnoses if d not in pointed and covered.matches(d.code)), None)
    note = edit.message("elsewhere", dx=_show(elsewhere), line=ln.number) if elsewhere else ""
    pointers = ", ".join(f"{_show(d)} (pointer {d.position})" for d in pointed) or "no diagnosis"
    values = {"line": ln.number, "code": ln.code, "dos": day.isoformat(), "pointed": pointers,
              "payer": payer, "policy": policy.label(), "policy_id": policy.id, "elsewhere": note,
              "examples": covered.examples}
    partial = policy.partial
    if partial:
        confidence = "partial-list"
    else:
        confidence = "certain" if all(r.confidence == "certain" for r in rows) else "likely"
    fix = "partial_fix" if partial else "fix"
    names = template_fields(edit, fix)  # the suggestion names a few of the values: the same on many claims
    return finding(
        claim, edit, edit.message("partial" if partial else "not_covered", **values), line=ln,
        suggestion=worded(ctx, edit, _fix_text, fix, names, tuple([values[n] for n in names])),
        severity="warn" if partial else policy.on_not_covered, source=covered.source,
        confidence=confidence,
    )


@kind("payer_dx_paired", triggers=_policy_codes, bounds=_policy_dates, reads="payer dx pointers")
def payer_dx_paired(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    for ln, day, policy, _payer in _covering(ctx, claim):
        covered = _covered(ctx, policy, ln.code, day)  # its rows are policy.rows_for(ln.code, day)
        pointed = _pointed(claim, ln)
        if not any(covered.matches(d.code) for d in pointed):
            continue  # no pointed diagnosis matches a row: not covered at all (another edit)
        rows = covered.rows
        matched = [(d, r) for d in pointed for r in rows if r.matches(d.code)]
        if not matched or any(not r.requires_group for _, r in matched):
            continue  # not covered at all (another edit), or covered without a pairing condition
        for d, r in matched:
            partners = [x for x in rows if x.group == r.requires_group]
            if any(x.matches(o.code) for o in pointed if o is not d for x in partners):
                break
        else:
            d, r = matched[0]
            partners = [x for x in rows if x.group == r.requires_group]
            yield finding(
                claim, edit,
                edit.message("missing", line=ln.number, code=ln.code, dos=day.isoformat(), dx=_show(d),
                             group=r.group, policy=policy.label(), required=r.requires_group),
                line=ln, suggestion=_fix(edit, "fix", line=ln.number, required=r.requires_group,
                                         examples=_examples(partners)),
                source=_source(policy, r), confidence=r.confidence,
            )


@kind("payer_prior_auth", triggers=_policy_codes, bounds=_policy_dates,
      reads="payer claim auth dx pointers")
def payer_prior_auth(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    if claim.prior_auth:
        return
    for ln, day, policy, payer in _covering(ctx, claim):
        if ln.prior_auth:
            continue
        codes = [d.code for d in _pointed(claim, ln)]
        rule = next((r for r in policy.prior_auth if r.applies(ln.code, day, codes)), None)
        if rule is None:
            continue
        yield finding(
            claim, edit,
            edit.message("missing", line=ln.number, code=ln.code, dos=day.isoformat(), payer=payer,
                         policy=policy.label()),
            line=ln, suggestion=_fix(edit, "fix", line=ln.number), source=_source(policy, rule),
            confidence=rule.confidence,
        )


@kind("payer_policy_note", triggers=_policy_codes, bounds=_policy_dates, reads="payer dx pointers")
def payer_policy_note(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    for ln, day, policy, payer in _covering(ctx, claim):
        codes = [d.code for d in _pointed(claim, ln)]
        for note in policy.notes:
            if note.applies(ln.code, day, codes):
                yield finding(
                    claim, edit,
                    edit.message("note", line=ln.number, code=ln.code, payer=payer, policy=policy.label(),
                                 text=note.text),
                    line=ln, suggestion=_fix(edit, "fix"), source=_source(policy, note),
                    confidence=note.confidence,
                )
