"""The payer registry: who pays a claim, and the policies that payer applies.

A registry is a YAML file (format ``scrubber.payers/1``, see ``edits/payer/registry.yaml``); the
built-in one ships with the package and ``--payers FILE`` replaces it. A payer is found by the
payer id in 2010BB NM109; for a payer the registry does not know, SBR09 = MB marks Medicare.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scrubber.model import ClaimUnit
from scrubber.resources import edits_dir, read_yaml
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


class Registry:
    def __init__(self, payers: list[Payer], path: Path | None = None, policies: dict[str, Policy] | None = None):
        self.payers = payers
        self.path = path
        self.policies = policies or {p.id: p for payer in payers for p in payer.policies}
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
        return cls.load(edits_dir() / "payer" / "registry.yaml")

    @classmethod
    def load(cls, path: str | Path) -> Registry:
        path = Path(path)
        try:
            doc = read_yaml(path)
        except (OSError, yaml.YAMLError) as exc:
            raise RegistryError(f"{path}: cannot read the payer registry ({type(exc).__name__})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise RegistryError(f"{path}: not a payer registry (format: {FORMAT} expected)")
        sources = {k: _source(v, f"{path}: source {k}") for k, v in (doc.get("sources") or {}).items()}
        policies = {}
        for raw in doc.get("policies") or []:
            pol = _policy(raw, sources, path)
            policies[pol.id] = pol
        payers = []
        for raw in doc.get("payers") or []:
            where = f"{path}: payer {raw.get('key', '?')}"
            missing = [p for p in raw.get("policies", []) if p not in policies]
            if missing:
                raise RegistryError(f"{where}: unknown policies {missing}")
            payers.append(Payer(
                key=str(raw.get("key") or raw.get("name")), name=str(raw.get("name", "")),
                ids=tuple(str(i) for i in raw.get("ids", [])), medicare=bool(raw.get("medicare", False)),
                requires_ndc=bool(raw.get("requires_ndc", False)), excludes=frozenset(raw.get("excludes", [])),
                policies=[policies[p] for p in raw.get("policies", [])],
            ))
        return cls(payers, path, policies)


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


def _policy(raw: dict, sources: dict[str, Source], path: Path) -> Policy:
    where = f"{path}: policy {raw.get('id', '?')}"
    source = _ref(raw.get("source"), sources, where)
    rows_raw = raw.get("diagnoses") or []
    if isinstance(rows_raw, str):
        with open(path.parent / rows_raw, encoding="utf-8-sig", newline="") as fh:
            rows_raw = [r for r in csv.DictReader(fh) if any((v or "").strip() for v in r.values())]
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
        on_not_covered=on_not_covered, prior_auth=rules("prior_auth"), notes=rules("notes"),
    )


def is_medicare(claim: ClaimUnit, registry: Any = None) -> bool:
    if registry is not None:
        known = registry.is_medicare(claim)
        if known is not None:
            return bool(known)
    sub = claim.subscriber
    return sub is not None and sub.filing_indicator in MEDICARE_FILING_INDICATORS


def payer_matches(claim: ClaimUnit, cell: str, registry: Any = None) -> bool:
    """A table's payer column: empty or ``any`` for every payer, ``medicare``, or payer ids."""
    wanted = cell.split()
    if not wanted or "any" in wanted:
        return True
    if "medicare" in wanted and is_medicare(claim, registry):
        return True
    return claim.payer_id in wanted
