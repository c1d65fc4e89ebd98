"""The progress bar: on a terminal only, by bytes of input, with claims/s and time left."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from scrubber import progress as progress_module
from scrubber.progress import Progress
from scrubber.synth import file_837


def _file(path: Path, claims: int) -> Path:
    specs = [{"id": f"P{i}", "member_id": f"M{i // 3}", "lines": [{"code": "99213", "charge": "80.00"}]}
             for i in range(claims)]
    path.write_text(file_837(specs, claims_per_billing=50), encoding="latin-1")
    return path


def _scrub_under_pty(args: list[str]) -> str:
    """Run the command line with stderr on a pseudo-terminal (stdout a pipe); what the terminal got."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal of 24 x 100
    proc = subprocess.Popen([sys.executable, "-m", "scrubber", *args], stdout=subprocess.PIPE, stderr=slave,
                            stdin=subprocess.DEVNULL)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal's other end closed: the command has exited
            break
        if not chunk:
            break
        out += chunk
    proc.wait(30)
    os.close(master)
    assert proc.returncode in (0, 1), out
    return out.decode("utf-8", "replace")


def test_a_terminal_gets_a_bar_with_percentage_rate_and_time_left(tmp_path: Path) -> None:
    src = _file(tmp_path / "big.837", 2500)
    shown = _scrub_under_pty(["scrub", str(src), "-o", str(tmp_path / "out"), "--no-html", "--validate", "off"])
    assert "100%" in shown and "2,500 claims" in shown and "claims/s" in shown, shown
    # tqdm's own fields: bytes done of the total, elapsed<time left, and the rate in bytes.
    assert re.search(r"[\d.]+[kMG]?/[\d.]+[kMG]? \[\d\d:\d\d<\d\d:\d\d, [\d.]+[kMG]?B/s", shown), shown
    assert re.search(r"scrub: +[1-9]\d?%", shown), shown  # a step between 0 and 100 % was shown


def test_without_a_terminal_nothing_is_printed(tmp_path: Path) -> None:
    src = _file(tmp_path / "big.837", 300)
    proc = subprocess.run([sys.executable, "-m", "scrubber", "scrub", str(src), "-o", str(tmp_path / "out"),
                           "--no-html"], capture_output=True, text=True)
    assert proc.returncode in (0, 1) and proc.stderr == ""
    assert proc.stdout.startswith(str(src)) and "%" not in proc.stdout


def test_the_bar_counts_bytes_over_files_and_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "INTERVAL", 0.0)
    a, b = tmp_path / "a.837", tmp_path / "b.837"
    a.write_bytes(b"x" * 1000)
    b.write_bytes(b"y" * 3000)
    screen = io.StringIO()
    monkeypatch.chdir(tmp_path)
    bar = Progress(["a.837", "b.837"], screen, force=True, passes=2)  # --validate pyx12: two passes a file
    bar.advance(500, 40, "pyx12")
    assert _last_percent(screen) == 6  # 500 of 8000 bytes
    bar.advance(1000, 80, "pyx12")
    bar.advance(1000, 80, "scrub")
    assert _last_percent(screen) == 25  # both passes over a.837
    bar.file_done(80, "a.837" if Path.cwd() == tmp_path else str(a))
    bar.advance(1500, 100, "pyx12")
    assert _last_percent(screen) == 44  # 2000 + 1500 of 8000, rounded
    bar.file_done(200, str(b.resolve()))  # named as the outcome of a --dask run names it
    bar.close()
    assert _last_percent(screen) == 100 and "2/2 files, 280 claims" in screen.getvalue()


def test_many_reports_cost_no_redraw_each(tmp_path: Path) -> None:
    src = _file(tmp_path / "f.837", 1)
    screen = io.StringIO()
    bar = Progress([str(src)], screen, force=True)
    for n in range(20000):  # the reader's and the pieces' reports, far faster than the eye
        bar.advance(n, n)
    assert screen.getvalue().count("\r") < 20  # redrawn a few times a second at most, not per report


def _last_percent(screen: io.StringIO) -> int:
    return int(re.findall(r"(\d+)%", screen.getvalue())[-1])
