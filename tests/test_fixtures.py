"""The bundled fixtures: expected outputs (golden files) and what each claim must come to.

Regenerate the golden files after a deliberate change with ``python tests/test_fixtures.py --update``
and read the diff before committing it.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
from dataclasses import replace

import pytest
from conftest import FIXTURES
from invariants import ack_claims, check_result

from scrubber.api import Options, scrub_bytes
from scrubber.engine import Engine
from scrubber.reports import claims as claims_of
from scrubber.x12.segments import Tokenizer

NOW = dt.datetime(2025, 2, 3, 9, 30)
OPTIONS = Options(html=False, now=NOW, control_base=500)
EXPECTED = FIXTURES / "expected"
GOLDEN = ("mixed", "multi-interchange", "chemo-mixed")


def _scrub(name: str, engine: Engine):
    data = (FIXTURES / f"{name}.837").read_bytes()
    return data, scrub_bytes(data, f"{name}.837", options=OPTIONS, engine=engine)


def _outputs(result) -> dict[str, bytes]:
    return {"277": result.ack_277(), "accepted.837": result.accepted_837(), "report.json": result.to_json().encode()}


@pytest.mark.parametrize("name", GOLDEN)
def test_outputs_match_the_expected_files(name: str, engine) -> None:
    _data, result = _scrub(name, engine)
    for suffix, data in _outputs(result).items():
        expected = (EXPECTED / f"{name}.{suffix}").read_bytes()
        assert data == expected, f"{name}.{suffix} differs from fixtures/expected (see the module docstring)"


@pytest.mark.parametrize("name", GOLDEN)
def test_fixture_invariants(name: str, engine) -> None:
    data, result = _scrub(name, engine)
    check_result(data, result)


def test_mixed_claims_come_out_as_designed(engine) -> None:
    _data, result = _scrub("mixed", engine)
    report = json.loads(result.to_json())
    status = {c["claim_id"]: (c["status"], sorted({f["edit"] for f in c["findings"]})) for c in claims_of(report)}
    assert status == {
        "MIX-OK-1": ("accepted", []),
        "MIX-BAL": ("rejected", ["CHEMO-PROCEDURE-WITHOUT-TOXIN", "X12-CLAIM-BALANCE"]),
        "MIX-PTR": ("rejected", ["X12-DX-POINTER"]),
        "MIX-DEP-OK": ("accepted", []),
        # 20250231 is no date for the guide either (pyx12 agrees: tests/test_validate.py)
        "MIX-DOS": ("rejected", ["CHEMO-PROCEDURE-WITHOUT-TOXIN", "X12-IG", "X12-LINE-DOS"]),
        "MIX-FUT": ("rejected", ["CHEMO-PROCEDURE-WITHOUT-TOXIN", "X12-FUTURE-DOS"]),
        "MIX-UNITS": ("rejected", ["CHEMO-TOXIN-UNITS", "CHEMO-TOXIN-WITHOUT-PROCEDURE", "X12-UNITS"]),
        "MIX-STRUCT": ("rejected", ["X12-IG", "X12-STRUCTURE"]),
        "MIX-OK-2": ("accepted", []),
    }
    assert report["charges_rejected"] == "3340.00"
    assert report["charges_total"] == "4560.00"
    assert result.exit_code == 1


def _loops_2220d(ack: bytes) -> dict[str, list[list[str]]]:
    """Segments of each 2220D, keyed by the claim (TRN02) they belong to."""
    out: dict[str, list[list[str]]] = {}
    claim = None
    for seg in Tokenizer(io.BytesIO(ack)):
        if seg.id == "TRN" and seg.el(1) == "2":
            claim = seg.el(2)
        elif seg.id == "HL":
            claim = None
        elif seg.id == "SVC" and claim:
            out.setdefault(claim, []).append([seg.text("*")])
        elif claim in out and seg.id in ("STC", "REF", "DTP"):
            out[claim][-1].append(seg.text("*"))
    return out


def test_line_level_rejections_name_exactly_the_lines_at_fault(engine) -> None:
    _data, result = _scrub("mixed", engine)
    lines = _loops_2220d(result.ack_277())
    # MIX-PTR: line 2 (the toxin) points past the only diagnosis; line 1 is fine.
    assert lines["MIX-PTR"] == [["SVC*HC:J0585:JZ*930*****155", "STC*A7:477**U", "REF*FJ*PTR-L2", "DTP*472*D8*20250114"]]
    assert [loop[0] for loop in lines["MIX-DOS"]] == ["SVC*HC:64616*350*****1"]
    assert "MIX-BAL" not in lines  # a claim-level rejection has no 2220D
    claims = {c: (s, a) for c, s, a in ack_claims(result.ack_277())}
    assert claims["MIX-BAL"] == ("U", 1000)


def test_multi_interchange_keeps_each_delimiter_set(engine) -> None:
    # By default the guide holds IX2-A (a latin-1 letter) and IX2-B/IX2-C (HL numbers running on
    # from ST 2001), as pyx12 does; what the reader and writer do with such claims is seen with
    # the check off.
    default = scrub_bytes((FIXTURES / "multi-interchange.837").read_bytes(), "m.837", options=OPTIONS, engine=engine)
    assert [c.claim.claim_id for c in default.claims if any(f.edit == "X12-IG" for f in c.findings)] == \
        ["IX2-A", "IX2-B", "IX2-C"]
    data = (FIXTURES / "multi-interchange.837").read_bytes()
    result = scrub_bytes(data, "m.837", options=replace(OPTIONS, guide="off"), engine=engine)
    out = result.accepted_837().decode("latin-1")
    assert [c.claim.claim_id for c in result.claims if not c.rejected] == ["IX1-A", "IX1-B", "IX2-A", "IX2-C", "IX3-A"]
    assert "ISA|00|" in out and "SV1|HC>64616>LT>59|350.00|UN|1|||2>1\n" in out
    assert "SV1^HC\\99213^90.00^UN^1^^^1\\2'" in out
    assert "MU\xd1OZ" in out  # the latin-1 byte went through unchanged
    # IX2-B was the first claim of ST 2002, whose HL numbering continued from ST 2001 (4, 5);
    # the kept IX2-C is renumbered from 1 in the output.
    st2002 = out[out.index("ST|837|2002"):]
    assert st2002[st2002.index("\nHL|"):].startswith("\nHL|1||20|1\n")
    assert "HL|2|1|22|0" in st2002
    ack = result.ack_277().decode("latin-1")
    assert ack.count("ISA") == 3 and "ISA|00|" in ack and "ISA^00^" in ack
    assert ack.count("ST*277") + ack.count("ST|277") + ack.count("ST^277") == 4


def test_chemo_claims_are_rejected_only_for_the_lines_at_fault(engine) -> None:
    _data, result = _scrub("chemo-mixed", engine)
    lines_2220d = _loops_2220d(result.ack_277())
    by_claim = {sc.claim.claim_id: sc for sc in result.claims}
    expected_rejected_lines = {
        # 64645 with only 64642 (line 3) and 64612 with 64615 (CH-64615) rest on third-party pages
        # and a forum thread: warnings, not rejections.
        "CH-MULTI": {1: "CHEMO-CODE-DELETED", 4: "CHEMO-GUIDANCE-UNITS"},
        "CH-WASTE": {2: "CHEMO-WASTE-MODIFIER"},
        "CH-BILAT": {1: "CHEMO-BILATERAL-MEDICARE", 2: "CHEMO-BILATERAL-MEDICARE"},
        "CH-COSMETIC": {1: "CHEMO-COSMETIC", 2: "CHEMO-COSMETIC"},
    }
    for claim_id, sc in by_claim.items():
        rejecting = {f.line: f.edit for f in sc.findings if f.rejects}
        assert rejecting == expected_rejected_lines.get(claim_id, {}), (claim_id, sc.findings)
        svc_lines = [_line_of(sc, loop) for loop in lines_2220d.get(claim_id, [])]
        assert sorted(svc_lines) == sorted(rejecting), claim_id
    assert [sc.claim.claim_id for sc in result.claims if not sc.rejected] == ["CH-OK", "CH-64615", "CH-2013", "CH-COMM-OK"]
    # The line control numbers of the rejected lines come back as REF*FJ.
    fj = [seg for loop in lines_2220d["CH-MULTI"] for seg in loop if seg.startswith("REF*FJ")]
    assert fj == ["REF*FJ*MULTI-1", "REF*FJ*MULTI-4"]


def _line_of(sc, loop: list[str]) -> int:
    """The claim line a 2220D describes: the one whose REF*6R it echoes, else by SVC position."""
    fj = next((s.split("*")[2] for s in loop if s.startswith("REF*FJ")), None)
    for ln in sc.claim.lines:
        if fj is not None and ln.line_control == fj:
            return ln.number
    svc = loop[0].split("*")
    return next(ln.number for ln in sc.claim.lines
                if svc[1].split(":")[1] == ln.code and any(f.line == ln.number for f in sc.findings if f.rejects))


def _update() -> None:
    engine = Engine(today=dt.date(2025, 2, 1))
    for name in GOLDEN:
        _data, result = _scrub(name, engine)
        for suffix, data in _outputs(result).items():
            (EXPECTED / f"{name}.{suffix}").write_bytes(data)


if __name__ == "__main__" and "--update" in sys.argv:
    _update()
