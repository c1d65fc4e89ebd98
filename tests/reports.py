"""Every JSON report the tests produce is checked against the schema the package ships.

``conftest.py`` applies ``assert_valid_report`` to each in-memory scrub (``scrub_stream``, which
``scrub_bytes`` and ``scrub_file`` use) and, after each test, to every ``*.report.json`` under the
test's ``tmp_path`` (command line, ``scrub_to_dir``, process pools, Dask). Tests may call it
directly too. Reports of more than ``SAMPLE`` claims are checked whole at the top level and on
their first and last ``SAMPLE // 2`` claims, so a 100,000-claim report costs a second, not a
minute; the invariants between the counts are checked on every claim.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scrubber.reports import V2
from scrubber.reports import claims as all_claims
from scrubber.schemas import problems

SAMPLE = 2000
SCHEMAS = {"scrubber.report/1": "report-1", V2: "report-2"}


def assert_valid_report(report: str | bytes | dict[str, Any] | Path, where: str = "report") -> dict[str, Any]:
    if isinstance(report, Path):
        where, report = str(report), report.read_bytes()
    doc = json.loads(report) if isinstance(report, (str, bytes)) else report
    name = SCHEMAS.get(doc.get("schema") if isinstance(doc, dict) else None, "report-2")
    checked = doc
    for key in ("claims", "clean"):
        rows = checked.get(key) if isinstance(checked, dict) else None
        if isinstance(rows, list) and len(rows) > SAMPLE:
            checked = {**checked, key: rows[: SAMPLE // 2] + rows[-SAMPLE // 2:]}
    found = problems(name, checked)
    assert not found, f"{where} fails scrubber/schemas/{name}.json:\n" + "\n".join(found[:20])
    claims = all_claims(doc)
    if doc["schema"] == V2:
        assert [c["ordinal"] for c in claims] == list(range(1, len(claims) + 1)), where
        assert all(c["findings"] for c in doc["claims"]), where
    statuses = [c["status"] for c in claims]
    assert doc["claims_total"] == len(claims) == doc["accepted"] + doc["rejected"], where
    assert statuses.count("rejected") == doc["rejected"], where
    assert sum(1 for c in claims if c["status"] == "accepted" and c["findings"]) == doc["accepted_with_warnings"]
    by_edit: dict[str, int] = {}
    for c in claims:
        for f in c["findings"]:
            by_edit[f["edit"]] = by_edit.get(f["edit"], 0) + 1
    assert by_edit == doc["findings_by_edit"], where
    return doc
