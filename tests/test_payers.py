"""The payer registry in layers: --payers extends, --payers-only replaces, files checked, paths kept inside.

Every malformed registry must end in one line on stderr and exit 2 (issue 16 found tracebacks for a
list instead of a mapping, a policy without id, latin-1 bytes and wrong types).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT

from scrubber.cli import main
from scrubber.payers import Registry, RegistryError
from scrubber.reports import claims as claims_of
from scrubber.schemas import problems
from scrubber.synth import file_837

BUILTIN = ROOT / "edits" / "payer" / "registry.yaml"
HEAD = "format: scrubber.payers/1\nsources:\n  S: {document: Test policy, revision: '1', date: '2026-01-01'}\n"

# A claim for a payer the built-in registry does not know (EHP01), and one for Noridian JF (02202).
CLAIMS = [
    {"id": "EHP-64616", "payer_id": "EHP01", "dx": ["G24.3"], "prior_auth": "PA1", "member_id": "M1",
     "lines": [{"code": "64616", "dos": "2026-05-04", "ndc": "00023114501", "ndc_qty": "1"},
               {"code": "J0585", "mods": ["JZ"], "units": "100", "dos": "2026-05-04", "ndc": "00023114501",
                "ndc_qty": "1"}]},
    {"id": "JF-G245", "payer_id": "02202", "sbr09": "MB", "dx": ["G24.5"], "member_id": "M2",
     "lines": [{"code": "64616", "dos": "2026-05-04"},
               {"code": "J0585", "mods": ["JZ"], "units": "100", "dos": "2026-05-04"}]},
]

EHP = HEAD + """payers:
  - key: ehp
    name: Example Health Plan
    ids: ["EHP01"]
    policies: [EHP-BOTOX]
policies:
  - id: EHP-BOTOX
    title: Botulinum toxin
    revision: "1"
    source: S
    procedures: "64616 J0585"
    diagnoses: ehp-botox.csv
"""
EHP_CSV = "procedures,dx,dx_group,source,confidence\n64616 J0585,G24.5,1,S,V\n"


def _scrub(tmp_path: Path, *flags: str) -> tuple[int, dict[str, list[tuple[str, str]]]]:
    src = tmp_path / "claims.837"
    src.write_text(file_837(CLAIMS, gs_date="2026-05-10"))
    out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
    code = main(["scrub", str(src), "-o", str(out), "--no-html", *flags])
    report = json.loads((out / "claims.report.json").read_text())
    return code, {c["claim_id"]: [(f["edit"], f["severity"]) for f in c["findings"] if f["edit"].startswith("PAYER-")]
                  for c in claims_of(report)}


def _write(folder: Path, name: str, text: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_the_built_in_registry_satisfies_the_shipped_schema() -> None:
    from scrubber.resources import read_yaml
    from scrubber.schemas import plain

    assert problems("payers-1", plain(read_yaml(BUILTIN))) == []
    assert {p.origin for p in Registry.builtin().payers} == {"built-in"}


def test_payers_extends_the_built_in_registry(tmp_path: Path) -> None:
    reg = _write(tmp_path / "reg", "ehp.yaml", EHP)
    _write(tmp_path / "reg", "ehp-botox.csv", EHP_CSV)
    code, found = _scrub(tmp_path)
    assert found == {"EHP-64616": [], "JF-G245": [("PAYER-DX-NOT-COVERED", "warn")]}
    code, found = _scrub(tmp_path, "--payers", str(reg))
    # The new payer's policy applies (G24.3 is not on its list) and Noridian JF's built-in policy still does.
    assert found == {"EHP-64616": [("PAYER-DX-NOT-COVERED", "reject")] * 2,
                     "JF-G245": [("PAYER-DX-NOT-COVERED", "warn")]}
    assert code == 1


def test_payers_only_replaces_the_registry(tmp_path: Path) -> None:
    reg = _write(tmp_path / "reg", "ehp.yaml", EHP)
    _write(tmp_path / "reg", "ehp-botox.csv", EHP_CSV)
    _code, found = _scrub(tmp_path, "--payers-only", str(reg))
    assert found == {"EHP-64616": [("PAYER-DX-NOT-COVERED", "reject")] * 2, "JF-G245": []}
    assert [p.key for p in Registry.default(only=[reg]).payers] == ["ehp"]


def test_a_later_payer_with_the_same_key_or_payer_id_replaces_the_earlier_one(tmp_path: Path) -> None:
    same_key = _write(tmp_path, "a.yaml", HEAD + "payers:\n  - {key: noridian-jf-b, name: JF without policy, "
                      "ids: ['02202'], medicare: true}\n")
    registry = Registry.default(extra=[same_key])
    jf = next(p for p in registry.payers if p.key == "noridian-jf-b")
    assert (jf.name, jf.ids, jf.policies, jf.origin) == ("JF without policy", ("02202",), [], "--payers")
    assert len(registry.payers) == len(Registry.builtin().payers)
    same_id = _write(tmp_path, "b.yaml", HEAD + "payers:\n  - {key: other, name: Other plan, ids: ['01112']}\n")
    registry = Registry.default(extra=[same_id])
    je = next(p for p in registry.payers if p.key == "noridian-je-b")
    assert "01112" not in je.ids and je.ids == ("01182", "01212", "01312")
    assert [p.key for p in registry.payers if "01112" in p.ids] == ["other"]


def test_a_policy_with_the_same_id_replaces_it_for_every_payer_that_names_it(tmp_path: Path) -> None:
    _write(tmp_path / "reg", "a57186.csv", "dx,source\nG24.5,S\n")
    reg = _write(tmp_path / "reg", "full.yaml", HEAD + "policies:\n  - {id: A57186, title: full list, revision: R11, "
                 "source: S, procedures: '64616 J0585', diagnoses: a57186.csv}\n")
    _code, found = _scrub(tmp_path, "--payers", str(reg))
    assert found["JF-G245"] == []  # G24.5 is on the complete list now
    payer = next(p for p in Registry.default(extra=[reg]).payers if p.key == "noridian-jf-b")
    assert payer.policies[0].revision == "R11" and not payer.policies[0].partial


def test_a_copied_built_in_registry_works_from_any_folder(tmp_path: Path) -> None:
    """Its policy files are found beside it, not in the working folder (was a traceback, exit 1)."""
    copy = tmp_path / "copy"
    shutil.copytree(BUILTIN.parent, copy)
    (tmp_path / "elsewhere").mkdir()
    src = tmp_path / "a.837"
    src.write_text(file_837([CLAIMS[1]], gs_date="2026-05-10"))
    proc = subprocess.run([sys.executable, "-m", "scrubber", "scrub", str(src), "-o", "out", "--payers-only",
                           os.path.relpath(copy / "registry.yaml", tmp_path / "elsewhere")],
                          cwd=tmp_path / "elsewhere", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    report = json.loads((tmp_path / "elsewhere" / "out" / "a.report.json").read_text())
    assert [f["edit"] for f in claims_of(report)[0]["findings"]] == ["PAYER-DX-NOT-COVERED"]


BAD: list[tuple[str, str | bytes, str]] = [
    ("a-list.yaml", "- format: scrubber.payers/1\n", "not a payer registry"),
    ("empty.yaml", "", "not a payer registry"),
    ("syntax.yaml", "format: scrubber.payers/1\npayers: [\n", "cannot read the payer registry (ParserError at line"),
    ("latin1.yaml", HEAD.encode() + "payers:\n  - {key: caf\xe9, name: Caf\xe9, ids: ['C1']}\n".encode("latin-1"),
     "not UTF-8 text (byte"),
    ("payers-mapping.yaml", HEAD + "payers: {key: x}\n", "payers: must be a list, not a mapping"),
    ("payer-a-list.yaml", HEAD + "payers:\n  - [x, y]\n", "payers[0]: must be a mapping, not a list"),
    ("no-ids.yaml", HEAD + "payers:\n  - {key: x, name: X}\n", "payers[0]: missing ids"),
    ("empty-ids.yaml", HEAD + "payers:\n  - {key: x, name: X, ids: []}\n", "payers[0].ids: must list at least 1"),
    ("no-key.yaml", HEAD + "payers:\n  - {name: X, ids: [A1]}\n", "payers[0]: missing key"),
    ("number-id.yaml", HEAD + "payers:\n  - {key: x, name: X, ids: [01112]}\n",
     "payers[0].ids[0]: must be text, not a number (quote it in YAML"),
    ("bool-type.yaml", HEAD + "payers:\n  - {key: x, name: X, ids: [A1], medicare: maybe}\n",
     "payers[0].medicare: must be true or false, not text"),
    ("typo.yaml", HEAD + "payers:\n  - {key: x, name: X, ids: [A1], require_ndc: true}\n",
     "payers[0]: unknown field 'require_ndc'"),
    ("policy-no-id.yaml", HEAD + "policies:\n  - {title: T, source: S}\n", "policies[0]: missing id"),
    ("source-extra.yaml", "format: scrubber.payers/1\nsources:\n  S: {document: D, revision: R, date: D, by: me}\n",
     "sources.S: unknown field 'by'"),
    ("source-missing.yaml", HEAD + "policies:\n  - {id: P, source: {document: D}}\n",
     "policies[0].source: missing revision, date"),
    ("bad-date.yaml", HEAD + "policies:\n  - {id: P, source: S, effective_from: '2026-13-01'}\n",
     "policies[0].effective_from: '2026-13-01' is not a valid date"),
    ("bad-yaml-date.yaml", HEAD + "policies:\n  - {id: P, source: S, effective_from: 2026-13-01}\n",
     "a value is not valid: month must be in 1..12"),
    ("on-not-covered.yaml", HEAD + "policies:\n  - {id: P, source: S, on_not_covered: ignore}\n",
     "policies[0].on_not_covered: must be one of reject, warn"),
    ("unknown-policy.yaml", HEAD + "payers:\n  - {key: x, name: X, ids: [A1], policies: [NOPE]}\n",
     "unknown policies NOPE"),
    ("unknown-source.yaml", HEAD + "policies:\n  - {id: P, source: NOPE}\n", "unknown source 'NOPE'"),
    ("twice.yaml", HEAD + "payers:\n  - {key: x, name: X, ids: [A1]}\n  - {key: x, name: Y, ids: [A2]}\n",
     "the key is used twice"),
    ("absolute.yaml", HEAD + "policies:\n  - {id: P, source: S, diagnoses: /etc/passwd}\n",
     "must be inside the registry's folder"),
    ("escape.yaml", HEAD + "policies:\n  - {id: P, source: S, diagnoses: ../outside.csv}\n",
     "must be inside the registry's folder"),
    ("missing-csv.yaml", HEAD + "policies:\n  - {id: P, source: S, diagnoses: nope.csv}\n",
     "cannot read diagnoses file 'nope.csv' (FileNotFoundError)"),
    ("csv-latin1.yaml", HEAD + "policies:\n  - {id: P, source: S, diagnoses: latin1.csv}\n",
     "diagnoses file 'latin1.csv' is not UTF-8 text"),
    ("csv-column.yaml", HEAD + "policies:\n  - {id: P, source: S, diagnoses: typo.csv}\n",
     "typo.csv row 1: unknown field 'dx_grup'"),
    ("csv-date.yaml", HEAD + "policies:\n  - {id: P, source: S, diagnoses: date.csv}\n",
     "date.csv row 1: valid_from: '1/2/2020' is not a valid date"),
]


@pytest.mark.parametrize(("name", "content", "needle"), BAD, ids=[b[0] for b in BAD])
def test_a_malformed_registry_is_one_line_and_exit_2(tmp_path: Path, capsys, name: str, content: str | bytes,
                                                      needle: str) -> None:
    folder = tmp_path / "reg"
    _write(folder, "latin1.csv", "dx,source,note\nG24.3,S,caf\xe9\n".encode("latin-1"))
    _write(folder, "typo.csv", "dx,dx_grup,source\nG24.3,1,S\n")
    _write(folder, "date.csv", "dx,valid_from,source\nG24.3,1/2/2020,S\n")
    _write(tmp_path, "outside.csv", "dx,source\nG24.3,S\n")
    reg = _write(folder, name, content)
    src = _write(tmp_path, "a.837", file_837([{"id": "A"}]))
    for command in (["scrub", str(src), "-o", str(tmp_path / "out"), "--payers", str(reg)],
                    ["payers", "--payers-only", str(reg)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err and str(reg) in err, err
    assert not (tmp_path / "out").exists()
    with pytest.raises(RegistryError):
        Registry.load(reg)


def test_a_symlink_out_of_the_registry_folder_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "secret.csv", "dx,source\nG24.3,S\n")
    folder = tmp_path / "reg"
    folder.mkdir()
    (folder / "rows.csv").symlink_to(tmp_path / "secret.csv")
    reg = _write(folder, "r.yaml", HEAD + "policies:\n  - {id: P, source: S, diagnoses: rows.csv}\n")
    with pytest.raises(RegistryError, match="inside the registry's folder"):
        Registry.load(reg)


def test_a_malformed_registry_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    reg = _write(tmp_path, "bad.yaml", HEAD + "payers:\n  - {name: X, ids: 5}\n")
    proc = subprocess.run([sys.executable, "-m", "scrubber", "scrub", str(FIXTURES / "mixed.837"), "-o",
                           str(tmp_path / "o"), "--payers", str(reg)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"scrubber: {reg}: payers[0]") and proc.stderr.count("\n") == 1
    assert "(and 1 more)" in proc.stderr  # missing key and ids not a list: the first is named


def test_payers_command_prints_the_effective_registry(tmp_path: Path, capsys) -> None:
    reg = _write(tmp_path / "reg", "ehp.yaml", EHP)
    _write(tmp_path / "reg", "ehp-botox.csv", EHP_CSV)
    assert main(["payers", "--json", "--payers", str(reg)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(f["origin"], Path(f["file"]).name) for f in doc["files"]] == [("built-in", "registry.yaml"),
                                                                          ("--payers", "ehp.yaml")]
    assert [(p["key"], p["origin"]) for p in doc["payers"]][-1] == ("ehp", "--payers")
    ehp = next(p for p in doc["policies"] if p["id"] == "EHP-BOTOX")
    assert ehp["diagnosis_rows"] == 1 and ehp["procedures"] == ["64616", "J0585"] and ehp["used"]
    assert main(["payers", "--payers", str(reg)]) == 0
    text = capsys.readouterr().out
    assert "ehp: Example Health Plan [--payers]" in text and "payer ids (2010BB NM109): EHP01;" in text
    assert "EHP-BOTOX 1: Botulinum toxin (complete list" in text
    assert main(["payers"]) == 0
    assert "EHP01" not in capsys.readouterr().out


def _readme_blocks() -> tuple[dict[str, str], str, str]:
    """The README's "Adding a payer" example: its files, its commands and the output it shows."""
    import re

    text = (ROOT / "README.md").read_text()
    files = dict(re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", text, re.S))
    run = re.search(r"<!-- run -->\n```sh\n(.*?)```", text, re.S).group(1)
    output = re.search(r"<!-- output -->\n```\n(.*?)```", text, re.S).group(1)
    return files, run, output


def test_the_readme_example_of_adding_a_payer_runs_as_shown(tmp_path: Path) -> None:
    files, commands, shown = _readme_blocks()
    assert set(files) == {"my-payers/ehp.yaml", "my-payers/ehp-mp-412.csv"}
    for name, content in files.items():
        _write(tmp_path / Path(name).parent, Path(name).name, content)
    (tmp_path / "fixtures").mkdir()
    shutil.copy(FIXTURES / "mixed.837", tmp_path / "fixtures" / "mixed.837")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out = ""
    for line in commands.strip().splitlines():
        proc = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode in (0, 1) and proc.stderr == "", (line, proc.stderr)
        out += proc.stdout
    assert out == shown
