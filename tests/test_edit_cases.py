"""One driver for every edit's data cases (tests/cases/<pack>/<EDIT-ID>.yaml), sqlfluff style.

A case is a claim (the dict shape of scrubber.synth) and the findings of that edit it must produce:
``fires: []`` for a claim that must pass, ``fires: [2, null]`` for findings on line 2 and on the
claim; ``payers: file`` (relative to tests/) for a registry other than the built-in one;
``validate: true`` to run pyx12 first (X12-IG) instead of the built-in validator, ``guide: "off"`` to
run neither; ``replace: [old, new]`` to edit the generated file text; ``severity`` when a table row overrides the edit's
(``severities`` and ``confidences`` when they differ); ``confidence`` (certain, likely, partial-list) when the finding's is
not the edit's; ``seed`` names the founding-document fact (seed-facts.md) the case tests, ``source_has``
text the finding's source must cite; ``ncci: true`` to load the NCCI tables that ``import-ncci`` writes
from the CMS-layout files in tests/ncci/; ``claims: [...]`` with ``claim_index`` for cross-claim edits
(one file, input order). ``ig_invalid: reason`` marks an input the implementation guide itself refuses (so its
accepted 837 is not expected to validate either). Each case runs through the whole pipeline (bytes -> reader -> engine -> writers), and the
277CA and accepted 837 it produces are validated with pyx12.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import pytest
import yaml
from oracle import assert_valid_277, assert_valid_837

from scrubber.api import Options, scrub_bytes
from scrubber.engine import Engine
from scrubber.rules.catalog import CONFIDENCES, load_catalog
from scrubber.synth import file_837

CASES = Path(__file__).parent / "cases"
CATALOG = load_catalog()


def _load() -> list:
    params = []
    for path in sorted(CASES.rglob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        for case in doc["cases"]:
            params.append(pytest.param(doc["edit"], case, id=f"{doc['edit']}:{case['name']}"))
    return params


@pytest.mark.parametrize(("edit_id", "case"), _load())
def test_edit_case(edit_id: str, case: dict, engine) -> None:
    edit = CATALOG.edit(edit_id)
    claims = case.get("claims") or [case["claim"]]
    text = file_837(claims, **case.get("file", {}))
    if case.get("replace"):
        old, new = case["replace"]
        assert old in text, f"replace: {old!r} is not in the generated file"
        text = _recount(text.replace(old, new, 1))
    data = text.encode("latin-1")
    if case.get("payers") or case.get("ncci"):
        engine = _engine_with(case.get("payers"), bool(case.get("ncci")))
    options = Options(html=False, now=dt.datetime(2025, 2, 1, 12, 0), validate=bool(case.get("validate")),
                      guide=case.get("guide", "builtin"))
    result = scrub_bytes(data, "case", options=options, engine=engine)
    assert len(result.claims) == len(claims)
    target = result.claims[case.get("claim_index", 0)]
    found = [f for f in target.findings if f.edit == edit_id]
    expected = case["fires"]
    assert sorted((f.line for f in found), key=str) == sorted(expected, key=str), [f.message for f in found]
    if "severities" in case:  # findings of mixed severity (e.g. one line's modifiers)
        assert sorted(f.severity for f in found) == sorted(case["severities"])
        assert sorted(f.confidence for f in found) == sorted(case["confidences"])
    for f in found:
        assert "severities" in case or f.severity == case.get("severity", edit.severity)
        assert f.message and f.source and f.segment_number
        assert f.confidence in CONFIDENCES
        if "severities" not in case:
            assert f.confidence == case.get("confidence", f.confidence if "severity" in case else edit.confidence)
        assert "scrubber explain" not in f.source  # a citation for billers, not a hint for engineers
        for text in case.get("message_has", []):
            assert text in f.message + " " + f.suggestion, f.message
        for text in case.get("source_has", []):
            assert text in f.source, f.source
    if any(f.severity == "reject" for f in found):
        assert target.rejected
    if "status" in case:
        assert ("rejected" if target.rejected else "accepted") == case["status"]
    if any(not c.rejected for c in result.claims) and not case.get("ig_invalid"):
        assert_valid_837(result.accepted_837())
    assert_valid_277(result.ack_277())


def _recount(text: str) -> str:
    """SE01 after a case added or removed segments (one transaction, '~' and newline)."""
    segs = text.split("~\n")
    st = next(i for i, s in enumerate(segs) if s.startswith("ST*"))
    se = next(i for i, s in enumerate(segs) if s.startswith("SE*"))
    parts = segs[se].split("*")
    parts[1] = str(se - st + 1)
    segs[se] = "*".join(parts)
    return "~\n".join(segs)


@functools.cache
def _engine_with(registry: str | None, ncci: bool = False) -> Engine:
    return Engine(CATALOG, today=dt.date(2025, 2, 1), payers=Path(__file__).parent / registry if registry else None,
                  ncci=_ncci_tables() if ncci else None)


@functools.cache
def _ncci_tables() -> str:
    """tests/ncci/ (CMS layouts, synthetic rows) through the importer, as a user would."""
    import tempfile

    from scrubber.importers.ncci import import_files

    out = tempfile.mkdtemp(prefix="scrubber-test-ncci-")
    import_files([Path(__file__).parent / "ncci"], out)
    return out


def test_every_edit_has_cases_that_fire_and_pass() -> None:
    have: dict[str, set[bool]] = {}
    for path in CASES.rglob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        assert path.stem == doc["edit"], f"{path} holds cases for {doc['edit']}"
        have[doc["edit"]] = {bool(c["fires"]) for c in doc["cases"]}
    for edit_id in CATALOG.edits:
        assert have.get(edit_id) == {True, False}, f"{edit_id} needs cases that fire and cases that pass"


SEED_FACTS = ("SEED-ELI-2006", "SEED-PBI", "SEED-FACE-NECK")


def test_every_seed_fact_has_cases_that_fire_and_pass() -> None:
    """The founding documents' facts (shared/domain/seed-facts.md) each have cases naming them."""
    have: dict[str, set[bool]] = {}
    for path in CASES.rglob("*.yaml"):
        for case in yaml.safe_load(path.read_text())["cases"]:
            for seed in str(case.get("seed", "")).split():
                assert seed in SEED_FACTS, f"{path}: unknown seed {seed}"
                have.setdefault(seed, set()).add(bool(case["fires"]))
    for seed in SEED_FACTS:
        assert have.get(seed) == {True, False}, f"{seed} needs cases that fire and cases that pass"
