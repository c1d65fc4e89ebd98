"""The ICD-10-CM table by fiscal year against its sources and an independent reference.

- FY2026 equals the billable set of the installed simple-icd-10-cm (its code list, and its API on a
  sample);
- every fiscal year equals ``../shared/data/icd10cm`` (built independently from the CMS files), and
  every disagreement is listed with its reason: the mid-year changes the table dates exactly;
- 2,000 changes (every deletion and 100 additions a year, FY2017-FY2026) billed on claims dated on
  each side of the change: DX-CODE-INVALID rejects exactly the codes the reference year does not have.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import importlib.util
import json
import random
import warnings
from pathlib import Path

import pytest
from conftest import SHARED

from scrubber.api import Options, scrub_bytes
from scrubber.codesets import icd9cm, icd10cm
from scrubber.engine import Engine
from scrubber.synth import file_837
from scrubber.text import icd_display

REFERENCE = SHARED / "data" / "icd10cm"
needs_reference = pytest.mark.skipif(not (REFERENCE / "icd10cm_billable_by_fy.csv.gz").is_file(),
                                     reason="../shared/data/icd10cm is not beside the checkout")
FIRST_FY, LAST_FY = 2016, 2026
TABLE = icd10cm.table()


def fy_start(fy: int) -> dt.date:
    return dt.date(fy - 1, 10, 1)


def billable_set(day: dt.date) -> set[str]:
    return {c for c in TABLE.codes() if TABLE.billable_on(c, day)}


def reference() -> dict[str, tuple[int, int]]:
    with gzip.open(REFERENCE / "icd10cm_billable_by_fy.csv.gz", "rt", encoding="utf-8") as fh:
        return {r["code"]: (int(r["first_fy"]), int(r["last_fy"])) for r in csv.DictReader(fh)}


def reference_changes() -> list[dict[str, str]]:
    with gzip.open(REFERENCE / "icd10cm_changes_by_fy.csv.gz", "rt", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# -- the current year against the installed package --------------------------------------------------


def _package_billable() -> tuple[set[str], set[str]]:
    spec = importlib.util.find_spec("simple_icd_10_cm")
    assert spec is not None and spec.submodule_search_locations
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    (listing,) = sorted(data.glob("code-list-*.txt"))
    codes = {ln.split(" ")[0].replace(".", "").upper() for ln in listing.read_text(encoding="utf-8").splitlines()}
    codes = {c for c in codes if len(c) >= 3 and "-" not in c and c[0].isalpha()}
    headers = {c[:k] for c in codes for k in range(3, len(c))} & codes
    return codes - headers, headers


def test_fy2026_equals_the_installed_simple_icd_10_cm_billable_set() -> None:
    billable, headers = _package_billable()
    assert billable_set(fy_start(2026)) == billable
    assert billable_set(dt.date(2026, 9, 30)) == billable
    assert len(billable) == TABLE.years[2026][0] == 74_719
    assert headers <= TABLE.headers
    # The package's own API on a sample agrees: billable means a leaf.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as cm
    sample = [*random.Random(7).sample(sorted(billable | headers), 300), "G35", "G35.A", "G51.3", "S72.001"]
    for code in sample:
        ours = TABLE.billable_on(code.replace(".", ""), dt.date(2026, 1, 15))
        assert ours == (cm.is_valid_item(code) and cm.is_leaf(code)), code


# -- every year against the independent reference -----------------------------------------------------


@needs_reference
def test_every_year_against_the_reference_and_each_disagreement_explained() -> None:
    ref = reference()
    midyear = TABLE.midyear()
    disagreements = []
    for fy in range(FIRST_FY, LAST_FY + 1):
        theirs = {c for c, (a, b) in ref.items() if a <= fy <= b}
        for day in (fy_start(fy), dt.date(fy, 9, 30)):  # both ends: a mid-year change shows on one
            ours = billable_set(day)
            for code in sorted(ours ^ theirs):
                changed, key = midyear.get(code, (None, ""))
                disagreements.append((fy, day.isoformat(), code, "our table" if code in ours else "reference", changed, key))
    unexplained = [d for d in disagreements if d[4] is None or abs((d[4] - dt.date.fromisoformat(d[1])).days) > 366]
    assert not unexplained, unexplained
    listing = "\n".join(f"FY{fy} {day}: {icd_display(code)} billable only in the {side}; changed on {when} ({key})"
                        for fy, day, code, side, when, key in disagreements)
    print(f"\n{len(disagreements)} disagreements with the reference, each a mid-year change:\n{listing}")
    # U07.0/U07.1 (2020-04-01), the 2021-01-01 COVID-19 codes and M35.8, Z28.3x (2022-04-01) and the
    # 42 additions and 7 deletions of 2023-04-01: the reference labels them with a whole fiscal year.
    assert len(disagreements) == 62, listing
    assert {d[2] for d in disagreements} == set(midyear), listing
    for fy in range(FIRST_FY, LAST_FY + 1):  # away from the mid-year changes the counts are the year's files'
        assert len(billable_set(dt.date(fy, 9, 30)) - set(midyear)) == len(
            {c for c, (a, b) in ref.items() if a <= fy <= b} - set(midyear)), fy


def test_known_changes_have_their_dates() -> None:
    d = dt.date
    cases = {
        ("G35", d(2025, 9, 30)): "billable", ("G35", d(2025, 10, 1)): "header",
        ("G20", d(2023, 9, 30)): "billable", ("G20", d(2023, 10, 1)): "header",
        ("G513", d(2018, 9, 30)): "billable", ("G513", d(2018, 10, 1)): "header",
        ("G43E01", d(2023, 9, 30)): "not_yet", ("G43E01", d(2023, 10, 1)): "billable",
        ("U071", d(2020, 3, 31)): "not_yet", ("U071", d(2020, 4, 1)): "billable",
        ("M5450", d(2021, 10, 1)): "billable", ("M545", d(2021, 10, 1)): "header", ("M545", d(2021, 9, 30)): "billable",
        ("R05", d(2021, 9, 30)): "billable", ("R05", d(2021, 10, 1)): "header",
        ("I481", d(2019, 9, 30)): "billable", ("I481", d(2019, 10, 1)): "header",
        ("F32A", d(2021, 10, 1)): "billable", ("F32A", d(2021, 9, 30)): "not_yet",
        ("G99999", d(2020, 1, 1)): "never", ("I6020", d(2016, 10, 5)): "deleted",
    }
    for (code, day), state in cases.items():
        assert TABLE.judge(code, day).state == state, (code, day)
    header = TABLE.judge("G35", d(2025, 10, 1))
    assert header.children == ("G35A", "G35B0", "G35B1", "G35B2", "G35C0", "G35C1", "G35C2", "G35D")


def test_mid_year_changes_on_both_sides_of_their_day() -> None:
    for code, (day, key) in TABLE.midyear().items():
        before, after = TABLE.billable_on(code, day - dt.timedelta(days=1)), TABLE.billable_on(code, day)
        assert before != after, code
        verdict = TABLE.judge(code, day - dt.timedelta(days=1) if after else day)
        assert verdict.since == day or (verdict.state == "header" and not after), code
        # Only the April 2023 update (a secondary source) and U07.0 leave days in doubt.
        doubtful = key in ("APR2023", "MEDTRON-2021")
        assert bool(TABLE.judge(code, dt.date(2022, 12, 1)).doubt) == (doubtful and key == "APR2023" and after), code


def test_the_year_counts_match_the_provenance_file() -> None:
    provenance = (Path(icd10cm.__file__).parent / "data" / "PROVENANCE-icd10cm.md").read_text(encoding="utf-8")
    for fy, (count, label) in TABLE.years.items():
        assert f"| {fy} |" in provenance and f"{count:,}" in provenance and label in provenance
    assert sorted(TABLE.years) == list(range(FIRST_FY, LAST_FY + 1))
    assert TABLE.first_day == dt.date(2015, 10, 1) and TABLE.end == dt.date(2026, 10, 1)


# -- 2,000 changes scrubbed on each side of their date -------------------------------------------------


def _sample() -> list[tuple[str, str, int]]:
    """Every deletion and 100 additions a year (seeded): (code, change, fiscal year of the new state)."""
    rows = reference_changes()
    rng = random.Random(11)
    out = [(r["code"], r["change"], int(r["fy"])) for r in rows if r["change"] == "removed"]
    removed = {c for c, _, _ in out}
    for fy in sorted({int(r["fy"]) for r in rows}):
        added = sorted(r["code"] for r in rows if r["change"] == "added" and int(r["fy"]) == fy and r["code"] not in removed)
        out += [(c, "added", fy) for c in rng.sample(added, min(100, len(added)))]
    return out


def _days(code: str, fy: int, midyear: dict) -> tuple[dt.date, dt.date]:
    """A date of service on each side of the change. Where the change fell inside a fiscal year
    (the reference labels it with the whole year), dates away from it: early in the year before,
    late in the year of the change (as ICD_PROVENANCE.md advises)."""
    if code in midyear:
        return dt.date(fy - 2, 10, 5), dt.date(fy, 9, 25)
    return fy_start(fy) - dt.timedelta(days=1), fy_start(fy)


@needs_reference
def test_2000_changes_billed_on_each_side_of_their_date() -> None:
    ref = reference()
    midyear = TABLE.midyear()
    checks = []  # (claim id, code, date, billable per the reference)
    for code, _change, fy in _sample():
        for day in _days(code, fy, midyear):
            year = icd10cm.fiscal_year(day)
            first, last = ref.get(code, (0, 0))
            checks.append((code, day, first <= year <= last))
    assert len({c for c, _, _ in checks}) >= 2000 and len(checks) >= 4000
    specs, owner = [], {}
    for i in range(0, len(checks), 12):  # twelve diagnoses a claim, each on its own line and date
        batch = checks[i:i + 12]
        cid = f"DX{i // 12:04d}"
        specs.append({"id": cid, "dx": [c for c, _, _ in batch],
                      "lines": [{"code": "99213", "charge": "10.00", "ptr": str(n + 1), "dos": day}
                                for n, (_, day, _) in enumerate(batch)]})
        for n, check in enumerate(batch):
            owner[(cid, n + 1)] = check
    engine = Engine(only={"DX-CODE-INVALID"}, today=dt.date(2026, 11, 1))
    data = file_837(specs, gs_date="2026-11-01").encode("latin-1")
    # 2,000 claims of one subscriber break the guide's 100 claims per subscriber loop: the guide
    # check is off here, the subject is the code set.
    result = scrub_bytes(data, "changes", options=Options(html=False, now=dt.datetime(2026, 11, 1, 12, 0),
                                                          guide="off"), engine=engine)
    rejected, warned = set(), set()
    for sc in result.claims:
        for f in sc.findings:
            if f.edit != "DX-CODE-INVALID":
                assert not f.rejects, (sc.claim.claim_id, f.message)  # nothing else may reject these claims
                continue
            position = int(f.message.split("(")[0].split()[-1])
            (rejected if f.rejects else warned).add((sc.claim.claim_id, position))
    false_rejections = [owner[k] for k in rejected if owner[k][2]]
    misses = [v for k, v in owner.items() if not v[2] and k not in rejected]
    warnings_on_valid = [owner[k] for k in warned if owner[k][2]]
    invalid = sum(1 for v in owner.values() if not v[2])
    print(f"\n{len(owner)} diagnoses ({len({c for c, _, _ in checks})} codes): {invalid} invalid on their date, "
          f"{len(rejected)} rejected; {len(false_rejections)} false rejections, {len(misses)} misses, "
          f"{len(warnings_on_valid)} warnings on valid dates")
    assert false_rejections == [] and misses == [] and warnings_on_valid == []
    assert invalid == len(rejected) >= 1900


# -- ICD-9-CM ---------------------------------------------------------------------------------------------


def test_icd9_final_set() -> None:
    codes = icd9cm.codes()
    assert len(codes.codes) == 14_567 and codes.version == "32"
    assert {"33383", "34660", "V501", "E9288"} <= codes.codes  # a torticollis, a migraine, a V and an E code
    assert "3338" not in codes and codes.beneath("3338")[0] == ["33381", "33382", "33383", "33384", "33385", "33389"]
    assert codes.nearest("33398")[0] == "3339"


def test_claims_after_the_table_get_one_file_notice_not_a_warning_each() -> None:
    """Three claims dated after FY2026 and one before: one notice counts the three and dates them."""
    specs = [{"id": f"H{i}", "member_id": f"H{i}", "dx": ["G24.3"], "lines": [{"code": "64616", "dos": day}]}
             for i, day in enumerate(["2026-10-01", "2026-09-30", "2026-11-02", "2026-10-15"])]
    data = file_837(specs, gs_date="2026-11-15").encode("latin-1")
    result = scrub_bytes(data, "late", options=Options(html=False, now=dt.datetime(2026, 11, 15, 12, 0)),
                         engine=Engine(today=dt.date(2026, 11, 15)))
    assert not [f for sc in result.claims for f in sc.findings if f.edit == "DX-CODE-INVALID"]
    notes = [n for n in result.summary.notices if "ICD-10-CM table" in n]
    assert len(notes) == 1, result.summary.notices
    assert notes[0].startswith("3 claim(s) dated from 2026-10-01 to 2026-11-02") and "FY2026" in notes[0]
    assert notes == [n for n in json.loads(result.to_json())["notices"] if "ICD-10-CM table" in n]
