"""A findings-heavy variant of ``bench/generate.py``: ``python bench/heavy.py N -o FILE [--seed S]``.

Same claims, payers and layout as ``generate.py``, but 85 % of the claims carry two to five of the
faults billers make, so that most claims have findings (about 2.6 a claim, 84 % rejected): a
pointer past the last diagnosis, CLM02 out of balance, a diagnosis code that is not billable
(a header such as G43.70), a guidance add-on without its primary, JW and JZ on one toxin line or
neither, a modifier that is no modifier. Used for the issue-14 single-core figures
(bench/README.md); pyx12 still finds the file valid (these are business errors, not syntax).
"""

from __future__ import annotations

import random
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate  # the benchmark's own generator, beside this file

HEADERS = ["G43.70", "G24.0", "M43.", "I69.35"]  # not billable: headers and an incomplete code
CLEAN_SHARE = 0.15
_plain_claim = generate._claim


def _heavy_claim(rng: random.Random, n: int, dos: str) -> dict[str, Any]:
    claim = _plain_claim(rng, n, dos)
    if rng.random() < CLEAN_SHARE:
        return claim
    lines, dx = claim["lines"], claim["dx"]
    faults = rng.sample(["ptr", "balance", "dx", "addon", "waste", "mod", "nomod"], rng.randint(2, 5))
    for fault in faults:
        if fault == "ptr":
            rng.choice(lines)["ptr"] = str(len(dx) + rng.randint(1, 3))
        elif fault == "balance":
            total = sum(Decimal(ln["charge"]) for ln in lines)
            claim["charge"] = generate._money(total + rng.choice([Decimal("10.00"), Decimal("-5.00"), Decimal("0.01")]))
        elif fault == "dx":
            claim["dx"] = [*dx[:-1], rng.choice(HEADERS)] if dx else [rng.choice(HEADERS)]
        elif fault == "addon":
            lines.append({"code": rng.choice(["95873", "95874"]), "charge": "140.00", "ptr": "1", "dos": dos,
                          "units": "1"})
        elif fault in ("waste", "nomod"):
            for ln in lines:
                if ln["code"].startswith("J"):
                    ln["mods"] = ["JW", "JZ"] if fault == "waste" else []
        else:
            rng.choice(lines)["mods"] = [rng.choice(["ZX", "Q9", "A1"])]
    for i, ln in enumerate(lines, start=1):
        ln.setdefault("units", "1")
        ln["ref6r"] = f"{n}-{i}"
    if "balance" not in faults:
        claim.pop("charge", None)  # an earlier deliberate imbalance goes: the faults above decide
    return claim


def main(argv: list[str] | None = None) -> int:
    generate._claim = _heavy_claim
    return generate.main(argv)


if __name__ == "__main__":
    sys.exit(main())
