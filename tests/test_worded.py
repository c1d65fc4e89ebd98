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

    def make(of: Any, tag: str, n: int) -> str:
        calls.append(f"{tag}{n}")
        return f"{tag}{n}" if of is edit else f"other {tag}{n}"

    def make_too(of: Any, tag: str, n: int) -> str:
        return "too"

    ctx = Engine(today=dt.date(2026, 11, 1)).context
    assert kinds.worded(ctx, edit, make, "k", 1) == "k1"
    assert kinds.worded(ctx, edit, make, "k", 1) == "k1"  # remembered
    assert kinds.worded(ctx, edit, make, "k", 2) == "k2"  # other values
    assert kinds.worded(ctx, other, make, "k", 1) == "other k1"  # an equal but distinct edit: its own text
    assert kinds.worded(ctx, edit, make_too, "k", 1) == "too"  # another maker: its own text
    assert calls == ["k1", "k2", "k1"]
    ctx.words = None  # an engine without memory: worked out every time
    assert kinds.worded(ctx, edit, make, "k", 1) == "k1" and calls[-1] == "k1" and len(calls) == 4


def test_texts_are_made_from_their_arguments_only() -> None:
    """``worded`` keys a text by the maker and its arguments: a maker must read nothing else (no
    lambda or closure over the claim), or a text could be served for a claim it does not fit."""
    import ast
    import importlib
    from pathlib import Path

    rules = Path(kinds.__file__).parent
    makers = []
    for path in sorted(rules.glob("kinds*.py")):
        module = importlib.import_module(f"scrubber.rules.{path.stem}")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "worded":
                maker = node.args[2]
                assert isinstance(maker, ast.Name), f"{path.name}:{node.lineno}: pass a module-level function"
                fn = getattr(module, maker.id)
                assert fn.__closure__ is None and fn.__qualname__ == fn.__name__, f"{path.name}: {maker.id}"
                makers.append(maker.id)
    assert len(makers) >= 10
