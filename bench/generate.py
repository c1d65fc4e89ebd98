"""Write a synthetic 837P file for benchmarking: ``python bench/generate.py N -o FILE [--seed S] [--findings]``.

Every name, member id and NPI is invented. The mix is a neurology practice: chemodenervation
(64612-64617, 64642-64644, EMG/stimulation guidance 95873/95874) with botulinum toxin lines
(J0585/J0586/J0587, JW/JZ, 2410 NDC) and ordinary office visits (99213/99214).

Two profiles:

- realistic (the default): about 10% of the claims carry a core error that the scrubber rejects
  (CLM02 out of balance, or an SV107 pointer past the last diagnosis); about 88% have no finding;
- findings-heavy (``--findings``): about 90% of the claims carry two or three faults each, drawn from
  core errors, diagnosis codes not valid on their date (G35, deleted 2025-10-01; G35D, new that
  day), header codes, chemodenervation add-on and guidance errors, modifier errors (an unknown
  modifier, bilateral on Medicare, the JW/JZ waste modifier missing) and a bad NPI check digit.

pyx12 checks none of these, so every generated file validates clean there.

The file is written a thousand claims at a time, so memory stays flat however many claims are asked
for, whatever the transaction size (``--single-st``: one ST holding every claim).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import random
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from scrubber.synth import interchange, transaction_segments

GS_DATE = "2026-01-15"
MAX_CLAIMS_PER_ST = 5000  # the default transaction size for large files
BATCH = 1000  # claims built at a time (a multiple of CLAIMS_PER_BILLING: 2000A loops stay aligned)
CLAIMS_PER_BILLING = 100
ERROR_RATE = 0.10
FAULTY_RATE = 0.90  # findings-heavy: claims with faults
ICD_FY2026 = dt.date(2025, 10, 1)  # G35 deleted, G35A-G35D added
DOS_FIRST = dt.date(2025, 1, 16)  # within Medicare's 12-month filing limit of the GS date
DOS_DAYS = (dt.date(2026, 1, 15) - DOS_FIRST).days

# (payer id, payer name, SBR09): Medicare Part B contractors and commercial plans.
PAYERS = [
    ("01112", "MEDICARE PART B JE", "MB"),
    ("02202", "MEDICARE PART B JF", "MB"),
    ("EHP01", "EXAMPLE HEALTH PLAN", "CI"),
    ("SHP77", "SAMPLE MUTUAL HEALTH", "CI"),
]
LAST = (
    "ALVAREZ BROOKS CHEN DUBOIS EKWUEME FISCHER GARCIA HUANG IVANOV JOHNSON KOWALSKI LINDQVIST MORALES NGUYEN"
    " OKAFOR PATEL QUINN ROSSI SATO TAYLOR"
).split()
FIRST = (
    "ADA BEN CARLA DEV ELENA FRANK GRACE HUGO IRIS JONAS KEIKO LIAM MAYA NOAH OLGA PAUL RUTH SAM TARA VIKRAM".split()
)

FEES = {
    "99213": Decimal("135.00"),
    "99214": Decimal("205.00"),
    "64612": Decimal("310.00"),
    "64615": Decimal("365.00"),
    "64616": Decimal("395.00"),
    "64617": Decimal("420.00"),
    "64642": Decimal("455.00"),
    "64643": Decimal("290.00"),
    "64644": Decimal("510.00"),
    "95873": Decimal("140.00"),
    "95874": Decimal("160.00"),
}
# Toxin HCPCS: price per billing unit, drug units per billing unit, dose relative to onabotulinumtoxinA,
# NDCs with their vial size in drug units.
TOXINS = {
    "J0585": (Decimal("7.25"), 1, 1.0, [("00023114501", 100), ("00023392102", 200)]),  # onabotulinumtoxinA, 1 U
    "J0586": (Decimal("9.80"), 5, 2.5, [("15054053006", 300), ("15054050001", 500)]),  # abobotulinumtoxinA, 5 U
    "J0587": (Decimal("12.40"), 100, 40.0, [("10454071010", 2500), ("10454071110", 5000)]),  # rimabotulinumtoxinB
}
# Chemodenervation scenarios: procedure lines, diagnoses, typical dose in onabotulinumtoxinA units.
SCENARIOS: list[tuple[list[tuple[str, list[str]]], list[str], tuple[int, int]]] = [
    ([("64616", []), ("95874", [])], ["G24.3", "M43.6"], (100, 300)),  # cervical dystonia
    ([("64615", [])], ["G43.709"], (155, 195)),  # chronic migraine, PREEMPT protocol
    ([("64612", ["RT"])], ["G51.31"], (20, 50)),  # hemifacial spasm, right
    ([("64612", ["50"])], ["G24.5"], (30, 60)),  # blepharospasm
    ([("64617", []), ("95873", [])], ["J38.5"], (2, 15)),  # laryngeal spasm / spasmodic dysphonia
    ([("64642", ["RT"]), ("64643", ["LT"])], ["G80.1", "G24.3"], (200, 400)),  # limb spasticity
    ([("64644", ["RT"])], ["I69.351", "G24.3"], (250, 400)),
]
OFFICE_DX = ["G24.3", "G43.709", "G51.31", "M43.6", "J38.5", "G24.5"]


def luhn_npi(base9: int) -> str:
    """A 10-digit NPI with its check digit (Luhn over the 80840 prefix)."""
    digits = f"80840{base9:09d}"
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return f"{base9:09d}{(10 - total % 10) % 10}"


BILLING_NPIS = [luhn_npi(100000000 + 7919 * k) for k in range(12)]


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _toxin_lines(rng: random.Random, dose_range: tuple[int, int], ptr: str, dos: str) -> list[dict[str, Any]]:
    code = rng.choice(list(TOXINS))
    price, per_unit, potency, ndcs = TOXINS[code]
    given = max(1, round(rng.randint(*dose_range) * potency / per_unit))
    # The smallest vial that holds the dose; sometimes the whole vial is injected.
    ndc, vial = next(
        ((n, v // per_unit) for n, v in ndcs if v // per_unit >= given), (ndcs[-1][0], ndcs[-1][1] // per_unit)
    )
    given = vial if rng.random() < 0.4 else min(given, vial)
    line = {"code": code, "units": str(given), "charge": _money(price * given), "ptr": ptr, "dos": dos}
    line |= {"ndc": ndc, "ndc_qty": "1", "ndc_unit": "UN"}
    if given == vial:
        return [{**line, "mods": ["JZ"]}]  # single-dose vial, nothing discarded
    waste = vial - given
    return [line, {**line, "mods": ["JW"], "units": str(waste), "charge": _money(price * waste)}]


def _claim(rng: random.Random, n: int, dos: str) -> dict[str, Any]:
    """A claim as a neurology practice bills it, without faults."""
    if rng.random() < 0.65:
        procs, dx, dose = rng.choice(SCENARIOS)
        ptr = [str(i) for i in range(1, len(dx) + 1)]
        lines: list[dict[str, Any]] = [{"code": c, "mods": list(m), "charge": _money(FEES[c]), "ptr": ptr}
                                       for c, m in procs]
        lines += _toxin_lines(rng, dose, ptr[0], dos)
        if len(lines) < 4 and rng.random() < 0.2:
            # A separately identifiable visit the same day (modifier 25), when the 4-line cap allows.
            lines.insert(0, {"code": "99213", "mods": ["25"], "charge": _money(FEES["99213"]), "ptr": ptr[0]})
    else:
        dx = rng.sample(OFFICE_DX, rng.randint(1, 3))
        code = rng.choice(["99213", "99214"])
        lines = [{"code": code, "charge": _money(FEES[code]), "ptr": [str(i) for i in range(1, len(dx) + 1)]}]
    for i, ln in enumerate(lines, start=1):
        ln.setdefault("dos", dos)
        ln.setdefault("units", "1")
        ln["ref6r"] = f"{n}-{i}"
    return {"id": f"PCN{n:010d}", "dx": list(dx), "lines": lines}


def _core_error(rng: random.Random, claim: dict[str, Any]) -> None:
    """CLM02 out of balance with the lines, or a line pointing past the last diagnosis."""
    lines = claim["lines"]
    if rng.random() < 0.5:
        total = sum(Decimal(ln["charge"]) for ln in lines)
        claim["charge"] = _money(total + rng.choice([Decimal("10.00"), Decimal("-5.00"), Decimal("0.01")]))
    else:
        rng.choice(lines)["ptr"] = str(len(claim["dx"]) + 1)


def _line(code: str, dos: str, **more: Any) -> dict[str, Any]:
    return {"code": code, "charge": _money(FEES.get(code, Decimal("150.00"))), "ptr": "1", "dos": dos, "units": "1",
            **more}


def _fault(kind: str, rng: random.Random, claim: dict[str, Any], medicare: bool) -> bool:
    """Give the claim one fault of ``kind``; False when it does not apply to this claim."""
    lines, dx, dos = claim["lines"], claim["dx"], claim["lines"][0]["dos"]
    toxin = [ln for ln in lines if ln["code"] in TOXINS]
    if kind == "core":
        _core_error(rng, claim)
    elif kind == "dx-date":  # multiple sclerosis: G35 deleted on 2025-10-01, G35D valid from that day
        dx.append("G35" if dt.date.fromisoformat(dos) >= ICD_FY2026 else "G35D")
    elif kind == "dx-header":
        dx[0] = "G43.7"  # a category with billable codes beneath it
    elif kind == "addon":  # an add-on code without its primary procedure
        lines.append(_line("64643", dos, mods=["LT"]))
    elif kind == "guidance":  # both guidance codes, or one reported twice
        lines.append(_line("95874", dos, units="2") if rng.random() < 0.5 else _line("95873", dos))
        if lines[-1]["code"] == "95873":
            lines.append(_line("95874", dos))
    elif kind == "bilateral" and medicare:  # Medicare wants one line with modifier 50, not RT and LT lines
        lines += [_line("64612", dos, mods=["RT"]), _line("64612", dos, mods=["LT"])]
    elif kind == "waste" and toxin:
        for ln in toxin:
            ln["mods"] = []
    elif kind == "modifier":
        rng.choice(lines).setdefault("mods", []).append("Z9")  # not a CPT or HCPCS modifier
    elif kind == "npi":
        claim["rendering_npi"] = luhn_npi(200000000 + rng.randrange(10**6))[:-1] + "0"
        if claim["rendering_npi"] == luhn_npi(int(claim["rendering_npi"][:9])):
            claim["rendering_npi"] = claim["rendering_npi"][:-1] + "1"
    else:
        return False
    return True


FAULTS = ["core", "dx-date", "dx-header", "addon", "guidance", "bilateral", "waste", "modifier", "npi"]


def _faulty(rng: random.Random, claim: dict[str, Any], medicare: bool, profile: str) -> dict[str, Any]:
    if profile == "realistic":
        if rng.random() < ERROR_RATE:
            _core_error(rng, claim)
    elif rng.random() < FAULTY_RATE:
        wanted, kinds = rng.choice([2, 2, 3]), rng.sample(FAULTS, len(FAULTS))
        given = 0
        for kind in kinds:
            if given < wanted and _fault(kind, rng, claim, medicare):
                given += 1
    for i, ln in enumerate(claim["lines"], start=1):
        ln["ref6r"] = f"{claim['id'][3:].lstrip('0')}-{i}"
    return claim


def claims(n_claims: int, seed: int, profile: str = "realistic") -> Iterator[dict[str, Any]]:
    """Claim specs for scrubber.synth, in file order: a subscriber's claims are consecutive."""
    rng = random.Random(seed)
    n = 0
    while n < n_claims:
        payer_id, payer_name, sbr09 = rng.choice(PAYERS)
        subscriber: dict[str, Any] = {
            "payer_id": payer_id,
            "payer_name": payer_name,
            "sbr09": sbr09,
            "member_id": f"{'1EG4' if sbr09 == 'MB' else 'W'}{rng.randrange(10**8, 10**9)}",
            "last": rng.choice(LAST),
            "first": rng.choice(FIRST),
        }
        # Medicare has no dependents; 60% of commercial subscribers' claims being for a dependent gives ~30% overall.
        if sbr09 == "CI" and rng.random() < 0.6:
            subscriber["dependent"] = {
                "last": subscriber["last"],
                "first": rng.choice(FIRST),
                "relationship": rng.choice(["01", "19"]),
            }
        day = DOS_FIRST + dt.timedelta(days=rng.randrange(DOS_DAYS - 180))
        for _ in range(min(rng.choice([1, 1, 1, 2, 3]), n_claims - n)):
            n += 1
            # A block of claims shares a billing provider; synth reads the NPI from its first claim.
            npi = BILLING_NPIS[((n - 1) // CLAIMS_PER_BILLING) % len(BILLING_NPIS)]
            claim = _faulty(rng, _claim(rng, n, day.isoformat()), sbr09 == "MB", profile)
            yield {**subscriber, "billing_npi": npi, **claim}
            day += dt.timedelta(days=rng.randint(14, 90))


def write(out: TextIO, n_claims: int, seed: int = 1, claims_per_st: int | None = None,
          profile: str = "realistic") -> int:
    """Write one interchange of ``n_claims`` claims; returns the number of ST transactions."""
    per_st = claims_per_st or min(MAX_CLAIMS_PER_ST, max(1, -(-n_claims // 4)))
    n_st = -(-n_claims // per_st)
    # interchange() returns one string; take its ISA/GS and IEA from an empty interchange and
    # stream the STs in between so that a million claims never sit in memory together.
    isa, gs, _ge, iea = interchange([], control=seed % 10**9 or 1, gs_date=GS_DATE).splitlines(keepends=True)
    control = gs.split("*")[6]
    out.write(isa + gs)
    source = claims(n_claims, seed, profile)
    for st in range(1, n_st + 1):
        _write_transaction(out, itertools.islice(source, per_st), f"{st:04d}", f"B{seed}-{st:04d}")
    out.write(f"GE*{n_st}*{control}~\n" + iea)
    return n_st


def _write_transaction(out: TextIO, source: Iterator[dict[str, Any]], control: str, bht03: str) -> None:
    """One ST ... SE, built a batch of claims at a time (HL numbers run on, SE01 counts the whole)."""
    count, hl = 0, 0
    while batch := list(itertools.islice(source, BATCH)):
        segs = transaction_segments(batch, control=control, bht03=bht03, bht04=GS_DATE.replace("-", ""),
                                    claims_per_billing=CLAIMS_PER_BILLING, hl_start=hl + 1)
        body = segs[:-1]  # without its SE
        if count:  # the ST and header come once
            body = body[next(i for i, seg in enumerate(body) if seg.startswith("HL*")):]
        hl = max(int(seg.split("*", 2)[1]) for seg in body if seg.startswith("HL*"))
        count += len(body)
        out.write("".join(seg + "~\n" for seg in body))
    out.write(f"SE*{count + 1}*{control}~\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("claims", type=int, help="number of claims")
    p.add_argument("-o", "--output", required=True, help="file to write ('-' for standard output)")
    p.add_argument("--seed", type=int, default=1, help="same seed, same file (default 1)")
    p.add_argument("--claims-per-st", type=int, help=f"claims per ST (default: N/4, at most {MAX_CLAIMS_PER_ST})")
    p.add_argument("--single-st", action="store_true", help="one ST holding every claim")
    p.add_argument("--findings", action="store_true", help="findings-heavy: most claims carry two or three faults")
    args = p.parse_args(argv)
    if args.claims < 1:
        p.error("N must be at least 1")
    if args.claims_per_st is not None and args.claims_per_st < 1:
        p.error("--claims-per-st must be at least 1")
    per_st = args.claims if args.single_st else args.claims_per_st
    profile = "findings" if args.findings else "realistic"
    if args.output == "-":
        write(sys.stdout, args.claims, args.seed, per_st, profile)
        return 0
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    # latin-1 like the scrubber's reader; everything written is ASCII anyway.
    with open(path, "w", encoding="latin-1", newline="") as fh:
        n_st = write(fh, args.claims, args.seed, per_st, profile)
    print(f"{path}: {args.claims} claims ({profile}) in {n_st} ST, {path.stat().st_size / 1e6:.2f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
