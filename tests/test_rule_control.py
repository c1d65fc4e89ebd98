"""Rule control: --disable/--enable/--severity, scrubber.toml and [tool.scrubber], per payer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from oracle import assert_valid_277

from scrubber.config import ConfigError, discover, resolve
from scrubber.reports import claims as claims_of
from scrubber.synth import file_837

LATE_MEDICARE = {"id": "LATE1", "payer_id": "01112", "sbr09": "MB", "lines": [{"code": "99213", "dos": "2024-01-10"}]}
LATE_OTHER_MEDICARE = {"id": "LATE2", "payer_id": "02202", "sbr09": "MB", "member_id": "W2",
                       "lines": [{"code": "99213", "dos": "2024-01-10"}]}
TWICE = {"id": "TWICE", "member_id": "W3", "lines": [{"code": "99213"}, {"code": "99213"}]}


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    return subprocess.run([sys.executable, "-m", "scrubber", *args], capture_output=True, cwd=cwd, env=env)


@pytest.fixture
def claims(tmp_path: Path) -> Path:
    path = tmp_path / "claims.837"
    path.write_text(file_837([LATE_MEDICARE, LATE_OTHER_MEDICARE, TWICE], gs_date="2025-02-01"))
    return path


def _report(out: Path) -> dict:
    return json.loads((out / "claims.report.json").read_text())


def _findings(report: dict, edit: str) -> dict[str, str]:
    return {c["claim_id"]: f["severity"] for c in claims_of(report) for f in c["findings"] if f["edit"] == edit}


def test_defaults_warn_and_the_report_shows_an_empty_configuration(claims: Path, tmp_path: Path) -> None:
    proc = run("scrub", str(claims), "-o", str(tmp_path / "o"), "--no-html", "--no-config")
    assert proc.returncode == 0, proc.stderr
    report = _report(tmp_path / "o")
    assert _findings(report, "PRO-TIMELY-FILING") == {"LATE1": "warn", "LATE2": "warn"}
    assert report["rule_config"] == {"sources": [], "disable": [], "enable": [], "severity": {}, "payers": {}, "ncci": None}


def test_command_line_disable_and_severity(claims: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    proc = run("scrub", str(claims), "-o", str(out), "--no-html", "--no-config", "--disable", "pro-duplicate-line",
               "--severity", "PRO-TIMELY-FILING=reject")
    assert proc.returncode == 1, proc.stderr
    report = _report(out)
    assert _findings(report, "PRO-DUPLICATE-LINE") == {}
    assert _findings(report, "PRO-TIMELY-FILING") == {"LATE1": "reject", "LATE2": "reject"}
    late = next(c for c in claims_of(report) if c["claim_id"] == "LATE1")
    assert late["status"] == "rejected" and late["findings"][0]["category"] == "A7" and late["findings"][0]["status_code"] == "187"
    assert report["rule_config"]["disable"] == ["PRO-DUPLICATE-LINE"]
    assert report["rule_config"]["severity"] == {"PRO-TIMELY-FILING": "reject"}
    assert report["rule_config"]["sources"] == ["command line"]
    ack = (out / "claims.277").read_text()
    assert "STC*A7:187" in ack
    assert_valid_277(ack)


def test_per_payer_severity_from_scrubber_toml_found_walking_up(claims: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "deep" / "er").mkdir(parents=True)
    (project / "scrubber.toml").write_text(
        'disable = ["CHEMO-PROCEDURE-WITHOUT-TOXIN"]\n'
        '[payers.01112]\nseverity = { PRO-TIMELY-FILING = "reject" }\n')
    out = tmp_path / "o"
    proc = run("scrub", str(claims), "-o", str(out), "--no-html", cwd=project / "deep" / "er")
    assert proc.returncode == 1, proc.stderr
    report = _report(out)
    # Only the payer the table names rejects; the other Medicare payer still warns.
    assert _findings(report, "PRO-TIMELY-FILING") == {"LATE1": "reject", "LATE2": "warn"}
    assert report["rule_config"]["sources"] == [str(project / "scrubber.toml")]
    assert report["rule_config"]["payers"] == {"01112": {"disable": [], "enable": [], "severity": {"PRO-TIMELY-FILING": "reject"}}}


def test_per_payer_rules_by_registry_key(claims: Path, tmp_path: Path) -> None:
    config = tmp_path / "rules.toml"
    config.write_text('[payers.noridian-jf-b]\ndisable = ["PRO-TIMELY-FILING"]\n')
    proc = run("scrub", str(claims), "-o", str(tmp_path / "o"), "--no-html", "--config", str(config))
    assert proc.returncode == 0, proc.stderr
    assert _findings(_report(tmp_path / "o"), "PRO-TIMELY-FILING") == {"LATE1": "warn"}


def test_pyproject_tool_table_and_a_pyproject_without_it(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text('[tool.scrubber]\ndisable = ["PRO-MODIFIER"]\n')
    (tmp_path / "a" / "pyproject.toml").write_text('[project]\nname = "x"\n')  # no [tool.scrubber]: passed over
    assert discover(tmp_path / "a" / "b") == tmp_path / "pyproject.toml"
    (tmp_path / "a" / "scrubber.toml").write_text("")
    assert discover(tmp_path / "a" / "b") == tmp_path / "a" / "scrubber.toml"
    os.chdir(tmp_path / "a" / "b")
    try:
        assert resolve().rules.disable == frozenset()
        (tmp_path / "a" / "scrubber.toml").unlink()
        assert resolve().rules.disable == {"PRO-MODIFIER"}
        assert resolve(enable=["pro-modifier"]).rules.disable == frozenset()  # the command line wins
    finally:
        os.chdir(Path(__file__).parent)


@pytest.mark.parametrize(("args", "message"), [
    (["--disable", "NO-SUCH-EDIT"], "unknown edit id NO-SUCH-EDIT"),
    (["--severity", "PRO-MODIFIER=fatal"], "is not warn, reject"),
    (["--severity", "PRO-DUPLICATE-LINE=reject"], "PRO-DUPLICATE-LINE has no 277CA code"),
    (["--disable", "X12-STRUCTURE"], "cannot be switched off"),
    (["--ncci", "/nonexistent/ncci"], "no ncci.json"),
])
def test_configuration_errors_are_one_line_and_exit_2(claims: Path, tmp_path: Path, args: list[str], message: str) -> None:
    proc = run("scrub", str(claims), "-o", str(tmp_path / "o"), "--no-config", *args)
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_unknown_id_in_a_config_file_names_the_file(claims: Path, tmp_path: Path) -> None:
    config = tmp_path / "scrubber.toml"
    config.write_text('[payers.EHP01]\ndisable = ["PRO-NOPE"]\n')
    proc = run("scrub", str(claims), "-o", str(tmp_path / "o"), "--config", str(config))
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "PRO-NOPE (payer EHP01)" in err and str(config) in err
    config.write_text("disable = [\n")
    proc = run("rules", "--config", str(config))
    assert proc.returncode == 2 and "not valid TOML" in proc.stderr.decode()


def test_a_reject_without_codes_can_bring_its_own(claims: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    proc = run("scrub", str(claims), "-o", str(out), "--no-html", "--no-config",
               "--severity", "PRO-DUPLICATE-LINE=reject:A7:453")
    assert proc.returncode == 1, proc.stderr
    twice = next(c for c in claims_of(_report(out)) if c["claim_id"] == "TWICE")
    assert twice["status"] == "rejected"
    assert [(f["line"], f["category"], f["status_code"]) for f in twice["findings"]] == [(2, "A7", "453")]
    assert_valid_277((out / "claims.277").read_text())


def test_rules_shows_the_effective_configuration(tmp_path: Path) -> None:
    proc = run("rules", "--no-config", "--disable", "PRO-MODIFIER", "--severity", "PRO-TIMELY-FILING=reject")
    assert proc.returncode == 0
    text = proc.stdout.decode()
    assert text.startswith("Rule configuration: command line")
    line = next(ln for ln in text.splitlines() if ln.startswith("PRO-MODIFIER "))
    assert "(off)" in line and "(configured)" in line
    line = next(ln for ln in text.splitlines() if ln.startswith("PRO-TIMELY-FILING "))
    assert " reject " in line and "(configured)" in line
    rows = {r["id"]: r for r in json.loads(run("rules", "--json", "--no-config", "--enable", "PRO-MODIFIER",
                                               "--severity", "X12-UNITS=warn").stdout)}
    assert rows["X12-UNITS"]["severity"] == "warn" and rows["X12-UNITS"]["configured"]
    assert rows["PRO-MODIFIER"]["enabled"] and not rows["PRO-MODIFIER"]["configured"]


def test_config_errors_from_the_api() -> None:
    from scrubber.engine import Engine

    with pytest.raises(ConfigError, match="unknown edit id"):
        Engine(rules=resolve(use_file=False, disable=["NOPE"]))
