"""The benchmark in one run: ``python bench/run.py [--claims 10000,100000,1000000] [--repeat 3]``.

For each size, a realistic and a findings-heavy 837P (bench/generate.py) are written to bench/out/,
and each is scrubbed (``scrubber scrub FILE -o DIR --no-html``) with ``--jobs 1`` and ``--jobs 2``,
in alternation (``--repeat`` rounds of both; the ratio is also given round by round).
pyx12's full validation (bench/pyx12_validate.py) runs on the realistic file of ``--pyx12-claims``
claims, which the scrubber also runs on: the ratio is on the same file, in the same run. Then one
transaction of ``--validate-claims`` claims is validated by pyx12 alone and by ``scrubber scrub
--validate pyx12`` (pyx12 in pieces over the cores, then the scrub). On the realistic files of
``--guide-cost-claims``, the default scrub and ``--validate off`` run in alternation (pairs, so
that a change in the machine's load hits both): the cost of the built-in validator.

Every command runs in a fresh process and is timed whole, from fork to exit (interpreter start-up
and imports included). A small monitor polls /proc/PID/status (VmHWM) of the command's process tree
every 0.1 s, so peak RSS is given for the parent and for its largest worker.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shlex
import shutil
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
PROFILES = ("realistic", "findings")


@dataclass
class Run:
    seconds: float
    status: int
    parent_mb: float  # peak RSS of the command's own process
    worker_mb: float | None  # the largest peak RSS among its descendants (None: it started none)
    workers: int
    stdout: str
    stderr: str


@dataclass
class Row:
    claims: int
    mb: float
    profile: str
    tool: str
    jobs: int | None
    seconds: float
    parent_mb: float
    worker_mb: float | None
    runs: int
    samples: tuple[float, ...] = ()  # each run's seconds, in the order run (rounds alternate the variants)

    @property
    def rate(self) -> float:
        return self.claims / self.seconds


# The command is started by a small trampoline interpreter rather than from run.py itself: Linux keeps
# a process's ru_maxrss across fork and exec, so a command forked straight from run.py (which may have
# held a large transaction while generating) would inherit run.py's peak. The trampoline forks and
# execs the command, times it, and polls VmHWM (the peak RSS of each live process; it starts afresh at
# exec) over the command's process tree: the parent's figure, and each worker's.
TRAMPOLINE = r"""
import json, os, sys, threading, time
result, interval, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
peaks = {}

def descendants(root):
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found

def hwm(pid):
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0

def watch(root, stop):
    while True:
        for pid in descendants(root):
            peaks[pid] = max(peaks.get(pid, 0), hwm(pid))
        if stop.wait(interval):
            return

start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(cmd[0], cmd)
    finally:
        os._exit(127)
stop = threading.Event()
monitor = threading.Thread(target=watch, args=(pid, stop), daemon=True)
monitor.start()
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
stop.set()
monitor.join()
parent = peaks.pop(pid, 0)
workers = sorted(kb for kb in peaks.values() if kb)
with open(result, "w") as fh:
    json.dump({"seconds": seconds, "status": os.waitstatus_to_exitcode(status), "maxrss_kb": usage.ru_maxrss,
               "parent_kb": parent, "workers_kb": workers}, fh)
"""


def measure(cmd: list[str], interval: float = 0.1) -> Run:
    """Run ``cmd`` once: wall time from fork to exit, peak RSS of its process and of its workers."""
    with tempfile.TemporaryDirectory() as tmp:
        out, err, result = (Path(tmp) / name for name in ("stdout", "stderr", "result"))
        with open(out, "wb") as fo, open(err, "wb") as fe:
            subprocess.run([sys.executable, "-c", TRAMPOLINE, str(result), str(interval), *cmd], stdout=fo, stderr=fe,
                           check=True)
        got = json.loads(result.read_text())
        workers = got["workers_kb"]
        # The parent's figure is polled; when it started no worker, wait4's ru_maxrss is exact for it.
        parent_kb = got["parent_kb"] if workers else max(got["parent_kb"], got["maxrss_kb"])
        return Run(got["seconds"], got["status"], parent_kb / 1024, max(workers) / 1024 if workers else None,
                   len(workers), out.read_text(), err.read_text())


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
    print(f"load:     {load()} (1, 5, 15 min) at start", flush=True)


def timed(what: tuple[int, float, str, str, int | None], cmd: list[str], repeat: int, ok: set[int]) -> Row:
    """``repeat`` runs of ``cmd``: the median time, the largest peaks."""
    claims, mb, profile, tool, jobs = what
    print(f"  $ {shlex.join(cmd)}", flush=True)
    runs: list[Run] = []
    for i in range(repeat):
        run = measure(cmd)
        workers = f", workers up to {run.worker_mb:.0f} MB ({run.workers})" if run.worker_mb is not None else ""
        print(f"    run {i + 1}/{repeat}: {run.seconds:.3f} s, parent {run.parent_mb:.0f} MB{workers}, exit {run.status}",
              flush=True)
        if run.status not in ok:
            sys.stderr.write(run.stdout + run.stderr)
            raise SystemExit(f"{tool} failed with exit status {run.status}: {shlex.join(cmd)}")
        runs.append(run)
    return _merged([Row(claims, mb, profile, tool, jobs, r.seconds, r.parent_mb, r.worker_mb, 1, (r.seconds,))
                    for r in runs])


def make_file(n: int, profile: str, seed: int, single_st: bool = False) -> tuple[Path, float]:
    path = OUT / f"{'f' if profile == 'findings' else 'g'}{'1st-' if single_st else ''}{n}.x12"
    start = time.perf_counter()
    with open(path, "w", encoding="latin-1", newline="") as fh:
        n_st = generate.write(fh, n, seed, n if single_st else None, profile)
    mb = path.stat().st_size / 1e6
    print(f"\n{n:,} claims, {profile}: {path} ({mb:.2f} MB, {n_st} ST), generated in "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    return path, mb


def scrub_rows(path: Path, what: tuple[int, float, str], jobs_list: list[int], repeat: int,
               extra: list[str] | None = None, tool: str = "scrubber") -> list[Row]:
    """Each ``--jobs`` value once a round, ``repeat`` rounds: a change in the machine's load over the
    minutes hits every variant alike, and the ratios are taken round by round."""
    samples: dict[int, list[Row]] = {jobs: [] for jobs in jobs_list}
    for _ in range(repeat):
        for jobs in jobs_list:
            outdir = OUT / f"scrub-{path.stem}-j{jobs}"
            cmd = [*scrubber_cmd(), "scrub", str(path), "-o", str(outdir), "--no-html", "--jobs", str(jobs),
                   *(extra or [])]
            # Exit 1 means some claims were rejected, which the generator arranges on purpose.
            samples[jobs].append(timed((*what, tool, jobs), cmd, 1, {0, 1}))
            shutil.rmtree(outdir, ignore_errors=True)  # a million claims write about a gigabyte
    return [_merged(runs) for runs in samples.values()]


def _merged(runs: list[Row]) -> Row:
    """One row for the runs of one command: the median time, the largest peaks, every run's time."""
    first = runs[0]
    seconds = [r.seconds for r in runs]
    worker_mb = max((r.worker_mb for r in runs if r.worker_mb is not None), default=None)
    return Row(first.claims, first.mb, first.profile, first.tool, first.jobs, statistics.median(seconds),
               max(r.parent_mb for r in runs), worker_mb, len(runs), tuple(seconds))


def guide_cost_rows(path: Path, what: tuple[int, float, str], repeat: int) -> list[Row]:
    """The default scrub and ``--validate off`` on one core, alternated run by run."""
    base = [*scrubber_cmd(), "scrub", str(path), "--no-html", "--jobs", "1"]
    variants = (("scrubber", []), ("scrubber --validate off", ["--validate", "off"]))
    samples: dict[str, list[Row]] = {tool: [] for tool, _ in variants}
    for _ in range(repeat):
        for tool, extra in variants:
            outdir = OUT / f"guide-{path.stem}"
            samples[tool].append(timed((*what, tool, 1), [*base, "-o", str(outdir), *extra], 1, {0, 1}))
            shutil.rmtree(outdir, ignore_errors=True)
    return [_merged(rows) for rows in samples.values()]


def pyx12_row(path: Path, what: tuple[int, float, str], repeat: int) -> Row:
    # Exit 0 only when pyx12 finds no error: the generated files are meant to be compliant.
    return timed((*what, "pyx12", None), [sys.executable, str(HERE / "pyx12_validate.py"), str(path)], repeat, {0})


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    print_machine()
    OUT.mkdir(exist_ok=True)
    rows: list[Row] = []
    cost: list[Row] = []
    for n in sorted(set(args.claims) | ({args.pyx12_claims} if args.pyx12_claims else set())):
        repeat = args.repeat if n <= args.repeat_up_to else 1
        for profile in args.profiles:
            if n not in args.claims and not (profile == "realistic" and n == args.pyx12_claims):
                continue
            path, mb = make_file(n, profile, args.seed)
            rows += scrub_rows(path, (n, mb, profile), args.jobs, repeat)
            if profile == "realistic" and n == args.pyx12_claims:
                rows.append(pyx12_row(path, (n, mb, profile), repeat))
            if profile == "realistic" and n in args.guide_cost_claims:
                cost += guide_cost_rows(path, (n, mb, profile), repeat)
            if not args.keep_files:
                path.unlink()
    validation: list[Row] = []
    if args.validate_claims:
        n = args.validate_claims
        path, mb = make_file(n, "realistic", args.seed, single_st=True)
        validation.append(pyx12_row(path, (n, mb, "one ST"), args.repeat))
        validation += scrub_rows(path, (n, mb, "one ST"), [os.cpu_count() or 2], args.repeat, ["--validate", "pyx12"],
                                 "scrubber --validate pyx12")
        if not args.keep_files:
            path.unlink()
    print(f"\nload at end: {load()}; median of the runs (files over {args.repeat_up_to:,} claims: one run), "
          "peak RSS the largest of them; the --jobs values of a file run in alternation, and 'rounds' is the "
          "median of each round's ratio\n")
    print_tables(rows, validation, args.rss_claims)
    print_guide_cost(cost)
    return 0


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--claims", default="10000,100000,1000000", help="file sizes in claims for the scrubber "
                   "(default 10000,100000,1000000)")
    p.add_argument("--profiles", default=",".join(PROFILES), help="realistic,findings (default both)")
    p.add_argument("--jobs", default="1,2", help="--jobs values for the scrubber (default 1,2)")
    p.add_argument("--pyx12-claims", type=int, default=10000,
                   help="pyx12 on the realistic file of this size, which the scrubber runs on too (0: none)")
    p.add_argument("--validate-claims", type=int, default=10000, help="one transaction of this size: pyx12 alone "
                   "against scrub --validate pyx12 (0: none)")
    p.add_argument("--guide-cost-claims", default="100000", help="realistic sizes on which the default scrub "
                   "and --validate off alternate (the validator's cost; default 100000, empty: none)")
    p.add_argument("--rss-claims", default="100000,1000000", help="sizes in the peak-RSS table")
    p.add_argument("--repeat", type=int, default=3, help="runs per command; the median is reported (default 3)")
    p.add_argument("--repeat-up-to", type=int, default=200000, help="larger files run once (default 200000)")
    p.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    p.add_argument("--keep-files", action="store_true", help="keep the generated files in bench/out/")
    p.add_argument("--out", type=Path, help="folder for files and outputs (default bench/out/)")
    args = p.parse_args(argv)
    try:
        args.claims = [int(x) for x in args.claims.split(",") if x.strip()]
        args.jobs = [int(x) for x in args.jobs.split(",") if x.strip()]
        args.rss_claims = [int(x) for x in args.rss_claims.split(",") if x.strip()]
        args.guide_cost_claims = [int(x) for x in args.guide_cost_claims.split(",") if x.strip()]
    except ValueError:
        p.error("--claims, --jobs, --rss-claims and --guide-cost-claims take comma-separated numbers, e.g. 1000,10000")
    args.profiles = [x for x in args.profiles.split(",") if x]
    if not args.claims or min(args.claims) < 1 or args.repeat < 1 or not args.jobs or min(args.jobs) < 1:
        p.error("sizes, jobs and --repeat must be at least 1")
    if set(args.profiles) - set(PROFILES):
        p.error(f"--profiles: {', '.join(PROFILES)}")
    if args.out:
        global OUT
        OUT = args.out.resolve()
    return args


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def print_tables(rows: list[Row], validation: list[Row], rss_claims: list[int]) -> None:
    print("### Throughput (claims/s; ratios on the same file)\n")
    print("| claims | file MB | profile | tool | jobs | median s | claims/s | vs pyx12 | vs --jobs 1 | vs realistic |")
    print("|---:|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row.claims:,} | {row.mb:.2f} | {row.profile} | {row.tool} | {row.jobs or '-'} | {row.seconds:.3f} |"
              f" {row.rate:,.0f} | {_ratio(row, rows, 'pyx12')} | {_ratio(row, rows, 'jobs')} |"
              f" {_ratio(row, rows, 'profile')} |")
    print("\n### Peak RSS (MB): the scrubber's process, and its largest worker\n")
    print("| claims | profile | jobs | parent | workers |")
    print("|---:|---|---:|---:|---:|")
    for row in rows:
        if row.claims in rss_claims and row.tool == "scrubber":
            print(f"| {row.claims:,} | {row.profile} | {row.jobs} | {_mb(row.parent_mb)} | {_mb(row.worker_mb)} |")
    if validation:
        print("\n### Implementation-guide validation of one transaction (pyx12)\n")
        print("| claims | tool | jobs | median s | claims/s | vs pyx12 | parent MB | workers MB |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|")
        base = validation[0]
        for row in validation:
            ratio = f"{row.rate / base.rate:.2f}x" if row is not base else ""
            print(f"| {row.claims:,} | {row.tool} | {row.jobs or '-'} | {row.seconds:.3f} | {row.rate:,.0f} | {ratio} |"
                  f" {_mb(row.parent_mb)} | {_mb(row.worker_mb)} |")


def print_guide_cost(cost: list[Row]) -> None:
    if not cost:
        return
    print("\n### Cost of the built-in implementation-guide validator (one core, runs alternated)\n")
    print("| claims | default s | --validate off s | default claims/s | off claims/s | default / off | rounds |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for on, off in zip(cost[::2], cost[1::2], strict=True):
        rounds = statistics.median(a / b for a, b in zip(on.samples, off.samples, strict=True))
        print(f"| {on.claims:,} | {on.seconds:.3f} | {off.seconds:.3f} | {on.rate:,.0f} | {off.rate:,.0f} |"
              f" {on.seconds / off.seconds:.2f}x | {rounds:.2f}x |")


def _ratio(row: Row, rows: list[Row], against: str) -> str:
    """How many times faster than pyx12 / --jobs 1 / the realistic file, on the same size."""
    if row.tool != "scrubber":
        return ""
    if against == "pyx12":
        base = next((r for r in rows if r.tool == "pyx12" and r.claims == row.claims), None)
        base = base if row.profile == "realistic" else None
    elif against == "jobs":
        base = next((r for r in rows if r.tool == row.tool and r.claims == row.claims and r.profile == row.profile
                     and r.jobs == 1), None) if row.jobs != 1 else None
    else:
        base = next((r for r in rows if r.tool == row.tool and r.claims == row.claims and r.jobs == row.jobs
                     and r.profile == "realistic"), None) if row.profile != "realistic" else None
    if base is None:
        return ""
    if against == "jobs" and len(base.samples) == len(row.samples) > 1:
        # runs alternated: the median of each round's ratio (a slow minute hits both runs of a round)
        pairs = statistics.median(b / r for b, r in zip(base.samples, row.samples, strict=True))
        return f"{row.rate / base.rate:.2f}x (rounds {pairs:.2f}x)"
    return f"{row.rate / base.rate:.2f}x"


if __name__ == "__main__":
    sys.exit(main())
