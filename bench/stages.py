"""Where one core's time goes, stage by stage: ``python bench/stages.py FILE [--repeat 3] [--edits]``.

Times, as CPU seconds of this process (steadier than wall time on a shared machine), the median of
``--repeat`` runs of each stage of a default scrub (all packs, built-in validator, no HTML), in
microseconds per claim:

* ``tokenize``: segments out of the bytes (scrubber.x12.segments);
* ``read``: claim units out of the segments (the reader and claim building), tokenizer included;
* ``read+guide``: the same with the implementation-guide validator attached;
* ``check``: the per-claim edits (``Engine.check``) over claim units already read;
* ``check_run``: the cross-claim edits against the run index;
* one line per writer (277CA, accepted 837, JSON report, worklist), fed the scrubbed claims.

With ``--edits`` it also prints each edit's own share of ``check``. The whole scrub, start-up
included, is what ``bench/run.py`` times; this is for finding where to look.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import io
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from scrubber.api import Options, engine_for, make_writers
from scrubber.guide import GuideRun, _Tap
from scrubber.model import ClaimUnit, GroupEnd, InterchangeEnd, ScrubbedClaim, TransactionEnd
from scrubber.x12.reader import Reader
from scrubber.x12.segments import Tokenizer


def _median(fn: Callable[[], Any], repeat: int) -> float:
    # The claims held here for the later stages would make every full collection long, which a
    # streaming scrub never sees: collect between runs, not during them.
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
        gc.enable()
    return statistics.median(times)


def _events(data: bytes, guide: bool) -> int:
    reader = Reader(io.BytesIO(data))
    if guide:
        reader.tokenizer = _Tap(reader.tokenizer, GuideRun())
    return sum(1 for _ in reader.events())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("file")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--edits", action="store_true", help="each edit's share of the per-claim checks")
    args = p.parse_args(argv)
    data = open(args.file, "rb").read()
    options = Options(html=False, now=dt.datetime(2026, 1, 20, 12, 0), control_base=1)
    engine = engine_for(options)
    n = sum(1 for _ in Reader(io.BytesIO(data)).events() if isinstance(_, ClaimUnit))
    rows: list[tuple[str, float]] = []

    def per_claim(name: str, seconds: float) -> None:
        rows.append((name, seconds * 1e6 / n))
        print(f"{name:>14}: {seconds * 1e6 / n:8.1f} µs/claim", flush=True)

    per_claim("tokenize", _median(lambda: sum(1 for _ in Tokenizer(io.BytesIO(data))), args.repeat))
    per_claim("read", _median(lambda: _events(data, guide=False), args.repeat))
    per_claim("read+guide", _median(lambda: _events(data, guide=True), args.repeat))

    # The guide's errors are read back by X12-IG from the run that read the claims.
    reader = Reader(io.BytesIO(data))
    guide = GuideRun()
    reader.tokenizer = _Tap(reader.tokenizer, guide)
    events = list(reader.events())
    claims = [ev for ev in events if isinstance(ev, ClaimUnit)]
    engine.context.extra["guide"] = guide
    found: list[list[Any]] = []

    def check() -> None:
        engine.forget()  # each run starts as a scrub does: no claim shape seen yet
        found.clear()
        found.extend(engine.check(c) for c in claims)

    per_claim("check", _median(check, args.repeat))
    scrubbed: list[ScrubbedClaim] = []

    def check_run() -> None:
        scrubbed.clear()
        run = engine.new_run()
        for c, f in zip(claims, found, strict=True):
            scrubbed.append(ScrubbedClaim(c, f + engine.check_run(c, run, f)))

    per_claim("check_run", _median(check_run, args.repeat))
    by_claim = {id(s.claim): s for s in scrubbed}

    for key in ("277", "837", "json", "worklist"):
        def write(key: str = key) -> None:
            sinks = {k: io.StringIO(newline="") for k in ("277", "837", "json", "worklist")}  # C-level writes
            kind = {"277": "Ack277Writer", "837": "Accepted837Writer", "json": "JsonReportWriter",
                    "worklist": "WorklistWriter"}[key]
            writer = next(w for w in make_writers(sinks, "bench", options, engine, options.moment())
                          if type(w).__name__ == kind)
            for ev in events:
                if isinstance(ev, ClaimUnit):
                    writer.claim(by_claim[id(ev)])
                elif isinstance(ev, TransactionEnd):
                    writer.end_transaction(ev.transaction)
                elif isinstance(ev, GroupEnd):
                    writer.end_group(ev.group)
                elif isinstance(ev, InterchangeEnd):
                    writer.end_interchange(ev.interchange)
            writer.finish([])

        per_claim(f"write {key}", _median(write, args.repeat))
    total = sum(us for name, us in rows if name not in ("tokenize", "read"))
    print(f"{'total':>14}: {total:8.1f} µs/claim ({1e6 / total:,.0f} claims/s before start-up)")
    if args.edits:
        _edits(engine, claims, args.repeat)
    return 0


def _edits(engine: Any, claims: list[ClaimUnit], repeat: int) -> None:
    """Each per-claim step timed on its own over every claim (triggers applied as the engine does)."""
    ctx = engine.context
    plan = engine._default
    out = []
    for step in plan.claim:
        def run_step(step: Any = step) -> None:
            edit, params, check, trigger = step
            for c in claims:
                if c.problems:
                    continue
                ctx.claim_cache.clear()
                if trigger is not None and trigger.isdisjoint({ln.code for ln in c.lines}):
                    continue
                for _f in check(c, edit, params, ctx):
                    pass

        out.append((_median(run_step, repeat) * 1e6 / len(claims), step[0].id, step[2].__name__))
    for us, eid, kind in sorted(out, reverse=True):
        print(f"  {us:7.2f} µs  {eid:<32} {kind}")


if __name__ == "__main__":
    sys.exit(main())
