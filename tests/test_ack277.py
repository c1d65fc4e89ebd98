"""Every 277CA validates under pyx12's X214 map, whatever the 837 holds (issue 16 item 3, issue 13
item 4): ids the guide requires, separators and control characters, over-long values, odd
delimiters, transactions without claims.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
from conftest import SAMPLES
from invariants import check_result
from oracle import interchanges

from scrubber.api import Options, scrub_bytes
from scrubber.errors import InputError
from scrubber.synth import file_837, interchange, transaction_segments
from scrubber.writers.ack277 import delimiters_277
from scrubber.x12.segments import Delimiters, Tokenizer

NOW = dt.datetime(2025, 2, 1, 12, 0)
X12_FILES = sorted(p for p in SAMPLES.glob("*/*") if p.name != "LICENSE" and p.is_file()) if SAMPLES.exists() else []


def _ack(text: str | bytes, engine) -> tuple[str, object]:
    data = text.encode("latin-1") if isinstance(text, str) else text
    result = scrub_bytes(data, "t.837", options=Options(html=False, now=NOW), engine=engine)
    check_result(data, result, input_is_valid=False)  # nothing lost; the 277CA validates
    return result.ack_277().decode("latin-1"), result


def _segments(ack: str | bytes, sid: str, first: str | None = None) -> list[list[str]]:
    data = ack if isinstance(ack, bytes) else ack.encode("latin-1")
    return [s.els for s in Tokenizer(io.BytesIO(data))
            if s.id == sid and (first is None or s.el(1) == first)]


@pytest.mark.skipif(not X12_FILES, reason="../shared/samples not present")
@pytest.mark.parametrize("path", X12_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_public_sample_gets_a_valid_277ca(path, engine) -> None:
    try:
        ack, _ = _ack(path.read_bytes(), engine)
    except InputError:
        return  # unusable as a whole: no 277CA at all, which is right
    assert ack


@pytest.mark.skipif(not X12_FILES, reason="../shared/samples not present")
@pytest.mark.parametrize("name", ["x12_loop_errors3_missing_loops.txt", "x12_bad_segment_identifier.txt"])
def test_ids_the_guide_requires_are_written_when_the_837_lacks_them(name: str, engine) -> None:
    ack, _ = _ack((SAMPLES / "imsweb" / name).read_bytes(), engine)
    for els in _segments(ack, "NM1", "QC") + _segments(ack, "NM1", "85"):
        assert len(els) == 10 and els[8] in ("MI", "XX", "FI") and els[9], els


@pytest.mark.skipif(not X12_FILES, reason="../shared/samples not present")
def test_isa11_u_gets_a_repetition_separator_of_its_own(engine) -> None:
    data = (SAMPLES / "imsweb" / "x12_valid_different_separators.txt").read_bytes()
    assert data[82:83] == b"U" and data[104:105] == b"^"  # ISA11 "U" (4010 style), ISA16 "^"
    ack, _ = _ack(data, engine)
    isa = ack[:106]
    element, repetition, component, terminator = isa[3], isa[82], isa[104], isa[105]
    assert len({element, repetition, component, terminator}) == 4, isa


def test_missing_ids_and_names_become_unknown(engine) -> None:
    text = file_837([{"id": "A1"}, {"id": "A2", "member_id": "5"}])
    text = text.replace("****MI*W123456789", "").replace("*****XX*1234567893", "").replace("REF*EI*123456789~\n", "")
    text = text.replace("NM1*85*2*EXAMPLE NEUROLOGY GROUP", "NM1*85*7*")
    ack, _ = _ack(text, engine)
    assert [els[8:] for els in _segments(ack, "NM1", "QC")] == [["MI", "UNKNOWN"]] * 2  # "5" is below NM109's 2
    (provider,) = _segments(ack, "NM1", "85")
    assert provider[2:4] == ["2", "UNKNOWN"] and provider[8:] == ["XX", "UNKNOWN"]


def test_separators_control_characters_and_long_values_are_not_copied(engine) -> None:
    text = file_837([
        {"id": "MIX:OK1", "last": "DO\x07E", "first": "JA^NE", "trace": "T:1"},
        {"id": "X" * 80, "last": "L" * 1_000_000, "member_id": "M" * 90},
        {"id": "UTF", "last": "MU\u00c3\u0091OZ", "first": "\u00c9LISE"},  # UTF-8 bytes read as latin-1
        {"id": "\x01\x02"},
    ])
    ack, _ = _ack(text, engine)
    patients = _segments(ack, "NM1", "QC")
    assert patients[0][3:5] == ["DOE", "JA NE"]
    assert patients[1][3] == "L" * 60 and patients[1][9] == "M" * 80
    assert patients[2][3:5] == ["MUNOZ", "ELISE"]
    claims = [els[2] for els in _segments(ack, "TRN", "2")][1:]  # after 2200B's
    assert claims == ["MIX OK1", "X" * 50, "UTF", "0"]
    assert next(els[2] for els in _segments(ack, "REF", "D9")) == "T 1"


@pytest.mark.parametrize(("sep", "comp", "rep"), [("*", ".", "^"), ("*", "-", "^"), ("-", ":", "^"), ("*", ":", ":")])
def test_delimiters_the_277ca_cannot_use_are_replaced(sep: str, comp: str, rep: str, engine) -> None:
    text = file_837([{"id": "D1", "dos": "2025-01-10", "lines": [{"charge": "100.50"}], "charge": "100.50"},
                     {"id": "D2", "charge": "1.00"}], sep=sep, comp=comp, rep=rep)
    try:
        ack, _ = _ack(text, engine)
    except InputError:
        assert sep == "-"  # "-" as element separator breaks the 837's own dates: unusable as a whole
        return
    d = delimiters_277(Delimiters(sep, comp, rep, "~"))
    assert len({d.element, d.component, d.repetition, d.segment}) == 4
    assert not {d.element, d.component, d.repetition} & set("-. 0123456789")
    assert ack[3] == d.element and ack[104] == d.component


def test_a_transaction_without_claims_gets_no_st_and_a_notice(engine) -> None:
    full = transaction_segments([{"id": "T1"}], control="0001")
    empty = [s for s in transaction_segments([], control="0002") if s.startswith(("ST", "BHT", "NM1", "PER"))]
    empty.append(f"SE*{len(empty) + 1}*0002")
    text = interchange([full, empty, transaction_segments([{"id": "T3"}], control="0003", hl_start=1)])
    ack, result = _ack(text, engine)
    assert ack.count("ST*277*") == 2
    assert any("'0002' holds no claim" in n for n in result.summary.notices)


def test_an_input_without_any_claim_is_unusable(engine) -> None:
    empty = [s for s in transaction_segments([]) if s.startswith(("ST", "BHT", "NM1", "PER"))]
    empty.append(f"SE*{len(empty) + 1}*0001")
    with pytest.raises(InputError, match="no claim"):
        scrub_bytes(interchange([empty]).encode(), "t.837", options=Options(html=False), engine=engine)


def test_the_oracle_checks_each_interchange_with_its_own_delimiters() -> None:
    # pyx12 reads a whole file with the first ISA's delimiters; the oracle must not let a second,
    # differently delimited interchange go unchecked.
    good = file_837([{"id": "A"}])
    assert len(interchanges(good + good.replace("*", "|"))) == 2


def test_an_npi_status_names_whose_npi_in_stc01_3(engine) -> None:
    """Status 562 is about an entity's NPI: the claim's STC says which provider, the line's too."""
    text = file_837([
        {"id": "REND", "rendering_npi": "1234567890", "lines": [{"code": "99213"}]},
        {"id": "LINE", "lines": [{"code": "99213"},
                                 {"code": "99214", "segments": ["NM1*82*1*LINE*DOC****XX*1234567890"]}]},
        {"id": "BOTH", "rendering_npi": "1234567890",
         "segments": ["NM1*DN*1*REFER*RAY****XX*1234567890"], "lines": [{"code": "99213"}]},
        {"id": "GOOD", "rendering_npi": "1234567893", "lines": [{"code": "99213"}]},
    ], gs_date="2025-01-20")
    ack, result = _ack(text, engine)
    stcs = {}
    claim = None
    for els in (s.els for s in Tokenizer(io.BytesIO(ack.encode("latin-1")))):
        if els[0] == "TRN" and len(els) > 2 and els[1] == "2":
            claim = els[2]
        elif els[0] == "STC" and claim is not None:
            stcs.setdefault(claim, []).append(els)
    codes = {cid: [[c for c in [s[1], *s[10:12]] if c] for s in rows] for cid, rows in stcs.items()}
    assert codes["REND"] == [["A7:562:82"]]
    assert codes["LINE"][0] == ["A7:562:82"] and codes["LINE"][1] == ["A7:562:82"]  # claim, then line 2's 2220D
    assert sorted(codes["BOTH"][0]) == ["A7:562:82", "A7:562:DN"]  # two providers: one composite each
    assert codes["GOOD"][0][0].startswith("A1:") or codes["GOOD"][0][0].startswith("A2:")
    rejected = {sc.claim.claim_id for sc in result.claims if sc.rejected}
    assert rejected == {"REND", "LINE", "BOTH"}
