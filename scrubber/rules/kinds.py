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
from scrubber.rules.catalog import Catalog, Edit
from scrubber.x12.segments import Segment


@dataclass(slots=True)
class Context:
    """What a check may know besides the claim: the catalog's tables and the run's settings."""

    catalog: Catalog
    today: dt.date
    payers: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


Check = Callable[[ClaimUnit, Edit, Context], Iterator[Finding]]
KINDS: dict[str, Check] = {}


def kind(name: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        if name in KINDS:
            raise ValueError(f"check kind {name!r} registered twice")
        KINDS[name] = fn
        return fn

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
) -> Finding:
    """A finding of ``edit`` filled from the catalog: severity, 277CA codes and source."""
    seg = segment or (line.sv1 or line.lx_segment if line is not None else claim.clm)
    return Finding(
        edit=edit.id,
        severity=edit.severity,
        message=message,
        line=line.number if line is not None else None,
        code=code if code is not None else (line.code if line is not None else None),
        suggestion=suggestion or edit.fix,
        category=edit.category,
        status_code=edit.status_code,
        segment=segment_text(claim, seg),
        segment_number=seg.number if seg is not None else None,
        source=edit.source_text(),
        line_index=line.index if line is not None else None,
    )
