"""One file over two processes (--jobs 2) writes the outputs of one process, byte for byte.

Pieces are made a few kilobytes here, so that small files are cut in many: between interchanges,
groups and transactions, and inside transactions at billing-provider loops. Each test also checks
which path ran: the split path, or (for what only one pass can judge) the single-process path.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from test_parallel import small_pieces

from scrubber import split, stitch
from scrubber.api import Options, scrub_to_dir
from scrubber.errors import InputError
from scrubber.synth import interchange, transaction_segments

NOW = dt.datetime(2025, 2, 3, 9, 30)
ALL = {"277", "accepted.837", "report.json", "worklist.csv", "report.html"}


def _claims(prefix: str, n: int, *, payers: int = 3) -> list[dict]:
    out = []
    for i in range(n):
        lines = [{"code": "64616", "charge": "300.00"},
                 {"code": "J0585", "mods": ["JZ"], "units": "100", "charge": "700.00", "ptr": "2" if i % 11 == 0 else "1"}]
        claim = {"id": f"{prefix}{i}", "member_id": f"{prefix}M{i // 2}", "dependent": {"first": "KID"} if i % 5 == 0 else None,
                 "sbr09": "MB" if i % 3 else "CI", "payer_id": ["01112", "EHP01", "SHP77", "02202"][i % payers],
                 "charge": "1.00" if i % 13 == 0 else "1000.00", "dx": ["G24.3"], "lines": lines if i % 2 else lines[:1]}
        if i % 37 == 5:  # after the ICD-10-CM table's last year: counted for one file notice (a run-level tally)
            claim["line_dos"] = f"2026-1{i % 3}-0{1 + i % 7}"
        out.append(claim)
    return out


def composite() -> str:
    """Two interchanges; the first with two groups; transactions large (cut inside) and small."""
    big = transaction_segments(_claims("A", 260), control="0001", claims_per_billing=10)
    small = transaction_segments(_claims("B", 30), control="0002", claims_per_billing=7)
    one = interchange([big, small], control=1)
    later = _claims("C", 120, payers=4)
    later[100]["id"] = "A3"  # the claim id of a claim far back, from the same billing provider: a duplicate
    two = interchange([transaction_segments(later, control="0003", claims_per_billing=12)], control=2)
    three = interchange([transaction_segments(_claims("D", 90), control="0004", claims_per_billing=9),
                         transaction_segments(_claims("E", 5), control="0005")], control=3)
    # The second group of the first interchange: its ISA/IEA removed, so GE is followed by GS.
    two_body = two[two.index("GS*"):two.index("IEA*")]
    one = one[:one.index("IEA*")].replace("IEA*1*", "") + two_body + "IEA*2*000000001~\n"
    # Small interchanges after it, some of which a piece starts with.
    small_ones = "".join(interchange([transaction_segments(_claims(f"S{k}-", 12), control=f"{6 + k:04d}")], control=4 + k)
                         for k in range(8))
    return one + three + small_ones


def run_both(tmp_path: Path, src: Path, **kw) -> tuple[dict[str, bytes], dict[str, bytes], list]:
    used: list = []
    real = stitch.scrub_split
    stitch_calls = lambda *a, **k: used.append(real(*a, **k)) or used[-1]  # noqa: E731
    outs = []
    html = kw.pop("html", True)
    for jobs in (1, 2):
        folder = tmp_path / f"j{jobs}"
        options = Options(html=html, now=NOW, control_base=700, jobs=jobs, **kw)
        stitch.scrub_split = stitch_calls  # type: ignore[assignment]
        try:
            scrub_to_dir(src, folder, options=options)
        finally:
            stitch.scrub_split = real  # type: ignore[assignment]
        outs.append({p.name.split(".", 1)[1]: p.read_bytes() for p in folder.iterdir()})
    return outs[0], outs[1], used


def test_a_multi_piece_file_gives_every_output_byte_for_byte(tmp_path: Path, monkeypatch) -> None:
    small_pieces(monkeypatch)
    src = tmp_path / "multi.837"
    text = composite()  # with a duplicate of a claim in another piece
    text = text.replace("CLM*B5*1000.00***11:B:1", "CLM*B5*1000.00***11:B:1:Q", 1)
    src.write_text(text)
    planner = split.plan(src, 2)
    pieces = list(planner.pieces())
    planner.close()
    assert len(pieces) >= 10 and any(p.cont for p in pieces) and any(not p.cont and p.start for p in pieces)
    assert len({p.first_ix for p in pieces}) >= 4 and max(p.last_st for p in pieces) == 13
    assert any(p.start and not p.prefix for p in pieces)  # a piece that starts with an interchange
    one, two, used = run_both(tmp_path, src)
    assert used and used[-1] is not None, "the split path gave up"
    assert ALL <= set(one) and one == two
    assert "999" in one  # the guide error, acknowledged the same way
    assert b"PRO-DUPLICATE-CLAIM" in one["report.json"]
    assert b"23 claim(s) dated from 2026-10-01 to 2026-12-06" in one["report.json"]  # a tally over pieces


def _hl_shift(segs: list[str], at_billing: int) -> list[str]:
    """HL01/HL02 from the ``at_billing``-th 2000A on moved up by one: every HL after it breaks the HL count."""
    out, seen, start = [], 0, None
    for s in segs:
        if s.startswith("HL*"):
            els = s.split("*")
            if els[3] == "20":
                seen += 1
                if seen == at_billing:
                    start = int(els[1])
            if start is not None:
                els[1] = str(int(els[1]) + 1)
                if els[2] and int(els[2]) >= start:
                    els[2] = str(int(els[2]) + 1)
                s = "*".join(els)
        out.append(s)
    return out


def test_validator_errors_at_the_cuts_are_those_of_one_pass(tmp_path: Path, monkeypatch) -> None:
    """Each billing loop's last line lacks its required date, and HL numbers break halfway: gaps
    revealed by the HL a piece starts with, next to that HL's own error, in one pass's order."""
    small_pieces(monkeypatch)
    segs = transaction_segments(_claims("G", 300), control="0001", claims_per_billing=10)
    out = []
    for i, s in enumerate(segs):
        nxt = segs[i + 1] if i + 1 < len(segs) else ""
        if s.startswith("DTP*472") and nxt.startswith("HL*") and nxt.endswith("*20*1"):
            continue  # the last line of the last claim before a billing loop: its date is required
        out.append(s)
    out = _hl_shift(out, 9)
    src = tmp_path / "gaps.837"
    src.write_text(interchange([out]))
    one, two, used = run_both(tmp_path, src, html=False)
    assert used and used[-1] is not None
    ack = one["999"].decode()
    assert ack.count("IK3*DTP*") >= 20 and "IK4*1*628*I12" in ack  # gaps and HL counts both found
    assert one == two


def test_page_budgets_and_shared_text_caps_met_inside_a_piece(tmp_path: Path, monkeypatch) -> None:
    from scrubber.writers import report_html

    small_pieces(monkeypatch)

    class Small(report_html.Limits):
        def __init__(self, **kw) -> None:
            defaults = {"rejected_full_bytes": 30_000, "warned_bytes": 9_000, "accepted_bytes": 6_000, "strings": 7,
                        "payers": 2}
            super().__init__(**{**defaults, **kw})

    monkeypatch.setattr(report_html, "Limits", Small)
    src = tmp_path / "budgets.837"
    src.write_text(composite())
    one, two, used = run_both(tmp_path, src)
    assert used and used[-1] is not None
    page = one["report.html"].decode()
    assert "more are counted above but not listed" in page and "show every segment of the claim" in page
    assert one == two


@pytest.mark.parametrize("kind", ["empty-segment", "repeated-hl", "stray-parent"])
def test_what_only_one_pass_can_judge_is_read_in_one(kind: str, tmp_path: Path, monkeypatch) -> None:
    small_pieces(monkeypatch)
    segs = transaction_segments(_claims("H", 200), control="0001", claims_per_billing=10)
    billing = [i for i, s in enumerate(segs) if s.startswith("HL*") and s.endswith("*20*1")]
    if kind == "empty-segment":
        segs.insert(billing[-3] + 2, "")
    elif kind == "repeated-hl":
        segs[billing[-2]] = segs[billing[1]]
    else:  # a subscriber naming the first billing loop from far away
        sub = billing[-4] + 6
        segs[sub] = re.sub(r"^HL\*(\d+)\*\d+\*", r"HL*\1*1*", segs[sub])
    src = tmp_path / f"{kind}.837"
    src.write_text(interchange([segs]))
    one, two, used = run_both(tmp_path, src)
    assert used == [None], "the split path should have left this file to one pass"
    assert one == two


def test_a_plan_that_miscounts_is_corrected_by_the_pieces(tmp_path: Path, monkeypatch) -> None:
    """Segments after a CR LF where the file otherwise has LF: the pre-scan counts those claims
    wrong, the pieces count them right, and the pieces after them are done again."""
    small_pieces(monkeypatch)
    text = interchange([transaction_segments(_claims("K", 300), control="0001", claims_per_billing=10)])
    cut = text.index("CLM*K40*")
    text = text[:cut] + text[cut:text.index("CLM*K60*")].replace("~\nCLM*", "~\r\nCLM*") + text[text.index("CLM*K60*"):]
    src = tmp_path / "crlf.837"
    src.write_text(text, newline="")
    rounds: list[int] = []
    real = stitch._SplitRun._task
    monkeypatch.setattr(stitch._SplitRun, "_task", lambda self, p, r, *a: rounds.append(r) or real(self, p, r, *a))
    one, two, used = run_both(tmp_path, src)
    assert used and used[-1] is not None
    assert 2 in rounds
    assert one == two


def test_an_unusable_input_is_reported_at_its_place_in_the_file(tmp_path: Path, monkeypatch) -> None:
    small_pieces(monkeypatch)
    text = interchange([transaction_segments(_claims("L", 300), control="0001", claims_per_billing=10)])
    at = text.index("CLM*L250*")
    text = text[:at] + "NTE*ADD*" + "X" * 3000 + "~\n" + text[at:]
    src = tmp_path / "long.837"
    src.write_text(text)
    errors = []
    raised: list[str] = []
    real = stitch.scrub_split

    def split_run(*a, **k):
        try:
            return real(*a, **k)
        except InputError as exc:
            raised.append(str(exc))
            raise

    monkeypatch.setattr(stitch, "scrub_split", split_run)
    for jobs in (1, 2):
        with pytest.raises(InputError) as info:
            scrub_to_dir(src, tmp_path / f"e{jobs}", options=Options(jobs=jobs, max_segment=2000, now=NOW))
        errors.append(str(info.value))
    assert errors[0] == errors[1] == raised[0] and f"byte {at - 1})" in errors[0]  # the line break before it
    assert not any((tmp_path / "e2").iterdir())


def test_ctrl_c_stops_the_workers_and_leaves_no_partial_set(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    src = tmp_path / "big.837"
    src.write_text(interchange([transaction_segments(_claims("Z", 20000), control="0001", claims_per_billing=50)]))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "scrubber", "scrub", str(src), "-o", str(out), "--jobs", "2",
                             "--no-html"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    pieces = out / ".big.scrubber-stage" / "pieces"
    deadline = time.time() + 60
    # A worker's own file, not the parent's stitched ones (made before the workers are forked): the
    # interrupt is to reach the workers at work. (One in the parent's first moments is not this
    # test's case.)
    while not (pieces.exists() and any(not p.name.startswith("stitched") for p in pieces.iterdir())):
        assert time.time() < deadline and proc.poll() is None, "the workers never started"
        time.sleep(0.01)
    sent = time.time()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    _stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2 and b"interrupted" in stderr and b"Traceback" not in stderr, stderr
    assert time.time() - sent < 10, "the workers went on after Ctrl-C"
    assert sorted(os.listdir(out)) == []  # no output, no staging folder, no lock


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_files_with_faults_here_and_there_match_one_process(seed: int, tmp_path: Path, monkeypatch) -> None:
    """A seeded differential: twenty faults of the kinds real submitters make (tests/mutate.py),
    anywhere in a file cut in many pieces; every output must be one process's."""
    import random

    from mutate import mutate

    small_pieces(monkeypatch)
    rng = random.Random(seed)
    text = interchange([transaction_segments(_claims(f"R{seed}-", 240), control="0001", claims_per_billing=8),
                        transaction_segments(_claims(f"Q{seed}-", 40), control="0002", claims_per_billing=5)])
    for _ in range(20):
        text = mutate(text, rng)
    src = tmp_path / "faults.837"
    src.write_text(text, encoding="latin-1")
    one, two, used = run_both(tmp_path, src)
    assert one == two
    assert used  # the split path was tried (it may leave a fault only one pass can judge to it)


def test_a_batch_sent_twice_in_one_file(tmp_path: Path, monkeypatch) -> None:
    """Every claim of the second half repeats one of the first: each later piece is done again with
    the earlier claims it shares keys with, several at a time where they share none among themselves."""
    small_pieces(monkeypatch)
    claims = _claims("W", 150)
    twice = [transaction_segments(claims, control="0001", claims_per_billing=10),
             transaction_segments(claims, control="0002", claims_per_billing=10)]
    src = tmp_path / "twice.837"
    src.write_text(interchange(twice))
    early: list[int] = []
    real = stitch._SplitRun._ahead

    def ahead(self, head, result, pending):
        before = sum(slot.again is not None for slot in pending)
        real(self, head, result, pending)
        early.append(sum(slot.again is not None for slot in pending) - before)

    monkeypatch.setattr(stitch._SplitRun, "_ahead", ahead)
    one, two, used = run_both(tmp_path, src)
    assert used and used[-1] is not None
    assert one == two
    assert one["report.json"].count(b"PRO-DUPLICATE-CLAIM") >= 50
    assert sum(early) >= 1


def test_the_parents_key_filter_is_made_after_the_workers_are_forked(tmp_path: Path, monkeypatch) -> None:
    # The filter is sized by the file (32 MB at a million claims); made before the fork, every worker
    # would carry it in its resident memory without reading it.
    import multiprocessing

    small_pieces(monkeypatch)
    made: list[tuple[int, int]] = []
    real = stitch.KeyFilter

    class Watched(real):  # type: ignore[misc,valid-type]
        def __init__(self, expected_keys: int) -> None:
            made.append((expected_keys, len(multiprocessing.active_children())))
            super().__init__(expected_keys)

    monkeypatch.setattr(stitch, "KeyFilter", Watched)
    src = tmp_path / "multi.837"
    src.write_text(composite())
    one, two, used = run_both(tmp_path, src)
    assert used and used[-1] is not None, "the split path gave up"
    sized = [children for keys, children in made if keys > 0]
    assert sized and all(children >= 2 for children in sized), made
    assert one == two


def test_a_split_run_makes_no_spool_only_to_drop_it(tmp_path: Path, monkeypatch) -> None:
    # Split runs' writers hold rows in the pieces' files; a spool the base writer made and the split
    # writer replaced would run Python in its __del__, where a Ctrl-C can land and be swallowed
    # ("Exception ignored in SpooledTemporaryFile.__del__"; once a run that then finished).
    import tempfile
    from concurrent.futures import Future

    class InProcess:  # the workers' code in this process, so that their spools are counted too
        def __init__(self) -> None:
            self._processes: dict = {}

        def submit(self, fn, *args):  # type: ignore[no-untyped-def]
            done: Future = Future()
            done.set_result(fn(*args))
            return done

        def shutdown(self, **_kw) -> None:
            pass

    small_pieces(monkeypatch)
    real = tempfile.SpooledTemporaryFile
    made: list[int] = []
    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", lambda *a, **k: made.append(1) or real(*a, **k))
    monkeypatch.setattr(stitch, "process_pool", lambda _jobs: InProcess())
    split_run = stitch.scrub_split
    used: list = []
    monkeypatch.setattr(stitch, "scrub_split", lambda *a, **k: used.append(split_run(*a, **k)) or used[-1])
    src = tmp_path / "multi.837"
    src.write_text(composite())
    spools, outputs = {}, {}
    for jobs in (1, 2):  # with the HTML report
        made.clear()
        scrub_to_dir(src, tmp_path / f"j{jobs}", options=Options(html=True, now=NOW, control_base=700, jobs=jobs))
        spools[jobs] = len(made)
        outputs[jobs] = {p.name: p.read_bytes() for p in (tmp_path / f"j{jobs}").iterdir()}
    assert used and used[-1] is not None, "the split path gave up"
    assert outputs[1] == outputs[2]
    assert spools[1] >= 5 and spools[2] == 0, spools  # one process: the 277CA's blocks, JSON rows, the page's lists
