"""A seeded mutator of 837P files, and the invariants every scrub must keep whatever it is given.

Mutations work on segments (delete, duplicate, swap, move, empty a claim's transaction), elements
(blanked, overlong, odd numbers, control characters, separators and non-ASCII bytes inside,
elements added or dropped), the ISA (ISA11 ``U``, a padded ISA12, another component separator)
and bytes (truncated, random bytes inserted, terminators removed from a point on). The same seed
gives the same files, so a failure names a reproducible case.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from invariants import ack_claims, check_balances, claims_of, trn02
from oracle import interchanges, validate

from scrubber.reports import claims as report_claims
from scrubber.x12.segments import Tokenizer

#: values an element may be set to: each has broken something once, somewhere
ODD_VALUES = [
    "", " ", "0", "-0", "-1", ".", "-", "1.2.3", "1e5", "NaN", "Infinity", "\u00b2", "1" * 19, "1" * 30,
    "9" * 5000, "99999999999999999.99", "000000000000000001", "20250230", "99999999", "-20250101",
    "\x07", "\x00", "DOE\x07JANE", "\x1c\x1d", "\u00e9", "\u00c3\u00a9", "\u00ff\u00fe", "A" * 300,
    "<script>x</script>", "=cmd|' /C calc'!A0", "ABK", "HC", "MI", "XX",
]


@dataclass(slots=True)
class Base:
    """A file cut into segments with the delimiters each was written with."""

    name: str
    segments: list[tuple[list[str], tuple[str, str, str, str]]]  # els, (element, component, repetition, term)

    @classmethod
    def read(cls, name: str, data: bytes) -> Base:
        tok = Tokenizer(io.BytesIO(data))
        segs = []
        for seg in tok:
            d = tok.delimiters
            segs.append((list(seg.els), (d.element, d.component, d.repetition, d.segment)))
        return cls(name, segs)

    def text(self, segments: list[tuple[list[str], tuple[str, str, str, str]]]) -> str:
        out = []
        for els, (sep, _comp, _rep, term) in segments:
            out.append(sep.join(els) + term + ("\n" if term not in "\r\n" else ""))
        return "".join(out)


def _odd_value(rng: random.Random, d: tuple[str, str, str, str]) -> str:
    sep, comp, rep, _term = d
    pick = rng.random()
    if pick < 0.15:  # a delimiter inside a value
        return rng.choice([f"X{comp}Y", f"{comp}{comp}{comp}", f"A{rep}B", f"{comp}", f"1{sep}2"])
    if pick < 0.25:
        return "".join(chr(rng.randrange(0, 256)) for _ in range(rng.randrange(1, 12)))
    return rng.choice(ODD_VALUES)


def _segment_mutation(rng: random.Random, segs: list) -> None:
    n = len(segs)
    op = rng.choice(["delete", "duplicate", "swap", "move", "element", "element", "element", "element",
                     "add-elements", "drop-elements", "claimless"])
    i = rng.randrange(1, n - 1) if n > 2 else 0
    if op == "delete":
        del segs[i]
    elif op == "duplicate":
        segs.insert(i, (list(segs[i][0]), segs[i][1]))
    elif op == "swap" and i + 1 < n:
        segs[i], segs[i + 1] = segs[i + 1], segs[i]
    elif op == "move":
        seg = segs.pop(i)
        segs.insert(rng.randrange(1, len(segs)), seg)
    elif op == "element":
        els, d = segs[i]
        if len(els) > 1:
            els = list(els)
            els[rng.randrange(1, len(els))] = _odd_value(rng, d)
            segs[i] = (els, d)
    elif op == "add-elements":
        els, d = segs[i]
        segs[i] = ([*els, *(_odd_value(rng, d) for _ in range(rng.randrange(1, 4)))], d)
    elif op == "drop-elements":
        els, d = segs[i]
        segs[i] = (els[: max(1, rng.randrange(1, len(els) + 1))], d)
    elif op == "claimless":
        # every claim (CLM through the next HL or SE) of one transaction removed
        out, skipping = [], False
        for els, d in segs:
            if els[0] == "CLM":
                skipping = True
            elif els[0] in ("HL", "SE"):
                skipping = False
            if not skipping:
                out.append((els, d))
        segs[:] = out


def _isa_mutation(rng: random.Random, segs: list) -> None:
    els, d = segs[0]
    if els[0] != "ISA" or len(els) < 17:
        return
    els = list(els)
    which = rng.choice(["isa11", "isa12", "isa16", "isa06"])
    if which == "isa11":
        els[11] = rng.choice(["U", d[1], d[0] * 0 + "^", "A"])
    elif which == "isa12":
        els[12] = "00501   "
    elif which == "isa16":
        els[16] = rng.choice([">", "^", "!", "-", "."])
    else:
        els[6] = rng.choice(["", "A" * 40, "X\x07Y".ljust(15), "é".ljust(15)])
    segs[0] = (els, d)


def _byte_mutation(rng: random.Random, data: bytes) -> bytes:
    op = rng.choice(["truncate", "insert", "flip", "no-terminators"])
    if not data:
        return data
    k = rng.randrange(len(data))
    if op == "truncate":
        return data[:k]
    if op == "insert":
        return data[:k] + rng.randbytes(rng.randrange(1, 64)) + data[k:]
    if op == "flip":
        return data[:k] + bytes([rng.randrange(256)]) + data[k + 1:]
    term = data[105:106] or b"~"
    return data[:k] + data[k:].replace(term, b"")


def mutants(bases: list[Base], seed: int, count: int) -> Iterator[tuple[str, bytes]]:
    """``count`` mutated files: (case id, bytes), the same for the same seed."""
    rng = random.Random(seed)
    for case in range(count):
        base = bases[case % len(bases)]
        segs = [(list(e), d) for e, d in base.segments]
        kind = rng.random()
        if kind < 0.08:
            _isa_mutation(rng, segs)
        for _ in range(rng.randrange(1, 4)):
            _segment_mutation(rng, segs)
        data = base.text(segs).encode("latin-1", "replace")
        if kind > 0.85:
            data = _byte_mutation(rng, data)
        yield f"{base.name}#{seed}.{case}", data


# -- invariants ----------------------------------------------------------------------------
@dataclass
class Tally:
    cases: int = 0
    unusable: int = 0
    scrubbed: int = 0
    claims: int = 0
    tracebacks: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    lost_claims: list[str] = field(default_factory=list)
    invalid_277: list[str] = field(default_factory=list)

    def figures(self) -> str:
        return (f"{self.cases} cases ({self.scrubbed} scrubbed, {self.unusable} unusable, {self.claims} claims): "
                f"{len(self.tracebacks)} tracebacks, {len(self.unexpected)} unexpected exits, "
                f"{len(self.lost_claims)} lost claims, {len(self.invalid_277)} invalid 277CAs")

    @property
    def failures(self) -> list[str]:
        return [*self.tracebacks, *self.unexpected, *self.lost_claims, *self.invalid_277]


def check_outputs(case: str, data: bytes, outdir: Path, name: str, tally: Tally) -> None:
    """Every input claim once in the JSON and the 277CA, the accepted 837 exactly the accepted ones."""
    source = claims_of(data)
    tally.claims += len(source)
    report = json.loads((outdir / f"{name}.report.json").read_text(encoding="ascii"))
    statuses = [c["status"] for c in report_claims(report)]
    ack = (outdir / f"{name}.277").read_text(encoding="latin-1")
    acks = ack_claims(ack)
    problems = []
    if not report["claims_total"] == report["accepted"] + report["rejected"] == len(report_claims(report)) == len(source):
        problems.append(f"report counts {report['claims_total']} vs {len(source)} claims read")
    if len(acks) != len(source):
        problems.append(f"277CA has {len(acks)} claims, the input {len(source)}")
    elif [a[0] for a in acks] != [trn02(c) for c in source]:
        problems.append("277CA TRN02 values differ from the claims' CLM01")
    elif [("rejected" if a[1] == "U" else "accepted") for a in acks] != statuses:
        problems.append("277CA statuses differ from the report's")
    accepted_path = outdir / f"{name}.accepted.837"
    want = [c.claim_id for c, s in zip(source, statuses, strict=False) if s == "accepted"]
    got = [c.claim_id for c in claims_of(accepted_path.read_bytes())] if accepted_path.exists() else []
    if got != want:
        problems.append(f"accepted 837 holds {len(got)} claims, {len(want)} were accepted")
    if problems:
        tally.lost_claims.append(f"{case}: {'; '.join(problems)}")
    try:
        check_balances(ack)
    except AssertionError:
        tally.invalid_277.append(f"{case}: 2200B/2200C counts or amounts do not balance")
    for part in interchanges(ack):
        ok, errors, _ = validate(part, patched=True)
        if not ok:
            tally.invalid_277.append(f"{case}: {errors[:3]}")
