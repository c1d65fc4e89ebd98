"""bench/run.py on tiny files: one run prints every table the issue asks for (no timing is judged)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_the_monitor_tells_the_parent_from_its_workers() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from run import measure
    finally:
        sys.path.remove(str(BENCH))
    worker = "import time; block = bytearray(80 << 20); time.sleep(0.5)"  # 80 MB, long enough to be polled
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {worker!r}], check=True)"
    run = measure([sys.executable, "-c", parent])
    assert run.status == 0 and run.workers == 1
    assert run.worker_mb is not None and run.worker_mb >= 80 and run.parent_mb < 60, run


def _table(text: str, title: str) -> list[list[str]]:
    block = text.split(f"### {title}", 1)[1].split("###", 1)[0]
    rows = [line.strip("|").split("|") for line in block.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows[1:]]  # without the header row


def test_one_run_prints_throughput_ratios_memory_and_validation(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(BENCH / "run.py"), "--claims", "40", "--pyx12-claims", "40",
                           "--validate-claims", "30", "--rss-claims", "40", "--guide-cost-claims", "40", "--repeat", "1",
                           "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "machine:" in out and "load at end:" in out
    rows = _table(out, "Throughput")
    tools = [(r[2], r[3], r[4]) for r in rows]
    assert tools == [("realistic", "scrubber", "1"), ("realistic", "scrubber", "2"), ("realistic", "pyx12", "-"),
                     ("findings", "scrubber", "1"), ("findings", "scrubber", "2")]
    for r in rows:
        assert r[0] == "40" and float(r[5]) > 0 and int(r[6].replace(",", "")) > 0
    assert re.fullmatch(r"\d+\.\d\dx", rows[0][7]) and re.fullmatch(r"\d+\.\d\dx", rows[1][8])  # vs pyx12, vs jobs 1
    assert re.fullmatch(r"\d+\.\d\dx", rows[3][9]) and rows[3][7] == ""  # findings vs realistic; pyx12 ran on realistic
    memory = _table(out, "Peak RSS")
    assert [(r[1], r[2]) for r in memory] == [("realistic", "1"), ("realistic", "2"), ("findings", "1"),
                                               ("findings", "2")]
    assert all(int(r[3]) > 10 for r in memory)  # MB: a Python process with its tables
    validation = _table(out, "Implementation-guide validation")
    assert [r[1] for r in validation] == ["pyx12", "scrubber --validate pyx12"]
    assert re.fullmatch(r"\d+\.\d\dx", validation[1][5]) and int(validation[1][6]) > 10
    cost = _table(out, "Cost of the built-in implementation-guide validator")
    assert len(cost) == 1 and cost[0][0] == "40" and re.fullmatch(r"\d+\.\d\dx", cost[0][5])
    assert float(cost[0][1]) > 0 and float(cost[0][2]) > 0
    assert not list(tmp_path.glob("*.x12")) and not list(tmp_path.glob("scrub-*")) \
        and not list(tmp_path.glob("guide-*"))  # files and outputs removed
