"""Check kinds: generic functions that run an edit's rule over a claim unit.

A kind receives the claim, the edit (its parameters and tables) and the run context, and yields
findings. Kinds are pure: no I/O, no global state. New rule content is a table row or a new edit
entry in a pack; a new kind is needed only for a new *shape* of rule.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from scrubber.model import ClaimUnit, Finding, Line
from scrubber.rules.catalog import Catalog, Edit, Row
from scrubber.x12.segments import Segment


@dataclass(slots=True)
class Context:
    """What a check may know besides the claim: the catalog's tables and the run's settings."""

    catalog: Catalog
    today: dt.date
    payers: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    _memo: dict[Any, Any] = field(default_factory=dict)
    #: derived views of the claim being checked, shared by its checks; the engine empties it per claim
    claim_cache: dict[str, Any] = field(default_factory=dict)
    #: findings' texts worked out once, per edit (its id: the edit and its texts by maker and
    #: arguments, see ``worded``); None: worked out every time (``Engine(memo=False)``, which the
    #: tests compare with the remembering engine)
    words: dict[int, tuple[Edit, dict[Any, Any]]] | None = field(default_factory=dict)

    def memo(self, key: Any, make: Callable[[], Any]) -> Any:
        """Per-run cache for structures built from tables (indexes, code books)."""
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = make()
            return value


T = TypeVar("T")
Check = Callable[[ClaimUnit, Edit, dict[str, Any], Context], Iterator[Finding]]
#: the codes a check can concern: a claim billing none of them is not given to the check at all
Triggers = Callable[[Edit, dict[str, Any], Context], "frozenset[str] | None"]
#: every date a check compares a claim's dates with (see scrubber.rules.shape)
Bounds = Callable[[Edit, dict[str, Any], Context], Iterable[dt.date]]
#: the codes whose units a check compares as numbers (see scrubber.rules.shape)
UnitCodes = Callable[[Edit, dict[str, Any], Context], "frozenset[str]"]
KINDS: dict[str, Check] = {}
TRIGGERS: dict[str, Triggers] = {}
BOUNDS: dict[str, Bounds] = {}
UNITS: dict[str, UnitCodes] = {}
#: the facets of the shape (scrubber.rules.shape.FACETS) a kind with bounds reads besides codes and dates
READS: dict[str, tuple[str, ...]] = {}
#: kinds registered with ``run_kind`` (a set, not an attribute on the function: compiled functions
#: take none, scrubber._native)
RUN_LEVEL: set[str] = set()
#: a judged kind's two halves (``judged``): what it finds, and the findings for a claim; with the
#: check they make (a plan whose check was replaced since runs that instead)
Judge = Callable[[ClaimUnit, Edit, dict[str, Any], Context], Any]
Words = Callable[[ClaimUnit, Edit, dict[str, Any], Context, Any], Iterator[Finding]]
Judged = tuple[Judge, Words, "Check"]
JUDGED: dict[str, Judged] = {}


def kind(name: str, triggers: Triggers | None = None, bounds: Bounds | None = None,
         units: UnitCodes | None = None, reads: str | None = None) -> Callable[[Check], Check]:
    """Register a check kind.

    ``bounds`` is a promise: whether the check finds anything in a claim depends only on the
    claim's shape (``scrubber.rules.shape``: codes, modifiers, pointers, diagnoses, payer, which
    lines share a date...) and on where its dates fall among the dates ``bounds`` returns. The
    engine then remembers, per shape, that the check found nothing, and skips it on the next claim
    of that shape. ``units`` names the codes whose units the check compares as numbers (of the
    other lines the shape tells only whether their units are a plain positive whole number). A
    kind that reads anything else (charges, ids, names, the file's date) registers no bounds and
    runs on every claim. ``reads`` narrows the promise to some facets of the shape (names of
    ``scrubber.rules.shape.FACETS``, space-separated); without it the kind reads the whole shape.
    """

    def register(fn: Check) -> Check:
        if name in KINDS:
            raise ValueError(f"check kind {name!r} registered twice")
        KINDS[name] = fn
        if triggers is not None:
            TRIGGERS[name] = triggers
        if bounds is not None:
            BOUNDS[name] = bounds
        if units is not None:
            UNITS[name] = units
        if reads is not None:
            READS[name] = tuple(reads.split())
        return fn

    return register


def judged(name: str, judge: Judge, *, bounds: Bounds, triggers: Triggers | None = None,
           units: UnitCodes | None = None, reads: str | None = None) -> Callable[[Words], Words]:
    """Register a kind with bounds in two halves: ``judge(claim, edit, params, ctx)`` says what the
    check finds (its verdict: () or None when nothing), ``words(claim, edit, params, ctx, verdict)``
    gives the claim's findings for it. The check is ``words(judge(...))``.

    The verdict, like whether anything is found, must depend only on the facets the kind reads
    (``kind``): it names lines by position (``Line.index``) and holds table rows and values the
    shape holds, never a line number (LX01), a date, a charge or units the shape does not hold.
    The engine remembers it with the facets, and on the next claim with the same facets only
    words it; ``words`` reads whatever it needs from the claim.
    """

    def register(words: Words) -> Words:
        def check(claim: ClaimUnit, edit: Edit, params: dict[str, Any], ctx: Context) -> Iterator[Finding]:
            verdict = judge(claim, edit, params, ctx)
            return words(claim, edit, params, ctx, verdict) if verdict else iter(())

        check.__name__ = check.__qualname__ = words.__name__
        kind(name, triggers, bounds, units, reads)(check)
        JUDGED[name] = (judge, words, check)
        return words

    return register


def run_kind(name: str, triggers: Triggers | None = None) -> Callable[[Check], Check]:
    """A kind that needs the run index: the engine runs it in input order, in the parent process."""

    def register(fn: Check) -> Check:
        RUN_LEVEL.add(name)
        return kind(name, triggers)(fn)

    return register


def no_dates(edit: Edit, params: dict[str, Any], ctx: Context) -> tuple[dt.date, ...]:
    """``bounds`` of a kind that compares no date with anything but the claim's own dates."""
    return ()


def pack_dates(edit: Edit, params: dict[str, Any], ctx: Context) -> list[dt.date]:
    """``bounds`` of a kind that reads only its pack's tables: every date in them (a superset is safe)."""

    def make() -> list[dt.date]:
        out = {edit.effective_from, edit.effective_to}
        for rows in ctx.catalog.pack(edit.pack).tables.values():
            for row in rows:
                out.add(row.valid_from)
                out.add(row.valid_to)
        out.discard(None)
        return sorted(out)  # type: ignore[type-var, arg-type]

    return ctx.memo(("pack-dates", edit.pack, edit.id), make)


#: texts kept per edit; past it the edit's memory starts again empty
WORDS_SIZE = 1 << 11


def worded(ctx: Context, edit: Edit, make: Callable[..., T], *args: Any) -> T:
    """``make(edit, *args)``, the texts of a finding of ``edit``, worked out once per ``args``: a
    file repeats the same fault on many claims. ``make`` reads nothing but the edit and ``args``
    (codes, line numbers, days, the values its texts show), so they say all its texts depend on;
    equal args must give equal texts (strings, ints, dates: not Decimals, 1.0 == 1). The edit is
    kept with the texts, so an id is never mistaken for another edit's.

    The tests compare every finding with one worded afresh (``Engine(memo=False)``). ``make`` is a
    module-level function; the key holds it (not its id: a compiled module's function as a value
    need not be one object for ever, and a freed one's id could name another).
    """
    words = ctx.words
    if words is None:
        return make(edit, *args)
    mine = words.get(id(edit))
    if mine is None or mine[0] is not edit:
        mine = words[id(edit)] = (edit, {})
    memo = mine[1]
    key = (make, args)
    texts = memo.get(key, _UNSAID)
    if texts is _UNSAID:
        if len(memo) >= WORDS_SIZE:
            memo.clear()
        texts = memo[key] = make(edit, *args)
    return texts  # type: ignore[no-any-return]


_UNSAID: Any = object()


_FIELDS: dict[str, tuple[str, ...]] = {}


def template_fields(edit: Edit, key: str) -> tuple[str, ...]:
    """The names of the values the edit's wording ``key`` fills in, in order (worked out once per
    template): what a text made with ``worded`` from some of a finding's values must be keyed by."""
    template = edit.messages.get(key, "")
    names = _FIELDS.get(template)
    if names is None:
        found = [name for _text, name, _spec, _conv in string.Formatter().parse(template) if name]
        names = _FIELDS[template] = tuple(dict.fromkeys(re.split(r"[.\[]", name, maxsplit=1)[0] for name in found))
    return names


def segment_text(claim: ClaimUnit, seg: Segment | None) -> str | None:
    if seg is None:
        return None
    d = claim.transaction.group.interchange.delimiters  # claim.delimiters, without the property call
    return d.element.join(seg.els) + d.segment


def finding(
    claim: ClaimUnit,
    edit: Edit,
    message: str,
    *,
    line: Line | None = None,
    segment: Segment | None = None,
    suggestion: str = "",
    code: str | None = None,
    severity: str | None = None,
    category: str | None = None,
    source: str | None = None,
    row: Row | None = None,
    confidence: str | None = None,
) -> Finding:
    """A finding of ``edit`` filled from the catalog: severity, 277CA codes, source and confidence.

    ``row`` is the table row behind the finding: its source and confidence (and its severity column,
    when it has one) speak for the finding. ``severity``, ``category``, ``source`` and ``confidence``
    override where a kind knows better (a missing NDC is A6, not A7). Whatever says so, a finding that
    is not ``certain`` never rejects: it is reported as a warning.
    """
    seg = segment or (line.sv1 or line.lx_segment if line is not None else claim.clm)
    if row is not None:
        severity = severity or row.get("severity") or None
        source = source or row.source.cite()
        confidence = confidence or row.confidence or None
    severity = severity or edit.severity
    confidence = confidence or edit.confidence
    if severity == "reject" and confidence != "certain":
        severity = "warn"
    rejects = severity == "reject"
    # Positional, in Finding's field order: a finding per fault, and keywords cost on every one.
    return Finding(
        edit.id,
        severity,
        message,
        line.number if line is not None else None,
        code if code is not None else (line.code if line is not None else None),
        suggestion or edit.fix,
        (category or edit.category) if rejects else None,
        edit.status_code if rejects else None,
        segment_text(claim, seg),
        seg.number if seg is not None else None,
        source or edit.source_text(),
        line.index if line is not None else None,
        confidence,
    )
