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
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
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
#: what pyx12 (as --validate pyx12 runs it) gets wrong, by the text of the error or of the segment
#: at fault; such disagreements are pyx12's
PYX12_WRONG: dict[str, str] = {
    "[PWK*CT": "pyx12 takes every 2400 PWK*CT for the line supplemental PWK and refuses PWK*CT*AD, which the "
               "TR3 allows; --validate pyx12 therefore drops every error on a PWK*CT, real ones too",
}


def _pyx12(data: bytes, outputs: tuple[str, str] | None) -> tuple[object, list[str], list[str]]:
    """In a worker: pyx12's report on the input, and its errors on the accepted 837 and 277CA."""
    import oracle

    try:
        report = validate_stream(io.BytesIO(data), jobs=1)
    except Exception:  # pyx12 raising on some inputs is one of the outcomes counted
        report = None
    if report is not None and any("pyx12 stopped" in n for n in report.file_level):
        report = None  # pyx12 raised on it (scrubber.validate holds such claims without judging them)
    bad_837: list[str] = []
    bad_277: list[str] = []
    if outputs is not None:
        accepted, ack = outputs
        if accepted:
            try:
                oracle.assert_valid_837(accepted, baseline=data.decode("latin-1"))
            except AssertionError as exc:
                bad_837 = str(exc).splitlines()[1:4]
        try:
            oracle.assert_valid_277(ack)
        except AssertionError as exc:
            bad_277 = str(exc).splitlines()[1:4]
    return report, bad_837, bad_277


def _pyx12_claims(report: object, claims: list) -> list[list[str]]:
    """pyx12's errors that hold each claim, placed by segment number as --validate pyx12 places them."""
    out = []
    for c in claims:
        txn = c.claim.transaction
        errors = report.by_transaction.get(txn.index, [])  # type: ignore[attr-defined]
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


def _compare(name: str, source: str, result, found, tally: Counter, rows: list, outputs: list) -> None:
    report, bad_837, bad_277 = found
    for what, errs in (("accepted 837", bad_837), ("277CA", bad_277)):
        if errs:
            tally[f"{what}s pyx12 refuses"] += 1
            outputs.append((name, what, " / ".join(errs)[:300]))
    if report is None:
        tally["files pyx12 cannot judge (it raises)"] += 1
        return
    tally["files compared"] += 1
    for sc, theirs in zip(result.claims, _pyx12_claims(report, result.claims), strict=True):
        ours = [f"{f.message} [{f.segment}]" for f in sc.findings if f.edit == "X12-IG"]
        tally["claims compared"] += 1
        tally[f"claims compared ({source})"] += 1
        if bool(ours) == bool(theirs):
            tally["claims agreeing"] += 1
            tally[f"claims agreeing ({source})"] += 1
            tally["claims both call faulty" if ours else "claims both call clean"] += 1
            continue
        owner, why = _reason(theirs, ours)
        tally[f"disagreements ({owner})"] += 1
        rows.append((name, sc.claim.claim_id, "yes" if theirs else "no", "yes" if ours else "no", owner, why))


def _write(tally: Counter, rows: list, outputs: list) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    lines = ["# Built-in validator vs pyx12, claim by claim", ""]
    lines += [f"- {k}: {v}" for k, v in sorted(tally.items())]
    lines += ["", "| file | claim | pyx12 error | built-in error | whose | reason |", "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
    lines += ["", "## Outputs pyx12 refuses", "", "| file | output | pyx12 says |", "|---|---|---|"]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in outputs]
    (ARTIFACTS / "guide-differential.md").write_text("\n".join(lines) + "\n")
    return "\n".join(lines[: 2 + len(tally)])


@pytest.mark.skipif(not SAMPLE_FILES, reason="../shared/samples not present")
def test_builtin_validator_agrees_with_pyx12_claim_by_claim() -> None:
    engine = Engine(today=dt.date(2025, 2, 1))
    inputs = [(f"{p.parent.name}/{p.name}", "samples", p.read_bytes()) for p in SAMPLE_FILES]
    inputs += [(name, "mutated", text.encode("latin-1"))
               for name, text in corpus(SEED, MUTATED, [p for p in SAMPLE_FILES if p.suffix in (".837", ".edi", ".txt")])]
    tally: Counter = Counter()
    rows: list = []
    outputs: list = []
    jobs = []
    # pyx12 is the slow side (about 3 ms a claim): its work goes to a process pool, ours stays here.
    with ProcessPoolExecutor(max(1, min(2, os.cpu_count() or 1))) as pool:
        for n, (name, source, data) in enumerate(inputs):
            try:
                result = scrub_bytes(data, name, options=Options(html=False, now=dt.datetime(2025, 2, 1, 12, 0)),
                                     engine=engine)
            except InputError:
                tally["files the reader refuses (exit 2)"] += 1
                continue
            # The outputs of every sample and of every fourth mutated file go to pyx12 too (all of
            # them with SCRUBBER_FULL_DIFFERENTIAL=1).
            check = source == "samples" or n % 4 == 0 or os.environ.get("SCRUBBER_FULL_DIFFERENTIAL")
            outs = (result.accepted_837(), result.ack_277()) if check else None
            if check:
                tally["files whose outputs pyx12 checks"] += 1
            jobs.append((name, source, result, pool.submit(_pyx12, data, outs)))
        for name, source, result, future in jobs:
            _compare(name, source, result, future.result(), tally, rows, outputs)
    summary = _write(tally, rows, outputs)
    compared = tally["claims compared"]
    ours = tally["disagreements (ours)"]
    assert compared >= 1000 and tally["claims compared (mutated)"] >= 1000, summary
    by_reason = Counter(r[5].split(":")[0] for r in rows)
    detail = "\n".join(f"  {n} x {r}" for r, n in by_reason.most_common(12))
    assert (compared - ours) / compared >= 0.995, f"{summary}\nreasons:\n{detail}"
    mutated = tally["claims compared (mutated)"]
    assert (tally["claims agreeing (mutated)"] + sum(1 for r in rows if r[4] == "pyx12" and not r[0][0].isalpha())) \
        / mutated >= 0.995, summary
    assert tally["accepted 837s pyx12 refuses"] == 0 and tally["277CAs pyx12 refuses"] == 0, summary
