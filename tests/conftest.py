from __future__ import annotations

import os
import sys

# Tests replace functions inside modules (monkeypatch); a compiled build's modules call each other
# directly and would not see that. The suite runs the sources; tests/test_native.py runs the
# compiled build, where one is installed, and checks it writes the same bytes.
os.environ.setdefault("SCRUBBER_PURE", "1")
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


@pytest.fixture(scope="session", autouse=True)
def _every_in_memory_report_is_valid():
    """Wrap the API's in-memory path so each report it returns is checked against the schema."""
    from reports import assert_valid_report

    import scrubber.api

    original = scrubber.api.scrub_stream

    def checked(*args, **kwargs):
        result = original(*args, **kwargs)
        assert_valid_report(result.to_json(), f"report of {result.summary.input_name}")
        return result

    scrubber.api.scrub_stream = checked
    yield
    scrubber.api.scrub_stream = original


@pytest.fixture(autouse=True)
def _every_report_file_is_valid(request):
    """After each test that used ``tmp_path``, every ``*.report.json`` written under it is checked."""
    folder = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if folder is None:
        return
    from reports import assert_valid_report

    for path in sorted(folder.rglob("*.report.json")):
        text = path.read_bytes()
        if b'"scrubber.report/' not in text[:200]:
            continue  # a stand-in a test wrote itself (e.g. an earlier run's file kept on failure)
        assert_valid_report(path)
