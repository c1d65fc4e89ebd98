"""The payer registry: who pays a claim, and the policies that payer applies.

A registry is a YAML file (format ``scrubber.payers/1``, schema ``scrubber/schemas/payers-1.json``,
example ``edits/payer/registry.yaml``). The effective registry is built in layers: the built-in
file, then the files plugins declare (entry point group ``scrubber.payers``), then every
``--payers FILE``. A later payer with the same key replaces an earlier one, a later policy with the
same id replaces it for every payer that names it, and a payer id (2010BB NM109) belongs to the
last payer that lists it. ``--payers-only`` starts from an empty registry instead. A payer is found
by the payer id in 2010BB NM109; for a payer the registry does not know, SBR09 = MB marks Medicare.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from scrubber import plugins, schemas
from scrubber.model import ClaimUnit
from scrubber.plugins import BUILT_IN
from scrubber.resources import edits_dir, read_yaml, yaml_errors
from scrubber.rules.catalog import CONFIDENCES, SOURCE_KINDS, Source, iso_date, within
from scrubber.rules.codesets import expand

FORMAT = "scrubber.payers/1"
MEDICARE_FILING_INDICATORS = frozenset({"MB"})
#: older registries wrote the research notes' labels; they read as the new values
_LEGACY_CONFIDENCE = {"V": "certain", "P": "likely", "UNCONFIRMED": "likely"}


class RegistryError(Exception):
    """The registry file is malformed; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class DxRow:
    procedures: frozenset[str]  # empty: every procedure of the policy
    dx: str  # without the point; ends with * for a prefix
    group: str
    requires_group: str
    valid_from: dt.date | None
    valid_to: dt.date | None
    source: Source
    confidence: str = ""

    def matches(self, code: str) -> bool:
        code = code.replace(".", "").upper()
        return code.startswith(self.dx[:-1]) if self.dx.endswith("*") else code == self.dx

    def valid_on(self, day: dt.date) -> bool:
        return within(day, self.valid_from, self.valid_to)

    def applies_to(self, code: str) -> bool:
        return not self.procedures or code in self.procedures


@dataclass(frozen=True, slots=True)
class Rule:
    """A prior-authorization requirement or a note: procedures, optional diagnoses (prefixes)."""

    procedures: frozenset[str]
    diagnoses: tuple[str, ...]
    valid_from: dt.date | None
    valid_to: dt.date | None
    source: Source
    text: str = ""
    confidence: str = "certain"

    def applies(self, code: str, day: dt.date, dx_codes: list[str]) -> bool:
        if code not in self.procedures:
            return False
        if not within(day, self.valid_from, self.valid_to):
            return False
        if not self.diagnoses:
            return True
        return any(d.replace(".", "").upper().startswith(p.rstrip("*")) for d in dx_codes for p in self.diagnoses)


@dataclass(slots=True)
class Policy:
    id: str
    title: str
    revision: str
    source: Source
    procedures: frozenset[str]
    diagnoses: list[DxRow]
    partial: bool = False
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    on_not_covered: str = "reject"
    prior_auth: list[Rule] = field(default_factory=list)
    notes: list[Rule] = field(default_factory=list)
    origin: str = ""  # the registry layer that defined it

    def covers(self, code: str, day: dt.date) -> bool:
        if code not in self.procedures:
            return False
        return within(day, self.effective_from, self.effective_to)

    def rows_for(self, code: str, day: dt.date) -> list[DxRow]:
        return [r for r in self.diagnoses if r.applies_to(code) and r.valid_on(day)]

    def label(self) -> str:
        return f"{self.id} {self.revision}".strip()


@dataclass(slots=True)
class Payer:
    key: str
    name: str
    ids: tuple[str, ...]
    medicare: bool
    requires_ndc: bool
    excludes: frozenset[str]
    policies: list[Policy]
    #: timely filing (PRO-TIMELY-FILING): days or months after the date of service; None = the default
    filing_limit_days: int | None = None
    filing_limit_months: int | None = None
    origin: str = "built-in"  # which registry layer defined it (``scrubber payers`` shows it)


@dataclass(frozen=True, slots=True)
class RegistryFile:
    """One layer of the effective registry: a file and where it came from."""

    path: Path
    origin: str = "--payers"  # "built-in", "plugin NAME VERSION", "--payers", "--payers-only"


class Registry:
    def __init__(self, payers: list[Payer], path: Path | None = None, policies: dict[str, Policy] | None = None,
                 files: list[RegistryFile] | None = None):
        self.payers = payers
        self.path = path
        self.policies = policies or {p.id: p for payer in payers for p in payer.policies}
        self.files = files if files is not None else ([RegistryFile(path)] if path else [])
        self._by_id = {pid: p for p in payers for pid in p.ids}

    # -- lookups used by the edits ---------------------------------------------------------------
    def payer_for(self, claim: ClaimUnit) -> Payer | None:
        return self._by_id.get(claim.payer_id)

    def is_medicare(self, claim: ClaimUnit) -> bool | None:
        payer = self.payer_for(claim)
        return payer.medicare if payer is not None else None

    def requires_ndc(self, claim: ClaimUnit) -> bool:
        payer = self.payer_for(claim)
        return bool(payer and payer.requires_ndc)

    def excludes(self, claim: ClaimUnit, what: str) -> bool | None:
        payer = self.payer_for(claim)
        return (what in payer.excludes) if payer is not None else None

    def policies_for(self, claim: ClaimUnit) -> list[Policy]:
        payer = self.payer_for(claim)
        return payer.policies if payer is not None else []

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def builtin(cls) -> Registry:
        return cls.layered([RegistryFile(builtin_path(), BUILT_IN)])

    @classmethod
    def load(cls, path: str | Path) -> Registry:
        """One registry file on its own (no built-in layer): what ``--payers-only FILE`` gives."""
        return cls.layered([RegistryFile(Path(path), "--payers-only")])

    @classmethod
    def default(cls, extra: Sequence[str | Path] = (), only: Sequence[str | Path] = ()) -> Registry:
        """The effective registry: built-in, plugins, then ``extra`` files; or ``only`` then ``extra``.

        Raises RegistryError for a malformed file and PluginError for a plugin that cannot load.
        """
        if only:
            files = [RegistryFile(Path(p), "--payers-only") for p in only]
        else:
            files = [RegistryFile(builtin_path(), BUILT_IN)]
            files += [RegistryFile(p.path, p.origin) for p in plugins.registries()]
        files += [RegistryFile(Path(p), "--payers") for p in extra]
        return cls.layered(files)

    @classmethod
    def layered(cls, files: Sequence[RegistryFile]) -> Registry:
        policies: dict[str, Policy] = {}
        payers: dict[str, tuple[dict[str, Any], str]] = {}
        for layer in files:
            for pol in _load_layer(layer, policies, payers):
                policies[pol.id] = pol
        # Bind payers to the effective policies; a payer id belongs to the last payer listing it.
        owner = {pid: key for key, (raw, _o) in payers.items() for pid in raw["ids"]}
        bound = [_payer(raw, origin, policies, [pid for pid in raw["ids"] if owner[pid] == key])
                 for key, (raw, origin) in payers.items()]
        return cls([p for p in bound if p.ids], files[-1].path if files else None, policies, list(files))

    # -- what ``scrubber payers`` prints -----------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        used = {p.id for payer in self.payers for p in payer.policies}
        return {
            "files": [{"file": str(f.path), "origin": f.origin} for f in self.files],
            "payers": [{
                "key": p.key, "name": p.name, "ids": list(p.ids), "medicare": p.medicare,
                "requires_ndc": p.requires_ndc, "excludes": sorted(p.excludes),
                "policies": [pol.id for pol in p.policies], "origin": p.origin,
                "filing_limit_days": p.filing_limit_days, "filing_limit_months": p.filing_limit_months,
            } for p in self.payers],
            "policies": [{
                "id": pol.id, "title": pol.title, "revision": pol.revision, "partial": pol.partial,
                "procedures": sorted(pol.procedures), "diagnosis_rows": len(pol.diagnoses),
                "prior_auth_rules": len(pol.prior_auth), "notes": len(pol.notes),
                "effective_from": pol.effective_from.isoformat() if pol.effective_from else None,
                "effective_to": pol.effective_to.isoformat() if pol.effective_to else None,
                "on_not_covered": pol.on_not_covered, "source": pol.source.cite(), "origin": pol.origin,
                "used": pol.id in used,
            } for pol in self.policies.values()],
        }


def builtin_path() -> Path:
    return edits_dir() / "payer" / "registry.yaml"


def _load_layer(layer: RegistryFile, policies: dict[str, Policy],
                payers: dict[str, tuple[dict[str, Any], str]]) -> list[Policy]:
    """Check one file and add its payers to ``payers`` (by key); return its policies."""
    path = layer.path
    doc = _read(path)
    if layer.origin != BUILT_IN:  # the built-in file is checked by the tests; skip the import at start-up
        found = schemas.problems("payers-1", doc)
        if found:
            raise RegistryError(f"{path}: {found[0]}" + (f" (and {len(found) - 1} more)" if found[1:] else ""))
    sources = {str(k): _source(v, f"{path}: source {k}") for k, v in (doc.get("sources") or {}).items()}
    mine: dict[str, Policy] = {}
    for i, raw in enumerate(doc.get("policies") or []):
        pol = _policy(raw, sources, path, layer.origin)
        if pol.id in mine:
            raise RegistryError(f"{path}: policies[{i}]: policy {pol.id} is defined twice in this file")
        mine[pol.id] = pol
    keys: set[str] = set()
    for i, raw in enumerate(doc.get("payers") or []):
        where = f"{path}: payers[{i}] ({raw.get('key')})"
        if raw["key"] in keys:
            raise RegistryError(f"{where}: the key is used twice in this file")
        keys.add(raw["key"])
        unknown = [p for p in raw.get("policies", []) if p not in mine and p not in policies]
        if unknown:
            raise RegistryError(f"{where}: unknown policies {', '.join(unknown)} (not in this file or an earlier registry)")
        if raw.get("source") is not None:
            _ref(raw["source"], sources, where)
        payers.pop(raw["key"], None)  # a replaced payer moves to its new layer's place
        payers[raw["key"]] = ({**raw, "ids": [str(x) for x in raw["ids"]]}, layer.origin)
    return list(mine.values())


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = read_yaml(path)
    except UnicodeDecodeError as exc:
        raise RegistryError(f"{path}: not UTF-8 text (byte {exc.start}); save the registry as UTF-8") from None
    except ValueError as exc:  # PyYAML builds dates itself: 2026-13-01 fails there
        raise RegistryError(f"{path}: cannot read the payer registry (a value is not valid: {exc})") from None
    except (OSError, *yaml_errors()) as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise RegistryError(f"{path}: cannot read the payer registry ({type(exc).__name__}{at})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise RegistryError(f"{path}: not a payer registry (a mapping with format: {FORMAT} expected)")
    return schemas.plain(doc)


def _payer(raw: dict[str, Any], origin: str, policies: dict[str, Policy], ids: list[str]) -> Payer:
    return Payer(
        key=raw["key"], name=str(raw.get("name", "")), ids=tuple(ids), medicare=bool(raw.get("medicare", False)),
        requires_ndc=bool(raw.get("requires_ndc", False)), excludes=frozenset(raw.get("excludes", [])),
        policies=[policies[p] for p in raw.get("policies", [])], origin=origin,
        filing_limit_days=_limit(raw, "filing_limit_days", raw["key"]),
        filing_limit_months=_limit(raw, "filing_limit_months", raw["key"]),
    )



def _limit(raw: dict, key: str, where: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise RegistryError(f"{where}: {key} must be a positive whole number")
    return value


def _date(value: Any, where: str) -> dt.date | None:
    return iso_date(value, where, RegistryError)


def _source(value: Any, where: str) -> Source:
    if not isinstance(value, dict) or not all(value.get(k) for k in ("document", "revision", "date")):
        raise RegistryError(f"{where}: a source needs document, revision and date")
    if value.get("kind", "") not in ("", *SOURCE_KINDS):
        raise RegistryError(f"{where}: source kind must be one of {SOURCE_KINDS}")
    known = set(Source.__dataclass_fields__)
    return Source(**{k: str(v) for k, v in value.items() if k in known})


def _confidence(value: Any, source: Source, where: str) -> str:
    """A row's confidence: as written (old V/P/UNCONFIRMED labels read as the new values), else from
    its source: a forum or third-party page makes it likely; anything else the registry asserts."""
    text = str(value or "").strip()
    if not text:
        return "likely" if source.kind in ("secondary", "forum") else "certain"
    text = _LEGACY_CONFIDENCE.get(text.upper(), text)
    if text not in CONFIDENCES:
        raise RegistryError(f"{where}: confidence must be one of {CONFIDENCES}")
    if text == "certain" and source.kind in ("secondary", "forum"):
        raise RegistryError(f"{where}: a {source.kind} source cannot make a row certain")
    return text


def _ref(value: Any, sources: dict[str, Source], where: str) -> Source:
    if isinstance(value, dict):
        return _source(value, where)
    if value not in sources:
        raise RegistryError(f"{where}: unknown source {value!r}")
    return sources[value]


def _codes(cell: Any) -> frozenset[str]:
    return expand(str(cell or ""))[0]


def _policy(raw: dict, sources: dict[str, Source], path: Path, origin: str) -> Policy:
    where = f"{path}: policy {raw.get('id', '?')}"
    source = _ref(raw.get("source"), sources, where)
    rows_raw = raw.get("diagnoses") or []
    if isinstance(rows_raw, str):
        rows_raw = _table(path, rows_raw, where, checked=origin != BUILT_IN)
    rows = []
    for i, r in enumerate(rows_raw, start=1):
        here = f"{where}: diagnosis row {i}"
        dx = str(r.get("dx") or "").replace(".", "").upper().strip()
        if not dx:
            raise RegistryError(f"{here}: no dx")
        row_source = _ref(r.get("source") or raw.get("source"), sources, here)
        rows.append(DxRow(
            procedures=_codes(r.get("procedures")), dx=dx, group=str(r.get("dx_group") or "").strip(),
            requires_group=str(r.get("requires_group") or "").strip(),
            valid_from=_date(r.get("valid_from"), here), valid_to=_date(r.get("valid_to"), here),
            source=row_source, confidence=_confidence(r.get("confidence"), row_source, here),
        ))

    def rules(key: str) -> list[Rule]:
        out = []
        for i, r in enumerate(raw.get(key) or [], start=1):
            here = f"{where}: {key} {i}"
            rule_source = _ref(r.get("source") or raw.get("source"), sources, here)
            out.append(Rule(
                procedures=_codes(r.get("procedures") or raw.get("procedures")),
                diagnoses=tuple(str(d).replace(".", "").upper() for d in r.get("diagnoses", [])),
                valid_from=_date(r.get("valid_from"), here), valid_to=_date(r.get("valid_to"), here),
                source=rule_source, text=" ".join(str(r.get("text", "")).split()),
                confidence=_confidence(r.get("confidence"), rule_source, here),
            ))
        return out

    on_not_covered = str(raw.get("on_not_covered", "reject"))
    if on_not_covered not in ("reject", "warn"):
        raise RegistryError(f"{where}: on_not_covered must be reject or warn")
    return Policy(
        id=str(raw["id"]), title=str(raw.get("title", "")), revision=str(raw.get("revision", "")), source=source,
        procedures=_codes(raw.get("procedures")), diagnoses=rows, partial=bool(raw.get("partial", False)),
        effective_from=_date(raw.get("effective_from"), where), effective_to=_date(raw.get("effective_to"), where),
        on_not_covered=on_not_covered, prior_auth=rules("prior_auth"), notes=rules("notes"), origin=origin,
    )


def _table(registry: Path, name: str, where: str, *, checked: bool) -> list[dict[str, Any]]:
    """A policy's CSV rows: the file is named relative to the registry and must lie inside its folder."""
    folder = registry.resolve().parent
    table = (folder / name).resolve()
    if Path(name).is_absolute() or not table.is_relative_to(folder):
        raise RegistryError(f"{where}: diagnoses file {name!r} must be inside the registry's folder "
                            "(a relative path without '..')")
    try:
        with open(table, encoding="utf-8-sig", newline="") as fh:
            rows = [{k: v for k, v in r.items() if v} for r in csv.DictReader(fh)
                    if any((v or "").strip() for v in r.values() if isinstance(v, str))]
    except UnicodeDecodeError as exc:
        raise RegistryError(f"{where}: diagnoses file {name!r} is not UTF-8 text (byte {exc.start})") from None
    except (OSError, csv.Error) as exc:
        raise RegistryError(f"{where}: cannot read diagnoses file {name!r} ({type(exc).__name__})") from None
    if checked:
        for i, row in enumerate(rows, start=1):
            if None in row:
                raise RegistryError(f"{where}: {name} row {i}: more cells than the header has columns")
            found = schemas.problems("payers-1", {"format": FORMAT, "policies": [{"id": "x", "source": "x",
                                                                                  "diagnoses": [row]}]})
            if found:
                what = found[0].removeprefix("policies[0].diagnoses[0]").lstrip(".").removeprefix(": ")
                raise RegistryError(f"{where}: {name} row {i}: {what}")
    return rows


def is_medicare(claim: ClaimUnit, registry: Any = None) -> bool:
    if registry is not None:
        known = registry.is_medicare(claim)
        if known is not None:
            return bool(known)
    sub = claim.subscriber
    return sub is not None and sub.filing_indicator in MEDICARE_FILING_INDICATORS


@lru_cache(maxsize=1024)
def _payer_cell(cell: str) -> tuple[str, ...]:
    return tuple(cell.split())


def payer_matches(claim: ClaimUnit, cell: str, registry: Any = None) -> bool:
    """A table's payer column: empty or ``any`` for every payer, ``medicare``, or payer ids."""
    wanted = _payer_cell(cell)
    if not wanted or "any" in wanted:
        return True
    if "medicare" in wanted and is_medicare(claim, registry):
        return True
    return claim.payer_id in wanted
