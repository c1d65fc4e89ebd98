"""The command line as users call it: outputs, exit codes, rules, explain, atomic writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES
from oracle import assert_valid_277, assert_valid_837, assert_valid_999

from scrubber.cli import main
from scrubber.rules.catalog import load_catalog
from scrubber.synth import file_837


def scrubber(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scrubber", *args], input=stdin, capture_output=True, timeout=120)


def test_scrub_writes_every_output_and_exits_1_when_a_claim_is_rejected(tmp_path: Path) -> None:
    proc = scrubber("scrub", str(FIXTURES / "mixed.837"), "-o", str(tmp_path / "out"))
    assert proc.returncode == 1, proc.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    # mixed.837 holds two implementation-guide errors (a 31 February, an SV1 without a code): a 999 too.
    assert names == ["mixed.277", "mixed.999", "mixed.accepted.837", "mixed.report.html", "mixed.report.json",
                     "mixed.worklist.csv"]
    assert b"9 claims, 3 accepted, 6 rejected" in proc.stdout
    assert_valid_999((tmp_path / "out" / "mixed.999").read_text())


def test_a_scrub_quits_without_teardown_yet_loses_no_line_and_runs_exit_handlers(tmp_path: Path) -> None:
    # The command ends a scrub with os._exit (cli.entry): buffered stdout (a pipe, no
    # PYTHONUNBUFFERED) must still reach the reader, and exit handlers registered during the run
    # must still run.
    flag = tmp_path / "handler-ran"
    code = ("import atexit, pathlib, sys; from scrubber.cli import entry; "
            f"atexit.register(pathlib.Path({str(flag)!r}).write_text, 'yes'); "
            f"sys.argv = ['scrubber', 'scrub', {str(FIXTURES / 'mixed.837')!r}, '-o', {str(tmp_path / 'out')!r}, "
            "'--no-html']; entry()")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120, env=env)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.decode().strip().endswith("9 claims, 3 accepted, 6 rejected -> " +
                                                 str(tmp_path / "out" / "mixed") + ".*")
    assert flag.read_text() == "yes"
    assert_valid_837((tmp_path / "out" / "mixed.accepted.837").read_text())
    assert proc.stderr == b""
    out = tmp_path / "out"
    assert_valid_277((out / "mixed.277").read_text(encoding="latin-1"))
    assert_valid_837((out / "mixed.accepted.837").read_text(encoding="latin-1"))
    report = json.loads((out / "mixed.report.json").read_text())
    assert report["input"] == "mixed.837" and report["rejected"] == 6


def test_exit_0_when_every_claim_is_accepted_and_no_html_on_request(tmp_path: Path) -> None:
    src = tmp_path / "clean.x12"
    src.write_text(file_837([{"id": "C1"}, {"id": "C2", "dependent": {"first": "AL"}}]))
    proc = scrubber("scrub", str(src), "-o", str(tmp_path / "o"), "--no-html")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["clean.277", "clean.accepted.837", "clean.report.json",
                                                                   "clean.worklist.csv"]


def test_all_rejected_writes_no_accepted_837_and_removes_a_stale_one(tmp_path: Path) -> None:
    src = tmp_path / "bad.837"
    src.write_text(file_837([{"id": "R1", "charge": "1.00"}]))
    out = tmp_path / "o"
    out.mkdir()
    (out / "bad.accepted.837").write_text("stale claims from an earlier run")
    proc = scrubber("scrub", str(src), "-o", str(out))
    assert proc.returncode == 1
    assert not (out / "bad.accepted.837").exists()
    assert (out / "bad.277").exists()


def test_outputs_are_replaced_atomically_and_leave_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main(["scrub", str(FIXTURES / "mixed.837"), "-o", str(out), "--no-html"]) == 1
    first = (out / "mixed.277").read_bytes()
    assert main(["scrub", str(FIXTURES / "mixed.837"), "-o", str(out), "--no-html"]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["mixed.277", "mixed.999", "mixed.accepted.837", "mixed.report.json",
                                                     "mixed.worklist.csv"]
    assert (out / "mixed.277").read_bytes().count(b"ST*277") == first.count(b"ST*277") == 2


def test_a_failing_input_does_not_touch_earlier_outputs(tmp_path: Path) -> None:
    out = tmp_path / "o"
    src = tmp_path / "mixed.837"
    src.write_bytes((FIXTURES / "mixed.837").read_bytes())
    assert main(["scrub", str(src), "-o", str(out)]) == 1
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    src.write_bytes((FIXTURES / "mixed.837").read_bytes()[:-40])  # truncated: no IEA
    assert main(["scrub", str(src), "-o", str(out)]) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_directory_input_and_parallel_jobs_give_the_same_outputs(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        (src / f"f{i}.837").write_text(file_837([{"id": f"F{i}-{j}", "charge": "1.00" if j == 1 else "100.00"}
                                                  for j in range(3)], control=i + 1))
    assert main(["scrub", str(src), "-o", str(tmp_path / "a"), "--no-html"]) == 1
    assert main(["scrub", str(src), "-o", str(tmp_path / "b"), "--no-html", "--jobs", "2"]) == 1
    a = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    b = {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    assert sorted(a) == sorted(b) and len(a) == 12
    for name in a:
        if name.endswith(".277"):
            continue  # control numbers and times come from the clock
        assert a[name] == b[name], name


def test_two_inputs_that_would_overwrite_each_other_are_refused(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    for d in ("x", "y"):
        (tmp_path / d / "same.837").write_text(file_837([{"id": "A"}]))
    proc = scrubber("scrub", str(tmp_path / "x" / "same.837"), str(tmp_path / "y" / "same.837"), "-o", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert len(proc.stderr.decode().strip().splitlines()) == 1
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_rules_lists_every_edit_with_severity_dates_and_source() -> None:
    proc = scrubber("rules")
    assert proc.returncode == 0
    text = proc.stdout.decode()
    catalog = load_catalog()
    for edit in catalog.edits.values():
        line = next(ln for ln in text.splitlines() if ln.startswith(edit.id + " "))
        assert edit.severity in line and edit.pack in line and edit.sources[0].document in line
    rows = json.loads(scrubber("rules", "--json").stdout)
    assert {r["id"] for r in rows} == set(catalog.edits)
    assert all(r["source"] and r["severity"] in ("reject", "warn") for r in rows)


@pytest.mark.parametrize("edit_id", sorted(load_catalog().edits))
def test_explain_shows_a_firing_and_a_passing_example(edit_id: str, capsys) -> None:
    assert main(["explain", edit_id.lower()]) == 0
    text = capsys.readouterr().out
    assert text.startswith(edit_id)
    assert "Sources:" in text
    fires, passes = text.split("Example that fires:")[1].split("Example that passes:")
    assert "-> reject:" in fires or "-> warn:" in fires
    assert passes.strip().endswith("-> no finding")


def test_explain_through_the_command_line() -> None:
    proc = scrubber("explain", "X12-UNITS")
    assert proc.returncode == 0 and proc.stdout.decode().startswith("X12-UNITS")


def test_explain_unknown_edit_exits_2() -> None:
    proc = scrubber("explain", "NOPE-1")
    assert proc.returncode == 2 and b"NOPE-1" in proc.stderr


def test_version_and_module_entry_point() -> None:
    proc = scrubber("--version")
    assert proc.returncode == 0 and proc.stdout.decode().startswith("scrubber ")


def test_stdin_input_writes_stdin_outputs(tmp_path: Path) -> None:
    proc = scrubber("scrub", "-", "-o", str(tmp_path), stdin=(FIXTURES / "mixed.837").read_bytes())
    assert proc.returncode == 1
    assert (tmp_path / "stdin.277").exists() and (tmp_path / "stdin.report.json").exists()


def test_outputs_get_ordinary_file_permissions(tmp_path: Path) -> None:
    main(["scrub", str(FIXTURES / "mixed.837"), "-o", str(tmp_path), "--no-html"])
    mode = (tmp_path / "mixed.277").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
