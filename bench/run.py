"""Throughput benchmark: ``python bench/run.py [--claims 1000,10000] [--pyx12-claims 1000] [--repeat 3]``.

For each size a synthetic 837P (bench/generate.py) is written to bench/out/, then timed, each run in
a fresh process: ``scrubber scrub FILE -o DIR --no-html`` and pyx12's full validation of the same file
(bench/pyx12_validate.py). Times are end-to-end process wall times, interpreter start included;
peak RSS is the child's own ru_maxrss, read with wait4 so that runs do not blur into each other.
"""

from __future__ import annotations

import argparse
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


def measure(cmd: list[str]) -> Run:
    """Run ``cmd`` once; wall time and the peak RSS of that very process (and what it waited for)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        # Files, not pipes: nobody reads a pipe while we sit in wait4, so a chatty child could block.
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from trying again
        out.seek(0)
        err.seek(0)
        return Run(seconds, usage.ru_maxrss / 1024, proc.returncode, out.read().decode(), err.read().decode())


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


def print_machine() -> None:
    from importlib.metadata import version

    print(f"command:  {shlex.join([sys.executable, *sys.argv])}")
    print(f"machine:  {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu_model()}")
    print(f"python:   {platform.python_implementation()} {platform.python_version()} ({sys.executable})")
    print(f"versions: scrubber {version('scrubber')}, pyx12 {version('pyx12')}")
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
    print(f"  {tool}: {summary}")
    return Row(claims, mb, tool, statistics.median(r.seconds for r in runs), max(r.rss_mb for r in runs))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--claims", default="1000,10000", help="comma-separated file sizes in claims (default 1000,10000)")
    p.add_argument("--pyx12-claims", type=int, default=1000, help="run pyx12 only up to this size (default 1000)")
    p.add_argument("--repeat", type=int, default=3, help="runs per tool and size; the median is reported")
    p.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    args = p.parse_args(argv)
    sizes = [int(x) for x in args.claims.split(",") if x.strip()]
    print_machine()
    print(
        f"pyx12 runs only on sizes up to {args.pyx12_claims:,} claims (--pyx12-claims); it manages ~150-300 claims/s."
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
        if n <= args.pyx12_claims:
            pyx12 = [sys.executable, str(HERE / "pyx12_validate.py"), str(path)]
            print(f"  $ {shlex.join(pyx12)}")
            rows.append(timed("pyx12", pyx12, args.repeat, {0}, n, mb))

    print(f"\nload at end: {load()}; median of {args.repeat} runs, peak RSS is the largest of them\n")
    print("| claims | file MB | tool | median s | claims/s | peak RSS MB | scrubber/pyx12 |")
    print("|---:|---:|---|---:|---:|---:|---:|")
    for row in rows:
        base = next((r for r in rows if r.claims == row.claims and r.tool == "pyx12"), None)
        ratio = f"{row.rate / base.rate:,.0f}x" if base is not None and row.tool == "scrubber" else ""
        print(
            f"| {row.claims:,} | {row.mb:.2f} | {row.tool} | {row.seconds:.3f} | {row.rate:,.0f} |"
            f" {row.rss_mb:.0f} | {ratio} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
