"""A seeded mutator of small 837P files, for the differential test of the built-in validator.

Each mutated file holds one to three claims (synthetic, or one of the public samples) with one or
two faults of the kinds a real submitter makes: a segment deleted, duplicated or swapped with its
neighbour, an element blanked or made too long, a wrong code or date, a syntax-note pair broken
(one element of a pair without the other), an element too many, components in a simple element,
a stray character. SE01 is recounted so the trailer stays right (its errors are notices).
"""

from __future__ import annotations

import random
from pathlib import Path

from scrubber.synth import file_837

_ENVELOPE = ("ISA", "GS", "ST", "SE", "GE", "IEA")
_CODES = ["ZZ", "XX", "99", "A", "ABK", "HC", "D8", "RD8", "MB", "18", "01", "QQQ"]
_DATES = ["20250230", "20251301", "2025011", "20250101-20250102-20250103", "ABCDEFGH", "18991231", "00000000"]
_PAIRS = {  # segment -> syntax-note partners (a pair: give one without the other)
    "NM1": (8, 9), "N4": (7, 4), "PER": (5, 6), "REF": (3, 4), "SV1": (4, 3), "CLM": (11, 10),
    "DMG": (1, 2), "CTP": (5, 4), "PRV": (2, 3), "SBR": (5, 9),
}


def synthetic_claims(rng: random.Random, n: int) -> list[dict]:
    claims = []
    for i in range(n):
        lines = []
        for j in range(rng.randint(1, 3)):
            line: dict = {"code": rng.choice(["99213", "64616", "J0585", "95874", "64612"]),
                          "charge": f"{rng.randint(10, 900)}.00"}
            if rng.random() < 0.3:
                line["mods"] = [rng.choice(["RT", "LT", "25", "JZ", "59"])]
            if rng.random() < 0.3:
                line["ref6r"] = f"L{i}{j}"
            if line["code"] == "J0585" and rng.random() < 0.6:
                line.update({"ndc": "00023114501", "ndc_qty": "100", "ndc_unit": "UN"})
            lines.append(line)
        spec: dict = {"id": f"PCN{rng.randint(1, 99999)}-{i}", "member_id": f"M{rng.randint(1000, 9999)}",
                      "dx": rng.sample(["G24.3", "G43.709", "M43.6", "G51.31", "R51.9"], rng.randint(1, 3)),
                      "lines": lines}
        if rng.random() < 0.3:
            spec["dependent"] = {"first": "KIM"}
        if rng.random() < 0.2:
            spec["prior_auth"] = f"PA{rng.randint(100, 999)}"
        if rng.random() < 0.2:
            spec["dos"] = "2025-01-10"
            for ln in lines:
                ln["dtp"] = None
        if rng.random() < 0.2:
            spec["segments"] = [rng.choice(["NTE*ADD*SEE NOTES", "AMT*F5*10.00", "DTP*431*D8*20241201",
                                            "REF*9F*REF123", "CRC*ZZ*N*NU"])]
        claims.append(spec)
    return claims


def _segments(text: str) -> tuple[str, list[str]]:
    term = text.lstrip()[105]
    return term, [s.strip() for s in text.split(term) if s.strip()]


def _join(segs: list[str], term: str) -> str:
    out = []
    count = 0
    for s in segs:
        sid = s.split("*", 1)[0]
        if sid == "ST":
            count = 1
        elif sid == "SE":
            count += 1
            parts = s.split("*")
            parts[1] = str(count)
            s = "*".join(parts)
        elif sid not in _ENVELOPE:
            count += 1
        out.append(s)
    return "".join(s + term + "\n" for s in out)


def _element_mutation(rng: random.Random, seg: str) -> str:
    els = seg.split("*")
    if len(els) < 2 or els[0] == "ISA":
        return seg
    i = rng.randrange(1, len(els))
    kind = rng.randrange(9)
    if kind == 0:
        els[i] = ""
    elif kind == 1:
        els[i] = (els[i] or "X") * rng.randint(8, 40)
    elif kind == 2:
        els[i] = rng.choice(_CODES)
    elif kind == 3:
        els[i] = rng.choice(_DATES)
    elif kind == 4:
        pair = _PAIRS.get(els[0])
        if pair:
            a, b = pair
            while len(els) <= max(a, b):
                els.append("")
            els[a], els[b] = ("X1" if not els[a] else els[a]), ""
    elif kind == 5:
        els.append(rng.choice(["X", "1", "ZZ"]))
    elif kind == 6:
        els[i] = (els[i] or "A") + ":" + rng.choice(["B", "", "12"])
    elif kind == 7:
        els[i] = (els[i] or "A") + rng.choice(["\x07", " ", "|", "`", "\u00e9", "-", "."])
    else:
        els[i] = rng.choice(["-1", "1.", ".5", "1e3", "0", "12345678901234567890", "+5"])
    while len(els) > 1 and els[-1] == "" and rng.random() < 0.8:
        els.pop()
    return "*".join(els)


def mutate(text: str, rng: random.Random) -> str:
    """One or two faults in ``text`` (an X12 file with '*' and ':' as separators)."""
    term, segs = _segments(text)
    for _ in range(rng.choice((1, 1, 2))):
        inner = [i for i, s in enumerate(segs) if s.split("*", 1)[0] not in _ENVELOPE]
        if not inner:
            break
        i = rng.choice(inner)
        kind = rng.randrange(10)
        if kind == 0:
            del segs[i]
        elif kind == 1:
            segs.insert(i, segs[i])
        elif kind == 2 and i + 1 < len(segs) and segs[i + 1].split("*", 1)[0] not in _ENVELOPE:
            segs[i], segs[i + 1] = segs[i + 1], segs[i]
        else:
            segs[i] = _element_mutation(rng, segs[i])
    return _join(segs, term)


def corpus(seed: int, count: int, samples: list[Path]) -> list[tuple[str, str]]:
    """``count`` (name, text) mutated files; every fourth from a public sample, the rest synthetic."""
    rng = random.Random(seed)
    usable = []
    for p in samples:
        raw = p.read_bytes().decode("latin-1")
        head = raw.lstrip()
        # small files only (one to three claims), as the mutated files must stay small
        if head.startswith("ISA") and len(head) > 106 and head[3] == "*" and head[104] == ":" \
                and raw.count("CLM*") <= 3:
            usable.append((p.name, raw))
    out = []
    for n in range(count):
        if usable and n % 4 == 3:
            name, base = rng.choice(usable)
        else:
            name, base = "synthetic", file_837(synthetic_claims(rng, rng.randint(1, 3)))
        out.append((f"{n:04d}-{name}", mutate(base, rng)))
    return out
