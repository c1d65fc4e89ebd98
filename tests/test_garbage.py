"""Unusable input, through the real command line: exit 2, one line on stderr, no traceback, no output.

Contract: "2 -- the input is unusable: unreadable, not X12, no 837P transaction, broken envelope. One
line on standard error says what and where (byte offset or segment number); no traceback", and an
existing output file is only ever replaced atomically.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from scrubber.synth import file_837

# Claim content that must never reach a terminal or a log.
PATIENT = "QUIXOTEFAMILY"
MEMBER = "SECRETMBR42"


def _good() -> str:
    return file_837(
        [
            {"id": "GOOD-1", "member_id": MEMBER, "last": PATIENT, "first": "ALONSO"},
            {
                "id": "GOOD-2",
                "member_id": "M2",
                "last": PATIENT,
                "first": "SANCHA",
                "dependent": {"last": PATIENT, "first": "TERESA"},
            },
            {"id": "GOOD-3", "member_id": "M3", "last": PATIENT, "charge": "1.00"},  # rejected: does not balance
        ]
    )


GOOD = _good()
ISA_LINE = GOOD.split("~", 1)[0] + "~"


def run(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "SCRUBBER_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "scrubber", "scrub", *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=120,
        env=env,
    )


def leftovers(outdir: Path) -> list[str]:
    """Everything in OUTDIR, hidden temporaries included."""
    return sorted(os.listdir(outdir)) if outdir.exists() else []


def assert_one_line(proc: subprocess.CompletedProcess[bytes]) -> str:
    err = proc.stderr
    assert proc.returncode == 2, (proc.returncode, err)
    assert b"Traceback" not in err, err
    assert err.endswith(b"\n") and err.count(b"\n") == 1, err
    assert proc.stdout == b"", proc.stdout
    line = err.decode("utf-8", "replace").rstrip("\n")
    assert line.startswith("scrubber: "), line
    assert len(line) < 400, line
    assert PATIENT not in line and MEMBER not in line and "ALONSO" not in line, line
    return line


# -- the garbage ---------------------------------------------------------------------------


def _replace_version(text: str, new: str) -> str:
    return text.replace("005010X222A1", new)


def _835() -> bytes:
    text = _replace_version(GOOD, "005010X221A1").replace("GS*HC*", "GS*HP*").replace("ST*837*", "ST*835*")
    return text.encode()


def _837i() -> bytes:
    return file_837([{"id": "INST-1", "last": PATIENT, "member_id": MEMBER}], version="005010X223A2").encode()


def _stops_in_middle() -> bytes:
    # cut cleanly after a segment inside the second claim: no SE, GE, IEA
    end = GOOD.index("~\n", GOOD.index("CLM*GOOD-2*")) + 2
    return GOOD[:end].encode()


def _stops_mid_segment() -> bytes:
    start = GOOD.index(f"NM1*QC*1*{PATIENT}")
    return GOOD[: start + len("NM1*QC*1*") + 4].encode()


def _only_isa_iea() -> bytes:
    return (ISA_LINE + "\nIEA*0*000000001~\n").encode()


def _isa_letter_separator() -> bytes:
    return GOOD.replace(ISA_LINE, ISA_LINE.replace("*", "X"), 1).encode()


def _random(seed: int, prefix: bytes = b"") -> Callable[[], bytes]:
    return lambda: prefix + random.Random(seed).randbytes(4096)


def _x12_then_random() -> bytes:
    head = "".join(s + "~\n" for s in GOOD.split("~\n")[:8])
    return head.encode() + random.Random(7).randbytes(2048)


def _ge_missing() -> bytes:
    return re.sub(r"GE\*1\*1~\n", "", GOOD).encode()


def _claim_outside_transaction() -> bytes:
    # the ST and SE are gone: claim segments (with the patient's name) sit right under GS
    text = re.sub(r"ST\*837\*0001\*005010X222A1~\n", "", GOOD)
    text = re.sub(r"SE\*\d+\*0001~\n", "", text)
    return text.encode()


def _patient_segment_outside_transaction() -> bytes:
    # ISA and GS, then straight into the subscriber's NM1 (name and member id) with no ST
    lines = GOOD.split("~\n")
    start = next(i for i, s in enumerate(lines) if s.startswith(f"NM1*IL*1*{PATIENT}"))
    return "~\n".join(lines[:2] + lines[start:]).encode()


def _patient_name_as_segment_id() -> bytes:
    return (GOOD + f"{PATIENT}*{MEMBER}*ALONSO~\n").encode()


def _utf16_broken() -> bytes:
    return b"\xff\xfe" + "ISA*00".encode("utf-16-le") + b"\x00\xd8\x41\x00"


def _no_terminators() -> bytes:
    # a good start, then segments that never end: read up to the segment limit (1 MiB), no further
    return (ISA_LINE + "\nGS*HC*" + "X*" * (1 << 20)).encode()


def _utf16_truncated() -> bytes:
    return GOOD.encode("utf-16")[:-1]


def _claimless() -> bytes:
    lines = GOOD.split("~\n")
    start = next(i for i, s in enumerate(lines) if s.startswith("HL*"))
    end = next(i for i, s in enumerate(lines) if s.startswith("SE*"))
    return "~\n".join(lines[:start] + lines[end:]).encode()


def _se_missing() -> bytes:
    # the SE of the first interchange's transaction is gone: the next interchange must not be read
    # as part of it
    first = re.sub(r"SE\*\d+\*0001~\n", "", GOOD)
    return (first + GOOD.replace("000000001", "000000002")).encode()


GARBAGE: dict[str, Callable[[], bytes]] = {
    "empty": lambda: b"",
    "whitespace": lambda: b"  \r\n\t\n   \n",
    "random-0": _random(0),
    "random-1": _random(1),
    "random-2": _random(2),
    "isa-then-random": _random(3, b"ISA"),
    "png": lambda: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00",
    "zip": lambda: b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + random.Random(4).randbytes(200),
    "english": lambda: b"Dear billing team,\nplease find the January claims attached.\nThanks, Pat\n",
    "json": lambda: json.dumps({"claims": [{"id": "GOOD-1", "patient": PATIENT, "charge": "100.00"}]}).encode(),
    "isa-truncated-50": lambda: GOOD[:50].encode(),
    "isa-letter-separator": _isa_letter_separator,
    "stops-in-middle": _stops_in_middle,
    "stops-mid-segment": _stops_mid_segment,
    "ge-missing": _ge_missing,
    "only-isa-iea": _only_isa_iea,
    "835": _835,
    "837i": _837i,
    "x12-then-random": _x12_then_random,
    "claim-outside-transaction": _claim_outside_transaction,
    "name-as-segment-id": _patient_name_as_segment_id,
    "patient-segment-outside-transaction": _patient_segment_outside_transaction,
    "utf16-broken": _utf16_broken,
    "utf16-truncated": _utf16_truncated,
    "no-terminators": _no_terminators,
    "zero-bytes": lambda: b"\0" * 100_000,
    "transaction-without-claims": _claimless,
    "se-missing": _se_missing,
}

# Where a definite position is at fault, the line must say where (byte offset or segment number).
POSITIONAL = {
    "random-0",
    "random-1",
    "random-2",
    "isa-then-random",
    "png",
    "zip",
    "english",
    "json",
    "isa-truncated-50",
    "isa-letter-separator",
    "stops-in-middle",
    "stops-mid-segment",
    "ge-missing",
    "835",
    "837i",
    "claim-outside-transaction",
    "name-as-segment-id",
    "patient-segment-outside-transaction",
    "utf16-truncated",
    "no-terminators",
    "se-missing",
}


def test_garbage_cases_are_really_garbage_variants_of_a_good_file(tmp_path: Path) -> None:
    # the good file the broken ones derive from does scrub (exit 1: one claim is rejected)
    src = tmp_path / "good.837"
    src.write_bytes(GOOD.encode())
    proc = run([str(src), "-o", str(tmp_path / "out")])
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == b""
    assert (tmp_path / "out" / "good.277").exists()


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_unusable_input_exits_2_with_one_line(kind: str, tmp_path: Path) -> None:
    src = tmp_path / "bad.837"
    src.write_bytes(GARBAGE[kind]())
    outdir = tmp_path / "out"
    proc = run([str(src), "-o", str(outdir)])
    line = assert_one_line(proc)
    assert str(src) in line or "bad.837" in line, line
    if kind in POSITIONAL:
        assert re.search(r"\b(byte|segment) \d+", line), line
    assert leftovers(outdir) == []


def test_835_and_837i_say_what_they_are(tmp_path: Path) -> None:
    for kind, token in (("835", "835"), ("837i", "005010X223A2")):
        src = tmp_path / f"{kind}.x12"
        src.write_bytes(GARBAGE[kind]())
        line = assert_one_line(run([str(src), "-o", str(tmp_path / "out")]))
        assert token in line, line


def test_missing_input_path(tmp_path: Path) -> None:
    outdir = tmp_path / "out"
    missing = tmp_path / "nowhere" / "claims.837"
    line = assert_one_line(run([str(missing), "-o", str(outdir)]))
    assert "claims.837" in line
    assert leftovers(outdir) == []


def test_directory_of_only_garbage(tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    names = ["a.837", "b.837", "c.txt"]
    for name, kind in zip(names, ["english", "stops-in-middle", "random-1"], strict=True):
        (folder / name).write_bytes(GARBAGE[kind]())
    outdir = tmp_path / "out"
    proc = run([str(folder), "-o", str(outdir)])
    assert proc.returncode == 2
    assert b"Traceback" not in proc.stderr
    lines = proc.stderr.decode().splitlines()
    # one line per file, each naming its file: files that are not X12 are skipped (contract v2),
    # the X12 one that stops in the middle is unusable
    assert len(lines) == len(names), lines
    for name in names:
        (line,) = [ln for ln in lines if f"/{name}: " in ln]
        assert line.startswith("scrubber: ") and PATIENT not in line, line
        assert ("skipped, not X12" in line) == (name != "b.837"), line
    assert leftovers(outdir) == []


def test_directory_of_one_garbage_file_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "only.837").write_bytes(GARBAGE["835"]())
    outdir = tmp_path / "out"
    line = assert_one_line(run([str(folder), "-o", str(outdir)]))
    assert "only.837" in line
    assert leftovers(outdir) == []


# -- standard input ------------------------------------------------------------------------


def test_stdin_good_file(tmp_path: Path) -> None:
    outdir = tmp_path / "out"
    proc = run(["-", "-o", str(outdir)], stdin=GOOD.encode())
    assert proc.returncode in (0, 1), proc.stderr
    assert proc.returncode == 1  # GOOD-3 does not balance
    assert proc.stderr == b""
    assert leftovers(outdir) == ["stdin.277", "stdin.accepted.837", "stdin.report.html", "stdin.report.json",
                                "stdin.worklist.csv"]
    report = json.loads((outdir / "stdin.report.json").read_text())
    assert report["input"] == "stdin"
    assert (report["claims_total"], report["accepted"], report["rejected"]) == (3, 2, 1)
    accepted = (outdir / "stdin.accepted.837").read_bytes()
    assert b"CLM*GOOD-1*" in accepted and b"CLM*GOOD-3*" not in accepted
    assert b"TRN*2*GOOD-3~" in (outdir / "stdin.277").read_bytes()


@pytest.mark.parametrize("kind", ["empty", "english", "stops-in-middle"])
def test_stdin_garbage(kind: str, tmp_path: Path) -> None:
    outdir = tmp_path / "out"
    line = assert_one_line(run(["-", "-o", str(outdir)], stdin=GARBAGE[kind]()))
    assert "stdin" in line
    assert leftovers(outdir) == []


# -- earlier outputs are left alone --------------------------------------------------------


@pytest.mark.parametrize("kind", ["empty", "stops-in-middle", "835", "ge-missing", "no-terminators",
                                  "transaction-without-claims"])
def test_existing_outputs_untouched_by_unusable_input(kind: str, tmp_path: Path) -> None:
    outdir = tmp_path / "out"
    outdir.mkdir()
    before = {
        "claims.277": b"ISA*previous 277CA, already sent~\n",
        "claims.accepted.837": b"ISA*previous accepted 837~\n",
        "claims.report.json": b'{"previous": true}\n',
        "other.277": b"another input's 277\n",
    }
    for name, content in before.items():
        (outdir / name).write_bytes(content)
        os.utime(outdir / name, (1_000_000_000, 1_000_000_000))
    src = tmp_path / "claims.837"
    src.write_bytes(GARBAGE[kind]())
    assert_one_line(run([str(src), "-o", str(outdir)]))
    assert leftovers(outdir) == sorted(before)
    for name, content in before.items():
        assert (outdir / name).read_bytes() == content, name
        assert (outdir / name).stat().st_mtime == 1_000_000_000, name


def test_good_then_garbage_keeps_the_good_outputs(tmp_path: Path) -> None:
    outdir = tmp_path / "out"
    src = tmp_path / "claims.837"
    src.write_bytes(GOOD.encode())
    assert run([str(src), "-o", str(outdir)]).returncode == 1
    first = {p.name: p.read_bytes() for p in outdir.iterdir()}
    assert "claims.277" in first and "claims.accepted.837" in first
    # the same name, now broken half-way through its claims
    src.write_bytes(_stops_in_middle())
    assert_one_line(run([str(src), "-o", str(outdir)]))
    assert {p.name: p.read_bytes() for p in outdir.iterdir()} == first
