"""``--jobs 1`` against ``--jobs 2`` on one file: wall time, CPU, peak memory of every process.

    .venv/bin/python bench/jobs.py bench/out/g200k.x12 --repeat 3            # times, alternating 1 and 2
    .venv/bin/python bench/jobs.py bench/out/g1m.x12 --repeat 1 --jobs 1,2   # peak RSS at 1M claims

Each run is a fresh ``scrubber scrub FILE -o DIR --no-html --jobs N`` (add ``--html`` for the page).
A thread samples ``VmHWM`` (the kernel's own high-water mark of resident memory) of the command and
of every process under it every 20 ms, so each worker's peak is reported, not only the largest
child's (``RUSAGE_CHILDREN`` would give that). CPU is the command's and its children's user+system
time. The load average is printed before and after each run: the speed-up needs both cores, so
read figures taken while other work ran on the machine with that in mind. The outputs of the two
settings are compared byte for byte (the clock fixed, so that dates and control numbers agree).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"
#: the command line with the clock fixed, so that two runs' outputs can be compared byte for byte
_FIXED_CLOCK = ("import sys, datetime as dt, scrubber.api as api; "
                "api.Options.moment = lambda self: dt.datetime(2025, 2, 3, 9, 30); "
                "from scrubber.cli import main; sys.exit(main(sys.argv[1:]))")


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(entry))
    return out


def _hwm(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _cpu(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _watch(proc: subprocess.Popen, peaks: dict[int, int], cpu: dict[int, float], stop: threading.Event) -> None:
    while not stop.is_set():
        pids = [proc.pid]
        for p in list(pids):
            pids += _children(p)
        for p in pids:
            kb = _hwm(p)
            if kb is not None:
                peaks[p] = max(peaks.get(p, 0), kb)
            t = _cpu(p)
            if t is not None:
                cpu[p] = max(cpu.get(p, 0.0), t)
        stop.wait(0.02)


def run_once(src: str, jobs: int, html: bool) -> dict:
    out = OUT / f"jobs-{jobs}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-c", _FIXED_CLOCK, "scrub", src, "-o", str(out), "--jobs", str(jobs)]
    if not html:
        cmd.append("--no-html")
    env = dict(os.environ)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peaks: dict[int, int] = {}
    cpus: dict[int, float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(proc, peaks, cpus, stop), daemon=True)
    watcher.start()
    _out, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    watcher.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"scrub failed ({proc.returncode}): {err.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    parent = peaks.get(proc.pid, 0)
    workers = sorted((kb for p, kb in peaks.items() if p != proc.pid), reverse=True)
    return {"jobs": jobs, "wall": wall, "cpu": cpu, "parent_kb": parent, "worker_kb": workers,
            "parent_cpu": cpus.get(proc.pid, 0.0),
            "load": (load0, os.getloadavg()[0]), "out": out}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--jobs", default="1,2")
    ap.add_argument("--html", action="store_true")
    args = ap.parse_args()
    settings = [int(j) for j in args.jobs.split(",")]
    print(f"# {args.file}: {os.path.getsize(args.file) / 1e6:.1f} MB, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"# command: {' '.join(sys.argv)}")
    results: dict[int, list[dict]] = {j: [] for j in settings}
    for _ in range(args.repeat):
        for j in settings:
            r = run_once(args.file, j, args.html)
            results[j].append(r)
            workers = ", ".join(f"{kb / 1024:.0f}" for kb in r["worker_kb"]) or "-"
            print(f"jobs {j}: wall {r['wall']:.2f} s, cpu {r['cpu']:.2f} s (parent {r['parent_cpu']:.2f} s), peak RSS parent {r['parent_kb'] / 1024:.0f} MB,"
                  f" workers [{workers}] MB, load {r['load'][0]:.2f} -> {r['load'][1]:.2f}", flush=True)
    if len(settings) > 1:
        a, b = results[settings[0]][-1]["out"], results[settings[-1]][-1]["out"]
        same = all(filecmp.cmp(a / n, b / n, shallow=False) for n in os.listdir(a)) and \
            sorted(os.listdir(a)) == sorted(os.listdir(b))
        print(f"outputs identical: {same}")
    print("\n| jobs | wall (median) | CPU (median) | parent peak RSS | worker peak RSS (max) |")
    print("|---|---|---|---|---|")
    for j in settings:
        rs = results[j]
        wall, cpu = statistics.median(r["wall"] for r in rs), statistics.median(r["cpu"] for r in rs)
        worker = max((max(r["worker_kb"], default=0) for r in rs), default=0)
        print(f"| {j} | {wall:.2f} s | {cpu:.2f} s | {max(r['parent_kb'] for r in rs) / 1024:.0f} MB | "
              f"{worker / 1024:.0f} MB |")
    if len(settings) > 1:
        base = statistics.median(r["wall"] for r in results[settings[0]])
        for j in settings[1:]:
            print(f"speed-up jobs {j} vs {settings[0]}: {base / statistics.median(r['wall'] for r in results[j]):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
