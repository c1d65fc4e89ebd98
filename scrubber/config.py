"""Rule control: which edits run, and how severe they are, per run and per payer.

Settings come from a configuration file and the command line, the command line winning:

- ``--config FILE``, or else the first of ``.scrubber.toml``, ``scrubber.toml`` or a ``pyproject.toml``
  holding a ``[tool.scrubber]`` table found walking up from the current folder (the way ruff finds
  its own configuration; a ``pyproject.toml`` without the table is passed over);
- ``--disable ID``, ``--enable ID``, ``--severity ID=warn|reject[:CATEGORY:STATUS]``.

The file (``[tool.scrubber]`` in a pyproject holds the same keys)::

    disable = ["CHEMO-PROCEDURE-WITHOUT-TOXIN"]
    enable = []
    ncci = "ncci/2026q3"                 # folder written by `scrubber import-ncci` (relative to the file)
    [severity]
    PRO-TIMELY-FILING = "reject"
    PRO-DUPLICATE-LINE = "reject:A7:453"  # an edit without 277CA codes needs them given
    [payers.01112]                       # payer id (2010BB NM109) or payer key of the registry
    disable = ["PRO-MODIFIER"]
    severity = { PRO-TIMELY-FILING = "reject" }

Every edit id is checked against the catalog when the engine starts: an unknown id is a
``ConfigError`` (one line, exit 2), so a typo never silently leaves an edit on.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

CANDIDATES = (".scrubber.toml", "scrubber.toml", "pyproject.toml")
CATEGORIES = frozenset({"A3", "A6", "A7", "A8"})
_SEVERITY = re.compile(r"^(warn|reject)(?::(A[3678]):(\d{1,5}))?$")


class ConfigError(Exception):
    """The rule configuration cannot be used; ``str(err)`` is the one-line message."""


@dataclass(frozen=True, slots=True)
class Severity:
    """A severity chosen by configuration; a reject may bring its own 277CA category and status."""

    level: str  # "warn" | "reject"
    category: str | None = None
    status_code: str | None = None

    def text(self) -> str:
        return f"{self.level}:{self.category}:{self.status_code}" if self.category else self.level


@dataclass(frozen=True, slots=True)
class Rules:
    """Edits switched off or on and severities changed, for every claim or one payer's."""

    disable: frozenset[str] = frozenset()
    enable: frozenset[str] = frozenset()
    severity: Mapping[str, Severity] = field(default_factory=dict)

    def ids(self) -> set[str]:
        return set(self.disable) | set(self.enable) | set(self.severity)

    def merged(self, other: Rules) -> Rules:
        """``other`` on top of these: its enable undoes a disable here, and the reverse."""
        return Rules(
            disable=(self.disable - other.enable) | other.disable,
            enable=(self.enable - other.disable) | other.enable,
            severity={**self.severity, **other.severity},
        )

    def as_dict(self) -> dict[str, Any]:
        return {"disable": sorted(self.disable), "enable": sorted(self.enable),
                "severity": {k: v.text() for k, v in sorted(self.severity.items())}}


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """The effective rule control of a run: global rules, per-payer rules and where they came from."""

    rules: Rules = field(default_factory=Rules)
    payers: Mapping[str, Rules] = field(default_factory=dict)
    ncci: str | None = None
    sources: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.rules.ids() or self.payers)

    def for_payer(self, *keys: str) -> Rules | None:
        """The payer's rules on top of the global ones, or None when no payer entry matches."""
        own = [self.payers[k] for k in keys if k and k in self.payers]
        if not own:
            return None
        out = self.rules
        for r in own:
            out = out.merged(r)
        return out

    def check_ids(self, known: Iterable[str]) -> None:
        known = set(known)
        for where, rules in (("", self.rules), *((f" (payer {p})", r) for p, r in self.payers.items())):
            unknown = sorted(rules.ids() - known)
            if unknown:
                raise ConfigError(f"unknown edit id {unknown[0]}{where} in the rule configuration "
                                  f"({', '.join(self.sources) or 'command line'}); `scrubber rules` lists them")

    def as_dict(self) -> dict[str, Any]:
        return {"sources": list(self.sources), **self.rules.as_dict(),
                "payers": {k: v.as_dict() for k, v in sorted(self.payers.items())}, "ncci": self.ncci}


def parse_severity(text: str, where: str) -> Severity:
    m = _SEVERITY.match(str(text).strip())
    if not m:
        raise ConfigError(f"{where}: severity {text!r} is not warn, reject or reject:CATEGORY:STATUS (e.g. reject:A7:453)")
    level, category, status = m.groups()
    if level == "warn" and category:
        raise ConfigError(f"{where}: a warning has no 277CA code ({text!r})")
    return Severity(level, category, status)


def _ids(value: Any, where: str) -> frozenset[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: a list of edit ids is expected")
    return frozenset(v.strip().upper() for v in value)


def _rules(doc: Mapping[str, Any], where: str) -> Rules:
    severities = doc.get("severity") or {}
    if not isinstance(severities, Mapping):
        raise ConfigError(f"{where}: severity must be a table of EDIT-ID = \"warn\" | \"reject\"")
    return Rules(
        disable=_ids(doc.get("disable", []), f"{where}: disable"),
        enable=_ids(doc.get("enable", []), f"{where}: enable"),
        severity={k.upper(): parse_severity(v, f"{where}: severity.{k}") for k, v in severities.items()},
    )


KEYS = frozenset({"disable", "enable", "severity", "payers", "ncci"})


def from_mapping(doc: Mapping[str, Any], source: str, base: Path | None = None) -> RuleConfig:
    """A configuration from a parsed TOML table (``base``: folder that relative paths start from)."""
    extra = sorted(set(doc) - KEYS)
    if extra:
        raise ConfigError(f"{source}: unknown key {extra[0]!r} (expected {', '.join(sorted(KEYS))})")
    payers_doc = doc.get("payers") or {}
    if not isinstance(payers_doc, Mapping):
        raise ConfigError(f"{source}: payers must be tables [payers.<payer id>]")
    payers = {str(k): _rules(v, f"{source}: payers.{k}") for k, v in payers_doc.items()}
    ncci = doc.get("ncci")
    if ncci is not None:
        path = Path(str(ncci))
        ncci = str(path if path.is_absolute() or base is None else base / path)
    return RuleConfig(_rules(doc, source), payers, ncci, (source,))


def load_file(path: str | Path) -> RuleConfig:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration ({exc.strerror or type(exc).__name__})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    if path.name == "pyproject.toml":
        doc = (doc.get("tool") or {}).get("scrubber") or {}
    return from_mapping(doc, str(path), path.parent)


def discover(start: str | Path | None = None) -> Path | None:
    """The configuration file that applies in ``start`` (default: the current folder), ruff's way."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        for name in CANDIDATES:
            candidate = folder / name
            if not candidate.is_file():
                continue
            if name != "pyproject.toml" or _has_tool_table(candidate):
                return candidate
    return None


def _has_tool_table(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return "scrubber" in (tomllib.load(fh).get("tool") or {})
    except (OSError, tomllib.TOMLDecodeError):
        return False


def from_command_line(disable: Iterable[str] = (), enable: Iterable[str] = (),
                      severity: Iterable[str] = ()) -> Rules:
    sev = {}
    for item in severity:
        edit_id, eq, value = item.partition("=")
        if not eq or not edit_id.strip():
            raise ConfigError(f"--severity {item!r}: expected EDIT-ID=warn or EDIT-ID=reject")
        sev[edit_id.strip().upper()] = parse_severity(value, f"--severity {edit_id.strip()}")
    return Rules(frozenset(i.strip().upper() for i in disable), frozenset(i.strip().upper() for i in enable), sev)


def resolve(config_file: str | None = None, *, use_file: bool = True, disable: Iterable[str] = (),
            enable: Iterable[str] = (), severity: Iterable[str] = (), ncci: str | None = None) -> RuleConfig:
    """The effective configuration: the file (given or discovered), then the command line on top."""
    path = Path(config_file) if config_file else (discover() if use_file else None)
    base = load_file(path) if path else RuleConfig()
    cli = from_command_line(disable, enable, severity)
    sources = base.sources + (("command line",) if cli.ids() or ncci else ())
    return replace(base, rules=base.rules.merged(cli), ncci=ncci or base.ncci, sources=sources)
