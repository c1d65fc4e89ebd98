"""HTML report at scale: ``python bench/html_load.py [--claims 20000,200000] [--repeat 3]``.

For each size a synthetic 837P (bench/generate.py, about 10% of claims rejected, 17% accepted with
warnings) is scrubbed with the HTML report (``scrubber scrub FILE -o DIR``: wall time and the
process's own peak RSS, through run.py's trampoline). The page is then opened ``--repeat`` times in
headless Chromium (Debian chromium + chromium-driver, as the tests drive it), each time in a fresh
tab after about:blank, and the Navigation Timing figures are read: DOMContentLoaded and load from
navigation start, the page script's first render of the rejected-claims index, and the moment every
list is ready; then a search over the rejected claims and a sort of the clean claims by payer, timed
in the page. Sizes of the page and of its embedded data blocks are printed too. Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import generate
from run import OUT, measure, print_machine, scrubber_cmd

PAGE_SCRIPT = """
var t = performance.timing, r = window.scrubReport;
return [t.domContentLoadedEventEnd - t.navigationStart, t.loadEventEnd - t.navigationStart, r.firstRender,
        r.allRendered, r.lists.rejected.rows.length, r.lists.warned.rows.length, r.lists.accepted.rows.length];
"""
INTERACT = """
var L = scrubReport.lists.rejected, A = scrubReport.lists.accepted, t0 = performance.now();
L.q = arguments[0]; L.apply(); var t1 = performance.now();
A.sortBy('payer'); var t2 = performance.now();
L.q = ''; L.apply(); A.sort = null; A.apply();
return [t1 - t0, t2 - t1, L.rows.length];
"""


def browser():  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000",
                "--disable-background-networking", "--disable-component-update", "--no-first-run"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    driver.set_page_load_timeout(300)
    return driver


def load_page(driver, page: Path) -> list[float]:  # type: ignore[no-untyped-def]
    driver.get("about:blank")
    driver.get(page.as_uri())
    while not driver.execute_script("return !!(window.scrubReport && scrubReport.ready)"):
        time.sleep(0.02)
    time.sleep(0.2)  # let loadEventEnd settle
    return driver.execute_script(PAGE_SCRIPT)


def blocks(page: Path) -> str:
    text = page.read_text(encoding="utf-8")
    sizes = []
    for kind in ("header", "rejected", "warned", "accepted"):
        start = text.index(f'id="data-{kind}">')
        sizes.append(f"{kind} {(text.index('</script>', start) - start) / 1e6:.1f} MB")
    return ", ".join(sizes)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--claims", default="20000,200000", help="comma-separated sizes (default 20000,200000)")
    p.add_argument("--repeat", type=int, default=3, help="page loads per size; medians are reported")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    print_machine()
    OUT.mkdir(exist_ok=True)
    driver = browser()
    rows = []
    try:
        for n in (int(x) for x in args.claims.split(",")):
            src = OUT / f"g{n}.x12"
            if not src.exists():
                with open(src, "w", encoding="latin-1", newline="") as fh:
                    generate.write(fh, n, args.seed)
            outdir = OUT / f"html-g{n}"
            run = measure([*scrubber_cmd(), "scrub", str(src), "-o", str(outdir)])
            if run.status not in (0, 1):
                sys.stderr.write(run.stderr)
                return 1
            page = outdir / f"g{n}.report.html"
            mb = page.stat().st_size / 1e6
            print(f"\n{n:,} claims: {run.stdout.strip()}\n  scrub with HTML: {run.seconds:.1f} s, peak RSS "
                  f"{run.rss_mb:.0f} MB; page {mb:.1f} MB ({blocks(page)})")
            loads = []
            for i in range(args.repeat):
                dcl, load, first, ready, rej, warn, acc = load_page(driver, page)
                search, sort, _ = driver.execute_script(INTERACT, "ivanov")
                loads.append((dcl, load, first, ready, search, sort))
                print(f"  load {i + 1}: DOMContentLoaded {dcl} ms, load {load} ms, first render {first:.0f} ms, "
                      f"all lists {ready:.0f} ms; search {search:.0f} ms, sort clean claims {sort:.0f} ms "
                      f"(lists: {rej:,} rejected, {warn:,} warned, {acc:,} clean)")
            med = [statistics.median(x[k] for x in loads) for k in range(6)]
            rows.append((n, mb, run.seconds, run.rss_mb, *med))
    finally:
        driver.quit()
    print("\n| claims | page | scrub with HTML (peak RSS) | DOMContentLoaded | index rendered | all lists ready "
          "| search | sort 1 column |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, mb, secs, rss, dcl, _load, first, ready, search, sort in rows:
        print(f"| {n:,} | {mb:.1f} MB | {secs:.1f} s ({rss:.0f} MB) | {dcl / 1000:.2f} s | {first / 1000:.2f} s "
              f"| {ready / 1000:.2f} s | {search:.0f} ms | {sort:.0f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
