"""Throughput benchmark: ``python bench/run.py [--claims 1000,10000] [--pyx12-claims 1000] [--repeat 3]``.

For each size a synthetic 837P (bench/generate.py) is written to bench/out/, then timed, each run in
a fresh process: ``scrubber scrub FILE -o DIR --no-html`` and pyx12's full validation of the same file
(bench/pyx12_validate.py). Times are end-to-end process wall times, interpreter start included;
peak RSS is the command's own ru_maxrss, read with wait4 by a small trampoline process.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import generate

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


@dataclass
class Run:
    seconds: float
    rss_mb: float
    status: int
    stdout: str
    stderr: str


@dataclass
class Row:
    claims: int
    mb: float
    tool: str
    seconds: float
    rss_mb: float

    @property
    def rate(self) -> float:
        return self.claims / self.seconds


# Linux keeps a process's RSS high-water mark across fork and exec, so a command started straight from
# run.py (which holds a whole ST while generating) would report run.py's peak as its own. A small
# trampoline interpreter starts the command instead, times it, and writes its wait4 figures to a file.
TRAMPOLINE = """
import os, sys, time
result, cmd = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(cmd[0], cmd)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open(result, "w") as fh:
    fh.write(f"{seconds} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def measure(cmd: list[str]) -> Run:
    """Run ``cmd`` once: its wall time (from fork to exit) and its own peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        out, err, result = (Path(tmp) / name for name in ("stdout", "stderr", "result"))
        with open(out, "wb") as fo, open(err, "wb") as fe:
            subprocess.run([sys.executable, "-c", TRAMPOLINE, str(result), *cmd], stdout=fo, stderr=fe, check=True)
        seconds, maxrss_kb, status = result.read_text().split()
        return Run(float(seconds), int(maxrss_kb) / 1024, int(status), out.read_text(), err.read_text())


def scrubber_cmd() -> list[str]:
    script = Path(sys.executable).parent / "scrubber"
    return [str(script)] if script.exists() else [sys.executable, "-m", "scrubber"]


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    return match.group(1).strip() if match else "unknown"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def source_state() -> str:
    """Which scrubber is measured: its folder, commit, and whether its code differs from that commit."""
    spec = importlib.util.find_spec("scrubber")
    where = Path(spec.origin).parent if spec and spec.origin else None
    if where is None:
        return "scrubber not found"
    git = ["git", "-C", str(where.parent)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return f"{where} (not a git checkout)"
    # The code is often being edited while a benchmark runs; say so next to the figures.
    dirty = subprocess.run([*git, "status", "--porcelain", "--", "scrubber", "edits"], capture_output=True, text=True)
    changed = len(dirty.stdout.splitlines())
    return f"{where} at {head.stdout.strip()}" + (
        f", {changed} uncommitted change(s) in scrubber/ and edits/" if changed else ""
    )


def print_machine() -> None:
    from importlib.metadata import version

    print(f"command:  {shlex.join([sys.executable, *sys.argv])}")
    print(f"machine:  {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu_model()}")
    print(f"python:   {platform.python_implementation()} {platform.python_version()} ({sys.executable})")
    print(f"versions: scrubber {version('scrubber')}, pyx12 {version('pyx12')}")
    print(f"source:   {source_state()}")
    print(f"load:     {load()} (1, 5, 15 min) at start")


def timed(tool: str, cmd: list[str], repeat: int, ok: set[int], claims: int, mb: float) -> Row:
    runs: list[Run] = []
    for i in range(repeat):
        run = measure(cmd)
        print(f"  {tool} run {i + 1}/{repeat}: {run.seconds:.3f} s, {run.rss_mb:.0f} MB, exit {run.status}", flush=True)
        if run.status not in ok:
            sys.stderr.write(run.stdout + run.stderr)
            raise SystemExit(f"{tool} failed with exit status {run.status}: {shlex.join(cmd)}")
        runs.append(run)
    summary = (runs[-1].stdout.strip().splitlines() or [""])[-1]
    print(f"  -> {summary}")
    return Row(claims, mb, tool, statistics.median(r.seconds for r in runs), max(r.rss_mb for r in runs))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--claims", default="1000,10000", help="comma-separated file sizes in claims (default 1000,10000)")
    p.add_argument("--pyx12-claims", type=int, default=1000, help="run pyx12 only up to this size (default 1000)")
    p.add_argument("--repeat", type=int, default=3, help="runs per tool and size; the median is reported")
    p.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    p.add_argument("--with-pyx12-scrub", action="store_true", help="also time scrub --validate pyx12")
    args = p.parse_args(argv)
    try:
        sizes = [int(x) for x in args.claims.split(",") if x.strip()]
    except ValueError:
        p.error("--claims takes comma-separated numbers, e.g. 1000,10000")
    if not sizes or min(sizes) < 1 or args.repeat < 1:
        p.error("sizes and --repeat must be at least 1")
    print_machine()
    print(
        f"pyx12 runs only on sizes up to {args.pyx12_claims:,} claims (--pyx12-claims): it validates a few hundred claims/s."
    )
    OUT.mkdir(exist_ok=True)
    rows: list[Row] = []
    for n in sizes:
        path = OUT / f"g{n}.x12"
        start = time.perf_counter()
        with open(path, "w", encoding="latin-1", newline="") as fh:
            generate.write(fh, n, args.seed)
        mb = path.stat().st_size / 1e6
        print(f"\n{n:,} claims: {path} ({mb:.2f} MB), generated in {time.perf_counter() - start:.1f} s")
        scrub = [*scrubber_cmd(), "scrub", str(path), "-o", str(OUT / f"scrub-g{n}"), "--no-html"]
        print(f"  $ {shlex.join(scrub)}")
        # Exit 1 means some claims were rejected, which the generator arranges on purpose.
        rows.append(timed("scrubber", scrub, args.repeat, {0, 1}, n, mb))
        # The same without the built-in implementation-guide validator: what the validator costs.
        bare = [*scrubber_cmd(), "scrub", str(path), "-o", str(OUT / f"scrub-off-g{n}"), "--no-html", "--validate", "off"]
        print(f"  $ {shlex.join(bare)}")
        rows.append(timed("scrubber --validate off", bare, args.repeat, {0, 1}, n, mb))
        if n <= args.pyx12_claims:
            pyx12 = [sys.executable, str(HERE / "pyx12_validate.py"), str(path)]
            print(f"  $ {shlex.join(pyx12)}")
            rows.append(timed("pyx12", pyx12, args.repeat, {0}, n, mb))
            if args.with_pyx12_scrub:
                # --validate pyx12 runs pyx12 too: it should cost about what pyx12 alone does.
                validated = [*scrubber_cmd(), "scrub", str(path), "-o", str(OUT / f"scrub-v-g{n}"), "--no-html",
                             "--validate", "pyx12"]
                print(f"  $ {shlex.join(validated)}")
                rows.append(timed("scrubber --validate pyx12", validated, args.repeat, {0, 1}, n, mb))

    print(f"\nload at end: {load()}; median of {args.repeat} runs, peak RSS is the largest of them\n")
    print("| claims | file MB | tool | median s | claims/s | peak RSS MB | vs pyx12 | vs --validate off |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    for row in rows:
        base = next((r for r in rows if r.claims == row.claims and r.tool == "pyx12"), None)
        bare = next((r for r in rows if r.claims == row.claims and r.tool == "scrubber --validate off"), None)
        ratio = f"{row.rate / base.rate:.2f}x faster" if base is not None and row.tool != "pyx12" else ""
        cost = f"{row.seconds / bare.seconds:.2f}x the time" if bare is not None and row.tool == "scrubber" else ""
        print(
            f"| {row.claims:,} | {row.mb:.2f} | {row.tool} | {row.seconds:.3f} | {row.rate:,.0f} |"
            f" {row.rss_mb:.0f} | {ratio} | {cost} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
