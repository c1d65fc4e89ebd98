"""The NCCI tables the ``ncci`` pack reads: PTP pairs, MUE values and add-on code edits, by date.

Two origins, merged: the pack's own rows (``edits/ncci/*.csv``: only what the research confirms) and a
folder written by ``scrubber import-ncci`` from CMS's quarterly files (``--ncci DIR``). Imported rows
win for every code they cover.

Folder layout (format ``scrubber.ncci/1``): ``ncci.json`` (manifest: every source file with its
version, date, SHA-256 and row count), ``mue.csv`` and ``aoc.csv`` (dated tables like any pack's), and
``ptp.bin`` for the 2 to 3 million PTP rows: arrays of packed 64-bit rows sorted by (column 1,
column 2, effective date), an open-addressing slot table over (column 1, column 2) and a column-two
order, read with ``array.frombytes`` (no parsing) so a full quarter loads in a fraction of a second
and takes about 30 bytes a row. Lookups by pair and by code are O(1).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scrubber.rules.catalog import Catalog, CatalogError, Row, Source, _load_table
from scrubber.runindex import pack_code, unpack_code

FORMAT = "scrubber.ncci/1"
EPOCH = dt.date(1970, 1, 1)
_MIX = 0x9E3779B97F4A7C15
_M64 = (1 << 64) - 1
MI_CODES = {0: 0, 1: 1, 9: 2}
MI_VALUES = {v: k for k, v in MI_CODES.items()}


class NcciError(Exception):
    """An NCCI table folder cannot be used; the message names the file."""


def day_number(day: dt.date | None) -> int:
    return 0 if day is None else (day - EPOCH).days


def from_day(n: int) -> dt.date | None:
    return None if n == 0 else EPOCH + dt.timedelta(days=n)


@dataclass(frozen=True, slots=True)
class PtpEdit:
    column1: str
    column2: str
    valid_from: dt.date
    valid_to: dt.date | None  # exclusive: the day after CMS's deletion date
    modifier: int  # 0 no modifier bypasses, 1 an NCCI-associated modifier may, 9 not applicable
    pre1996: bool
    rationale: str
    source: Source

    def active_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


@dataclass(frozen=True, slots=True)
class MueRow:
    code: str
    value: int
    mai: int | None  # 1 line edit, 2 date-of-service policy, 3 date-of-service clinical; None unknown
    rationale: str
    row: Row


@dataclass(frozen=True, slots=True)
class AocRow:
    addon: str
    primaries: frozenset[str]  # empty for contractor-defined primaries (CCCCC)
    type: int
    note: str
    row: Row


def pack_row(valid_from: dt.date, valid_to: dt.date | None, modifier: int, pre1996: bool,
             rationale: int, source: int) -> int:
    return (day_number(valid_from) | day_number(valid_to) << 16 | MI_CODES[modifier] << 32 | int(pre1996) << 34
            | rationale << 35 | source << 40)


def _slot(key: int, bits: int) -> int:
    return ((key * _MIX) & _M64) >> (64 - bits)


class PtpTable:
    """PTP rows in flat arrays (see the module docstring); built by ``build``, saved and loaded as bytes."""

    ARRAYS = (("pairs", "q"), ("values", "q"), ("slots", "i"), ("col2_order", "i"),
              ("codes", "q"), ("c1_start", "i"), ("c1_count", "i"), ("c2_start", "i"), ("c2_count", "i"))

    def __init__(self, arrays: dict[str, array], rationales: list[str], sources: list[Source]) -> None:
        for name, _t in self.ARRAYS:
            setattr(self, name, arrays[name])
        self.bits = (len(self.slots) - 1).bit_length()
        self.rationales = rationales
        self.sources = sources
        self.code_index = {c: i for i, c in enumerate(self.codes)}

    def __len__(self) -> int:
        return len(self.pairs)

    @classmethod
    def build(cls, pairs: array, values: array, rationales: list[str], sources: list[Source]) -> PtpTable:
        """From rows in any order (pair key = column 1 << 27 | column 2; packed value).

        Rows with the same pair and effective date are one edit in several files: the last one
        given wins (the importer gives files oldest version first).
        """
        order = sorted(range(len(pairs)), key=lambda i: pairs[i] << 16 | values[i] & 0xFFFF)  # stable
        keep = [i for k, i in enumerate(order) if k + 1 == len(order) or
                (pairs[order[k + 1]] << 16 | values[order[k + 1]] & 0xFFFF) != (pairs[i] << 16 | values[i] & 0xFFFF)]
        del order
        pairs, values = array("q", (pairs[i] for i in keep)), array("q", (values[i] for i in keep))
        del keep
        rows = pairs
        bits = max(4, (len(rows) * 3 // 2).bit_length())
        slots = array("i", bytes(4 * (1 << bits)))
        mask = (1 << bits) - 1
        prev = None
        for i, key in enumerate(rows):
            if key == prev:
                continue
            prev = key
            s = _slot(key, bits)
            while slots[s]:
                s = (s + 1) & mask
            slots[s] = i + 1
        col2_order = array("i", sorted(range(len(pairs)), key=lambda i: (pairs[i] & 0x7FFFFFF) << 27 | pairs[i] >> 27))
        codes = sorted({k >> 27 for k in pairs} | {k & 0x7FFFFFF for k in pairs})
        where = {c: i for i, c in enumerate(codes)}
        starts = {n: array("i", bytes(4 * len(codes))) for n in ("c1_start", "c1_count", "c2_start", "c2_count")}
        for i, key in enumerate(pairs):
            c = where[key >> 27]
            if not starts["c1_count"][c]:
                starts["c1_start"][c] = i
            starts["c1_count"][c] += 1
        for j, i in enumerate(col2_order):
            c = where[pairs[i] & 0x7FFFFFF]
            if not starts["c2_count"][c]:
                starts["c2_start"][c] = j
            starts["c2_count"][c] += 1
        arrays = {"pairs": pairs, "values": values, "slots": slots, "col2_order": col2_order,
                  "codes": array("q", codes), **starts}
        return cls(arrays, rationales, sources)

    # -- bytes on disk -----------------------------------------------------------------------------
    def save(self, path: Path) -> dict[str, Any]:
        layout = {}
        with open(path, "wb") as fh:
            for name, typecode in self.ARRAYS:
                arr = getattr(self, name)
                if sys.byteorder != "little":
                    arr = array(typecode, arr)
                    arr.byteswap()
                layout[name] = [typecode, len(arr)]
                arr.tofile(fh)
        return {"file": path.name, "rows": len(self), "arrays": layout, "rationales": self.rationales}

    @classmethod
    def load(cls, path: Path, meta: dict[str, Any], sources: list[Source]) -> PtpTable:
        arrays = {}
        try:
            with open(path, "rb") as fh:
                for name, typecode in cls.ARRAYS:
                    kind, count = meta["arrays"][name]
                    if kind != typecode:
                        raise NcciError(f"{path}: array {name} has type {kind}, expected {typecode}")
                    arr = array(typecode)
                    arr.fromfile(fh, count)
                    if sys.byteorder != "little":
                        arr.byteswap()
                    arrays[name] = arr
        except (OSError, EOFError, KeyError, ValueError) as exc:
            raise NcciError(f"{path}: cannot read the PTP table ({type(exc).__name__}); run import-ncci again") from None
        return cls(arrays, list(meta.get("rationales", [])), sources)

    # -- lookups -----------------------------------------------------------------------------------
    def _edit(self, i: int) -> PtpEdit:
        key, v = self.pairs[i], self.values[i]
        return PtpEdit(unpack_code(key >> 27), unpack_code(key & 0x7FFFFFF), from_day(v & 0xFFFF) or EPOCH,
                       from_day(v >> 16 & 0xFFFF), MI_VALUES[v >> 32 & 3], bool(v >> 34 & 1),
                       self.rationales[v >> 35 & 31] if (v >> 35 & 31) < len(self.rationales) else "",
                       self.sources[v >> 40 & 255])

    def _first(self, key: int) -> int:
        """Index of the first row of the pair ``key``, or -1."""
        mask = len(self.slots) - 1
        s = _slot(key, self.bits)
        while True:
            i = self.slots[s]
            if i == 0:
                return -1
            if self.pairs[i - 1] == key:
                return i - 1
            s = (s + 1) & mask

    def pair(self, column1: str, column2: str) -> list[PtpEdit]:
        """Every row CMS has for the pair (several when an edit was deleted and added again)."""
        c1, c2 = pack_code(column1), pack_code(column2)
        if c1 <= 0 or c2 <= 0:
            return []
        key = c1 << 27 | c2
        i = self._first(key)
        out = []
        while 0 <= i < len(self.pairs) and self.pairs[i] == key:
            out.append(self._edit(i))
            i += 1
        return out

    def has_pair(self, column1: str, column2: str) -> bool:
        c1, c2 = pack_code(column1), pack_code(column2)
        return c1 > 0 and c2 > 0 and self._first(c1 << 27 | c2) >= 0

    def by_column1(self, code: str) -> Iterator[PtpEdit]:
        c = self.code_index.get(pack_code(code))
        if c is not None:
            for i in range(self.c1_start[c], self.c1_start[c] + self.c1_count[c]):
                yield self._edit(i)

    def by_column2(self, code: str) -> Iterator[PtpEdit]:
        c = self.code_index.get(pack_code(code))
        if c is not None:
            for j in range(self.c2_start[c], self.c2_start[c] + self.c2_count[c]):
                yield self._edit(self.col2_order[j])

    def knows(self, code: str) -> bool:
        return pack_code(code) in self.code_index

    def nbytes(self) -> int:
        return sum(getattr(self, n).itemsize * len(getattr(self, n)) for n, _t in self.ARRAYS)


def ptp_from_rows(rows: Iterable[Row]) -> PtpTable:
    """A (small) PTP table from CSV rows: column1, column2, modifier, pre1996, rationale."""
    sources: list[Source] = []
    rationales: list[str] = []
    pairs, values = array("q"), array("q")
    for r in rows:
        if r.source not in sources:
            sources.append(r.source)
        if r["rationale"] not in rationales:
            rationales.append(r["rationale"])
        c1, c2 = pack_code(r["column1"]), pack_code(r["column2"])
        if c1 <= 0 or c2 <= 0 or r.valid_from is None:
            raise CatalogError(f"PTP row at line {r.line}: codes of up to 5 letters/digits and valid_from are required")
        pairs.append(c1 << 27 | c2)
        values.append(pack_row(r.valid_from, r.valid_to, int(r["modifier"]), r["pre1996"] == "*",
                               rationales.index(r["rationale"]), sources.index(r.source)))
    return PtpTable.build(pairs, values, rationales, sources)


def _mue(rows: Iterable[Row]) -> dict[str, list[MueRow]]:
    out: dict[str, list[MueRow]] = {}
    for r in rows:
        mai = r["mai"][:1]
        out.setdefault(r["code"], []).append(MueRow(r["code"], int(r["mue"]), int(mai) if mai.isdigit() else None,
                                                    r["rationale"], r))
    return out


def _aoc(rows: Iterable[Row]) -> dict[str, list[AocRow]]:
    out: dict[str, list[AocRow]] = {}
    for r in rows:
        primaries = frozenset(p for p in r["primary"].split() if p != "CCCCC")
        out.setdefault(r["addon"], []).append(AocRow(r["addon"], primaries, int(r["type"] or 1), r["note"], r))
    return out


class Ncci:
    """The NCCI tables of a run: the pack's built-in rows plus an imported folder, if any."""

    def __init__(self, builtin: dict[str, list[Row]], folder: Path | None = None) -> None:
        self.folder = folder
        self.manifest: dict[str, Any] = {}
        self.sources: dict[str, Source] = {}
        self._ptp: PtpTable | None = None
        self._builtin_ptp = builtin.get("ptp", [])
        self.mue_builtin = _mue(builtin.get("mue", []))
        self.aoc_builtin = _aoc(builtin.get("aoc", []))
        self.mue_imported: dict[str, list[MueRow]] = {}
        self.aoc_imported: dict[str, list[AocRow]] = {}
        if folder is not None:
            self._open(folder)

    @classmethod
    def load(cls, catalog: Catalog, folder: str | Path | None) -> Ncci:
        try:
            pack = catalog.pack("ncci")
        except KeyError:
            return cls({}, Path(folder) if folder else None)
        return cls(pack.tables, Path(folder) if folder else None)

    def _open(self, folder: Path) -> None:
        path = folder / "ncci.json"
        try:
            self.manifest = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NcciError(f"{folder}: no ncci.json here; write the folder with `scrubber import-ncci FILE... -o {folder}`") from None
        except (OSError, ValueError) as exc:
            raise NcciError(f"{path}: cannot read the NCCI manifest ({type(exc).__name__})") from None
        if self.manifest.get("format") != FORMAT:
            raise NcciError(f"{path}: not an NCCI table folder (format {FORMAT} expected)")
        # The importer reads only CMS's own files, so its tables rest on a primary source.
        self.sources = {k: Source(**{f: str(v[f]) for f in ("document", "revision", "date") if f in v},
                                  publisher=str(v.get("publisher", "CMS")), kind=str(v.get("kind", "primary")))
                        for k, v in self.manifest.get("sources", {}).items()}
        try:
            if (folder / "mue.csv").exists():
                self.mue_imported = _mue(_load_table(folder / "mue.csv", self.sources))
            if (folder / "aoc.csv").exists():
                self.aoc_imported = _aoc(_load_table(folder / "aoc.csv", self.sources))
        except CatalogError as exc:
            raise NcciError(str(exc)) from None

    # -- lookups -----------------------------------------------------------------------------------
    @property
    def imported(self) -> bool:
        return self.folder is not None

    @property
    def ptp(self) -> PtpTable | None:
        """Loaded on first use: worker processes, which run no PTP check, never read it."""
        if self._ptp is None:
            meta = self.manifest.get("ptp")
            if self.folder is not None and meta:
                order = list(self.manifest.get("ptp_sources", []))
                self._ptp = PtpTable.load(self.folder / meta["file"], meta, [self.sources[k] for k in order])
            elif self._builtin_ptp:
                self._ptp = ptp_from_rows(self._builtin_ptp)
        return self._ptp

    def ptp_edit(self, column1: str, column2: str, day: dt.date) -> PtpEdit | None:
        table = self.ptp
        if table is None:
            return None
        active = [e for e in table.pair(column1, column2) if e.active_on(day)]
        return max(active, key=lambda e: e.valid_from) if active else None

    def mue(self, code: str, day: dt.date) -> MueRow | None:
        for rows in (self.mue_imported.get(code), self.mue_builtin.get(code)):
            if rows:
                active = [r for r in rows if r.row.valid_on(day)]
                if active:
                    return max(active, key=lambda r: r.row.valid_from or dt.date.min)
        return None

    def aoc(self, addon: str, day: dt.date) -> list[AocRow]:
        rows = self.aoc_imported.get(addon) or self.aoc_builtin.get(addon) or []
        return [r for r in rows if r.row.valid_on(day)]

    def needs_day_index(self) -> bool:
        """Whether PTP pairs or date-of-service MUEs (MAI 2/3) exist to compare lines across claims."""
        rows = [*self.mue_imported.values(), *self.mue_builtin.values()]
        return self.imported or bool(self._builtin_ptp) or any(r.mai in (2, 3) for rs in rows for r in rs)

    def mue_codes(self) -> frozenset[str]:
        return frozenset(self.mue_imported) | frozenset(self.mue_builtin)

    def addon_codes(self) -> frozenset[str]:
        return frozenset(self.aoc_imported) | frozenset(self.aoc_builtin)

    def notices(self) -> list[str]:
        if self.imported:
            return []
        return ["No CMS NCCI tables loaded: NCCI-PTP and NCCI-AOC checked nothing and NCCI-MUE only the "
                "built-in rows; import CMS's quarterly files with `scrubber import-ncci FILE... -o DIR` and "
                "scrub with --ncci DIR."]

    def describe(self) -> dict[str, Any]:
        """For the report's meta: what NCCI data the run judged by."""
        if not self.imported:
            return {"loaded": False, "builtin_rows": sum(len(v) for v in self.mue_builtin.values())
                    + sum(len(v) for v in self.aoc_builtin.values()) + len(self._builtin_ptp)}
        return {"loaded": True, "folder": self.folder.name if self.folder else None,
                "sources": [{"id": k, **{f: v.get(f) for f in ("document", "revision", "date", "rows")}}
                            for k, v in self.manifest.get("sources", {}).items()],
                "ptp_rows": (self.manifest.get("ptp") or {}).get("rows", 0),
                "mue_codes": len(self.mue_imported), "aoc_addons": len(self.aoc_imported)}
