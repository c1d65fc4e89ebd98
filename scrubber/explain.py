"""``scrubber explain ID``: the rule in words, its dates and sources, and its own examples run live."""

from __future__ import annotations

import datetime as dt
import textwrap
from typing import Any

from scrubber.api import Options, scrub_bytes
from scrubber.engine import Engine
from scrubber.rules.catalog import Edit, edit_dates, edit_rows, load_catalog
from scrubber.synth import claim_segments, file_837


def run_example(edit: Edit, spec: dict, engine: Engine) -> list:
    """Findings of ``edit`` on its example claim (the whole pipeline, not a shortcut)."""
    data = file_837(spec.get("claims") or [spec], **spec.get("file", {})).encode("latin-1")
    options = Options(html=False, now=dt.datetime(2025, 2, 1, 12, 0), validate=bool(edit.examples.get("validate")))
    result = scrub_bytes(data, "example", options=options, engine=engine)
    return [f for c in result.claims for f in c.findings if f.edit == edit.id]


def _example_ncci(folder):  # type: ignore[no-untyped-def]
    """The pack's synthetic CMS-layout example files, imported into a temporary folder."""
    import tempfile

    from scrubber.importers.ncci import import_files

    out = tempfile.mkdtemp(prefix="scrubber-ncci-example-")
    import_files([folder], out)
    return out


def explain(edit_id: str) -> str:
    catalog = load_catalog()
    edit = catalog.edit(edit_id)
    registry = edit.examples.get("registry")
    ncci = _example_ncci(catalog.pack(edit.pack).path / edit.examples["ncci"]) if edit.examples.get("ncci") else None
    engine = Engine(catalog, only={edit.id}, today=dt.date(2025, 2, 1),
                    payers=catalog.pack(edit.pack).path / registry if registry else None, ncci=ncci)
    wrap = textwrap.TextWrapper(width=96, subsequent_indent="  ")
    out = [f"{edit.id}: {edit.title}", ""]
    out.append(
        f"pack {edit.pack}; severity {edit.severity}"
        + (f"; 277CA {edit.category}:{edit.status_code}" if edit.category else "; report only (no 277CA code)")
        + ("" if edit.enabled else "; OFF by default")
        + f"; confidence {edit.confidence} (table rows may say otherwise; a finding that is not certain only warns)"
    )
    start, end = edit_dates(catalog, edit)
    out.append(f"dates of service: {start or 'any'} to {end or 'open'} (to = first day it no longer applies)")
    out += [
        "",
        wrap.fill("What: " + edit.description),
        wrap.fill("Why: " + edit.why),
        wrap.fill("Fix: " + edit.fix),
        "",
        "Sources:",
    ]
    out += [f"  - {s.cite()}" + (f" [{s.ref}: {s.kind}]" if s.ref else "") + (f" {s.url}" if s.url else "")
            for s in edit.sources]
    rows = edit_rows(catalog, edit)
    if rows:
        out += ["", f"Table rows (edits/{edit.pack}/):"]
        for table, row in rows:
            cells = {k: v for k, v in row.cells.items()
                     if v and k not in ("edit", "source", "valid_from", "valid_to", "note", "confidence")}
            when = f"{row.valid_from or 'any'} to {row.valid_to or 'open'}"
            note = f"; {row['note']}" if row.get("note") else ""
            out.append(wrap.fill(f"  - {table}.csv line {row.line}: "
                                 + ", ".join(f"{k}={v}" for k, v in cells.items())
                                 + f"; dates {when}; {row.confidence}; source {row.source.ref}: {row.source.cite()}{note}"))
    if edit.kind == "icd_code_validity":
        out += ["", *_code_tables()]
    if registry:
        out += ["", f"The examples use the payer registry edits/{edit.pack}/{registry}."]
    if ncci:
        out += ["", f"The examples use SYNTHETIC rows in CMS's file layouts (edits/{edit.pack}/{edit.examples['ncci']}/), "
                "not CMS data; load the real quarter with `scrubber import-ncci` and --ncci DIR."]
    for label in ("fail", "pass"):
        spec = edit.examples.get(label)
        if not spec:
            continue
        out += ["", f"Example that {'fires' if label == 'fail' else 'passes'}:"]
        for n, claim in enumerate(spec.get("claims") or [spec], start=1):
            if spec.get("claims"):
                out.append(f"  claim {n}:")
            out += [f"  {s}~" for s in claim_segments(claim)]
        found = run_example(edit, spec, engine)
        for f in found:
            out += [f"  -> {f.severity}: {f.message}", wrap.fill(f"     fix: {f.suggestion}"),
                    wrap.fill(f"     confidence: {f.confidence}; source: {f.source}")]
        if not found:
            out.append("  -> no finding")
    return "\n".join(out)


def rule_rows(engine: Engine | None = None) -> list[dict[str, Any]]:
    """The catalog as data, one row per edit (``scrubber rules --json`` and ``GET /v1/rules``).

    ``engine`` is the one a rule configuration gives (edits off or on, severities); default: none.
    """
    engine = engine or Engine()
    catalog = engine.catalog
    origin = {p.name: p.origin for p in catalog.packs}
    rows = []
    effective = iter(engine.effective_edits())
    for pack in catalog.packs:
        for base in pack.edits:
            eff = next(effective)
            e = eff or base
            start, end = edit_dates(catalog, e)
            rows.append({
                "id": e.id, "severity": e.severity, "confidence": e.confidence, "pack": e.pack, "origin": origin[e.pack],
                "enabled": eff is not None,
                "configured": base.severity != e.severity or base.enabled != (eff is not None),
                "effective_from": start.isoformat() if start else None,
                "effective_to": end.isoformat() if end else None,
                "ack": f"{e.category}:{e.status_code}" if e.category else None,
                "title": e.title, "source": "; ".join(s.cite() for s in e.sources),
            })
    return rows


def explain_data(edit_id: str) -> dict[str, Any]:
    """``explain`` as data (``scrubber explain ID --json``, ``GET /v1/rules/ID``). KeyError: no such edit."""
    catalog = load_catalog()
    edit = catalog.edit(edit_id)
    registry = edit.examples.get("registry")
    engine = Engine(catalog, only={edit.id}, today=dt.date(2025, 2, 1),
                    payers=catalog.pack(edit.pack).path / registry if registry else None)
    start, end = edit_dates(catalog, edit)
    examples = {}
    for label in ("fail", "pass"):
        spec = edit.examples.get(label)
        if spec:
            examples[label] = {
                "segments": [f"{s}~" for s in claim_segments(spec)],
                "findings": [{"severity": f.severity, "confidence": f.confidence, "line": f.line, "code": f.code,
                              "message": f.message, "suggestion": f.suggestion, "source": f.source}
                             for f in run_example(edit, spec, engine)],
            }
    return {
        "id": edit.id, "title": edit.title, "pack": edit.pack, "severity": edit.severity,
        "confidence": edit.confidence, "enabled": edit.enabled,
        "ack": f"{edit.category}:{edit.status_code}" if edit.category else None,
        "effective_from": start.isoformat() if start else None,
        "effective_to": end.isoformat() if end else None,
        "what": edit.description, "why": edit.why, "fix": edit.fix,
        "sources": [{"cite": s.cite(), "ref": s.ref or None, "kind": s.kind or None, "url": s.url or None}
                    for s in edit.sources],
        "table_rows": [{"table": table, "line": row.line,
                        "cells": {k: v for k, v in row.cells.items()
                                  if v and k not in ("edit", "source", "valid_from", "valid_to", "note", "confidence")},
                        "valid_from": row.valid_from.isoformat() if row.valid_from else None,
                        "valid_to": row.valid_to.isoformat() if row.valid_to else None,
                        "confidence": row.confidence, "source": row.source.cite(), "note": row.get("note") or None}
                       for table, row in edit_rows(catalog, edit)],
        "code_tables": _code_tables() if edit.kind == "icd_code_validity" else None,
        "registry": f"edits/{edit.pack}/{registry}" if registry else None,
        "examples": examples,
    }


def _code_tables() -> list[str]:
    """What DX-CODE-INVALID reads: the shipped code tables, year by year, with where each came from."""
    from scrubber.codesets import icd9cm, icd10cm

    table = icd10cm.table()
    out = [f"Code tables (scrubber/codesets/data/, provenance in PROVENANCE-*.md): ICD-10-CM for dates of service "
           f"{table.first_day} to {table.last_day}:"]
    out += [f"  - FY{fy}: {count:,} billable codes, from {label}" for fy, (count, label) in sorted(table.years.items())]
    out += [f"  - mid-year changes: {key}: {text}" for key, text in table.sources.items()]
    out.append(f"ICD-9-CM: {len(icd9cm.codes().codes):,} codes of CMS version {icd9cm.codes().version} (the final set).")
    return out
