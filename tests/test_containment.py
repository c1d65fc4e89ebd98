"""One bad claim never blocks a batch: values of any size are judged, a failure while reading or
checking one claim rejects that claim (X12-STRUCTURE, saying what), and only a file unusable as a
whole exits 2 (issue 16, items 2, 4 and 5).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from invariants import check_result
from oracle import assert_valid_277

from scrubber import api, split
from scrubber.api import Options, scrub_bytes, scrub_to_dir
from scrubber.engine import Engine
from scrubber.errors import InputError
from scrubber.parallel import scrub_one
from scrubber.reports import claims as claims_of
from scrubber.synth import file_837
from scrubber.x12 import reader

NOW = dt.datetime(2025, 2, 1, 12, 0)


def _scrub(text: str, engine: Engine, **kw):
    data = text.encode("latin-1")
    result = scrub_bytes(data, "t.837", options=Options(html=True, now=NOW, **kw), engine=engine)
    check_result(data, result, input_is_valid=False)
    return {sc.claim.claim_id: sc for sc in result.claims}


def _edits(scrubbed) -> set[str]:
    return {f.edit for f in scrubbed.findings if f.rejects}


# -- values of any size ------------------------------------------------------------------------------
@pytest.mark.parametrize(("spec", "edit", "words"), [
    ({"charge": "1" * 30}, "X12-STRUCTURE", "CLM02"),
    ({"charge": "1" * 19}, "X12-STRUCTURE", "18 digits"),
    ({"lines": [{"charge": "1" * 30}]}, "X12-STRUCTURE", "SV102"),
    ({"lines": [{"ptr": "1" * 5000}]}, "X12-DX-POINTER", "points to diagnosis"),
    ({"lines": [{"ptr": "\u00b2"}]}, "X12-DX-POINTER", "points to diagnosis"),
    ({"lines": [{"lx": "\u00b2"}]}, "X12-STRUCTURE", "LX01"),
    ({"lines": [{"lx": "9" * 5000}]}, "X12-STRUCTURE", "LX01"),
    ({"lines": [{"units": "9" * 40}]}, "X12-UNITS", ""),
])
def test_a_value_of_any_size_is_judged_not_a_crash(spec: dict, edit: str, words: str, engine) -> None:
    claims = _scrub(file_837([{"id": "BAD", **spec}, {"id": "GOOD"}]), engine)
    assert edit in _edits(claims["BAD"]), claims["BAD"].findings
    assert any(words in f.message for f in claims["BAD"].findings if f.edit == edit)
    assert not claims["GOOD"].rejected


def test_a_charge_at_the_18_digit_limit_is_still_an_amount(engine) -> None:
    claims = _scrub(file_837([{"id": "BIG", "charge": "9999999999999999.99",
                               "lines": [{"charge": "9999999999999999.99"}]}]), engine)
    assert not claims["BIG"].rejected


def test_charges_that_add_up_past_what_a_277ca_holds_make_the_file_unusable(engine) -> None:
    big = "999999999999999999"
    text = file_837([{"id": f"B{i}", "charge": big, "lines": [{"charge": big}]} for i in range(2)])
    with pytest.raises(InputError, match="18 digits"):
        scrub_bytes(text.encode(), "t.837", options=Options(html=False, now=NOW), engine=engine)


# -- a failure inside one claim ------------------------------------------------------------------
def test_a_check_that_fails_on_one_claim_rejects_only_that_claim(engine, monkeypatch) -> None:
    mine = Engine(today=dt.date(2025, 2, 1))
    edit, params, check, trigger = mine._default.claim[0]

    def explode(claim, *args):
        if claim.claim_id == "BOOM":
            raise ValueError("a message that may quote claim content")
        return check(claim, *args)

    mine._default.claim[0] = (edit, params, explode, trigger)
    text = file_837([{"id": "OK-1"}, {"id": "BOOM"}, {"id": "OK-2", "charge": "1.00"}])
    claims = _scrub(text, mine)
    boom = claims["BOOM"]
    assert _edits(boom) == {"X12-STRUCTURE"}
    (finding,) = boom.findings
    assert edit.id in finding.message and "ValueError" in finding.message
    assert "quote claim content" not in finding.message
    normal = _scrub(text, engine)
    for cid in ("OK-1", "OK-2"):
        assert [f.message for f in claims[cid].findings] == [f.message for f in normal[cid].findings]


def test_a_claim_the_reader_fails_on_is_rejected_and_the_rest_read_on(engine, monkeypatch) -> None:
    real = reader.build_claim

    def build(ordinal, segments, *rest):
        if segments[0].el(1) == "ODD":
            raise IndexError("list index out of range")
        return real(ordinal, segments, *rest)

    monkeypatch.setattr(reader, "build_claim", build)
    claims = _scrub(file_837([{"id": "A", "member_id": "M1"}, {"id": "ODD", "member_id": "M2"},
                              {"id": "C", "member_id": "M3"}]), engine)
    assert _edits(claims["ODD"]) == {"X12-STRUCTURE"}
    assert "IndexError" in claims["ODD"].findings[0].message
    assert not claims["A"].rejected and not claims["C"].rejected


def test_a_writer_that_fails_aborts_the_file_and_keeps_the_previous_set(tmp_path: Path, monkeypatch) -> None:
    src, out = tmp_path / "claims.837", tmp_path / "out"
    src.write_text(file_837([{"id": "A"}, {"id": "B"}]))
    scrub_to_dir(src, out, options=Options(html=False))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = api.JsonReportWriter.claim

    def claim(self, scrubbed):
        if scrubbed.claim.claim_id == "B":
            raise TypeError("a writer bug")
        return real(self, scrubbed)

    monkeypatch.setattr(api.JsonReportWriter, "claim", claim)
    _label, summary, error = scrub_one(str(src), str(out), Options(html=False))
    assert summary is None and error.startswith("unexpected TypeError")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no half-updated set, no leftovers


# -- --validate: pyx12 failing on the input -------------------------------------------------------------
@pytest.mark.parametrize("text", [
    file_837([{"id": "V1", "clm": "CLM*V1*100***:::*Y*A*Y*Y"}, {"id": "V2"}]),
    file_837([{"id": "V1"}, {"id": "V2"}]).replace("*00501*", "*00501   *", 1),
], ids=["clm05-separators-only", "isa12-padded"])
def test_validate_holds_claims_pyx12_cannot_check_instead_of_stopping(text: str, tmp_path: Path) -> None:
    src = tmp_path / "v.837"
    src.write_text(text)
    _label, summary, error = scrub_one(str(src), str(tmp_path / "out"), Options(html=False, validate=True))
    assert summary is not None, error
    report = json.loads((tmp_path / "out" / "v.report.json").read_text())
    assert report["claims_total"] == 2 and report["rejected"] >= 1
    stopped = [f["message"] for c in claims_of(report) for f in c["findings"] if "pyx12 stopped" in f["message"]]
    if "00501   " in text:
        assert len(stopped) == 2  # the whole interchange could not be checked
    assert_valid_277((tmp_path / "out" / "v.277").read_text(encoding="latin-1"))


# -- one file over several processes (--jobs N) -------------------------------------------------------
@pytest.fixture(scope="module")
def big_text() -> str:
    text = file_837([{"id": f"J{i}", "member_id": f"M{i}"} for i in range(3200)], claims_per_billing=40)
    assert len(text) > split.MIN_SPLIT_BYTES
    return text


def _both(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    src = tmp_path / "one.837"
    src.write_text(text)
    out = []
    for jobs in (1, 2):
        _label, summary, error = scrub_one(str(src), str(tmp_path / f"out{jobs}"), Options(html=False, jobs=jobs))
        report = (tmp_path / f"out{jobs}" / "one.report.json").read_text() if summary else ""
        out.append((error, report))
    return out


def test_jobs_report_a_broken_envelope_as_one_process_does(tmp_path: Path, big_text: str) -> None:
    no_gs = big_text.replace(big_text[big_text.index("GS*"):big_text.index("ST*837")], "", 1)
    (one, _), (two, _) = _both(tmp_path, no_gs)
    assert one == two == "ST outside a functional group (at byte 106)"


def test_jobs_report_an_overlong_claim_at_its_real_offset(tmp_path: Path, big_text: str, monkeypatch) -> None:
    monkeypatch.setattr(reader, "MAX_UNIT_SEGMENTS", 40)  # the workers are forked: they see it too
    at = big_text.index("CLM*J3000*")
    end = big_text.index("LX*1", at)
    text = big_text[:end] + "NTE*ADD*NOTE~\n" * 60 + big_text[end:]
    (one, _), (two, _) = _both(tmp_path, text)
    assert "more than 40 segments" in one and one == two


def test_jobs_with_claimless_billing_loops_at_the_end_match_one_process(tmp_path: Path, big_text: str) -> None:
    tail = "".join(f"HL*{9000 + i}**20*1~\nNM1*85*2*EMPTY GROUP*****XX*1234567893~\n" for i in range(40))
    at = big_text.rindex("\nSE*") + 1
    text = big_text[:at] + tail + big_text[at:]
    (one, report_one), (two, report_two) = _both(tmp_path, text)
    assert one == two == ""
    assert json.loads(report_one)["claims_total"] == 3200
    assert report_one == report_two


# -- bounded resources ---------------------------------------------------------------------------------
_PEAK = """
import sys
from scrubber.cli import main
from scrubber.reports import claims as claims_of
try:
    code = main(sys.argv[1:])
finally:  # VmHWM is this program's own peak (ru_maxrss would count the forking parent too)
    sys.stdout.write(next(ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmHWM")))
sys.exit(code)
"""


def _peak(args: list[str]) -> tuple[int, bytes, int]:
    """(exit status, stderr, peak RSS in KB) of one scrub."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to measure the peak memory of one process")
    proc = subprocess.run([sys.executable, "-c", _PEAK, *args], capture_output=True, timeout=300)
    return proc.returncode, proc.stderr, int(proc.stdout or 0)


@pytest.mark.parametrize("kind", ["no-terminator", "zero-bytes"])
def test_input_without_terminators_fails_fast_in_bounded_memory(kind: str, tmp_path: Path) -> None:
    src = tmp_path / "huge.837"
    size = 64 << 20
    with open(src, "wb") as fh:
        if kind == "no-terminator":
            fh.write(file_837([{"id": "A"}]).split("~", 1)[0].encode() + b"~")  # an ISA, then nothing ends
            fh.write(b"GS*HC" + b"*X" * (size // 2))
        else:
            fh.write(b"\0" * size)
    status, err, rss_kb = _peak(["scrub", str(src), "-o", str(tmp_path / "o")])
    assert status == 2 and b"Traceback" not in err
    assert (b"no segment terminator" if kind == "no-terminator" else b"only blank space") in err, err
    assert rss_kb < 64 * 1024, f"{rss_kb} KB: the reader held the unterminated input"


def test_max_segment_is_configurable(tmp_path: Path) -> None:
    src = tmp_path / "long.837"
    src.write_text(file_837([{"id": "A", "last": "X" * 5000}]))
    args = [sys.executable, "-m", "scrubber", "scrub", str(src), "-o", str(tmp_path / "o")]
    # Read whole by default: exit 1, as the 5,000-letter NM103 breaks the guide (60 at most) and holds the claim.
    first = subprocess.run(args, capture_output=True)
    assert first.returncode == 1 and b"Traceback" not in first.stderr, first.stderr
    assert b"IK3*NM1" in (tmp_path / "o" / "long.999").read_bytes()
    proc = subprocess.run([*args, "--max-segment", "1000"], capture_output=True)
    assert proc.returncode == 2 and b"--max-segment" in proc.stderr and b"Traceback" not in proc.stderr


def test_a_million_empty_segments_make_a_handful_of_notices(engine) -> None:
    text = file_837([{"id": "A"}]).replace("~\nHL*1*", "~" * 100_000 + "\nHL*1*", 1)
    result = scrub_bytes(text.encode(), "t.837", options=Options(html=False, now=NOW), engine=engine)
    notices = json.loads(result.to_json())["notices"]
    assert len(notices) <= 12 and any(re.fullmatch(r"\d{5} more empty segments skipped", n) for n in notices), notices
