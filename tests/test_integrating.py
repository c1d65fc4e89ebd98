"""The README's "Integrating" examples, run as written: each block marked ``<!-- tested: NAME -->``.

Each runs with bash in a temporary folder that holds ``fixtures/`` (a link to the project's), with
this environment's ``scrubber`` first on PATH and the port 8837 replaced by a free one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT
from oracle import assert_valid_277, assert_valid_837

BLOCK = re.compile(r"<!-- tested: (\S+) -->\n```sh\n(.*?)```", re.S)


def readme_blocks() -> dict[str, str]:
    return dict(BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8")))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_block(name: str, tmp: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    script = readme_blocks()[name].replace("8837", str(free_port()))
    (tmp / "fixtures").symlink_to(FIXTURES, target_is_directory=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["bash", "-c", script], cwd=tmp, env=env, capture_output=True, timeout=timeout)


def test_the_readme_marks_each_way_in() -> None:
    assert {"http", "filter", "watch"} <= set(readme_blocks())


@pytest.mark.skipif(shutil.which("curl") is None, reason="the HTTP example uses curl")
def test_http_example(tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")
    proc = run_block("http", tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().lower().split() == ["x-scrubber-claims:", "9", "x-scrubber-accepted:", "3",
                                                    "x-scrubber-rejected:", "6"]
    assert_valid_277((tmp_path / "mixed.277").read_text(encoding="latin-1"))
    assert_valid_837((tmp_path / "mixed.accepted.837").read_text(encoding="latin-1"))


def test_filter_example(tmp_path: Path) -> None:
    proc = run_block("filter", tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode().splitlines()
    assert lines[0] == "forward mixed.accepted.837"
    assert_valid_837((tmp_path / "mixed.accepted.837").read_text(encoding="latin-1"))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert lines[1].startswith(f"{summary['claims']} {summary['rejected']} {{")
    assert [Path(s["path"]).name for s in summary["skipped"]] == ["make_fixtures.py"]
    assert "make_fixtures.py: skipped" in (tmp_path / "skipped.log").read_text()


def test_watch_example(tmp_path: Path) -> None:
    proc = run_block("watch", tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    # mixed.837 breaks the implementation guide on purpose: the built-in validator's 999 is among the outputs
    assert proc.stdout.decode().split() == ["mixed.277", "mixed.999", "mixed.accepted.837", "mixed.report.json",
                                            "mixed.worklist.csv"]
    assert (tmp_path / "inbox" / "processed" / "mixed.837").read_bytes() == (FIXTURES / "mixed.837").read_bytes()
    assert_valid_277((tmp_path / "outbox" / "mixed.277").read_text(encoding="latin-1"))
    assert "mixed.837: 9 claims, 3 accepted, 6 rejected" in proc.stderr.decode()
