"""Load the edit catalog: every pack under ``edits/`` (``pack.yaml`` plus its tables).

The catalog is pure data once loaded: edits are frozen dataclasses, so the same catalog serves a
process pool or a Dask worker after pickling.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from scrubber.resources import edits_dir, read_yaml

SEVERITIES = ("reject", "warn")
#: how sure a row's source makes a finding: a reject needs ``certain``
CONFIDENCES = ("certain", "likely", "partial-list")
#: what a source is: only the first three can make a rule certain
SOURCE_KINDS = ("primary", "publisher", "seed", "registry", "secondary", "forum")
CERTAIN_KINDS = frozenset({"primary", "publisher", "seed"})


class CatalogError(Exception):
    """A rule pack is malformed; the message names the file and the edit."""


def _rebuilt(obj: Any) -> tuple[Any, ...]:
    """How a catalog object pickles (to --jobs and Dask workers): made again from its ``__init__``
    fields (the others are worked out again, in ``__post_init__``). Compiled (scrubber._native), a
    frozen class or one with required fields pickles only this way."""
    return type(obj), tuple([getattr(obj, f.name) for f in fields(obj) if f.init])


@dataclass(frozen=True, slots=True)
class Source:
    """A publication a rule rests on: its title (``document``), publisher, revision and date."""

    document: str
    revision: str
    date: str
    title: str = ""
    section: str = ""
    url: str = ""
    publisher: str = ""
    #: primary (CMS, a MAC, X12, AMA), publisher (a coding newsletter or journal), seed (the product's
    #: founding articles), registry (the payer registry's own rows), secondary (a third-party web page), forum
    kind: str = ""
    #: the research notes' or founding documents' ID for it (S3, SEED-PBI), shown by ``explain``
    ref: str = ""
    #: ``cite()``, worked out once: findings cite their source again and again
    _cited: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cited", self._cite())

    def cite(self) -> str:
        """The source as a biller reads a citation: title, publisher, revision, date (section)."""
        return self._cited

    def _cite(self) -> str:
        parts = [f"“{self.document}”" if self.publisher else self.document]
        for part in (self.publisher, self.revision, self.date):
            if part and part not in parts:
                parts.append(part)
        text = ", ".join(parts)
        return f"{text} ({self.section})" if self.section else text

    @property
    def can_be_certain(self) -> bool:
        return self.kind in CERTAIN_KINDS

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)


@dataclass(frozen=True, slots=True)
class Edit:
    id: str
    pack: str
    title: str
    severity: str
    kind: str
    category: str | None
    status_code: str | None
    sources: tuple[Source, ...]
    description: str
    why: str
    fix: str
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None  # exclusive: the first day the edit no longer applies
    params: dict[str, Any] = field(default_factory=dict)
    examples: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    #: (kind, params) pairs when an edit needs more than one check kind; ``kind``/``params`` is the first
    checks: tuple[tuple[str, dict[str, Any]], ...] = ()
    messages: dict[str, str] = field(default_factory=dict)
    #: the confidence of a finding no table row speaks for (certain unless the pack says otherwise)
    confidence: str = "certain"
    #: ``source_text()``, worked out once
    _source_text: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_source_text", "; ".join(s.cite() for s in self.sources))

    def message(self, key: str, **values: Any) -> str:
        """The edit's wording for ``key`` (from pack.yaml) with the finding's values filled in."""
        if not values:  # a fixed text (a fix, an appeal note): worded once
            return remember(self.messages, lambda messages: _spaced(self._template(key).format()), key)
        return _spaced(self._template(key).format(**values))

    def _template(self, key: str) -> str:
        template = self.messages.get(key)
        if template is None:
            raise KeyError(f"edit {self.id} has no message {key!r}")
        return template

    def source_text(self) -> str:
        return self._source_text

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)


@dataclass(frozen=True, slots=True)
class Row:
    """One table row: its cells as text, its validity window (``to`` exclusive) and its source."""

    cells: dict[str, str]
    valid_from: dt.date | None
    valid_to: dt.date | None
    source: Source
    line: int  # line in the CSV file, for messages about the table itself

    def __getitem__(self, key: str) -> str:
        return self.cells.get(key, "")

    def get(self, key: str, default: str = "") -> str:
        return self.cells.get(key) or default

    @property
    def confidence(self) -> str:
        return self.cells.get("confidence", "")

    def valid_on(self, day: dt.date | None) -> bool:
        start, end = self.valid_from, self.valid_to
        if day is None:
            return start is None and end is None
        return (start is None or day >= start) and (end is None or day < end)

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)


@dataclass(slots=True)
class Pack:
    name: str
    title: str
    version: str
    path: Path
    edits: list[Edit]
    tables: dict[str, list[Row]] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    order: int = 100  # packs run, and are listed, in this order
    origin: str = "built-in"  # or "plugin DISTRIBUTION VERSION" (entry point group scrubber.packs)

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)


@dataclass(slots=True)
class Catalog:
    packs: list[Pack]
    edits: dict[str, Edit]

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)

    def edit(self, edit_id: str) -> Edit:
        try:
            return self.edits[edit_id.upper()]
        except KeyError:
            raise KeyError(edit_id) from None

    def pack(self, name: str) -> Pack:
        for p in self.packs:
            if p.name == name:
                return p
        raise KeyError(name)

    def table(self, pack: str, name: str) -> list[Row]:
        try:
            return self.pack(pack).tables[name]
        except KeyError:
            raise KeyError(f"table {pack}/{name}.csv not found") from None


def _spaced(text: str) -> str:
    """Blank space runs become one space, as in the pack; only a value can bring them in.
    (isprintable() is False for every whitespace character but the ASCII space.)"""
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())


#: texts of sources, by the identity of the source (or tuple of sources) they cite, and an edit's
#: messages without values, by the identity of its messages and the key: findings cite the same few
#: sources and fixes again and again; the object is kept with its text, so an id is never reused
_CITES: dict[tuple[int, Any], tuple[Any, Any]] = {}
_CITES_MAX = 4096


def remember(what: Any, make: Any, key: Any = "") -> Any:
    """``make(what)``, worked out once per object (and ``key``): sources' citations and an edit's
    messages without values."""
    hit = _CITES.get((id(what), key))
    if hit is not None and hit[0] is what:
        return hit[1]
    if len(_CITES) >= _CITES_MAX:
        _CITES.clear()
    text = make(what)
    _CITES[(id(what), key)] = (what, text)
    return text


def within(day: dt.date, start: dt.date | None, end: dt.date | None) -> bool:
    """Rule tables' date windows: ``start`` inclusive, ``end`` the first day no longer covered."""
    return (start is None or day >= start) and (end is None or day < end)


def iso_date(value: Any, where: str, error: type[Exception] = CatalogError) -> dt.date | None:
    """A date cell of a table or registry: empty, a date (YAML), or ISO text."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise error(f"{where}: {value!r} is not an ISO date") from None




def _sources(raw: Any, named: dict[str, dict], where: str) -> tuple[Source, ...]:
    if not raw:
        raise CatalogError(f"{where}: every edit needs a source")
    out = []
    for item in raw:
        item = dict(item)
        ref = item.pop("ref", None)
        base = dict(named[ref]) if ref else {}
        if ref and ref not in named:
            raise CatalogError(f"{where}: unknown source {ref!r}")
        base.update(item)
        for key in ("document", "revision", "date"):
            if not base.get(key):
                raise CatalogError(f"{where}: source lacks {key}")
        kind = base.get("kind", "")
        if kind and kind not in SOURCE_KINDS:
            raise CatalogError(f"{where}: source kind must be one of {SOURCE_KINDS}")
        if ref and not base.get("ref"):
            base["ref"] = ref
        out.append(Source(**{k: str(v) for k, v in base.items()}))
    return tuple(out)


def _load_table(path: Path, sources: dict[str, Source]) -> list[Row]:
    rows = []
    with open(path, encoding="utf-8", newline="") as fh:
        for i, raw in enumerate(csv.DictReader(fh, skipinitialspace=True), start=2):
            cells = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
            if not any(cells.values()) or next(iter(cells.values()), "").startswith("#"):
                continue
            where = f"{path}:{i}"
            key = cells.get("source", "")
            if key not in sources:
                raise CatalogError(f"{where}: unknown or missing source {key!r} (every row needs one)")
            confidence = cells.get("confidence", "")
            if confidence not in CONFIDENCES:
                raise CatalogError(f"{where}: confidence must be one of {CONFIDENCES}, not {confidence!r}")
            if confidence == "certain" and not sources[key].can_be_certain:
                raise CatalogError(f"{where}: a {sources[key].kind or 'unclassified'} source ({key}) cannot make a"
                                   " row certain; mark it likely or cite a primary source")
            rows.append(Row(cells, iso_date(cells.get("valid_from"), where), iso_date(cells.get("valid_to"), where),
                            sources[key], i))
    return rows


def load_pack(path: Path) -> Pack:
    where = str(path / "pack.yaml")
    doc = read_yaml(path / "pack.yaml")
    named = doc.get("sources", {}) or {}
    sources = {key: _sources([{"ref": key}], named, f"{where}: source {key}")[0] for key in named}
    edits = []
    for raw in doc.get("edits", []):
        eid = raw.get("id", "?")
        here = f"{where}: {eid}"
        if raw.get("severity") not in SEVERITIES:
            raise CatalogError(f"{here}: severity must be one of {SEVERITIES}")
        if raw["severity"] == "reject" and not (raw.get("category") and raw.get("status_code")):
            raise CatalogError(f"{here}: a rejecting edit needs its 277CA category and status code")
        checks = tuple((c["kind"], c.get("params") or {}) for c in raw.get("checks", []))
        if "kind" in raw:
            checks = ((raw["kind"], raw.get("params") or {}), *checks)
        if not checks:
            raise CatalogError(f"{here}: no check kind")
        eff = raw.get("effective") or {}
        edits.append(Edit(
            id=eid, pack=doc["pack"], title=raw["title"], severity=raw["severity"], kind=checks[0][0],
            category=raw.get("category"), status_code=str(raw["status_code"]) if raw.get("status_code") else None,
            sources=_sources(raw.get("sources"), named, here),
            description=" ".join(str(raw.get("description", "")).split()),
            why=" ".join(str(raw.get("why", "")).split()), fix=" ".join(str(raw.get("fix", "")).split()),
            effective_from=iso_date(eff.get("from"), here), effective_to=iso_date(eff.get("to"), here),
            params=checks[0][1], examples=raw.get("examples") or {},
            enabled=raw.get("enabled", True), checks=checks,
            messages={k: " ".join(str(v).split()) for k, v in (raw.get("messages") or {}).items()},
            confidence=str(raw.get("confidence", "certain")),
        ))
        _check_confidence(edits[-1], here)
    tables = {p.stem: _load_table(p, sources) for p in sorted(path.glob("*.csv"))}
    _check_rejecting_rows(edits, tables)
    return Pack(doc["pack"], doc.get("title", doc["pack"]), str(doc.get("version", "")), path, edits,
                tables=tables, sources=sources, order=int(doc.get("order", 100)))


def _check_confidence(edit: Edit, where: str) -> None:
    if edit.confidence not in CONFIDENCES:
        raise CatalogError(f"{where}: confidence must be one of {CONFIDENCES}")
    if edit.severity == "reject" and edit.confidence != "certain":
        raise CatalogError(f"{where}: a rejecting edit must be certain (make it a warning, or cite a primary source)")
    if edit.severity == "reject" and not any(s.can_be_certain or s.kind == "registry" for s in edit.sources):
        raise CatalogError(f"{where}: a rejecting edit needs a primary, publisher or founding-document source")


def _check_rejecting_rows(edits: list[Edit], tables: dict[str, list[Row]]) -> None:
    """A row that makes its edit reject must be certain: the rest warn, or say so in a severity column."""
    rejecting = {e.id for e in edits if e.severity == "reject"}
    for name, rows in tables.items():
        for row in rows:
            if row.get("edit") in rejecting and row.get("severity", "reject") == "reject" and row.confidence != "certain":
                raise CatalogError(f"{name}.csv line {row.line}: a {row.confidence} row of the rejecting edit"
                                   f" {row['edit']} needs severity warn")


def load_catalog(root: Path | None = None) -> Catalog:
    """The packs under ``root`` (default: the built-in ones plus every installed plugin pack)."""
    loaded = [load_pack(p) for p in (root or edits_dir()).iterdir() if (p / "pack.yaml").is_file()]
    if root is None:
        loaded += _plugin_packs()
    packs = []
    edits: dict[str, Edit] = {}
    names: dict[str, Pack] = {}
    for pack in sorted(loaded, key=lambda p: (p.order, p.name)):
        if pack.name in names:
            raise CatalogError(f"pack {pack.name} ({pack.origin}) has the name of a pack from {names[pack.name].origin}")
        names[pack.name] = pack
        for e in pack.edits:
            if e.id in edits:
                raise CatalogError(f"edit {e.id} is defined twice ({pack.origin} and {names[edits[e.id].pack].origin})")
            edits[e.id] = e
        packs.append(pack)
    return Catalog(packs, edits)


def _plugin_packs() -> list[Pack]:
    from dataclasses import replace

    from scrubber import plugins

    out = []
    for plugin in plugins.packs():
        try:
            out.append(replace(load_pack(plugin.path), origin=plugin.origin))
        except CatalogError as exc:
            raise CatalogError(f"{plugin.origin}: {exc}") from None
        except Exception as exc:  # a broken third-party pack: one line, not a traceback
            raise CatalogError(f"{plugin.origin}: {plugin.path / 'pack.yaml'} is not a rule pack "
                               f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]})") from None
    return out


def edit_rows(catalog: Catalog, edit: Edit) -> list[tuple[str, Row]]:
    """Table rows that serve ``edit`` (their ``edit`` column names it), with their table's name."""
    pack = catalog.pack(edit.pack)
    return [(name, row) for name, rows in pack.tables.items() for row in rows if row.get("edit") == edit.id]


def edit_dates(catalog: Catalog, edit: Edit) -> tuple[dt.date | None, dt.date | None]:
    """When the edit can fire: its own dates, else the span of its rows (None = open)."""
    if edit.effective_from or edit.effective_to:
        return edit.effective_from, edit.effective_to
    rows = [r for _, r in edit_rows(catalog, edit)]
    if edit.kind == "code_validity":
        # The code book's dates are the rule: deleted from each valid_to, not yet valid before each valid_from.
        codes = catalog.pack(edit.pack).tables.get("codes", [])
        if edit.params.get("mode", "deleted") == "deleted":
            ends = [r.valid_to for r in codes if r.valid_to]
            return (min(ends) if ends else None), None
        starts = [r.valid_from for r in codes if r.valid_from]
        return None, (max(starts) if starts else None)
    if not rows:
        return None, None
    starts = [r.valid_from for r in rows]  # type: ignore[misc]
    ends = [r.valid_to for r in rows]  # type: ignore[misc]
    start = None if any(s is None for s in starts) else min(s for s in starts if s is not None)
    end = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
    return start, end
