"""Benchmark import-ncci and the NCCI tables: ``python bench/ncci.py [--rows 2000000]``.

Writes a synthetic practitioner PTP file in CMS's exact layout (6-line preamble, TAB-separated,
CRLF, Latin-1; about 15,000 codes, rows sorted by column 1 then column 2, a mix of indicators 0/1/9,
deleted and open edits), imports it with ``scrubber import-ncci`` in a fresh process, then loads the
tables in another fresh process, and reports: import time and peak memory, table load time and the
memory the loaded tables add, the size on disk, and PTP lookups per second. Every row is invented.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
PREAMBLE = ("CPT only copyright 2025 American Medical Association.  All rights reserved.\t\t\t\t\t\t\r\n"
            "Column1/Column2 Edits\t\t\t\t\t\t\r\n"
            "Column 1\tColumn 2\t*=in existence\tEffective\tDeletion\tModifier\tPTP Edit Rationale\r\n"
            "\t\tprior to 1996\tDate\tDate\t0=not allowed\t\r\n"
            "\t\t\t\t*=no data\t1=allowed\t\r\n"
            "\t\t\t\t\t9=not applicable\t\r\n")
RATIONALES = ["CPT Manual or CMS manual coding instruction", "Mutually exclusive procedures",
              "Misuse of Column Two code with Column One code", "Standards of medical/surgical practice",
              "HCPCS/CPT procedure code definition", "More extensive procedure"]


def write_ptp(path: Path, rows: int, seed: int = 1) -> int:
    rng = random.Random(seed)
    codes = sorted({f"{n:05d}" for n in rng.sample(range(10000, 99999), 13000)}
                   | {f"{c}{n:04d}" for c in "GJ" for n in rng.sample(range(1, 9999), 1000)})
    per = rows // len(codes) + 1
    quarters = [f"{y}{m:02d}01" for y in range(1996, 2027) for m in (1, 4, 7, 10)]
    written = 0
    with open(path, "w", encoding="latin-1", newline="") as fh:
        fh.write(PREAMBLE)
        for c1 in codes:
            if written >= rows:
                break
            for c2 in sorted(rng.sample(codes, min(per, rows - written))):
                if c2 == c1:
                    continue
                eff = rng.choice(quarters)
                deleted = "*" if rng.random() < 0.7 else str(int(eff[:4]) + rng.randrange(1, 6)) + "1231"
                mi = rng.choices("019", weights=(30, 65, 5))[0]
                pre = "*" if eff == "19960101" and rng.random() < 0.5 else ""
                fh.write(f"{c1}\t{c2}\t{pre}\t{eff}\t{deleted}\t{mi}\t{rng.choice(RATIONALES)}\r\n")
                written += 1
    return written


IMPORT = """
import json, resource, sys, time
t = time.perf_counter()
from scrubber.importers.ncci import import_files
report = import_files([sys.argv[1]], sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - t, "rows": report.ptp_rows,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

LOAD = """
import datetime as dt, json, random, sys, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
from scrubber.rules.catalog import load_catalog
from scrubber.rules.ncci_tables import Ncci
catalog = load_catalog()
before = rss()
t = time.perf_counter()
ncci = Ncci.load(catalog, sys.argv[1])
table = ncci.ptp
load = time.perf_counter() - t
after = rss()
codes = [c for c in (f"{n:05d}" for n in range(10000, 99999)) if table.knows(c)][:2000]
rng = random.Random(3)
pairs = [(rng.choice(codes), rng.choice(codes)) for _ in range(200000)]
t = time.perf_counter()
hits = sum(1 for a, b in pairs if table.has_pair(a, b))
per_s = len(pairs) / (time.perf_counter() - t)
day = dt.date(2025, 1, 1)
t = time.perf_counter()
for a, b in pairs[:50000]:
    ncci.ptp_edit(a, b, day)
edit_per_s = 50000 / (time.perf_counter() - t)
print(json.dumps({"load_seconds": load, "tables_mb": after - before, "array_mb": table.nbytes() / 2**20,
                  "has_pair_per_s": per_s, "ptp_edit_per_s": edit_per_s, "hits": hits}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    src = OUT / "ccipra-v322r0-f1.TXT"
    t = time.perf_counter()
    rows = write_ptp(src, args.rows)
    print(f"wrote {src} ({rows:,} rows, {src.stat().st_size / 2**20:.0f} MB) in {time.perf_counter() - t:.1f} s")
    tables = OUT / "ncci-tables"
    imp = json.loads(subprocess.run([sys.executable, "-c", IMPORT, str(src), str(tables)], check=True,
                                    capture_output=True, text=True).stdout)
    size = sum(p.stat().st_size for p in tables.iterdir()) / 2**20
    print(f"import-ncci: {imp['seconds']:.1f} s for {imp['rows']:,} rows, peak RSS {imp['peak_mb']:.0f} MB; "
          f"tables on disk {size:.0f} MB")
    load = json.loads(subprocess.run([sys.executable, "-c", LOAD, str(tables)], check=True,
                                     capture_output=True, text=True).stdout)
    print(f"load: {load['load_seconds']:.2f} s, +{load['tables_mb']:.0f} MB RSS ({load['array_mb']:.0f} MB of arrays); "
          f"has_pair {load['has_pair_per_s']:,.0f}/s, dated lookup {load['ptp_edit_per_s']:,.0f}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
