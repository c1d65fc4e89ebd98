"""Finding text worked out once per edit and key gives, claim by claim, the text worked out afresh."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from scrubber.api import Options, scrub_bytes
from scrubber.engine import Engine
from scrubber.rules import catalog, kinds
from scrubber.rules.catalog import load_catalog
from scrubber.synth import file_837

#: a header, a code that never existed, one valid only from 2020-04-01, and a billable one
CODES = ("G43", "XX991", "U071", "G245")
DAYS = ("2020-03-15", "2020-05-01")


def _specs() -> list[dict[str, Any]]:
    specs = []
    for i in range(24):  # the same faults again and again, at other positions and on other days
        codes = [CODES[(i + k) % len(CODES)] for k in range(3)]
        day = DAYS[i % 2]
        specs.append({"id": f"W{i:03d}", "dx": codes,
                      "lines": [{"code": "99213", "charge": "10.00", "ptr": "1", "dos": day}]})
    return specs


def _findings(remember: bool) -> list[tuple]:
    data = file_837(_specs(), gs_date="2026-11-01").encode("latin-1")
    result = scrub_bytes(data, "w", options=Options(html=False, now=dt.datetime(2026, 11, 1, 12, 0)),
                         engine=Engine(today=dt.date(2026, 11, 1), memo=remember))  # memo=False: every text afresh
    return [(sc.claim.claim_id, f.edit, f.message, f.suggestion, f.source, f.confidence, f.code, f.severity)
            for sc in result.claims for f in sc.findings]


def test_remembered_texts_equal_fresh_ones() -> None:
    catalog._CITES.clear()
    remembered = _findings(True)
    fresh = _findings(False)
    dx = [f for f in remembered if f[1] == "DX-CODE-INVALID"]
    # the file holds the faults it is meant to: three kinds of invalid code, each on many claims
    assert len({f[6] for f in dx}) == 3 and len(dx) >= 40
    assert remembered == fresh


def test_an_edit_with_other_wording_is_not_served_another_edits_text() -> None:
    edit = next(iter(load_catalog().edits.values()))
    other = dataclasses.replace(edit)
    calls: list[str] = []

    def make(tag: str) -> Any:
        return lambda: calls.append(tag) or tag

    ctx = Engine(today=dt.date(2026, 11, 1)).context
    assert kinds.worded(ctx, edit, ("k", 1), make("a")) == "a"
    assert kinds.worded(ctx, edit, ("k", 1), make("b")) == "a"  # remembered
    assert kinds.worded(ctx, edit, ("k", 2), make("c")) == "c"  # another key
    assert kinds.worded(ctx, other, ("k", 1), make("d")) == "d"  # an equal but distinct edit: its own text
    assert calls == ["a", "c", "d"]
    ctx.words = None  # an engine without memory: worked out every time
    assert kinds.worded(ctx, edit, ("k", 1), make("e")) == "e"
