"""Pipelines: filter mode (``--stdout``), ``--summary json``, folders with files that are not X12."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import FIXTURES
from oracle import assert_valid_277, assert_valid_837

from scrubber.api import scrub_to_dir
from scrubber.inputs import looks_like_x12
from scrubber.reports import claims as claims_of
from scrubber.synth import file_837

MIXED = FIXTURES / "mixed.837"


def scrubber(*args: str, stdin: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scrubber", *args], input=stdin, capture_output=True, timeout=120,
                          cwd=cwd)


def reference(tmp: Path, source: Path = MIXED) -> Path:
    """The outputs of an ordinary run, to compare filter mode with byte for byte."""
    scrub_to_dir(source, tmp / "ref")
    return tmp / "ref"


def test_filter_mode_accepted_837_from_stdin_to_stdout(tmp_path: Path) -> None:
    proc = scrubber("scrub", "-", "--stdout", "accepted", stdin=MIXED.read_bytes(), cwd=tmp_path)
    assert proc.returncode == 1  # claims were rejected: the exit status says so, stdout carries the rest
    assert proc.stdout == (reference(tmp_path) / "mixed.accepted.837").read_bytes()
    assert_valid_837(proc.stdout.decode("latin-1"))
    assert proc.stderr.decode().splitlines() == ["stdin: 9 claims, 3 accepted, 6 rejected -> standard output (accepted)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref"]  # nothing written beside


def test_filter_mode_keeps_the_other_outputs_in_outdir_when_given(tmp_path: Path) -> None:
    proc = scrubber("scrub", str(MIXED), "--stdout", "277", "-o", str(tmp_path / "out"))
    assert proc.returncode == 1, proc.stderr
    assert_valid_277(proc.stdout.decode("latin-1"))
    assert proc.stdout.startswith(b"ISA*") and proc.stdout.count(b"~ST*277*") + proc.stdout.count(b"\nST*277*") == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "mixed.999", "mixed.accepted.837", "mixed.report.html", "mixed.report.json", "mixed.worklist.csv"]


def test_filter_mode_json_report_is_byte_exact(tmp_path: Path) -> None:
    proc = scrubber("scrub", str(MIXED), "--stdout", "json")
    assert proc.stdout == (reference(tmp_path) / "mixed.report.json").read_bytes()
    assert json.loads(proc.stdout)["claims_total"] == 9


def test_filter_mode_with_unusable_input_writes_nothing_to_stdout(tmp_path: Path) -> None:
    cut = MIXED.read_bytes()
    cut = cut[: cut.index(b"SE*")]
    proc = scrubber("scrub", "-", "--stdout", "accepted", stdin=cut)
    assert proc.returncode == 2 and proc.stdout == b""
    assert len(proc.stderr.decode().splitlines()) == 1 and proc.stderr.startswith(b"scrubber: stdin: ")


def test_filter_mode_with_no_claim_accepted_writes_nothing(tmp_path: Path) -> None:
    proc = scrubber("scrub", "-", "--stdout", "accepted", stdin=file_837([{"id": "R1", "charge": "1.00"}]).encode())
    assert proc.returncode == 1 and proc.stdout == b""


def test_filter_mode_refuses_several_inputs_and_scrub_needs_an_outdir_otherwise(tmp_path: Path) -> None:
    proc = scrubber("scrub", str(MIXED), str(FIXTURES / "chemo-mixed.837"), "--stdout", "accepted")
    assert proc.returncode == 2 and proc.stdout == b"" and b"--stdout takes exactly one input" in proc.stderr
    proc = scrubber("scrub", str(MIXED))
    assert proc.returncode == 2 and proc.stderr.decode().splitlines() == [
        "scrubber: scrub needs -o OUTDIR (or --stdout accepted|277|json for filter mode)"]


@pytest.fixture
def export_folder(tmp_path: Path) -> Path:
    """A folder as practice-management exports look: claim files among other files."""
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "a.837").write_bytes(MIXED.read_bytes())
    (folder / "b.x12").write_bytes(b"\xef\xbb\xbf\r\n  " + (FIXTURES / "chemo-mixed.837").read_bytes())
    (folder / "c.txt").write_bytes(file_837([{"id": "U16"}]).encode("utf-16"))  # UTF-16 with BOM
    (folder / "LICENSE").write_text("Apache License\nVersion 2.0\n")
    (folder / "make_fixtures.py").write_text("print('ISA')\n")
    (folder / "empty.837").write_bytes(b"")
    (folder / ".hidden.837").write_bytes(MIXED.read_bytes())
    (folder / "broken.837").write_bytes(MIXED.read_bytes()[:300])  # X12 that ends inside its envelope
    return folder


def test_a_folder_scrub_skips_what_is_not_x12_and_totals_the_batch(export_folder: Path, tmp_path: Path) -> None:
    proc = scrubber("scrub", str(export_folder), "-o", str(tmp_path / "out"), "--no-html")
    err = proc.stderr.decode().splitlines()
    out = proc.stdout.decode().splitlines()
    assert proc.returncode == 2, err  # broken.837 is X12 and unusable: that is an error, not a skip
    assert sorted(line.split(": skipped")[0] for line in err if ": skipped, not X12" in line) == sorted(
        f"scrubber: {export_folder / n}" for n in ("LICENSE", "empty.837", "make_fixtures.py"))
    assert [line for line in err if "broken.837" in line and "skipped" not in line]
    per_input = [tuple(map(int, re.findall(r"(\d+) claims, (\d+) accepted, (\d+) rejected", line)[0]))
                 for line in out[:-1]]
    assert len(per_input) == 3 and sum(p[0] for p in per_input) == 18  # 9 + 8 + 1 claims
    claims, accepted, rejected = (sum(p[i] for p in per_input) for i in range(3))
    assert out[-1] == (f"total: 4 inputs, {claims} claims, {accepted} accepted, {rejected} rejected "
                       "(1 unusable, 3 skipped)")
    assert sorted(p.name for p in (tmp_path / "out").glob("*.report.json")) == [
        "a.report.json", "b.report.json", "c.report.json"]


def test_summary_json_for_a_batch(export_folder: Path, tmp_path: Path) -> None:
    (export_folder / "broken.837").unlink()
    proc = scrubber("scrub", str(export_folder), "-o", str(tmp_path / "out"), "--no-html", "--summary", "json")
    assert proc.returncode == 1
    summary = json.loads(proc.stdout)  # exactly one JSON object on stdout
    reports = [json.loads(p.read_text()) for p in sorted((tmp_path / "out").glob("*.report.json"))]
    assert (summary["schema"], summary["exit_code"], summary["claims"], summary["accepted"], summary["rejected"]) == (
        "scrubber.summary/1", 1, 18, sum(r["accepted"] for r in reports), sum(r["rejected"] for r in reports))
    assert sorted(Path(s["path"]).name for s in summary["skipped"]) == ["LICENSE", "empty.837", "make_fixtures.py"]
    assert sorted(Path(p).name for p in summary["outputs"]) == sorted(p.name for p in (tmp_path / "out").iterdir())
    # findings by edit agree with the reports themselves
    counted: Counter[str] = Counter()
    for report in (tmp_path / "out").glob("*.report.json"):
        counted.update(f["edit"] for c in claims_of(json.loads(report.read_text())) for f in c["findings"])
    assert summary["findings_by_edit"] == dict(counted)
    assert [Path(i["input"]).name for i in summary["inputs"]] == ["a.837", "b.x12", "c.txt"]
    assert all(line.startswith("scrubber: ") and "skipped" in line for line in proc.stderr.decode().splitlines())


def test_summary_json_names_an_unusable_input_and_goes_to_stderr_in_filter_mode(tmp_path: Path) -> None:
    proc = scrubber("scrub", "-", "--stdout", "accepted", "--summary", "json", stdin=b"HELLO")
    assert proc.returncode == 2 and proc.stdout == b""
    err = proc.stderr.decode().splitlines()
    summary = json.loads(err[-1])
    assert summary["unusable"] == 1 and summary["inputs"] == [
        {"input": "stdin", "exit_code": 2, "error": err[0].removeprefix("scrubber: stdin: ")}]


def test_a_named_file_that_is_not_x12_is_still_an_error(tmp_path: Path) -> None:
    (tmp_path / "LICENSE").write_text("Apache License\n")
    proc = scrubber("scrub", str(tmp_path / "LICENSE"), "-o", str(tmp_path / "o"))
    assert proc.returncode == 2 and b"not X12" in proc.stderr


@pytest.mark.parametrize(("head", "expected"), [
    (b"ISA*00*", True),
    (b"\xef\xbb\xbf\r\n\t ISA*00", True),
    ("ISA*00*".encode("utf-16"), True),
    ("\r\nISA*00*".encode("utf-16-be"), False),  # BE without a BOM is not what the reader takes either
    ("ISA*00*".encode("utf-16-le"), True),
    (b"\xfe\xff" + "ISA*00*".encode("utf-16-be"), True),
    (b"PK\x03\x04ISA", False),
    (b"ISB*00", False),
    (b"", False),
    (b"# ISA\n", False),
])
def test_what_looks_like_x12(head: bytes, expected: bool) -> None:
    assert looks_like_x12(head) is expected
