"""The built-in validator against pyx12 itself, claim by claim.

Inputs: every file in ../shared/samples (whatever is there) and 1,000 small files from a seeded
mutator (tests/mutate.py). For each claim the question is the same on both sides: does an
implementation-guide error hold it (in its own segments, in a loop above it, or in the
transaction header)? Envelope errors (ISA, GS, ST, SE, GE, IEA) are notices on both sides.
pyx12 runs as ``--validate pyx12`` runs it (scrubber.validate: one interchange at a time, X222
read as A1, its PWK*CT false positive dropped), and its errors are placed on claims by segment
number the way that path places them.

The agreement must be at least 99.5 %; every disagreement is written, with its reason, to
tests/.artifacts/guide-differential.md and summarised in the assertion message. Where pyx12 is
known to be wrong the reason says so and the row counts as pyx12's.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from collections import Counter
from pathlib import Path

import pytest
from conftest import SAMPLES
from mutate import corpus

from scrubber.api import Options, scrub_bytes
from scrubber.engine import Engine
from scrubber.errors import InputError
from scrubber.validate import validate_stream

ARTIFACTS = Path(__file__).parent / ".artifacts"
MUTATED = 1000
SEED = 13
SAMPLE_FILES = sorted(p for p in SAMPLES.glob("*/*") if p.is_file()) if SAMPLES.exists() else []
#: what pyx12 gets wrong, by the text of its error; such disagreements are pyx12's
PYX12_WRONG: dict[str, str] = {}


def _pyx12_claims(data: bytes, claims: list) -> list[list[str]] | None:
    """pyx12's errors that hold each claim (None when pyx12 cannot judge the file at all)."""
    try:
        report = validate_stream(io.BytesIO(data), jobs=1)
    except InputError:
        return None
    except Exception:
        return None
    out = []
    for c in claims:
        txn = c.claim.transaction
        errors = report.by_transaction.get(txn.index, [])
        own = {s.number for s in c.claim.segments}
        above = {s.number for loop in (c.claim.billing, c.claim.subscriber, c.claim.patient) if loop is not None
                 for s in loop.segments}
        header = {s.number for s in txn.header[1:]}
        hit = [f"{e.segment_id}#{e.number} {e.code} {e.text}" for e in errors
               if e.number is not None and (e.number in own or e.number in above or e.number in header)]
        out.append(hit)
    return out


def _reason(pyx12: list[str], ours: list[str]) -> tuple[str, str]:
    """(owner, reason) of one disagreement."""
    text = " | ".join(pyx12) if pyx12 else " | ".join(ours)
    for needle, why in PYX12_WRONG.items():
        if needle in text:
            return "pyx12", why
    if pyx12:
        return "ours", "pyx12 only: " + pyx12[0][:160]
    return "ours", "built-in only: " + ours[0][:160]


def _compare(name: str, data: bytes, engine: Engine, tally: Counter, rows: list) -> None:
    try:
        result = scrub_bytes(data, name, options=Options(html=False, now=dt.datetime(2025, 2, 1, 12, 0)),
                             engine=engine)
    except InputError:
        tally["files the reader refuses (exit 2)"] += 1
        return
    pyx12 = _pyx12_claims(data, result.claims)
    if pyx12 is None:
        tally["files pyx12 cannot judge (it raises)"] += 1
        return
    tally["files compared"] += 1
    for sc, theirs in zip(result.claims, pyx12, strict=True):
        ours = [f.message for f in sc.findings if f.edit == "X12-IG"]
        tally["claims compared"] += 1
        if bool(ours) == bool(theirs):
            tally["claims agreeing"] += 1
            tally["claims both call faulty" if ours else "claims both call clean"] += 1
            continue
        owner, why = _reason(theirs, ours)
        tally[f"disagreements ({owner})"] += 1
        rows.append((name, sc.claim.claim_id, "yes" if theirs else "no", "yes" if ours else "no", owner, why))


def _write(tally: Counter, rows: list) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    lines = ["# Built-in validator vs pyx12, claim by claim", ""]
    lines += [f"- {k}: {v}" for k, v in sorted(tally.items())]
    lines += ["", "| file | claim | pyx12 error | built-in error | whose | reason |", "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
    (ARTIFACTS / "guide-differential.md").write_text("\n".join(lines) + "\n")
    return "\n".join(lines[: 2 + len(tally)])


@pytest.mark.skipif(not SAMPLE_FILES, reason="../shared/samples not present")
def test_builtin_validator_agrees_with_pyx12_claim_by_claim() -> None:
    engine = Engine(today=dt.date(2025, 2, 1), only=set())  # X12-STRUCTURE and X12-IG only
    tally: Counter = Counter()
    rows: list = []
    for path in SAMPLE_FILES:
        _compare(f"{path.parent.name}/{path.name}", path.read_bytes(), engine, tally, rows)
    for name, text in corpus(SEED, MUTATED, [p for p in SAMPLE_FILES if p.suffix in (".837", ".edi", ".txt")]):
        _compare(name, text.encode("latin-1"), engine, tally, rows)
    summary = _write(tally, rows)
    compared = tally["claims compared"]
    ours = tally["disagreements (ours)"]
    assert compared >= 1000, summary
    by_reason = Counter(r[5].split(":")[0] for r in rows)
    detail = "\n".join(f"  {n} x {r}" for r, n in by_reason.most_common(12))
    assert (compared - ours) / compared >= 0.995, f"{summary}\nreasons:\n{detail}"
    random.seed()  # the mutator's generator is its own; leave the global one as it was
