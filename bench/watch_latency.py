"""Drop-folder latency: from a file appearing in INBOX to its outputs in OUTBOX.

    python bench/watch_latency.py [--files 20] [--polling] [--poll 0.5] [--claims 9]

Starts ``scrubber watch`` on temporary folders and drops the files one at a time, half renamed into
place (taken at once on a file-system event) and half copied in place (taken once the size has
been stable for one poll interval); prints the median and worst latency of each way.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scrubber.synth import file_837


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--claims", type=int, default=9)
    ap.add_argument("--poll", default="0.5")
    ap.add_argument("--polling", action="store_true")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="watch-bench-"))
    inbox, outbox = root / "in", root / "out"
    proc = subprocess.Popen([sys.executable, "-m", "scrubber", "watch", str(inbox), "-o", str(outbox), "--no-html",
                             "--poll", args.poll, *(["--polling"] if args.polling else [])], stderr=subprocess.DEVNULL)
    try:
        while not (inbox / ".work").is_dir():
            time.sleep(0.05)
        time.sleep(1.0)
        latency: dict[str, list[float]] = {"renamed": [], "copied": []}
        for i in range(args.files):
            data = file_837([{"id": f"L{i}C{j}"} for j in range(args.claims)]).encode()
            how = "renamed" if i % 2 else "copied"
            start = time.monotonic()
            if how == "renamed":
                (inbox / f".f{i}.tmp").write_bytes(data)
                os.rename(inbox / f".f{i}.tmp", inbox / f"f{i}.837")
            else:
                (inbox / f"f{i}.837").write_bytes(data)
            while not (outbox / f"f{i}.report.json").exists():
                time.sleep(0.005)
            latency[how].append(time.monotonic() - start)
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(root, ignore_errors=True)
    mode = "polling" if args.polling else "events"
    for how, values in latency.items():
        print(f"{mode}, --poll {args.poll}, {how}: median {statistics.median(values) * 1000:.0f} ms, "
              f"max {max(values) * 1000:.0f} ms ({len(values)} files of {args.claims} claims)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
