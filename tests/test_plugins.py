"""Plugins: a real distribution with entry points, installed by pip, seen by a real scrubber process.

The example package in tests/plugins/scrubber-example-pack is installed once per module with
``pip install --no-deps --no-build-isolation --target DIR`` (hatchling comes with the test extra, so
no network is needed), and the scrubber runs with ``PYTHONPATH=DIR``: ``importlib.metadata`` finds
the distribution's entry points exactly as in a site-packages install, and the test venv itself is
left untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HERE

from scrubber.reports import claims as claims_of
from scrubber.synth import file_837

EXAMPLE = HERE / "plugins" / "scrubber-example-pack"
ORIGIN = "plugin scrubber-example-pack 0.1.0"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("plugin-site")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(target), str(EXAMPLE)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (target / "scrubber_example_pack-0.1.0.dist-info" / "entry_points.txt").is_file()
    return target


def run(*args: str, site: Path | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, "-m", "scrubber", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_the_plugin_pack_is_listed_with_its_distribution(site: Path) -> None:
    rows = {r["id"]: r for r in json.loads(run("rules", "--json", site=site).stdout)}
    assert rows["EXAMPLE-ONE-VISIT-A-DAY"]["pack"] == "example"
    assert rows["EXAMPLE-ONE-VISIT-A-DAY"]["origin"] == ORIGIN
    assert rows["X12-UNITS"]["origin"] == "built-in"
    text = run("rules", site=site).stdout
    assert any(ln.startswith("EXAMPLE-ONE-VISIT-A-DAY ") and " example " in ln for ln in text.splitlines())
    assert f"example 1 ({ORIGIN})" in text
    # Without the distribution on the path the edit does not exist: the test sees the plugin, not a fixture.
    assert "EXAMPLE-ONE-VISIT-A-DAY" not in run("rules", site=None).stdout
    explained = run("explain", "EXAMPLE-ONE-VISIT-A-DAY", site=site)
    assert explained.returncode == 0 and "-> warn:" in explained.stdout


def test_the_plugin_pack_and_registry_find_things_in_a_scrub(site: Path, tmp_path: Path) -> None:
    claims = [
        {"id": "TWO-VISITS", "dx": ["M43.6"], "lines": [{"code": "99213", "dos": "2026-02-02"},
                                                         {"code": "99214", "dos": "2026-02-02"}]},
        {"id": "XPH-NOT-COVERED", "payer_id": "XPH01", "dx": ["G24.5"], "member_id": "M2",
         "lines": [{"code": "64616", "dos": "2026-02-02", "ndc": "00023114501", "ndc_qty": "1"},
                   {"code": "J0585", "mods": ["JZ"], "units": "100", "dos": "2026-02-02", "ndc": "00023114501",
                    "ndc_qty": "1"}]},
    ]
    src = tmp_path / "plug.837"
    src.write_text(file_837(claims, gs_date="2026-02-10"))
    proc = run("scrub", str(src), "-o", str(tmp_path / "out"), "--no-html", site=site)
    assert proc.returncode == 1, proc.stderr
    report = json.loads((tmp_path / "out" / "plug.report.json").read_text())
    found = {c["claim_id"]: [(f["edit"], f["severity"], f["line"]) for f in c["findings"]] for c in claims_of(report)}
    assert found["TWO-VISITS"] == [("EXAMPLE-ONE-VISIT-A-DAY", "warn", 2)]
    assert found["XPH-NOT-COVERED"] == [("PAYER-DX-NOT-COVERED", "reject", 1), ("PAYER-DX-NOT-COVERED", "reject", 2)]
    assert {"pack": "example", "version": "1", "edits": 1, "origin": ORIGIN} in report["packs"]
    assert {"file": "registry.yaml", "origin": ORIGIN} in report["payer_registry"]["layers"]
    assert "XPH-MP12" in (tmp_path / "out" / "plug.worklist.csv").read_text()
    # --payers-only leaves installed registries out; the pack stays.
    proc = run("scrub", str(src), "-o", str(tmp_path / "only"), "--no-html", "--payers-only",
               str(HERE.parent / "edits" / "payer" / "registry.yaml"), site=site)
    report = json.loads((tmp_path / "only" / "plug.report.json").read_text())
    assert [c["status"] for c in claims_of(report)] == ["accepted", "accepted"]


def test_the_plugin_registry_is_a_layer_of_the_effective_registry(site: Path) -> None:
    doc = json.loads(run("payers", "--json", site=site).stdout)
    assert [f["origin"] for f in doc["files"]] == ["built-in", ORIGIN]
    assert ("example-plugin-health", ORIGIN) in [(p["key"], p["origin"]) for p in doc["payers"]]


def test_a_broken_plugin_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A distribution whose entry point names a module that is not there (metadata written by hand)."""
    dist = tmp_path / "broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[scrubber.packs]\nbroken = no_such_module_for_scrubber\n")
    for args in (["rules"], ["scrub", str(HERE.parent / "fixtures" / "mixed.837"), "-o", str(tmp_path / "o")]):
        proc = run(*args, site=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert "plugin broken-plugin 0.1, entry point 'broken' in scrubber.packs: cannot be imported" in proc.stderr
