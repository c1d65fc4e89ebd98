"""Run the packs' edits over claim units and collect findings (all of them, never the first only).

Two passes per claim: ``check`` runs the per-claim edits (pure functions of the claim: they run the
same in a worker process), ``check_run`` the cross-claim edits against the run index of the input
file, in input order (see ``scrubber.runindex``). Rule control (``scrubber.config``) decides which
edits run and how severe they are, for every claim or per payer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from operator import itemgetter
from pathlib import Path
from typing import Any

from scrubber.config import ConfigError, RuleConfig, Rules, Severity
from scrubber.model import ClaimUnit, Finding
from scrubber.payers import Registry
from scrubber.rules import (  # noqa: F401  (importing registers the kinds)
    kinds_core,
    kinds_dx,
    kinds_lines,
    kinds_ncci,
    kinds_payer,
    kinds_pro,
)
from scrubber.rules.catalog import Catalog, Edit, load_catalog
from scrubber.rules.kinds import BOUNDS, KINDS, READS, RUN_LEVEL, TRIGGERS, UNITS, Check, Context
from scrubber.rules.ncci_tables import Ncci
from scrubber.rules.shape import ALWAYS_READ, FACETS, Shape, claim_shape, epoch_bounds
from scrubber.runindex import RunIndex, claim_keys

STRUCTURE = "X12-STRUCTURE"
GUIDE = "X12-IG"
#: edits that also run on a claim that cannot be read (the others would guess at missing data)
ALWAYS = frozenset({STRUCTURE, GUIDE})
#: claim shapes remembered per plan; when full, the memory starts again (a file of all-different
#: claims then costs what it cost without it)
MEMO_SIZE = 1 << 12
#: per step with ``reads``: its verdicts remembered by the facets it reads
STEP_MEMO_SIZE = 1 << 10
#: per facet: values numbered for the steps' memories (see ``_facet_ids``)
FACET_IDS_SIZE = 1 << 14

Step = tuple[Edit, dict[str, Any], Check, "frozenset[str] | None"]


@dataclass(slots=True)
class Plan:
    """The checks of one rule configuration: structure, per-claim and cross-claim (run-level)."""

    structure: list[Step] = field(default_factory=list)
    claim: list[Step] = field(default_factory=list)
    run: list[Step] = field(default_factory=list)
    severity: dict[str, Severity] = field(default_factory=dict)
    #: per ``claim`` step: whether its kind declared bounds (its verdict is a function of the shape)
    shaped: list[bool] = field(default_factory=list)
    #: every bound of the shaped steps, for the claim's epochs (scrubber.rules.shape)
    bounds: tuple[dt.date, ...] = ()
    #: the codes whose units a shaped step compares as numbers (their units are in the shape)
    unit_codes: frozenset[str] = frozenset()
    #: claim shape -> the steps to run on a claim of that shape: the unshaped steps its codes
    #: trigger and the shaped steps that found something on it
    memo: dict[Shape, tuple[Step, ...]] = field(default_factory=dict)
    #: per ``claim`` step whose kind declares ``reads``: the facets it reads (an itemgetter over
    #: the shape), and its verdicts by them (True: found something); None for the others
    facets: list[Any] = field(default_factory=list)
    step_memo: list[dict[Any, bool]] = field(default_factory=list)
    #: per facet of the shape: its values seen, each with a number (``_facet_ids``)
    facet_ids: list[dict[Any, int]] = field(default_factory=lambda: [{} for _ in FACETS])
    last_id: int = 0
    #: a claim's set of codes -> the ``claim`` (and ``run``) steps those codes trigger (``_triggered``)
    triggered: dict[frozenset[str], tuple[Entry, ...]] = field(default_factory=dict)
    run_triggered: dict[frozenset[str], tuple[Entry, ...]] = field(default_factory=dict)


class Engine:
    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        today: dt.date | None = None,
        payers: Any = None,
        only: set[str] | None = None,
        rules: RuleConfig | None = None,
        ncci: str | Path | None = None,
        memo: bool = True,
    ) -> None:
        self.catalog = catalog or load_catalog()
        #: remember per claim shape which shaped checks found nothing (scrubber.rules.shape)
        self.memo = memo
        if payers is None:
            payers = Registry.default()
        elif isinstance(payers, (str, Path)):
            payers = Registry.default(extra=[payers])  # extends the built-in registry, as --payers does
        self.payers = payers
        self.rules = rules or RuleConfig()
        self.rules.check_ids(self.catalog.edits)
        self.ncci = Ncci.load(self.catalog, ncci or self.rules.ncci)
        self.context = Context(self.catalog, today or dt.date.today(), payers)
        self.context.extra["ncci"] = self.ncci
        self._only = only
        self._default = self._plan(self.rules.rules)
        self._by_payer: dict[str, Plan] = {}
        #: keep per-line day keys only when a loaded NCCI table can compare lines across claims
        self._day_index = self.ncci.needs_day_index()
        self._line_codes = None if self._day_index else self.ncci.mue_codes()

    # -- plans ------------------------------------------------------------------------------------
    def _plan(self, rules: Rules) -> Plan:
        plan = Plan()
        dates: set[dt.date] = set()
        unit_codes: set[str] = set()
        for pack in self.catalog.packs:
            for listed in pack.edits:
                edit = self._effective(listed, rules)
                if edit is None or (self._only is not None and edit.id not in self._only and edit.id not in ALWAYS):
                    continue
                if edit.id in rules.severity:
                    plan.severity[edit.id] = Severity(edit.severity, edit.category, edit.status_code)
                for kind_name, params in edit.checks:
                    try:
                        check = KINDS[kind_name]
                    except KeyError:
                        raise ValueError(f"edit {edit.id}: unknown check kind {kind_name!r}") from None
                    trigger = TRIGGERS.get(kind_name)
                    step = (edit, params, check, trigger(edit, params, self.context) if trigger else None)
                    if edit.id in ALWAYS:
                        plan.structure.append(step)
                    if edit.id == STRUCTURE:
                        continue
                    if kind_name in RUN_LEVEL:
                        plan.run.append(step)
                    else:
                        plan.claim.append(step)
                        plan.shaped.append(kind_name in BOUNDS)
                        plan.facets.append(_facets(kind_name))
                        plan.step_memo.append({})
                        if kind_name in BOUNDS:
                            dates.update(BOUNDS[kind_name](edit, params, self.context))
                        if kind_name in UNITS:
                            unit_codes.update(UNITS[kind_name](edit, params, self.context))
        plan.bounds = epoch_bounds(dates)
        plan.unit_codes = frozenset(unit_codes)
        return plan

    def _effective(self, edit: Edit, rules: Rules) -> Edit | None:
        """The edit as the rule configuration has it, or None when it is switched off."""
        if edit.id in rules.disable and edit.id == STRUCTURE:
            raise ConfigError(f"{edit.id} cannot be switched off: a claim that cannot be read is always rejected")
        if edit.id in rules.disable or not (edit.enabled or edit.id in rules.enable):
            return None
        sev = rules.severity.get(edit.id)
        if sev is None:
            return edit if edit.enabled else replace(edit, enabled=True)
        if edit.id == STRUCTURE and sev.level != "reject":
            raise ConfigError(f"{edit.id} always rejects: a claim that cannot be read is never forwarded")
        if sev.level == "warn":
            return replace(edit, enabled=True, severity="warn")
        category, status = sev.category or edit.category, sev.status_code or edit.status_code
        if not (category and status):
            raise ConfigError(f"{edit.id} has no 277CA code to reject with; give one: "
                              f"--severity {edit.id}=reject:A7:<status code> (code list 508)")
        return replace(edit, enabled=True, severity="reject", category=category, status_code=status)

    def plan_for(self, claim: ClaimUnit) -> Plan:
        if not self.rules.payers:
            return self._default
        payer_id = claim.payer_id
        plan = self._by_payer.get(payer_id)
        if plan is None:
            payer = self.payers.payer_for(claim) if self.payers is not None else None
            rules = self.rules.for_payer(payer_id, payer.key if payer is not None else "")
            plan = self._by_payer[payer_id] = self._default if rules is None else self._plan(rules)
        return plan

    def effective_edits(self, rules: Rules | None = None) -> list[Edit | None]:
        """Every catalog edit as configured (None where switched off), in catalog order."""
        rules = rules or self.rules.rules
        return [self._effective(e, rules) for p in self.catalog.packs for e in p.edits]

    # -- checking ---------------------------------------------------------------------------------
    def check(self, claim: ClaimUnit) -> list[Finding]:
        """The per-claim edits (what a worker process runs)."""
        ctx = self.context
        ctx.claim_cache.clear()
        plan = self.plan_for(claim)
        if claim.problems:
            # The claim cannot be read reliably: say why, and do not guess at the rest.
            return [f for e, p, c, _t in plan.structure for f in c(claim, e, p, ctx)]
        out: list[Finding] = []
        edit = None
        key = claim_shape(claim, plan.bounds, plan.unit_codes) if self.memo else None
        steps = plan.memo.get(key) if key is not None else None
        try:  # one guard per claim, not per check: the loop is the hot path
            if steps is not None:
                for edit, params, check, _t in steps:
                    out.extend(check(claim, edit, params, ctx))
            else:
                steps = self._check_all(claim, plan, out, key)
                if key is not None:
                    if len(plan.memo) >= MEMO_SIZE:
                        plan.memo.clear()
                    plan.memo[key] = steps
        except _Failed as failed:
            return self._held(claim, failed.edit, failed.exc)
        except Exception as exc:
            return self._held(claim, edit, exc)
        return _apply(out, plan.severity)

    def _check_all(self, claim: ClaimUnit, plan: Plan, out: list[Finding], key: Shape | None) -> tuple[Step, ...]:
        """Every step of the plan the claim's codes trigger (but those known to find nothing by the
        facets they read); returns the steps a claim of its shape needs."""
        ctx = self.context
        ids = _facet_ids(plan, key) if key is not None else None
        needed = []
        for step, facets, memo, shaped in _triggered(plan, claim):
            edit, params, check, _t = step
            if ids is None:
                facets = None
            elif facets is not None:
                seen = facets(ids)
                if memo.get(seen) is False:
                    continue
            before = len(out)
            try:
                out.extend(check(claim, edit, params, ctx))
            except Exception as exc:
                raise _Failed(edit, exc) from exc
            found = len(out) > before
            if facets is not None:
                if len(memo) >= STEP_MEMO_SIZE:
                    memo.clear()
                memo[seen] = found
            if found or not shaped:
                needed.append(step)
        return tuple(needed)

    def runs(self, edit_id: str) -> bool:
        """Whether the edit can run in this engine (on by default, or for some payer)."""
        return any(step[0].id == edit_id for step in self._default.claim) or bool(self.rules.payers)

    def _held(self, claim: ClaimUnit, edit: Edit | None, exc: Exception) -> list[Finding]:
        """A value no check foresaw: the claim is held with the reason, and the run goes on.

        The exception's text may quote claim content: name its type only.
        """
        what = edit.id if edit is not None else "a"
        claim.problems.append((f"the {what} check could not judge a value in this claim ({type(exc).__name__})",
                               claim.clm))
        return self.check(claim)

    def new_run(self) -> RunIndex:
        """A fresh run index: one per input file."""
        return RunIndex()

    def check_run(self, claim: ClaimUnit, run: RunIndex, findings: list[Finding]) -> list[Finding]:
        """The cross-claim edits of ``claim`` against the claims before it; records it if it stays accepted.

        ``findings`` are the claim's per-claim findings (from ``check``, here or in a worker).
        Call it for every claim of the input, in input order.
        """
        if claim.problems:
            return []
        ctx = self.context
        plan = self.plan_for(claim)
        ctx.claim_cache.clear()
        out: list[Finding] = []
        edit = None
        try:
            keys = ctx.claim_cache["keys"] = claim_keys(claim, self._day_index, self._line_codes)
            ctx.extra["run"] = run
            for (edit, params, check, _t), _f, _m, _s in _triggered(plan, claim, run_level=True):
                out.extend(check(claim, edit, params, ctx))
        except Exception as exc:
            return self._held(claim, edit, exc)
        out = _apply(out, plan.severity)
        if not _rejects(findings) and not _rejects(out):
            run.record(keys)
        return out

    def notices(self, run: RunIndex | None = None) -> list[str]:
        """What the report should say about the run's rule data (e.g. no NCCI tables loaded), and what
        run-level kinds tallied over the file instead of repeating it on every claim."""
        ncci_on = any(step[0].pack == "ncci" for step in (*self._default.claim, *self._default.run))
        return [*(self.ncci.notices() if ncci_on else []), *(run.notices() if run is not None else [])]


#: a step as ``_check_all`` takes it: with its facets' getter, its memory and whether it is shaped
Entry = tuple[Step, Any, Any, bool]  # the memory: a dict, None for run-level steps


def _triggered(plan: Plan, claim: ClaimUnit, run_level: bool = False) -> tuple[Entry, ...]:
    """The plan's ``claim`` (or ``run``) steps the claim's codes trigger, worked out once per set of codes."""
    codes = frozenset([ln.code for ln in claim.lines])
    memo = plan.run_triggered if run_level else plan.triggered
    entries = memo.get(codes)
    if entries is None:
        if len(memo) >= MEMO_SIZE:
            memo.clear()
        if run_level:
            steps: list[Entry] = [(step, None, None, False) for step in plan.run]
        else:
            steps = list(zip(plan.claim, plan.facets, plan.step_memo, plan.shaped, strict=True))
        entries = memo[codes] = tuple(e for e in steps if e[0][3] is None or not e[0][3].isdisjoint(codes))
    return entries


def _facet_ids(plan: Plan, shape: Shape) -> tuple[int, ...]:
    """The shape as one number per facet: the steps' memories are then keyed by a few ints, which
    hash at once, where the facets' nested tuples would be hashed again for every step.

    Equal values get the same number while their table holds them; a full table starts again and
    its values get new numbers, never an old one, so a step's memory cannot mistake one for another.
    """
    out = []
    for table, value in zip(plan.facet_ids, shape, strict=True):
        n = table.get(value)
        if n is None:
            if len(table) >= FACET_IDS_SIZE:
                table.clear()
            plan.last_id += 1
            n = table[value] = plan.last_id
        out.append(n)
    return tuple(out)


def _facets(kind_name: str) -> Any:
    """The facets of the shape a kind with ``reads`` reads (codes and dates, and those it names)."""
    names = READS.get(kind_name)
    if kind_name not in BOUNDS or names is None:
        return None
    unknown = set(names) - set(FACETS)
    if unknown:
        raise ValueError(f"check kind {kind_name!r} reads unknown facets {sorted(unknown)}")
    return itemgetter(*ALWAYS_READ, *sorted(FACETS.index(n) for n in names))


class _Failed(Exception):
    """A check that raised, with its edit (for ``Engine._held``)."""

    def __init__(self, edit: Edit, exc: Exception) -> None:
        super().__init__(edit.id)
        self.edit = edit
        self.exc = exc


def _rejects(findings: list[Finding]) -> bool:
    for f in findings:
        if f.severity == "reject":
            return True
    return False


def _apply(findings: list[Finding], severity: dict[str, Severity]) -> list[Finding]:
    """Configured severities win over a table row's own (e.g. a row that only warns)."""
    if not severity:
        return findings
    for f in findings:
        sev = severity.get(f.edit)
        if sev is not None:
            f.severity = sev.level
            f.category = sev.category if sev.level == "reject" else None
            f.status_code = sev.status_code if sev.level == "reject" else None
    return findings
