from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared"
SAMPLES = SHARED / "samples"
FIXTURES = ROOT / "fixtures"

sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session")
def engine():
    import datetime as dt

    from scrubber.engine import Engine

    return Engine(today=dt.date(2025, 2, 1))
