"""CMS Medicare Coverage Database article download -> a payer registry with the full ICD-10 list.

Reads the article CSVs as CMS publishes them (``article_x_icd10_covered.csv``,
``article_x_icd10_covered_group.csv``, ``article_x_hcpc_code.csv``: quoted fields, a BOM, every
version of every article) and writes a registry (format ``scrubber.payers/1``) in which the
article's policy holds the complete covered list of one version. Everything else in the base
registry (the built-in one unless ``--base``) is carried over, with table files inlined, so the
output stands alone for ``scrub --payers``.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path
from typing import Any

import yaml

from scrubber.payers import Registry, RegistryError
from scrubber.resources import edits_dir

FILES = ("article_x_icd10_covered.csv", "article_x_icd10_covered_group.csv", "article_x_hcpc_code.csv")
_CODE = re.compile(r"\b([0-9]{4}[0-9A-Z]|[A-V][0-9]{4})\b")
_GROUP = re.compile(r"\bgroup\s+(\d+)\b", re.IGNORECASE)


class McdImportError(Exception):
    """The download cannot be turned into a policy; the message says why."""


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return [{(k or "").strip().lower(): (v or "").strip() for k, v in r.items()} for r in csv.DictReader(fh)]
    except FileNotFoundError:
        raise McdImportError(f"{path.name} not found in {path.parent}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise McdImportError(f"{path}: cannot read ({type(exc).__name__})") from None


def _article_number(article: str) -> str:
    number = article.strip().upper().removeprefix("A")
    if not number.isdigit():
        raise McdImportError(f"{article!r} is not an article id (A57186 or 57186)")
    return number


def _for_article(rows: list[dict[str, str]], number: str, version: int, name: str) -> list[dict[str, str]]:
    if rows and "article_id" not in rows[0]:
        raise McdImportError(f"{name} has no article_id column: is this an MCD article download?")
    return [r for r in rows if r.get("article_id", "").upper().removeprefix("A") == number
            and _int(r.get("article_version")) == version]


def _int(text: str | None) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        return -1


def import_article(directory: str | Path, article: str, *, version: int | None = None, pairs: list[str] = (),  # type: ignore[assignment]
                   base: str | Path | None = None, output: str | Path) -> str:
    folder = Path(directory)
    number = _article_number(article)
    policy_id = f"A{number}"
    covered_all, groups_all, hcpc_all = (_rows(folder / f) for f in FILES)
    versions = sorted({_int(r.get("article_version")) for r in covered_all
                       if r.get("article_id", "").upper().removeprefix("A") == number})
    if not versions:
        raise McdImportError(f"article {policy_id} is not in {FILES[0]}")
    chosen = version if version is not None else versions[-1]
    if chosen not in versions:
        raise McdImportError(f"article {policy_id} has versions {versions}, not {chosen}")
    covered = _for_article(covered_all, number, chosen, FILES[0])
    groups = _for_article(groups_all, number, chosen, FILES[1])
    hcpcs = sorted({r["hcpc_code_id"].upper() for r in _for_article(hcpc_all, number, chosen, FILES[2])
                    if r.get("hcpc_code_id")})
    if not covered:
        raise McdImportError(f"article {policy_id} version {chosen} lists no covered ICD-10 code")

    required: dict[str, str] = {}
    for pair in pairs:
        group, _, needs = pair.partition(":")
        if not (group.strip() and needs.strip()):
            raise McdImportError(f"--pair {pair!r}: expected GROUP:REQUIRED, e.g. 2:3")
        required[group.strip()] = needs.strip()

    # Which procedures each diagnosis group serves: the HCPCS codes its paragraph names, else all.
    paragraphs = {r.get("icd10_covered_group", ""): r.get("paragraph", "") for r in groups}
    group_codes: dict[str, list[str]] = {}
    hints = []
    for group, text in paragraphs.items():
        named = sorted({c for c in _CODE.findall(text.upper()) if c in hcpcs})
        group_codes[group] = named
        others = sorted({g for g in _GROUP.findall(text) if g != group}, key=int)
        if others and group not in required:
            hints.append(f"group {group}'s paragraph mentions group {', '.join(others)}")

    source_key = f"MCD-{policy_id}"
    rows = []
    seen = set()
    for r in covered:
        code = r.get("icd10_code_id", "").replace(".", "").upper()
        group = r.get("icd10_covered_group", "")
        if not code or (code, group) in seen:
            continue
        seen.add((code, group))
        rows.append({"procedures": " ".join(group_codes.get(group) or []), "dx": code, "dx_group": group,
                     "requires_group": required.get(group, ""), "source": source_key, "confidence": "certain"})

    doc = _base_document(base)
    doc.setdefault("sources", {})[source_key] = {
        "document": f"Billing and coding article {policy_id} (article download)", "publisher": "CMS Medicare Coverage Database",
        "revision": f"version {chosen}", "date": dt.date.today().isoformat(), "kind": "primary",
    }
    old = next((p for p in doc.get("policies", []) if p.get("id") == policy_id), None)
    policy = {
        "id": policy_id,
        "title": (old or {}).get("title", f"CMS article {policy_id}"),
        "revision": f"MCD version {chosen}",
        "effective_from": (old or {}).get("effective_from"),
        "effective_to": (old or {}).get("effective_to"),
        "partial": False,
        "source": source_key,
        "procedures": " ".join(hcpcs),
        "diagnoses": rows,
    }
    for key in ("prior_auth", "notes", "on_not_covered"):
        if old and key in old:
            policy[key] = old[key]
    policy = {k: v for k, v in policy.items() if v not in (None, "")}
    doc["policies"] = [p for p in doc.get("policies", []) if p.get("id") != policy_id] + [policy]
    out = Path(output)
    out.write_text("# Written by `scrubber import-mcd`; edit with care, re-import to refresh.\n"
                   + yaml.safe_dump(doc, sort_keys=False, allow_unicode=False, width=120), encoding="utf-8")
    try:
        Registry.load(out)
    except RegistryError as exc:
        raise McdImportError(f"the written registry does not load: {exc}") from None
    users = [p.get("key") for p in doc.get("payers", []) if policy_id in p.get("policies", [])]
    mapped = {g: c for g, c in group_codes.items() if c}
    lines = [
        f"{policy_id} version {chosen} (versions in the download: {', '.join(map(str, versions))}): "
        f"{len(rows)} covered ICD-10 codes in {len({r['dx_group'] for r in rows})} groups, {len(hcpcs)} HCPCS codes.",
        "groups limited to the codes their paragraph names: "
        + ("; ".join(f"{g}: {' '.join(c)}" for g, c in sorted(mapped.items(), key=lambda kv: _int(kv[0]))) or "none"),
        f"paired groups: {', '.join(f'{g} needs {n}' for g, n in required.items()) or 'none'}",
    ]
    if hints:
        lines.append("check for pairing rules (--pair GROUP:REQUIRED): " + "; ".join(hints))
    lines.append(f"payers using {policy_id}: {', '.join(users) or 'none (add it to a payer in the file)'}")
    lines.append(f"written to {out}; scrub with --payers {out}")
    return "\n".join(lines)


def _base_document(base: str | Path | None) -> dict[str, Any]:
    path = Path(base) if base else edits_dir() / "payer" / "registry.yaml"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise McdImportError(f"{path}: cannot read the base registry ({type(exc).__name__})") from None
    for policy in doc.get("policies", []):
        if isinstance(policy.get("diagnoses"), str):
            table = path.parent / policy["diagnoses"]
            with open(table, encoding="utf-8-sig", newline="") as fh:
                policy["diagnoses"] = [{k: v for k, v in r.items() if v} for r in csv.DictReader(fh)]
        for key in ("effective_from", "effective_to"):
            if isinstance(policy.get(key), dt.date):
                policy[key] = policy[key].isoformat()
    return doc
