"""`scrubber import-mcd`: a CMS Medicare Coverage Database article download becomes a payer registry.

The CSVs are written here in the CMS column layout (a BOM, quoted fields, several versions of one
article, other articles mixed in); then the acceptance path: the built-in partial list only warns
about a diagnosis, the imported complete list rejects it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scrubber.cli import main
from scrubber.payers import Registry
from scrubber.reports import claims as claims_of
from scrubber.synth import file_837

BOM = "\ufeff"


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    lines = [",".join(f'"{h}"' for h in header)] + [",".join(f'"{c}"' for c in r) for r in rows]
    path.write_text(BOM + "\r\n".join(lines) + "\r\n", encoding="utf-8")


@pytest.fixture
def download(tmp_path: Path) -> Path:
    d = tmp_path / "current_article"
    d.mkdir()
    _csv(d / "article_x_icd10_covered.csv",
         ["article_id", "article_version", "icd10_code_id", "icd10_code_version", "icd10_covered_group", "range",
          "last_updated", "sort_order", "description"],
         [["57186", "12", "G24.5", "2026", "1", "", "2025-10-01", "1", "old version only"],
          ["57186", "13", "G24.3", "2026", "1", "", "2026-04-09", "1", "torticollis, spasmodic"],
          ["57186", "13", "J38.5", "2026", "1", "", "2026-04-09", "2", "laryngeal spasm"],
          ["57186", "13", "G80.0", "2026", "2", "", "2026-04-09", "3", "cerebral palsy, \"spastic\""],
          ["57186", "13", "I69.351", "2026", "3", "", "2026-04-09", "4", "hemiplegia"],
          ["57185", "2", "G24.5", "2026", "1", "", "2020-10-01", "1", "another article"]])
    _csv(d / "article_x_icd10_covered_group.csv",
         ["article_id", "article_version", "icd10_covered_group", "paragraph", "icd10_covered_ast", "last_updated"],
         [["57186", "13", "1", "<p>For CPT 64612, 64616 and 64617, with HCPCS J0585.</p>", "", "2026-04-09"],
          ["57186", "13", "2", "<p>Spasticity: also bill a code from Group 3.</p>", "", "2026-04-09"],
          ["57186", "13", "3", "<p>Causes.</p>", "", "2026-04-09"]])
    _csv(d / "article_x_hcpc_code.csv",
         ["article_id", "article_version", "hcpc_code_id", "hcpc_code_version", "hcpc_code_group", "range",
          "last_updated", "long_description", "short_description"],
         [["57186", "13", c, "2026", "1", "", "2026-04-09", "", ""] for c in ("64612", "64616", "64617", "64642", "J0585")]
         + [["57186", "12", "64612", "2026", "1", "", "2025-10-01", "", ""]])
    return d


def test_import_writes_a_complete_policy_of_the_newest_version(download: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "payers.yaml"
    assert main(["import-mcd", str(download), "--article", "A57186", "--pair", "2:3", "-o", str(out)]) == 0
    report = capsys.readouterr().out
    assert "version 13" in report and "4 covered ICD-10 codes" in report and "noridian-jf-b" in report
    registry = Registry.load(out)
    policy = registry.policies["A57186"]
    assert not policy.partial and policy.revision == "MCD version 13"
    assert {r.dx for r in policy.diagnoses} == {"G243", "J385", "G800", "I69351"}  # not G24.5 of version 12
    by_dx = {r.dx: r for r in policy.diagnoses}
    assert by_dx["G800"].requires_group == "3" and by_dx["G243"].procedures == {"64612", "64616", "64617", "J0585"}
    assert by_dx["I69351"].procedures == frozenset()  # its paragraph names no code: every procedure
    assert policy.procedures == {"64612", "64616", "64617", "64642", "J0585"}
    # The rest of the base registry comes along, its tables inlined.
    assert "A57185" in registry.policies and registry.policies["A57185"].partial
    assert len(registry.policies["A57185"].diagnoses) == 10


def test_an_older_version_on_request(download: Path, tmp_path: Path) -> None:
    out = tmp_path / "v12.yaml"
    assert main(["import-mcd", str(download), "--article", "57186", "--version", "12", "-o", str(out)]) == 0
    assert {r.dx for r in Registry.load(out).policies["A57186"].diagnoses} == {"G245"}


@pytest.mark.parametrize(("args", "needle"), [
    (["--article", "A99999"], "not in article_x_icd10_covered.csv"),
    (["--article", "A57186", "--version", "7"], "versions [12, 13]"),
    (["--article", "A57186", "--pair", "2"], "GROUP:REQUIRED"),
    (["--article", "X1"], "not an article id"),
])
def test_bad_requests_exit_2_with_one_line(download: Path, tmp_path: Path, args: list[str], needle: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "scrubber", "import-mcd", str(download), *args, "-o",
                           str(tmp_path / "x.yaml")], capture_output=True, text=True)
    assert proc.returncode == 2 and needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_missing_file_exits_2(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "scrubber", "import-mcd", str(tmp_path), "--article", "A57186", "-o",
                           str(tmp_path / "x.yaml")], capture_output=True, text=True)
    assert proc.returncode == 2 and "article_x_icd10_covered.csv not found" in proc.stderr


def test_imported_full_list_rejects_what_the_partial_list_only_warned(download: Path, tmp_path: Path) -> None:
    registry = tmp_path / "payers.yaml"
    assert main(["import-mcd", str(download), "--article", "A57186", "--pair", "2:3", "-o", str(registry)]) == 0
    claims = tmp_path / "jf.837"
    claims.write_text(file_837([
        # G24.5 is on neither list: the partial built-in list warns, the full list rejects.
        {"id": "JF-UNCOVERED", "payer_id": "02202", "sbr09": "MB", "dx": ["G24.5"], "member_id": "M1",
         "lines": [{"code": "64612", "mods": ["50"], "dos": "2026-05-04"},
                   {"code": "J0585", "mods": ["JZ"], "units": "50", "dos": "2026-05-04"}]},
        # G24.3 is covered in the full list but missing from the partial one.
        {"id": "JF-COVERED", "payer_id": "02202", "sbr09": "MB", "dx": ["G24.3"], "member_id": "M2",
         "lines": [{"code": "64616", "dos": "2026-05-04"},
                   {"code": "J0585", "mods": ["JZ"], "units": "100", "dos": "2026-05-04"}]},
    ], gs_date="2026-05-10"))

    def run(*extra: str) -> dict:
        out = tmp_path / ("b" if extra else "a")
        code = main(["scrub", str(claims), "-o", str(out), "--no-html", *extra])
        report = json.loads((out / "jf.report.json").read_text())
        report["exit"] = code
        return report

    def payer_findings(report: dict, claim_id: str) -> list[tuple[str, str]]:
        claim = next(c for c in claims_of(report) if c["claim_id"] == claim_id)
        return [(f["edit"], f["severity"]) for f in claim["findings"] if f["edit"].startswith("PAYER-")]

    builtin = run()
    assert builtin["exit"] == 0 and builtin["rejected"] == 0
    assert payer_findings(builtin, "JF-UNCOVERED") == [("PAYER-DX-NOT-COVERED", "warn")]
    assert payer_findings(builtin, "JF-COVERED") == [("PAYER-DX-NOT-COVERED", "warn")]
    partial = next(p for p in builtin["payer_registry"]["policies"] if p["policy"] == "A57186")
    assert partial["partial"] is True

    full = run("--payers", str(registry))
    assert full["exit"] == 1
    assert payer_findings(full, "JF-UNCOVERED") == [("PAYER-DX-NOT-COVERED", "reject")] * 2  # 64612 and J0585
    assert payer_findings(full, "JF-COVERED") == []
    status = {c["claim_id"]: c["status"] for c in claims_of(full)}
    assert status == {"JF-UNCOVERED": "rejected", "JF-COVERED": "accepted"}


def test_payers_file_that_is_not_a_registry_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("hello: world\n")
    src = tmp_path / "a.837"
    src.write_text(file_837([{"id": "A"}]))
    proc = subprocess.run([sys.executable, "-m", "scrubber", "scrub", str(src), "-o", str(tmp_path / "o"),
                           "--payers", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2 and "not a payer registry" in proc.stderr
