"""Check kinds: generic functions that run an edit's rule over a claim unit.

A kind receives the claim, the edit (its parameters and tables) and the run context, and yields
findings. Kinds are pure: no I/O, no global state. New rule content is a table row or a new edit
entry in a pack; a new kind is needed only for a new *shape* of rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

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

    def memo(self, key: Any, make: Callable[[], Any]) -> Any:
        """Per-run cache for structures built from tables (indexes, code books)."""
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = make()
            return value


Check = Callable[[ClaimUnit, Edit, dict[str, Any], Context], Iterator[Finding]]
#: the codes a check can concern: a claim billing none of them is not given to the check at all
Triggers = Callable[[Edit, dict[str, Any], Context], "frozenset[str] | None"]
KINDS: dict[str, Check] = {}
TRIGGERS: dict[str, Triggers] = {}


def kind(name: str, triggers: Triggers | None = None) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        if name in KINDS:
            raise ValueError(f"check kind {name!r} registered twice")
        KINDS[name] = fn
        if triggers is not None:
            TRIGGERS[name] = triggers
        return fn

    return register


def run_kind(name: str, triggers: Triggers | None = None) -> Callable[[Check], Check]:
    """A kind that needs the run index: the engine runs it in input order, in the parent process."""

    def register(fn: Check) -> Check:
        fn.run_level = True  # type: ignore[attr-defined]
        return kind(name, triggers)(fn)

    return register


def segment_text(claim: ClaimUnit, seg: Segment | None) -> str | None:
    if seg is None:
        return None
    d = claim.delimiters
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
    return Finding(
        edit=edit.id,
        severity=severity,
        message=message,
        line=line.number if line is not None else None,
        code=code if code is not None else (line.code if line is not None else None),
        suggestion=suggestion or edit.fix,
        category=(category or edit.category) if severity == "reject" else None,
        status_code=edit.status_code if severity == "reject" else None,
        segment=segment_text(claim, seg),
        segment_number=seg.number if seg is not None else None,
        source=source or edit.source_text(),
        line_index=line.index if line is not None else None,
        confidence=confidence,
    )
