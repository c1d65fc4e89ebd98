"""``scrubber.report/2``: claims with findings in full, clean claims as compact rows, version 1 still readable."""

from __future__ import annotations

import datetime as dt
import json

from reports import assert_valid_report

from scrubber.api import Options, scrub_bytes
from scrubber.reports import V1, claims, expand, iter_claims
from scrubber.schemas import problems
from scrubber.synth import file_837
from scrubber.writers.report_json import CLEAN_COLUMNS

NOW = dt.datetime(2025, 2, 1, 12, 0)
OPTIONS = Options(html=False, now=NOW, control_base=1, guide="off")  # MUÑOZ is no X12 text: the guide would hold it


def _specs() -> list[dict]:
    long_id = "X" * 38  # CLM01 is AN 1/38
    return [
        {"id": "OK1", "member_id": "M1", "dx": ["G24.3"], "lines": [{"code": "99213", "charge": "135.00"}]},
        {"id": "BAD", "member_id": "M2", "charge": "999.00", "dx": ["G24.3"],
         "lines": [{"code": "99213", "charge": "135.00"}]},
        {"id": long_id, "member_id": "M3", "dx": ["G24.3"], "lines": [{"code": "99213", "charge": "135.5"}]},
        {"id": "MU\u00d1OZ-1", "member_id": "M4", "dx": ["G24.3"], "lines": [{"code": "99214", "charge": "205"}]},
        {"id": "OK2", "member_id": "M5", "dx": ["G24.3"], "dos": "2025-01-10",
         "lines": [{"code": "99213", "dtp": None, "charge": "135.00"}]},
    ]


def _report() -> tuple[dict, str]:
    result = scrub_bytes(file_837(_specs()).encode("utf-8").decode("latin-1").encode("latin-1"), "v2.837",
                         options=OPTIONS)
    return result.report(), result.to_json()


def test_clean_claims_are_rows_and_claims_with_findings_are_in_full() -> None:
    report, text = _report()
    assert report["schema"] == "scrubber.report/2" and report["clean_columns"] == list(CLEAN_COLUMNS)
    assert [c["claim_id"] for c in report["claims"]] == ["BAD"]
    assert [row[1] for row in report["clean"]] == ["OK1", "X" * 38, "MU\u00d1OZ-1", "OK2"]
    assert [row[0] for row in report["clean"]] == [1, 3, 4, 5] and report["claims"][0]["ordinal"] == 2
    row = dict(zip(CLEAN_COLUMNS, report["clean"][1], strict=True))
    assert row["charge"] == "135.50" and row["service_dates"] and len(row["segments"]) == 2
    assert dict(zip(CLEAN_COLUMNS, report["clean"][3], strict=True))["service_dates"] == ["2025-01-10"]
    assert text.isascii() and "\\u00d1" in text  # the file is ASCII JSON, as version 1 was
    # a clean claim costs well under 250 bytes, even with the longest CLM01
    lines = [ln for ln in text.splitlines() if ln.startswith("[")]
    assert len(lines) == 4 and max(len(ln) for ln in lines) < 150, lines
    assert_valid_report(report)


def test_version_1_readers_get_every_claim_in_file_order() -> None:
    report, _text = _report()
    every = claims(report)
    assert [c["claim_id"] for c in every] == [s["id"] for s in _specs()]
    assert [c["status"] for c in every] == ["accepted", "rejected", "accepted", "accepted", "accepted"]
    assert every[0]["findings"] == [] and every[1]["findings"][0]["edit"] == "X12-CLAIM-BALANCE"
    assert list(iter_claims(report)) == every
    v1 = expand(report)
    assert v1["schema"] == V1 and "clean" not in v1 and not problems("report-1", v1)
    assert expand(v1) is v1 and claims(v1) == v1["claims"]


def test_every_field_of_a_clean_row_is_what_the_full_object_would_say() -> None:
    """A clean claim written in full (as a warning would make it) and as a row say the same."""
    spec = {"id": "SAME", "member_id": "M9", "dx": ["G24.3"], "lines": [{"code": "99213", "charge": "135.00"}]}
    clean = claims(scrub_bytes(file_837([spec]).encode(), options=OPTIONS).report())[0]
    flagged = scrub_bytes(file_837([{**spec, "lines": [{"code": "99213", "charge": "135.00", "mods": ["ZX"]}]}]
                                   ).encode(), options=OPTIONS).report()["claims"][0]
    assert flagged["findings"] and flagged["status"] == "accepted"  # PRO-MODIFIER warns on ZX
    for key in CLEAN_COLUMNS:
        assert clean[key] == flagged[key], key


def test_schema_2_refuses_what_it_should() -> None:
    report, _text = _report()
    bad_row = json.loads(json.dumps(report))
    bad_row["clean"][0][6] = "135"  # an amount needs two decimals
    assert problems("report-2", bad_row)
    no_findings = json.loads(json.dumps(report))
    no_findings["claims"][0]["findings"] = []  # a claim in full has findings; else it is a row
    assert problems("report-2", no_findings)
    assert problems("report-2", {**report, "schema": "scrubber.report/1"})
