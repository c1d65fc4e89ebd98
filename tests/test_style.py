"""The code base stays ruff-clean (the test extra installs ruff)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import ROOT


def test_ruff_clean() -> None:
    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(ROOT / ".venv" / "bin"))
    if ruff is None:
        pytest.skip("ruff not installed")
    proc = subprocess.run([ruff, "check", "--no-cache", str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_public_sample_copied_into_the_project() -> None:
    # Public samples stay in ../shared/samples: a copy here would break their licences' terms of use.
    proc = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        pytest.skip("not a git checkout")
    names = {"ambulance.edi", "anesthesia.edi", "oxygen.edi", "demo.example1.837", "LICENSE-stupidedi"}
    assert not [f for f in proc.stdout.splitlines() if f.rsplit("/", 1)[-1] in names], sys.version
