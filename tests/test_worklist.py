"""NAME.worklist.csv: one row per finding, read back safely whatever the claim file holds."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from conftest import FIXTURES

from scrubber.api import scrub_bytes, scrub_to_dir
from scrubber.cli import main
from scrubber.model import Finding, ScrubbedClaim
from scrubber.reports import claims as claims_of
from scrubber.synth import file_837
from scrubber.writers.worklist import COLUMNS, FORMULA_STARTS, WorklistWriter

HOSTILE_IDS = ['=HYPERLINK("http://example.invalid/x","click")', "+1+1", "-2+3", "@SUM(A1:A9)", "\tTAB-1",
               "\rCR-1", '"QUOTED",COMMA', "<img src=x onerror=alert(1)>", "PLAIN-1"]


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def _safe(cell: str) -> bool:
    return not cell.startswith(FORMULA_STARTS)


def test_hostile_claim_ids_read_back_defused(tmp_path: Path) -> None:
    claims = [{"id": cid, "charge": "1.00", "member_id": f"M{i}"} for i, cid in enumerate(HOSTILE_IDS)]
    src = tmp_path / "hostile.837"
    src.write_bytes(file_837(claims).encode("latin-1"))
    scrub_to_dir(src, tmp_path / "out")
    raw = (tmp_path / "out" / "hostile.worklist.csv").read_bytes()
    rows = _rows(raw.decode("utf-8"))
    assert rows[0] == list(COLUMNS)
    report = json.loads((tmp_path / "out" / "hostile.report.json").read_text())
    expected = [(c["claim_id"], f["edit"], f["segment_number"]) for c in claims_of(report) for f in c["findings"]]
    assert [(r[0], r[4], int(r[10])) for r in rows[1:]] == [
        ("'" + cid if cid.startswith(FORMULA_STARTS) else cid, edit, seg) for cid, edit, seg in expected]
    assert {r[0] for r in rows[1:]} >= {"'=HYPERLINK(\"http://example.invalid/x\",\"click\")", "'\rCR-1", "'\tTAB-1",
                                         '"QUOTED",COMMA', "PLAIN-1"}
    assert all(_safe(cell) for row in rows for cell in row)
    assert all(len(r) == len(COLUMNS) for r in rows)


def test_hostile_messages_round_trip_through_the_csv_module() -> None:
    """Messages, suggestions and sources with formulas, quotes, commas and line breaks: one cell each."""
    values = ["=1+1", "+SUM(A1)", "-cmd|' /C calc'!A0", "@x", "\tlead tab", "\rlead cr", 'say "hi", then go',
              "two\nlines", "two\r\nlines, CRLF", "ends with a quote\"", "", "ordinary text"]
    out = io.StringIO(newline="")
    writer = WorklistWriter(out)
    claim = scrub_bytes(file_837([{"id": "W1"}]).encode()).claims[0].claim
    findings = [Finding(edit="X12-UNITS", severity="warn", message=v, suggestion=v[::-1], source=v, line=3,
                        code="99213", segment_number=12, confidence="certain") for v in values]
    writer.claim(ScrubbedClaim(claim, findings))
    rows = _rows(out.getvalue())
    assert len(rows) == 1 + len(values)

    def shown(v: str) -> str:
        return "'" + v if v.startswith(FORMULA_STARTS) else v

    for row, v in zip(rows[1:], values, strict=True):
        assert dict(zip(COLUMNS, row, strict=True)) == {
            "claim_id": "W1", "payer_id": "EHP01", "line": "3", "code": "99213", "edit": "X12-UNITS",
            "severity": "warn", "confidence": "certain", "message": shown(v), "suggestion": shown(v[::-1]),
            "source": shown(v), "segment_number": "12"}
    assert all(_safe(cell) for row in rows for cell in row)


def test_engineers_hints_stay_out_of_the_worklist() -> None:
    data = (FIXTURES / "chemo-mixed.837").read_bytes()
    result = scrub_bytes(data, "chemo-mixed.837")
    assert "`scrubber import-mcd" in result.to_json()  # the JSON report keeps them for engineers
    text = result.worklist()
    assert "PAYER-DX-NOT-COVERED" in text and "Check the diagnosis against the full article." in text
    assert "`" not in text and "scrubber import-mcd" not in text and "--payers" not in text


def test_every_run_writes_a_worklist_even_without_findings(tmp_path: Path) -> None:
    src = tmp_path / "clean.837"
    src.write_text(file_837([{"id": "C1"}]))
    assert main(["scrub", str(src), "-o", str(tmp_path / "o"), "--no-html"]) == 0
    assert (tmp_path / "o" / "clean.worklist.csv").read_bytes() == (",".join(COLUMNS) + "\r\n").encode()
    assert main(["scrub", str(FIXTURES / "mixed.837"), "-o", str(tmp_path / "o"), "--no-html"]) == 1
    on_disk = (tmp_path / "o" / "mixed.worklist.csv").read_bytes().decode("utf-8")
    assert on_disk == scrub_bytes((FIXTURES / "mixed.837").read_bytes(), "mixed.837").worklist()
    report = json.loads((tmp_path / "o" / "mixed.report.json").read_text())
    assert len(_rows(on_disk)) - 1 == sum(report["findings_by_edit"].values())


def test_non_ascii_claim_ids_are_utf8_in_the_worklist(tmp_path: Path) -> None:
    # The file's bytes are UTF-8 (as a practice system writes "MUÑOZ"); the worklist shows the letter.
    src = tmp_path / "u.837"
    src.write_bytes(file_837([{"id": "MUÑOZ-1", "charge": "1.00"}]).encode("utf-8"))
    scrub_to_dir(src, tmp_path / "o")
    rows = _rows((tmp_path / "o" / "u.worklist.csv").read_bytes().decode("utf-8"))
    assert rows[1][0] == "MUÑOZ-1"
