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
from scrubber.rules.kinds import BOUNDS, JUDGED, KINDS, READS, RUN_LEVEL, TRIGGERS, UNITS, Check, Context, Judged
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
#: per group of steps that read the same facets: their verdicts remembered by those facets (a key
#: is a few ints and its verdict a shared tuple, some 150 bytes an entry; files of claims that all
#: differ in small ways need this many: 4,096 missed twice as often on the findings-heavy bench file)
GROUP_MEMO_SIZE = 1 << 14
#: per facet: values numbered for the memories (see ``_facet_ids``)
FACET_IDS_SIZE = 1 << 14
#: shapes (their hashes) seen once while the shape memory is choosy (``_admit``); when full, it starts again
SEEN_SIZE = 1 << 15

Step = tuple[Edit, dict[str, Any], Check, "frozenset[str] | None"]
#: a step as a claim of a known shape runs it: (edit, params, check, None), or for a judged kind
#: (edit, params, words, the verdict remembered): its findings are worded without judging again
Run = tuple[Edit, dict[str, Any], Any, Any]
#: what a group remembers of a key: its steps that found something, each with its verdict (None
#: for a kind that is not judged: it runs again)
Found = tuple[tuple[int, Any], ...]


@dataclass(slots=True)
class Group:
    """The shaped steps whose kinds read the same facets: one memory serves them all.

    ``memo`` maps the facets' numbers (``getter`` over ``_facet_ids``) to the group's steps (their
    indexes in ``Plan.claim``) that found something on a claim with those facets, each with its
    verdict when its kind is judged (``scrubber.rules.kinds.judged``: its findings are then worded
    without judging again); the others found nothing, and a claim with the same facets skips them.
    The codes are among the facets every kind reads, so the steps the claim's codes trigger are the
    same for every claim with one key.
    """

    getter: Any
    memo: dict[Any, Found] = field(default_factory=dict)


@dataclass(slots=True)
class Plan:
    """The checks of one rule configuration: structure, per-claim and cross-claim (run-level)."""

    structure: list[Step] = field(default_factory=list)
    claim: list[Step] = field(default_factory=list)
    run: list[Step] = field(default_factory=list)
    severity: dict[str, Severity] = field(default_factory=dict)
    #: per ``claim`` step: the index of its group in ``groups``, or -1 when its kind declared no
    #: bounds (its verdict is not a function of the shape: it runs on every claim it concerns)
    group_of: list[int] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    #: per ``claim`` step: its kind's judge, words and check when the kind is judged, else None
    judged: list[Judged | None] = field(default_factory=list)
    #: every bound of the shaped steps, for the claim's epochs (scrubber.rules.shape)
    bounds: tuple[dt.date, ...] = ()
    #: the codes whose units a shaped step compares as numbers (their units are in the shape)
    unit_codes: frozenset[str] = frozenset()
    #: claim shape -> the steps to run on a claim of that shape: the unshaped steps its codes
    #: trigger and the shaped steps that found something on it
    memo: dict[Shape, tuple[Run, ...]] = field(default_factory=dict)
    #: whether ``memo`` has filled up once: it then keeps only shapes seen before (``_admit``)
    choosy: bool = False
    #: while choosy, the hashes of the shapes seen once (ints: nothing for the collector to walk)
    seen: set[int] = field(default_factory=set)
    #: what the groups found, each outcome kept once (by ``_stand_in``), not once a key
    verdicts: dict[Any, Found] = field(default_factory=dict)
    #: per facet of the shape: its values seen, each with a number (``_facet_ids``)
    facet_ids: list[dict[Any, int]] = field(default_factory=lambda: [{} for _ in FACETS])
    last_id: int = 0
    #: a claim's set of codes -> the ``claim`` (and ``run``) steps those codes trigger (``_triggered``)
    triggered: dict[frozenset[str], Triggered] = field(default_factory=dict)
    run_triggered: dict[frozenset[str], Triggered] = field(default_factory=dict)


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
        if not memo:
            self.context.words = None  # every finding's text worked out afresh
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
        groups: dict[tuple[int, ...], int] = {}
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
                        plan.group_of.append(_group(plan, groups, kind_name))
                        plan.judged.append(JUDGED.get(kind_name))
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

    def forget(self) -> None:
        """Empty every memory of claims seen (shapes, groups' verdicts, findings' texts), as in a
        new engine; the tables stay loaded (for benchmarks that time a first pass more than once)."""
        for plan in (self._default, *self._by_payer.values()):
            plan.memo.clear()
            plan.choosy = False
            plan.seen.clear()
            plan.verdicts.clear()
            for group in plan.groups:
                group.memo.clear()
            for table in plan.facet_ids:
                table.clear()  # numbers are never given twice: last_id goes on
        if self.context.words is not None:
            self.context.words.clear()

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
        shape = claim_shape(claim, plan.bounds, plan.unit_codes) if self.memo else None
        steps = plan.memo.get(shape) if shape is not None else None
        try:  # one guard per claim, not per check: the loop is the hot path
            if steps is not None:
                for edit, params, run, verdict in steps:
                    out.extend(run(claim, edit, params, ctx) if verdict is None else run(claim, edit, params, ctx, verdict))
            else:
                # A shape not seen (lately): its facets as numbers, for the groups' memories.
                keep = shape is not None and _admit(plan, shape)
                steps = self._check_all(claim, plan, out, None if shape is None else _facet_ids(plan, shape), keep)
                if keep and shape is not None:
                    if len(plan.memo) >= MEMO_SIZE:
                        plan.memo.clear()
                        plan.choosy = True
                    plan.memo[shape] = steps
        except _Failed as failed:
            return self._held(claim, failed.edit, failed.exc)
        except Exception as exc:
            return self._held(claim, edit, exc)
        return _apply(out, plan.severity)

    def _check_all(self, claim: ClaimUnit, plan: Plan, out: list[Finding],
                   ids: tuple[int, ...] | None, keep: bool = True) -> tuple[Run, ...]:
        """Every step of the plan the claim's codes trigger but those its groups' memories know to
        find nothing (a judged step they know words its verdict); returns the steps a claim of its
        shape needs (when it is to be kept: ``keep``, else nothing)."""
        todo = _triggered(plan, claim)
        run, given, learning = _to_run(plan, todo, ids)
        steps, judged = plan.claim, plan.judged
        found: dict[int, Any] = {}  # index of a step that found something -> its verdict (None: not judged)
        for index in run:
            edit, params, check, _t = steps[index]
            try:
                verdict = self._run(claim, out, edit, params, check, judged[index], given.get(index))
            except Exception as exc:
                raise _Failed(edit, exc) from exc
            if verdict is not False:
                found[index] = verdict
        _learn(plan, learning, found)
        if not keep:
            return ()
        return tuple([_known(steps[i], judged[i], found.get(i)) for i in run if i in found or i in todo.always_index])

    def _run(self, claim: ClaimUnit, out: list[Finding], edit: Edit, params: dict[str, Any], check: Check,
             judged: Judged | None, verdict: Any) -> Any:
        """Run one step into ``out``: False when it found nothing, else its verdict (None when its
        kind is not judged). A judged step given the ``verdict`` remembered only words it."""
        ctx = self.context
        if judged is None or judged[2] is not check:  # not judged, or its check replaced on the plan
            before = len(out)
            out.extend(check(claim, edit, params, ctx))
            return None if len(out) > before else False
        judge, words, _check = judged
        if verdict is None:
            verdict = judge(claim, edit, params, ctx)
            if not verdict:
                return False
        out.extend(words(claim, edit, params, ctx, verdict))
        return verdict

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
            steps = plan.run
            for i in _triggered(plan, claim, run_level=True).always:
                edit, params, check, _t = steps[i]
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


@dataclass(slots=True)
class Triggered:
    """The steps a set of codes triggers, by their index in the plan's list (steps run in that
    order, whatever memory names them): those without bounds (``always``) and, per group, its
    steps (``groups``: the group's index and its steps' indexes)."""

    always: tuple[int, ...]
    always_index: frozenset[int]
    groups: tuple[tuple[int, tuple[int, ...]], ...]


def _triggered(plan: Plan, claim: ClaimUnit, run_level: bool = False) -> Triggered:
    """The plan's ``claim`` (or ``run``) steps the claim's codes trigger, worked out once per set of codes."""
    codes = frozenset([ln.code for ln in claim.lines])
    memo = plan.run_triggered if run_level else plan.triggered
    found = memo.get(codes)
    if found is None:
        if len(memo) >= MEMO_SIZE:
            memo.clear()
        steps = plan.run if run_level else plan.claim
        group_of = [-1] * len(steps) if run_level else plan.group_of
        by_group: dict[int, list[int]] = {}
        for i, step in enumerate(steps):
            if step[3] is None or not step[3].isdisjoint(codes):
                by_group.setdefault(group_of[i], []).append(i)
        always = tuple(by_group.pop(-1, ()))
        found = memo[codes] = Triggered(always, frozenset(always),
                                        tuple((g, tuple(entries)) for g, entries in sorted(by_group.items())))
    return found


#: a group that did not know a claim's key: its memory, the key and its triggered steps
Learning = tuple["dict[Any, Found]", Any, tuple[int, ...]]


def _to_run(plan: Plan, todo: Triggered,
            ids: tuple[int, ...] | None) -> tuple[list[int], dict[int, Any], list[Learning]]:
    """The triggered steps to run on a claim of shape ``ids``, in plan order: those without bounds,
    and per group the steps that found something on a claim with its key (all of them when no
    claim had that key yet: those groups are returned to learn from the claim), with the verdicts
    remembered for judged steps. ``ids`` None: all of them, nothing remembered."""
    run = list(todo.always)
    given: dict[int, Any] = {}
    learning: list[Learning] = []
    groups = plan.groups
    for g, entries in todo.groups:
        if ids is None:
            run += entries
            continue
        group = groups[g]
        key = group.getter(ids)
        found = group.memo.get(key)
        if found is None:
            run += entries
            learning.append((group.memo, key, entries))
            continue
        for index, verdict in found:
            run.append(index)
            if verdict is not None:
                given[index] = verdict
    run.sort()  # plan order: findings come in the order of the plan's steps
    return run, given, learning


def _learn(plan: Plan, learning: list[Learning], found: dict[int, Any]) -> None:
    """Remember, in each group that did not know the claim's key, which of its steps found something."""
    kept = plan.verdicts
    for memo, key, entries in learning:
        if len(memo) >= GROUP_MEMO_SIZE:
            memo.clear()
        these = tuple([(i, found[i]) for i in entries if i in found])
        stand_in = _stand_in(these)
        same = kept.get(stand_in)
        if same is None:
            if len(kept) >= GROUP_MEMO_SIZE:
                kept.clear()
            same = kept[stand_in] = these
        memo[key] = same  # one object for each outcome, not one a key: fewer objects for the collector


#: marks an object by identity in a stand-in (no verdict holds this object)
_BY_ID = object()
_PLAIN = frozenset({int, str, frozenset, type(None)})


def _stand_in(value: Any) -> Any:
    """A hashable stand-in for an outcome: tuples and plain values as they are, other objects
    (table rows, policies) by identity. Equal stand-ins mean the same outcome; an identity is not
    reused while its stand-in is kept, since the outcome kept with it holds the object."""
    if value.__class__ is tuple:
        return tuple([_stand_in(v) for v in value])
    if value.__class__ in _PLAIN:
        return value
    return _BY_ID, id(value)


def _known(step: Step, judged: Judged | None, verdict: Any) -> Run:
    """A step as a claim of a known shape runs it: its check, or its words with its verdict."""
    edit, params, check, _t = step
    if verdict is None or judged is None:
        return edit, params, check, None
    return edit, params, judged[1], verdict


def _admit(plan: Plan, shape: Shape) -> bool:
    """Whether to keep the steps of a claim of a shape the memory does not hold.

    Until the memory first fills up, every shape is kept (a file of a few thousand shapes, as most
    are, is then served from its second claim of each). After that the file has more shapes than
    the memory holds, most of them seen once (a findings-heavy file): a shape is kept from its
    second sighting. Kept shapes cost the collector a score of tuples each, and kept once-seen
    ones only pushed out the shapes that would come again.
    """
    if not plan.choosy:
        return True
    seen = plan.seen
    h = hash(shape)
    if h in seen:
        return True  # (another shape of this hash: it is kept at once, which costs nothing but room)
    if len(seen) >= SEEN_SIZE:
        seen.clear()
    seen.add(h)
    return False


def _facet_ids(plan: Plan, shape: Shape) -> tuple[int, ...]:
    """The shape as one number per facet: the memories are then keyed by a few ints, which hash at
    once, where the facets' nested tuples would be hashed again for every look-up.

    Equal values get the same number while their table holds them; a full table starts again and
    its values get new numbers, never an old one, so a memory cannot mistake one for another.
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


def _group(plan: Plan, groups: dict[tuple[int, ...], int], kind_name: str) -> int:
    """The index in ``plan.groups`` of the group of steps that read what kind ``kind_name`` reads
    (a new group for a new set of facets), or -1 for a kind without bounds."""
    facets = _facets(kind_name)
    if facets is None:
        return -1
    g = groups.get(facets)
    if g is None:
        g = groups[facets] = len(plan.groups)
        plan.groups.append(Group(itemgetter(*facets)))
    return g


def _facets(kind_name: str) -> tuple[int, ...] | None:
    """The facets of the shape (their indexes) a kind with bounds reads: codes and dates, and
    those its ``reads`` names (without ``reads``: all of them); None for a kind without bounds."""
    if kind_name not in BOUNDS:
        return None
    names = READS.get(kind_name)
    if names is None:
        return tuple(range(len(FACETS)))
    unknown = set(names) - set(FACETS)
    if unknown:
        raise ValueError(f"check kind {kind_name!r} reads unknown facets {sorted(unknown)}")
    return (*ALWAYS_READ, *sorted(FACETS.index(n) for n in names))


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
