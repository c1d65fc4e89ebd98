"""``scrubber import-ncci FILE... -o DIR``: CMS's NCCI practitioner files, as published, to dated tables.

Reads, from the ZIPs CMS publishes or the files inside them (TXT, CSV or XLSX):

- practitioner PTP edits ``ccipra-v<NNN>r<R>-f<1-4>`` (TAB-separated, Latin-1, a 6-line preamble,
  7 columns: column 1, column 2, ``*`` = in existence before 1996, effective YYYYMMDD, deletion
  YYYYMMDD or ``*``, modifier indicator 0/1/9, rationale). The deletion date is the last day the
  edit applies (``ncci-file-formats.md`` §1.3). The quarter comes from the version: v322 = 2026 Q3.
- practitioner MUEs ``MCR_MUE_PractitionerServices_Eff_<MM-DD-YYYY>`` (CSV with a quoted multi-line
  notice and a header whose first cell is ``HCPCS/⏎CPT Code``; MAI 1/2/3 from the first character
  of the indicator). The file holds no dates: its ``Eff_`` date starts its rows; with several files,
  a value ends where the next file changes it or drops the code.
- add-on code edits ``AOC_V<YYYY>Q<Q>...MCR`` (fixed-width 97-character records, YYYYDDD dates,
  type 1/2/3 in position 1, ``CCCCC`` for contractor-defined primaries).

Header lines are found by content, never by counting lines, so the same rules read re-saved CSV
and XLSX copies. Writes ``DIR/ncci.json`` (every source file with its version, date, SHA-256 and
row count), ``DIR/ptp.bin``, ``DIR/mue.csv`` and ``DIR/aoc.csv`` (see ``scrubber.rules.ncci_tables``).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import time
import zipfile
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from scrubber.rules.catalog import Source
from scrubber.rules.ncci_tables import FORMAT, PtpTable, pack_row
from scrubber.runindex import pack_code

_CODE = re.compile(r"^[0-9A-Z]{5}$")
_PTP_NAME = re.compile(r"ccipra[-_]?v(\d{3})r(\d+)", re.I)
_MUE_NAME = re.compile(r"MUE.*Practitioner.*Eff_(\d\d)-(\d\d)-(\d{4})", re.I)
_MUE_ZIP = re.compile(r"(\d{4})-?q(\d)", re.I)
_AOC_NAME = re.compile(r"AOC_V(\d{4})Q(\d)", re.I)


class NcciImportError(Exception):
    """A file cannot be imported; the message names it and says why (one line)."""


@dataclass(slots=True)
class Member:
    name: str  # the file's own name (inside its ZIP, if any)
    where: str  # what the user gave: the path, or "zip:member"
    data: bytes
    kind: str = ""  # ptp | mue | aoc


@dataclass(slots=True)
class Report:
    outdir: Path
    files: list[tuple[str, str, int]] = field(default_factory=list)  # (where, kind, rows)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    ptp_rows: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        lines = [f"{where}: {kind.upper()}, {rows:,} rows" for where, kind, rows in self.files]
        lines += [f"{where}: skipped ({why})" for where, why in self.skipped]
        lines.append(f"wrote {self.outdir} ({self.ptp_rows:,} PTP rows) in {self.seconds:.1f} s; "
                     f"scrub with --ncci {self.outdir}")
        return "\n".join(lines)


# -- finding the files -----------------------------------------------------------------------------


def _members(path: Path) -> Iterator[Member]:
    if path.is_dir():
        for p in sorted(path.iterdir()):
            if p.is_file():
                yield from _members(p)
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NcciImportError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    if data[:4] == b"PK\x03\x04" and path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for info in zf.infolist():
                    if not info.is_dir():
                        yield Member(Path(info.filename).name, f"{path.name}:{info.filename}", zf.read(info))
        except zipfile.BadZipFile:
            raise NcciImportError(f"{path}: not a readable ZIP file") from None
        return
    yield Member(path.name, str(path), data)


def _classify(m: Member) -> str | None:
    name, ext = m.name.lower(), Path(m.name).suffix.lower()
    if ext not in (".txt", ".csv", ".xlsx"):
        return None
    if "ccipra" in name:
        return "ptp"
    if "mue" in name and "practitioner" in name:
        return "mue"
    if name.startswith("aoc_") and "mcr" in name:
        return "aoc"
    if ext == ".xlsx":
        return None
    head = m.data[:4000].decode("latin-1")
    if "Column1/Column2 Edits" in head:
        return "ptp"
    if "MUE Values" in head and "Practitioner" in head:
        return "mue"
    return None


def _prefer_text(members: list[Member]) -> list[Member]:
    """CMS ZIPs carry TXT/CSV and XLSX copies of one table: read the text one (much faster)."""
    stems = {Path(m.name).stem.lower() for m in members if not m.name.lower().endswith(".xlsx")}
    return [m for m in members if not (m.name.lower().endswith(".xlsx") and Path(m.name).stem.lower() in stems)]


# -- rows of each file -------------------------------------------------------------------------------


def _xlsx_rows(m: Member) -> Iterator[list[str]]:
    try:
        import openpyxl
    except ImportError:
        raise NcciImportError(f"{m.where}: reading .xlsx needs openpyxl: pip install 'scrubber[xlsx]' "
                              "(or give the .txt/.csv file from the same ZIP)") from None
    try:
        book = openpyxl.load_workbook(io.BytesIO(m.data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged workbook
        raise NcciImportError(f"{m.where}: not a readable XLSX workbook ({type(exc).__name__})") from None
    for row in book.worksheets[0].iter_rows(values_only=True):
        yield [_cell(v) for v in row]
    book.close()


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))  # dates arrive as numbers such as 20000701.0
    if isinstance(v, dt.datetime | dt.date):
        return v.strftime("%Y%m%d")
    return str(v).strip()


def _text_rows(m: Member, sep: str) -> Iterator[list[str]]:
    # Line by line from the bytes: a PTP part is 50-60 MB, its lines need not all be held at once.
    text = io.TextIOWrapper(io.BytesIO(m.data), encoding="latin-1", newline="")
    if sep == "\t":
        for line in text:
            yield line.rstrip("\r\n").split("\t")
    else:
        yield from csv.reader(text)


def _rows(m: Member, sep: str) -> Iterator[list[str]]:
    return _xlsx_rows(m) if m.name.lower().endswith(".xlsx") else _text_rows(m, sep)


def _ptp_source(m: Member) -> Source:
    match = _PTP_NAME.search(m.name)
    if not match:
        return Source(f"CMS NCCI practitioner PTP edits ({m.name})", "version not in the file name", "unknown")
    major, minor = int(match.group(1)[:2]), int(match.group(1)[2])
    year, quarter = 1994 + major, minor + 1
    return Source(f"CMS NCCI practitioner PTP edits {m.name}", f"v{match.group(1)}r{match.group(2)}",
                  f"{year}-{3 * quarter - 2:02d}-01")


class _Dates:
    """YYYYMMDD text to day numbers, cached: a quarter's 2.6 million rows share a few thousand dates."""

    def __init__(self) -> None:
        self.cache: dict[str, dt.date | None] = {}

    def __call__(self, text: str, where: str) -> dt.date | None:
        try:
            return self.cache[text]
        except KeyError:
            pass
        if text in ("*", ""):
            value = None
        elif len(text) == 8 and text.isdigit():
            try:
                value = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
            except ValueError:
                raise NcciImportError(f"{where}: {text!r} is not a date (YYYYMMDD)") from None
        else:
            raise NcciImportError(f"{where}: {text!r} is not a date (YYYYMMDD or *)")
        self.cache[text] = value
        return value


def _is_ptp_row(f: list[str]) -> bool:
    return len(f) >= 6 and bool(_CODE.match(f[0])) and bool(_CODE.match(f[1])) and len(f[3]) == 8 and f[3].isdigit()


def read_ptp(m: Member, source_index: int, rationales: dict[str, int], pairs: array, values: array) -> int:
    """Append the file's rows to ``pairs``/``values``; returns how many."""
    dates = _Dates()
    codes: dict[str, int] = {}
    started = False
    n = 0
    day = dt.timedelta(days=1)
    for lineno, f in enumerate(_rows(m, "\t"), start=1):
        if not started:
            if len(f) == 6 and _CODE.match(f[0]) and _CODE.match(f[1]) and len(f[2]) == 8 and f[2].isdigit():
                raise NcciImportError(f"{m.where}: line {lineno} has the 6 columns of a Medicaid PTP file; only the "
                                      "Medicare practitioner files (7 columns) are supported")
            if not _is_ptp_row(f):
                continue
            if len(f) < 7 or (len(f) > 7 and any(f[7:])):
                raise NcciImportError(f"{m.where}: line {lineno} has {len(f)} columns, not the 7 of the Medicare "
                                      "practitioner PTP file (Medicaid files have 6 and are not supported)")
            started = True
        if not f or not f[0].strip():
            continue
        if len(f) < 7 or not _is_ptp_row(f):
            raise NcciImportError(f"{m.where}: line {lineno} is not a PTP row (7 TAB-separated columns expected)")
        where = f"{m.where}: line {lineno}"
        eff, deleted = dates(f[3], where), dates(f[4].strip(), where)
        mi = f[5].strip()
        if mi not in ("0", "1", "9"):
            raise NcciImportError(f"{where}: modifier indicator {mi!r} is not 0, 1 or 9")
        c1 = codes.get(f[0]) or codes.setdefault(f[0], pack_code(f[0]))
        c2 = codes.get(f[1]) or codes.setdefault(f[1], pack_code(f[1]))
        rationale = rationales.setdefault(f[6].strip(), len(rationales))
        pairs.append(c1 << 27 | c2)
        values.append(pack_row(eff, deleted + day if deleted else None, int(mi), f[2].strip() == "*",  # type: ignore[arg-type]
                               min(rationale, 31), source_index))
        n += 1
    if not started:
        raise NcciImportError(f"{m.where}: no PTP row found (expected TAB-separated rows: column 1, column 2, ...)")
    return n


def _mue_date(m: Member) -> dt.date:
    match = _MUE_NAME.search(m.name)
    if match:
        month, day, year = (int(g) for g in match.groups())
        return dt.date(year, month, day)
    match = _MUE_ZIP.search(m.where)
    if match:
        return dt.date(int(match.group(1)), 3 * int(match.group(2)) - 2, 1)
    raise NcciImportError(f"{m.where}: the MUE file holds no dates and its name has no Eff_MM-DD-YYYY; "
                          "give the file under CMS's own name")


def read_mue(m: Member) -> list[tuple[str, int, str, str]]:
    """(code, MUE value, MAI digit, rationale) rows."""
    out = []
    header = False
    for lineno, f in enumerate(_rows(m, ","), start=1):
        if not header:
            header = bool(f) and " ".join(f[0].split()).upper().startswith("HCPCS")
            continue
        if not f or not any(c.strip() for c in f):
            continue
        code, value, mai = f[0].strip(), f[1].strip() if len(f) > 1 else "", f[2].strip() if len(f) > 2 else ""
        if not _CODE.match(code) or not value.isdigit() or mai[:1] not in ("1", "2", "3"):
            raise NcciImportError(f"{m.where}: record {lineno} is not an MUE row (code, value, MAI 1/2/3, rationale)")
        out.append((code, int(value), mai[:1], f[3].strip() if len(f) > 3 else ""))
    if not header:
        raise NcciImportError(f"{m.where}: no header row starting with 'HCPCS' (not a CMS MUE file?)")
    return out


def _julian(text: str, where: str) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    if len(text) != 7 or not text.isdigit() or not 1 <= int(text[4:]) <= 366:
        raise NcciImportError(f"{where}: {text!r} is not a YYYYDDD date")
    return dt.date(int(text[:4]), 1, 1) + dt.timedelta(days=int(text[4:]) - 1)


AOC_FIELDS = ((0, 1), (1, 6), (6, 13), (13, 18), (18, 25), (25, 32), (32, 39), (39, 97))


def _aoc_records(m: Member) -> Iterator[tuple[int, list[str]]]:
    if m.name.lower().endswith(".xlsx"):
        for lineno, f in enumerate(_xlsx_rows(m), start=1):
            if len(f) >= 7 and f[0] in ("1", "2", "3") and _CODE.match(f[1]):
                yield lineno, (f + [""] * 8)[:8]
        return
    for lineno, line in enumerate(m.data.decode("latin-1").splitlines(), start=1):
        if line.strip():
            yield lineno, [line[a:b].strip() for a, b in AOC_FIELDS]


def read_aoc(m: Member) -> list[tuple[str, str, int, dt.date, dt.date | None, str]]:
    """(add-on, primary, type, valid from, valid to (exclusive), note) rows."""
    out = []
    for lineno, f in _aoc_records(m):
        where = f"{m.where}: line {lineno}"
        kind, addon, addon_del, primary, primary_del, eff, deleted, note = f
        if kind not in ("1", "2", "3") or not _CODE.match(addon) or not _CODE.match(primary):
            raise NcciImportError(f"{where}: not an AOC record (type 1-3, add-on code, primary code, YYYYDDD dates)")
        start = _julian(eff, where)
        if start is None:
            raise NcciImportError(f"{where}: no edit effective date")
        ends = [d for d in (_julian(addon_del, where), _julian(primary_del, where), _julian(deleted, where)) if d]
        out.append((addon, primary, int(kind), start, min(ends) + dt.timedelta(days=1) if ends else None, note))
    if not out:
        raise NcciImportError(f"{m.where}: no AOC record found")
    return out


def _aoc_source(m: Member) -> Source:
    match = _AOC_NAME.search(m.name)
    date = f"{match.group(1)}-{3 * int(match.group(2)) - 2:02d}-01" if match else "unknown"
    return Source(f"CMS NCCI add-on code edits {m.name}", Path(m.name).stem, date)


# -- writing the tables ------------------------------------------------------------------------------


def _version_key(m: Member) -> tuple:
    match = _PTP_NAME.search(m.name)
    return (int(match.group(1)), int(match.group(2)), m.name) if match else (0, 0, m.name)


def _sha(m: Member) -> str:
    return hashlib.sha256(m.data).hexdigest()


def import_files(paths: list[str | Path], outdir: str | Path) -> Report:
    """Read every CMS file in ``paths`` (files, ZIPs or folders) and write the tables to ``outdir``."""
    started = time.perf_counter()
    outdir = Path(outdir)
    report = Report(outdir)
    found: dict[str, list[Member]] = {"ptp": [], "mue": [], "aoc": []}
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise NcciImportError(f"{path}: no such file")
        members = list(_members(path))
        for m in _prefer_text(members):
            m.kind = _classify(m) or ""
            if m.kind:
                found[m.kind].append(m)
            elif not m.name.lower().endswith((".pdf", ".md", ".html")):
                report.skipped.append((m.where, "not a practitioner PTP, MUE or AOC file"))
    if not any(found.values()):
        raise NcciImportError("no CMS NCCI practitioner PTP, MUE or add-on code file among the inputs")
    manifest: dict = {"format": FORMAT, "created": dt.datetime.now().replace(microsecond=0).isoformat(),
                      "sources": {}, "ptp_sources": []}
    outdir.mkdir(parents=True, exist_ok=True)
    staged: dict[str, Path] = {}
    try:
        if found["ptp"]:
            staged["ptp.bin"] = _write_ptp(found["ptp"], outdir, manifest, report)
        if found["mue"]:
            staged["mue.csv"] = _write_mue(found["mue"], outdir, manifest, report)
        if found["aoc"]:
            staged["aoc.csv"] = _write_aoc(found["aoc"], outdir, manifest, report)
    except BaseException:
        for name in (".ptp.bin.tmp", ".mue.csv.tmp", ".aoc.csv.tmp"):
            (outdir / name).unlink(missing_ok=True)
        raise
    for name, tmp in staged.items():
        os.replace(tmp, outdir / name)
    for name in ("ptp.bin", "mue.csv", "aoc.csv"):
        if name not in staged:
            (outdir / name).unlink(missing_ok=True)  # tables of an earlier import must not mix with these
    tmp = outdir / ".ncci.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, outdir / "ncci.json")
    report.seconds = time.perf_counter() - started
    return report


def _add_source(manifest: dict, key: str, source: Source, m: Member, rows: int) -> None:
    manifest["sources"][key] = {"document": source.document, "revision": source.revision, "date": source.date,
                                "publisher": source.publisher or "CMS", "kind": source.kind or "primary",
                                "file": m.where, "sha256": _sha(m), "rows": rows}


def _write_ptp(members: list[Member], outdir: Path, manifest: dict, report: Report) -> Path:
    pairs, values = array("q"), array("q")
    rationales: dict[str, int] = {}
    sources = []
    for i, m in enumerate(sorted(members, key=_version_key)):
        if i > 255:
            raise NcciImportError("more than 256 PTP files in one import")
        n = read_ptp(m, i, rationales, pairs, values)
        source = _ptp_source(m)
        sources.append(source)
        key = f"PTP{i + 1}"
        _add_source(manifest, key, source, m, n)
        manifest["ptp_sources"].append(key)
        report.files.append((m.where, "ptp", n))
        m.data = b""  # parsed: let the file's bytes go before the next part
    table = PtpTable.build(pairs, values, sorted(rationales, key=rationales.__getitem__), sources)
    tmp = outdir / ".ptp.bin.tmp"
    manifest["ptp"] = {**table.save(tmp), "file": "ptp.bin"}
    report.ptp_rows = len(table)
    return tmp


def _write_mue(members: list[Member], outdir: Path, manifest: dict, report: Report) -> Path:
    files = sorted(((_mue_date(m), m) for m in members), key=lambda x: (x[0], x[1].name))
    out: list[list[str]] = []
    open_rows: dict[str, list[str]] = {}
    for i, (eff, m) in enumerate(files, start=1):
        rows = read_mue(m)
        key = f"MUE{i}"
        _add_source(manifest, key, Source(f"CMS NCCI practitioner MUE table {m.name}", f"effective {eff}",
                                          eff.isoformat()), m, len(rows))
        report.files.append((m.where, "mue", len(rows)))
        seen = set()
        for code, value, mai, rationale in rows:
            seen.add(code)
            prev = open_rows.get(code)
            if prev is not None and prev[:3] == [code, str(value), mai]:
                continue  # unchanged: the earlier row goes on
            if prev is not None:
                prev[5] = eff.isoformat()
            row = [code, str(value), mai, rationale, eff.isoformat(), "", key, "certain"]
            out.append(row)
            open_rows[code] = row
        for code in set(open_rows) - seen:
            open_rows.pop(code)[5] = eff.isoformat()  # dropped from this quarter's file: ended
    return _write_csv(outdir / ".mue.csv.tmp", ["code", "mue", "mai", "rationale", "valid_from", "valid_to",
                                                 "source", "confidence"], out)


def _write_aoc(members: list[Member], outdir: Path, manifest: dict, report: Report) -> Path:
    out = []
    for i, m in enumerate(sorted(members, key=lambda m: m.name), start=1):
        rows = read_aoc(m)
        key = f"AOC{i}"
        _add_source(manifest, key, _aoc_source(m), m, len(rows))
        report.files.append((m.where, "aoc", len(rows)))
        for addon, primary, kind, start, end, note in rows:
            out.append([addon, primary, str(kind), note, start.isoformat(), end.isoformat() if end else "", key, "certain"])
    return _write_csv(outdir / ".aoc.csv.tmp", ["addon", "primary", "type", "note", "valid_from", "valid_to",
                                                 "source", "confidence"], out)


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path
