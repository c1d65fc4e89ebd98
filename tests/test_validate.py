"""`--validate`: pyx12's implementation-guide errors rejected claim by claim, and its 999."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, SAMPLES
from oracle import assert_valid_837
from test_samples import FILES, PYX12_REFUSES_INPUT

from scrubber.api import Options, scrub_bytes
from scrubber.cli import main
from scrubber.synth import file_837

CLEAN = {"lines": [{"code": "99213", "charge": "80.00"}]}


def _claims() -> list[dict]:
    return [
        {"id": "OK-1", **CLEAN},
        {"id": "BAD-QUALIFIER", "member_id": "M2", "hi": "HI*ABX:G243", **CLEAN},
        {"id": "OK-2", "member_id": "M3", **CLEAN},
        {"id": "MISSING-DTP", "member_id": "M4", "lines": [{"code": "99213", "charge": "80.00", "dtp": None}]},
        {"id": "BAD-CODE", "member_id": "M5", "lines": [{"code": "99213", "charge": "40.00"},
                                                        {"code": "99212", "charge": "40.00", "basis": "XX"}]},
        {"id": "OK-3", "member_id": "M6", "dependent": {"first": "KID"}, **CLEAN},
    ]


def _scrub(data: bytes, validate: bool | str):
    """validate True: pyx12; False: business edits alone; "builtin": the default validator."""
    guide = "builtin" if validate == "builtin" else "off"
    return scrub_bytes(data, "ig.837", options=Options(html=False, validate=validate is True, guide=guide))


def test_only_the_claims_with_guide_errors_are_rejected(tmp_path: Path) -> None:
    data = file_837(_claims()).encode("latin-1")
    result = _scrub(data, True)
    status = {sc.claim.claim_id: sorted({f.edit for f in sc.findings if f.rejects}) for sc in result.claims}
    assert status["OK-1"] == status["OK-2"] == status["OK-3"] == []
    assert "X12-IG" in status["BAD-QUALIFIER"]
    assert status["MISSING-DTP"] == ["X12-IG", "X12-LINE-DOS"] and status["BAD-CODE"] == ["X12-IG"]
    bad_code = next(sc for sc in result.claims if sc.claim.claim_id == "BAD-CODE")
    (finding,) = [f for f in bad_code.findings if f.edit == "X12-IG"]
    assert finding.line == 2 and "SV103" in finding.message and "(XX)" in finding.message
    assert finding.category == "A3" and finding.segment.startswith("SV1*HC:99212*40.00*XX")
    missing = next(sc for sc in result.claims if sc.claim.claim_id == "MISSING-DTP")
    assert any("DTP" in f.message and f.line == 1 for f in missing.findings)
    # The 999 is pyx12's: it rejects the transaction and names the segments.
    ack = result.ack_999_text
    assert "AK2*837*0001" in ack and "IK5*R" in ack and "IK3*SV1*" in ack and "IK3*HI*" in ack
    # Without any guide check, the business edits see only what they check: a dangling pointer, a missing date.
    plain = _scrub(data, False)
    assert [sc.claim.claim_id for sc in plain.claims if sc.rejected] == ["BAD-QUALIFIER", "MISSING-DTP"]
    assert_valid_837(result.accepted_837())
    # The built-in validator (the default) holds the same claims for the same segments.
    builtin = _scrub(data, "builtin")
    ig = {sc.claim.claim_id: {(f.line, f.segment_number) for f in sc.findings if f.edit == "X12-IG"}
          for sc in builtin.claims}
    assert {k for k, v in ig.items() if v} == {"BAD-QUALIFIER", "MISSING-DTP", "BAD-CODE"}
    assert ig["BAD-CODE"] == {(2, finding.segment_number)}


def test_command_line_writes_the_999_only_when_pyx12_finds_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.837"
    bad.write_text(file_837(_claims()))
    out = tmp_path / "out"
    assert main(["scrub", str(bad), "-o", str(out), "--validate", "--no-html"]) == 1
    ack = (out / "bad.999").read_text()
    assert ack.startswith("ISA") and "005010X231" in ack
    report = json.loads((out / "bad.report.json").read_text())
    assert report["notices"][0].startswith("pyx12 reported") and report["rejected"] == 3
    # The same name, now clean: the old 999 must not stay behind to mislead.
    bad.write_text(file_837([{"id": "OK-1", **CLEAN}]))
    assert main(["scrub", str(bad), "-o", str(out), "--validate", "--no-html"]) == 0
    assert not (out / "bad.999").exists()


def test_what_pyx12_cannot_read_as_is_is_read_for_it() -> None:
    # BOM, three interchanges with different delimiters, GS08 X222A2 and X222, CR/LF and newline
    # terminators: pyx12 alone refuses this file; the scrubber validates each interchange, and
    # pyx12 then finds only what is really wrong in it.
    data = (FIXTURES / "multi-interchange.837").read_bytes()
    validated, plain = _scrub(data, True), _scrub(data, False)
    ig = {sc.claim.claim_id: [f.message for f in sc.findings if f.edit == "X12-IG"] for sc in validated.claims}
    # Interchanges 1 and 3 (asterisk/colon with CR/LF; caret/backslash with an apostrophe, X222) are clean.
    assert ig["IX1-A"] == ig["IX1-B"] == ig["IX3-A"] == []
    # Interchange 2: a latin-1 letter in a name, and HL numbers that go on across STs.
    assert any("invalid character" in m for m in ig["IX2-A"])
    assert all(any("HL count" in m for m in ig[c]) for c in ("IX2-B", "IX2-C"))
    assert [sc.claim.claim_id for sc in plain.claims if sc.rejected] == ["IX2-B"]
    # One 999, for interchange 2 (the one with errors), acknowledging both of its transactions.
    ack = validated.ack_999_text
    assert ack.count("ISA") == 1 and "AK2*837*2001*" in ack and "AK2*837*2002*" in ack
    # The built-in validator reads the file as it is and finds the same claims at fault.
    builtin = _scrub(data, "builtin")
    assert [sc.claim.claim_id for sc in builtin.claims if any(f.edit == "X12-IG" for f in sc.findings)] == \
        [c for c, m in ig.items() if m]


def test_an_empty_segment_does_not_end_validation() -> None:
    text = file_837([{"id": "A", **CLEAN}, {"id": "B", "member_id": "M2",
                                             "lines": [{"code": "99213", "charge": "80.00", "basis": "XX"}]}])
    text = text.replace("REF*D9*TRACEA~", "REF*D9*TRACEA~~")
    result = _scrub(text.encode("latin-1"), True)
    assert [sc.claim.claim_id for sc in result.claims if sc.rejected] == ["B"]  # found after the empty segment


def test_pwk_ct_is_not_a_guide_error() -> None:
    # PWK*CT right after SV1, where the guide puts it: pyx12 alone reports its PWK02 (AD) as invalid,
    # because CT sits in both of its 2400 PWK qualifier lists.
    claim = {"id": "P1", "lines": [{"code": "E0431", "charge": "80.00"}]}
    text = file_837([claim]).replace("SV1*HC:E0431*80.00*UN*1***1~", "SV1*HC:E0431*80.00*UN*1***1~\nPWK*CT*AD~", 1)
    assert "PWK*CT" in text
    count = int(text.split("\nSE*")[1].split("*")[0])
    text = text.replace(f"\nSE*{count}*", f"\nSE*{count + 1}*")
    result = _scrub(text.encode("latin-1"), True)
    assert not [f for sc in result.claims for f in sc.findings if f.edit == "X12-IG"]


@pytest.mark.skipif(not FILES, reason="../shared/samples not present")
@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_samples_give_the_same_result_unless_pyx12_reports_a_real_error(path) -> None:
    data = path.read_bytes()
    validated, plain = _scrub(data, True), _scrub(data, False)
    ig = [f for sc in validated.claims for f in sc.findings if f.edit == "X12-IG"]
    reason = PYX12_REFUSES_INPUT.get(path.name, ("", ""))[0]
    if path.name not in PYX12_REFUSES_INPUT or "PWK" in reason:
        # Clean for pyx12 (or only its PWK*CT false positive): the same outcome, finding for finding.
        assert not ig and validated.ack_999_text == ""
        assert [[(f.edit, f.line) for f in sc.findings] for sc in validated.claims] == \
            [[(f.edit, f.line) for f in sc.findings] for sc in plain.claims]
    else:
        # A real error in the sample, listed with its reason in test_samples.py: its claim is held.
        assert ig and all(sc.rejected for sc in validated.claims) and "IK5*R" in validated.ack_999_text


def test_without_validate_pyx12_is_not_even_imported(tmp_path: Path) -> None:
    code = ("import sys; from scrubber.cli import main; "
            f"main(['scrub', {str(FIXTURES / 'mixed.837')!r}, '-o', {str(tmp_path)!r}, '--no-html']); "
            "print('pyx12' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().endswith("False"), proc.stdout + proc.stderr
    assert SAMPLES is not None


def test_transactions_validated_in_parallel_give_the_same_errors() -> None:
    from scrubber.synth import interchange, transaction_segments
    from scrubber.validate import validate_stream

    txns = []
    for st in range(4):
        claims = _claims() if st % 2 else [{"id": f"C{st}", **CLEAN}]
        txns.append(transaction_segments([{**c, "id": f"{c['id']}-{st}"} for c in claims], control=f"{st + 1:04d}"))
    data = interchange(txns).encode("latin-1")
    one, two = validate_stream(io.BytesIO(data), jobs=1), validate_stream(io.BytesIO(data), jobs=2, claims_per_piece=2)
    as_list = lambda r: sorted((t, e.number, e.code, e.text) for t, errs in r.by_transaction.items() for e in errs)  # noqa: E731
    assert as_list(one) == as_list(two) and one.errors == two.errors > 0
    assert sorted(as_list(one))[0][0] == 2  # the second transaction holds the first errors
    # One 999 for the interchange either way (pieces give pyx12's outcome on the whole: test_validate_pieces.py).
    assert one.ack_999().count("ISA") == two.ack_999().count("ISA") == 1 and two.pieces >= 1
