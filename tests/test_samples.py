"""Every public 837P sample in ../shared/samples is read, and no claim is lost or duplicated."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import SAMPLES
from invariants import check_result
from oracle import as_x222a1, validate

from scrubber.api import Options, scrub_bytes

FILES = sorted(p for p in SAMPLES.glob("*/*") if p.suffix in (".837", ".edi")) if SAMPLES.exists() else []

_GT = "component separator '>' used while ISA16 declares ':'"
# Samples pyx12 refuses as they are (A2 read as A1): name -> (reason, text pyx12's error contains).
# Their accepted 837 may carry the same errors, but no new one.
PYX12_REFUSES_INPUT = {
    "oxygen.edi": ("pyx12 false positive: PWK*CT sits in two 2400 PWK qualifier lists", "PWK02"),
    "wheelchair.edi": ("pyx12 false positive: PWK*CT sits in two 2400 PWK qualifier lists", "PWK02"),
    "demo.ambulance.example5.837": ("sample omits CLM05-2 (facility code qualifier)", "CLM05-02"),
    "demo.cob.example3.A.837": ("sample's 2320 has no 2330B other payer loop", "2330B"),
    "demo.cob.example4.837": ("sample uses AMT*F2, a 4010 qualifier, in 2320", "AMT*F2"),
    "demo.cob.2ndary.example4.837": (_GT, "CLM05-01"),
    "demo.example6.837": (_GT, "CLM05-01"),
    "demo.example9.837": (_GT, "CLM05-01"),
    "demo.example11.837": (_GT, "CLM05-01"),
    "demo.example12.837": (_GT, "CLM05-01"),
}


@pytest.mark.skipif(not FILES, reason="../shared/samples not present")
@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sample_is_read_and_every_claim_accounted_for(path, engine) -> None:
    data = path.read_bytes()
    result = scrub_bytes(data, path.name, options=Options(html=True, now=dt.datetime(2025, 2, 1, 12, 0)),
                         engine=engine)
    assert result.summary.claims >= 1
    check_result(data, result, input_is_valid=path.name not in PYX12_REFUSES_INPUT)
    assert "<html" in result.to_html()


@pytest.mark.skipif(not FILES, reason="../shared/samples not present")
@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_pyx12_refuses_exactly_the_listed_samples(path) -> None:
    ok, errors, _ = validate(as_x222a1(path.read_text(encoding="latin-1")))
    if path.name in PYX12_REFUSES_INPUT:
        _reason, needle = PYX12_REFUSES_INPUT[path.name]
        assert not ok and any(needle in e for e in errors), errors
    else:
        assert ok, errors


@pytest.mark.skipif(not FILES, reason="../shared/samples not present")
@pytest.mark.parametrize("name", sorted(n for n, (r, _) in PYX12_REFUSES_INPUT.items() if r == _GT))
def test_samples_with_the_wrong_component_separator_are_rejected_not_dropped(name: str, engine) -> None:
    path = next(p for p in FILES if p.name == name)
    result = scrub_bytes(path.read_bytes(), name, options=Options(html=False), engine=engine)
    (claim,) = result.claims
    edits = {f.edit for f in claim.findings}
    assert claim.rejected and "X12-STRUCTURE" in edits and edits <= {"X12-STRUCTURE", "X12-IG"}
    # The finding says what is wrong: the separator, not a missing procedure code.
    sv1 = [f.message for f in claim.findings if f.edit == "X12-STRUCTURE" and "SV101" in f.message]
    assert sv1 and all("'>'" in m and "ISA16" in m and "no procedure code in SV101-2" not in m for m in sv1)


@pytest.mark.skipif(not FILES, reason="../shared/samples not present")
def test_samples_hold_the_expected_number_of_claims(engine) -> None:
    total = sum(scrub_bytes(p.read_bytes(), p.name, options=Options(html=False), engine=engine).summary.claims
                for p in FILES)
    assert total == len(FILES)  # each public sample is one claim
