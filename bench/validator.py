"""The built-in implementation-guide validator against pyx12 on the same file, in one process.

    python bench/validator.py bench/out/g10000.x12 [--pyx12-claims 2000] [--repeat 3]

Times, as CPU seconds of this process (steadier than wall time on a shared machine), the median
of ``--repeat`` runs of:

* reading the file (tokenizer, reader, claim units): the scrubber's floor;
* reading it with the built-in validator attached: the difference is what the validator costs;
* pyx12 validating the same file (``x12n_document`` with its map cached), on at most
  ``--pyx12-claims`` claims of it (the first interchange's transactions, cut there), scaled per claim.

Both validators do the same job here: every segment of every claim checked against the 837P map,
errors collected, nothing else. The scrub as a whole is timed by bench/run.py.
"""

from __future__ import annotations

import argparse
import io
import logging
import statistics
import sys
import time
from pathlib import Path

from scrubber.guide import GuideRun, _Tap
from scrubber.model import ClaimUnit
from scrubber.x12.reader import Reader


def _read(data: bytes, guide: bool) -> int:
    reader = Reader(io.BytesIO(data))
    if guide:
        reader.tokenizer = _Tap(reader.tokenizer, GuideRun())
    return sum(1 for ev in reader.events() if isinstance(ev, ClaimUnit))


def _head(text: str, claims: int) -> tuple[str, int]:
    """The first ``claims`` claims of a generated file as a file of their own (SE/GE/IEA rebuilt)."""
    term = text[105]
    segs = text.split(term)
    out, n, count = [], 0, 0
    for seg in segs:
        sid = seg.strip().split("*", 1)[0]
        if sid == "CLM":
            n += 1
            if n > claims:
                break
        if sid == "ST":
            count = 0
        if sid not in ("ISA", "GS", "GE", "IEA", "SE"):
            count += 1
        if sid == "SE":
            continue
        out.append(seg)
    body = term.join(out)
    control = text.split("ST*837*", 1)[1].split("*", 1)[0]
    tail = f"{term}\nSE*{count}*{control}{term}\nGE*1*1{term}\nIEA*1*000000001{term}\n"
    return body + tail, min(n, claims)


def _pyx12(text: str) -> None:
    import pyx12.params
    import pyx12.x12n_document

    pyx12.x12n_document.x12n_document(param=pyx12.params.params(), src_file=io.StringIO(text), fd_997=io.StringIO(),
                                      fd_html=None, fd_xmldoc=None, fd_json=io.StringIO(), map_path=None)


def _median_cpu(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file")
    p.add_argument("--pyx12-claims", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    data = Path(args.file).read_bytes()
    claims = _read(data, False)
    _read(data, True)  # warm: tables loaded, expressions compiled
    plain = _median_cpu(lambda: _read(data, False), args.repeat)
    guided = _median_cpu(lambda: _read(data, True), args.repeat)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    import oracle  # noqa: F401  (caches pyx12's map between calls, as the test suite does)

    head, n = _head(data.decode("latin-1"), args.pyx12_claims)
    _pyx12(head)  # warm: its map loaded once
    theirs = _median_cpu(lambda: _pyx12(head), args.repeat)
    per = lambda seconds, count: seconds / count * 1e6  # noqa: E731
    ours_total = per(guided, claims)
    print(f"file: {args.file}, {claims:,} claims; pyx12 on the first {n:,}; CPU time, median of {args.repeat}")
    print("| what | µs a claim | claims/s |")
    print("|---|---:|---:|")
    print(f"| reading only | {per(plain, claims):.1f} | {claims / plain:,.0f} |")
    print(f"| reading + built-in validator | {ours_total:.1f} | {claims / guided:,.0f} |")
    print(f"| the validator's own share | {per(guided - plain, claims):.1f} | |")
    print(f"| pyx12 (map cached) | {per(theirs, n):.1f} | {n / theirs:,.0f} |")
    print(f"\nbuilt-in (reading included) is {per(theirs, n) / ours_total:.0f}x faster than pyx12;"
          f" the validator alone {per(theirs, n) / per(guided - plain, claims):.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
