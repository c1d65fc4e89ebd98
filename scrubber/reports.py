"""Reading ``NAME.report.json``: every claim in file order, whichever version wrote the report.

``scrubber.report/2`` keeps claims with findings in full in ``claims`` and the others as compact
rows in ``clean`` (see ``scrubber/schemas/report-2.json``). Code written for version 1 reads a
version 2 report through ``expand`` (the whole document as version 1 has it) or ``claims`` (the
claims alone, as version 1 objects, in file order).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any

V1 = "scrubber.report/1"
V2 = "scrubber.report/2"


def claims(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every claim of ``report`` in file order, each a version 1 claim object (v2 adds ``ordinal``)."""
    return list(iter_claims(report))


def iter_claims(report: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """``claims`` one at a time (a clean row becomes an object only when its turn comes)."""
    version = report.get("schema")
    if version == V1:
        yield from report["claims"]
        return
    if version != V2:
        raise ValueError(f"not a scrubber report of a known version: {version!r}")
    columns = report["clean_columns"]
    clean = ({**dict(zip(columns, row, strict=True)), "status": "accepted", "findings": []} for row in report["clean"])
    yield from heapq.merge(report["claims"], clean, key=lambda c: c["ordinal"])


def expand(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` as a version 1 document (a version 1 report is returned as it is)."""
    if report.get("schema") == V1:
        return report
    out = {k: v for k, v in report.items() if k not in ("clean_columns", "clean", "claims")}
    out["schema"] = V1
    out["claims"] = claims(report)
    return out
