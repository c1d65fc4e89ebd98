"""import-ncci on files in CMS's exact layouts (synthetic rows, real headers), then scrubbing against them."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import zipfile
from array import array
from pathlib import Path

import pytest
from conftest import SHARED
from oracle import assert_valid_277, assert_valid_837

from scrubber.cli import main
from scrubber.importers.ncci import import_files
from scrubber.reports import claims as claims_of
from scrubber.rules.catalog import Source
from scrubber.rules.ncci_tables import PtpTable, from_day, pack_row
from scrubber.runindex import pack_code
from scrubber.synth import file_837

EXAMPLES = SHARED / "domain" / "ncci-examples"
TESTS = Path(__file__).parent / "ncci"
CMS_NAMES = {"ccipra-synthetic.txt": "ccipra-v322r0-f1.TXT",
             "mue-practitioner-synthetic.csv": "MCR_MUE_PractitionerServices_Eff_07-01-2026.csv",
             "aoc-synthetic.txt": "AOC_V2026Q2-MCR.txt"}


@pytest.fixture
def zips(tmp_path: Path) -> list[Path]:
    """The shared synthetic files packed the way CMS ships them: one ZIP each, members under CMS names."""
    if not EXAMPLES.is_dir():
        pytest.skip("../shared/domain/ncci-examples not present")
    out = []
    for src, name in CMS_NAMES.items():
        z = tmp_path / f"{Path(name).stem.lower()}.zip"
        with zipfile.ZipFile(z, "w") as zf:
            folder = f"{Path(name).stem}/" if name.startswith("ccipra") else ""
            zf.write(EXAMPLES / src, folder + name)
            zf.writestr("README.pdf", b"%PDF-1.4 not a table")
        out.append(z)
    return out


def test_import_the_zips_then_scrub_against_them(zips: list[Path], tmp_path: Path, capsys) -> None:
    tables = tmp_path / "tables"
    assert main(["import-ncci", *map(str, zips), "-o", str(tables)]) == 0
    printed = capsys.readouterr().out
    assert "ccipra-v322r0-f1.TXT: PTP, 5 rows" in printed and "MUE, 5 rows" in printed and "AOC, 5 rows" in printed
    manifest = json.loads((tables / "ncci.json").read_text())
    assert manifest["sources"]["PTP1"]["revision"] == "v322r0" and manifest["sources"]["PTP1"]["date"] == "2026-07-01"
    assert manifest["sources"]["MUE1"]["date"] == "2026-07-01" and manifest["sources"]["AOC1"]["date"] == "2026-04-01"
    assert len(manifest["sources"]["PTP1"]["sha256"]) == 64 and manifest["ptp"]["rows"] == 5
    claims = [
        # 64615/64616 indicator 0 from 2013: column two rejected whatever the modifier.
        {"id": "A", "lines": [{"code": "64615", "dos": "2026-07-02"}, {"code": "64616", "mods": ["59"], "dos": "2026-07-02"}]},
        # 64612 MUE 1 with MAI 2 (a date-of-service edit): two one-unit lines add up to 2.
        {"id": "B", "member_id": "W2", "lines": [{"code": "64612", "mods": ["RT"], "dos": "2026-07-02"},
                                                 {"code": "64612", "mods": ["LT"], "dos": "2026-07-02"}]},
        # 64643 (AOC type 1) needs 64642 or 64644.
        {"id": "C", "member_id": "W3", "lines": [{"code": "64643", "dos": "2026-07-02"}]},
        {"id": "D", "member_id": "W4", "lines": [{"code": "64642", "dos": "2026-07-02"}, {"code": "64643", "dos": "2026-07-02"}]},
    ]
    src = tmp_path / "claims.837"
    src.write_text(file_837(claims, gs_date="2026-07-10", bht04="20260710"))
    out = tmp_path / "out"
    assert main(["scrub", str(src), "-o", str(out), "--no-html", "--no-config", "--ncci", str(tables)]) == 1
    report = json.loads((out / "claims.report.json").read_text())
    got = {c["claim_id"]: sorted((f["edit"], f["line"]) for f in c["findings"] if f["edit"].startswith("NCCI"))
           for c in claims_of(report)}
    assert got == {"A": [("NCCI-PTP", 2)], "B": [("NCCI-MUE", 1), ("NCCI-MUE", 2)], "C": [("NCCI-AOC", 1)], "D": []}
    assert report["ncci"]["loaded"] and report["ncci"]["ptp_rows"] == 5
    assert not any("NCCI" in n for n in report["notices"])
    ptp = next(f for c in claims_of(report) for f in c["findings"] if f["edit"] == "NCCI-PTP")
    assert ptp["status_code"] == "735" and "ccipra-v322r0-f1.TXT" in ptp["source"]
    assert_valid_277((out / "claims.277").read_text())
    assert_valid_837((out / "claims.accepted.837").read_text())
    # Without the tables the report says so, and the imported pairs are not checked.
    assert main(["scrub", str(src), "-o", str(tmp_path / "bare"), "--no-html", "--no-config"]) == 1
    bare = json.loads((tmp_path / "bare" / "claims.report.json").read_text())
    assert any("No CMS NCCI tables loaded" in n for n in bare["notices"]) and not bare["ncci"]["loaded"]
    assert not any(f["edit"] in ("NCCI-PTP", "NCCI-AOC") for c in claims_of(bare) for f in c["findings"])


def _xlsx(path: Path, rows: list[list[object]]) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)


def test_xlsx_copies_give_the_same_tables_as_the_text_files(tmp_path: Path) -> None:
    txt = import_files([TESTS], tmp_path / "from-text")
    folder = tmp_path / "xlsx"
    folder.mkdir()
    ptp_lines = (TESTS / "ccipra-v301r0-f1.TXT").read_text(encoding="latin-1").splitlines()
    # Preamble rows as text; data rows with dates as numbers, as Excel stores them.
    rows: list[list[object]] = [ln.split("\t") for ln in ptp_lines[:6]]
    for ln in ptp_lines[6:]:
        f = ln.split("\t")
        rows.append([f[0], f[1], f[2] or None, int(f[3]), f[4] if f[4] == "*" else int(f[4]), int(f[5]), f[6]])
    _xlsx(folder / "ccipra-v301r0-f1.xlsx", rows)
    for name in ("MCR_MUE_PractitionerServices_Eff_01-01-2024", "MCR_MUE_PractitionerServices_Eff_07-01-2024"):
        import csv
        with open(TESTS / f"{name}.csv", encoding="latin-1", newline="") as fh:
            records = list(csv.reader(fh))
        _xlsx(folder / f"{name}.xlsx", [records[0][:1], records[1], *[[r[0], int(r[1]), r[2], r[3]] for r in records[2:]]])
    aoc = [[ln[0], ln[1:6], ln[6:13].strip() or None, ln[13:18], ln[18:25].strip() or None, int(ln[25:32]),
            int(ln[32:39]) if ln[32:39].strip() else None, ln[39:].strip() or None]
           for ln in (TESTS / "AOC_V2024Q1-MCR.txt").read_text(encoding="latin-1").splitlines()]
    header = ["AOC_Edit_Type", "Add-On_Code", "AOC_DelDT", "Primary_Code", "Primary_Code_DelDT", "AOC_Edit_EffDT",
              "AOC_Edit_DelDT", "Special_Instruction_Notes"]
    _xlsx(folder / "AOC_V2024Q1-MCR.xlsx", [["SYNTHETIC notice row"], header, *aoc])
    xl = import_files([folder], tmp_path / "from-xlsx")
    assert [(k, n) for _w, k, n in xl.files] == [(k, n) for _w, k, n in txt.files]
    for name in ("mue.csv", "aoc.csv"):
        assert (tmp_path / "from-xlsx" / name).read_text().replace("xlsx", "csv").replace("AOC1,V", "AOC1,V") == \
            (tmp_path / "from-text" / name).read_text()
    assert (tmp_path / "from-xlsx" / "ptp.bin").read_bytes() == (tmp_path / "from-text" / "ptp.bin").read_bytes()


def test_a_zip_with_text_and_xlsx_reads_the_text_copy(tmp_path: Path) -> None:
    z = tmp_path / "ptp.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(TESTS / "ccipra-v301r0-f1.TXT", "ccipra-v301r0-f1.TXT")
        zf.writestr("ccipra-v301r0-f1.xlsx", b"not really a workbook")  # would fail if read
    report = import_files([z], tmp_path / "t")
    assert [k for _w, k, _n in report.files] == ["ptp"] and report.ptp_rows == 7


@pytest.mark.parametrize(("name", "content", "message"), [
    ("ccipra-v301r0-f1.TXT", "64615\t64612\t\t20140101\t*\t2\tMutually exclusive procedures\r\n", "modifier indicator '2'"),
    ("ccipra-v301r0-f1.TXT", "64615\t64612\t20140101\t*\t1\tMutually exclusive procedures\r\n", "Medicaid"),
    ("ccipra-v301r0-f1.TXT", "64615\t64612\t\t20141301\t*\t1\tx\r\n", "is not a date"),
    ("MCR_MUE_PractitionerServices.csv", '"HCPCS/\nCPT Code",Practitioner Services MUE Values,MUE Adjudication Indicator,MUE Rationale\r\n64612,1,2 Date of Service Edit: Policy,x\r\n', "Eff_MM-DD-YYYY"),
    ("MCR_MUE_PractitionerServices_Eff_01-01-2024.csv", "code,value\r\n64612,1\r\n", "no header row starting with 'HCPCS'"),
    ("MCR_MUE_PractitionerServices_Eff_01-01-2024.csv", '"HCPCS/\nCPT Code",V,MAI,R\r\n64612,1,7 Other,x\r\n', "not an MUE row"),
    ("AOC_V2024Q1-MCR.txt", "464643       64642       2014001" + " " * 65 + "\r\n", "not an AOC record"),
    ("notes.txt", "nothing to see\n", "no CMS NCCI practitioner"),
])
def test_bad_files_are_one_line_errors(tmp_path: Path, capsys, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    preamble = (TESTS / "ccipra-v301r0-f1.TXT").read_text(encoding="latin-1").splitlines(keepends=True)[:6]
    path.write_text(("".join(preamble) if name.startswith("ccipra") else "") + content, encoding="latin-1", newline="")
    assert main(["import-ncci", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "ncci.json").exists()
    assert not list((tmp_path / "out").glob(".*.tmp")) if (tmp_path / "out").exists() else True


def test_reimport_replaces_every_table(tmp_path: Path) -> None:
    out = tmp_path / "t"
    import_files([TESTS], out)
    assert (out / "ptp.bin").exists()
    only_mue = tmp_path / "m"
    only_mue.mkdir()
    shutil.copy(TESTS / "MCR_MUE_PractitionerServices_Eff_07-01-2024.csv", only_mue)
    import_files([only_mue], out)
    assert not (out / "ptp.bin").exists() and not (out / "aoc.csv").exists()
    assert list(json.loads((out / "ncci.json").read_text())["sources"]) == ["MUE1"]


def test_ptp_table_lookups_agree_with_a_plain_dict(tmp_path: Path) -> None:
    rng = random.Random(7)
    codes = [f"{n:05d}" for n in rng.sample(range(10000, 99999), 400)] + ["J0585", "G0471", "0001A"]
    source = Source("test", "1", "2026-01-01")
    pairs, values, expected = array("q"), array("q"), {}
    for _ in range(5000):
        c1, c2 = rng.sample(codes, 2)
        eff = dt.date(1996, 1, 1) + dt.timedelta(days=rng.randrange(11000))
        end = None if rng.random() < 0.6 else eff + dt.timedelta(days=rng.randrange(1, 2000))
        mi = rng.choice((0, 1, 9))
        pairs.append(pack_code(c1) << 27 | pack_code(c2))
        values.append(pack_row(eff, end, mi, False, 0, 0))
        expected.setdefault((c1, c2), set()).add((eff, end, mi))
    # The same pair and date twice: one edit, the later row wins.
    pairs.append(pairs[0])
    values.append(values[0] & 0xFFFF | 1 << 32)  # same effective date, open, indicator 1
    c1, c2 = next(iter(expected))
    expected[(c1, c2)] = {x for x in expected[(c1, c2)] if x[0] != from_day(values[0] & 0xFFFF)}
    expected[(c1, c2)].add((from_day(values[0] & 0xFFFF), None, 1))
    table = PtpTable.build(pairs, values, ["r"], [source])
    meta = table.save(tmp_path / "ptp.bin")
    loaded = PtpTable.load(tmp_path / "ptp.bin", meta, [source])
    for (c1, c2), want in expected.items():
        assert {(e.valid_from, e.valid_to, e.modifier) for e in loaded.pair(c1, c2)} == want
    assert loaded.pair(codes[0], codes[0]) == [] and not loaded.has_pair("99999", "00000")
    for code in codes[:50]:
        assert {(e.column1, e.column2) for e in loaded.by_column1(code)} == {k for k in expected if k[0] == code}
        assert {(e.column1, e.column2) for e in loaded.by_column2(code)} == {k for k in expected if k[1] == code}
