"""The Python API as integrators call it: bytes out for X12, the report as a dict, the README's example."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT

from scrubber import Options, Result, scrub_bytes, scrub_file
from scrubber.synth import file_837


def test_x12_outputs_are_the_input_bytes_unchanged() -> None:
    # A latin-1 É (byte 0xC9) in a name: str.encode() of the old text API turned it into two bytes.
    data = file_837([{"id": "C1", "last": "CLÉMENT"}, {"id": "C2", "member_id": "M2"}]).encode("latin-1")
    assert b"CL\xc9MENT" in data
    # É is outside the X12 character set: by default the guide check holds C1 (as pyx12 would),
    # and the 999 says so; with the check off, the bytes go through as they came.
    held = scrub_bytes(data, "accents.837")
    assert [sc.claim.claim_id for sc in held.claims if sc.rejected] == ["C1"] and "IK3*NM1*" in held.ack_999_text
    result = scrub_bytes(data, "accents.837", options=Options(guide="off"))
    assert isinstance(result, Result) and result.summary.rejected == 0
    assert isinstance(result.accepted_837(), bytes) and result.accepted_837() == data
    ack = result.ack_277()
    assert isinstance(ack, bytes) and ack.startswith(b"ISA*") and ack.count(b"TRN*2*C") == 2
    assert isinstance(result.to_json(), str) and isinstance(result.to_html(), str)
    assert isinstance(result.worklist(), str)


def test_report_is_the_json_as_a_dict_and_a_new_copy_each_time() -> None:
    result = scrub_file(FIXTURES / "mixed.837")
    report = result.report()
    assert report == json.loads(result.to_json()) and report["schema"] == "scrubber.report/2"
    assert len(report["claims"]) == 6 and len(report["clean"]) == 3  # findings in full, clean claims as rows
    report["claims"].clear()
    assert len(result.report()["claims"]) == 6
    assert result.accepted_837() != b"" and scrub_bytes(file_837([{"id": "R", "charge": "1.00"}]).encode()
                                                         ).accepted_837() == b""


def test_the_readme_python_example_runs(tmp_path: Path, monkeypatch, capsys) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### From Python"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "mixed.837").write_bytes((FIXTURES / "mixed.837").read_bytes())
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
    printed = capsys.readouterr().out.splitlines()
    result = scrub_file(FIXTURES / "mixed.837")
    s = result.summary
    assert printed[0] == f"{s.claims} claims, {s.accepted} accepted, {s.rejected} rejected"
    assert f"It prints `{printed[0]}`" in section  # what the README says it prints
    assert printed[1:] == [f"{c['claim_id']} {sorted({f['edit'] for f in c['findings'] if f['severity'] == 'reject'})}"
                           for c in result.report()["claims"] if c["status"] == "rejected"]
    assert len(printed) == 1 + s.rejected
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mixed.277", "mixed.accepted.837",
                                                                    "mixed.worklist.csv"]
    assert (tmp_path / "out" / "mixed.277").read_bytes().startswith(b"ISA*")


def test_the_wheel_ships_the_schemas_the_page_assets_and_the_packs(tmp_path: Path) -> None:
    pytest.importorskip("hatchling")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "--no-index", "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PIP_NO_INPUT": "1"})
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("scrubber-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("scrubber/schemas/report-1.json", "scrubber/schemas/report-2.json", "scrubber/schemas/payers-1.json",
                   "scrubber/writers/report_html.js", "scrubber/writers/report_html.css",
                   "scrubber/_edits/payer/registry.yaml", "scrubber/_edits/payer/policies/A57186-confirmed.csv"):
        assert needed in names, needed
