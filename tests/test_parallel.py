"""Parallel runs (process pool, Dask cluster) write the same outputs as a single-process run."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from conftest import FIXTURES

from scrubber.api import Options
from scrubber.cli import main
from scrubber.parallel import scrub_files, scrub_on_dask
from scrubber.progress import Progress
from scrubber.synth import file_837, interchange, transaction_segments

OPTIONS = Options(html=True, now=dt.datetime(2025, 2, 3, 9, 30), control_base=700)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("in")
    paths = [str(FIXTURES / n) for n in ("mixed.837", "chemo-mixed.837", "multi-interchange.837")]
    for i in range(3):
        p = folder / f"gen{i}.837"
        p.write_text(file_837([{"id": f"G{i}-{j}", "member_id": f"M{j}", "charge": "1.00" if j % 4 == 0 else "100.00",
                                "dx": ["G24.3"], "lines": [{"code": "64616" if j % 2 else "99213", "charge": "100.00"}]}
                               for j in range(40)], control=i + 1))
        paths.append(str(p))
    (folder / "broken.837").write_text("ISA*00*this is not a whole interchange")
    return [*paths, str(folder / "broken.837")]


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def single(inputs, tmp_path_factory) -> tuple[dict[str, bytes], list]:
    out = tmp_path_factory.mktemp("single")
    outcomes = scrub_files(inputs, str(out), OPTIONS, jobs=1)
    return _outputs(out), outcomes


def _same(outcomes, reference) -> None:
    assert [(label, s is None, err) for label, s, err in outcomes] == [(label, s is None, err) for label, s, err in reference]
    assert [(s.claims, s.accepted, s.rejected) for _l, s, _e in outcomes if s] == \
        [(s.claims, s.accepted, s.rejected) for _l, s, _e in reference if s]


def test_process_pool_writes_the_same_files(inputs, single, tmp_path: Path) -> None:
    reference, ref_outcomes = single
    outcomes = scrub_files(inputs, str(tmp_path), OPTIONS, jobs=2)
    _same(outcomes, ref_outcomes)
    assert _outputs(tmp_path) == reference
    # the broken input wrote nothing; mixed and multi-interchange have guide errors: a 999 each
    assert len(reference) == 6 * 5 + 2 and {"mixed.999", "multi-interchange.999"} <= set(reference)
    assert outcomes[-1][1] is None and "ISA" in outcomes[-1][2]


def test_dask_local_cluster_writes_the_same_files(inputs, single, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    reference, ref_outcomes = single
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        outcomes = scrub_on_dask(client, inputs, str(tmp_path), OPTIONS)
    _same(outcomes, ref_outcomes)
    assert _outputs(tmp_path) == reference


def test_dask_from_the_command_line(inputs, tmp_path: Path, capsys) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as cluster:
        code = main(["scrub", *inputs[:2], "-o", str(tmp_path), "--no-html", "--dask", cluster.scheduler_address])
    assert code == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "chemo-mixed.277", "chemo-mixed.accepted.837", "chemo-mixed.report.json", "chemo-mixed.worklist.csv",
        "mixed.277", "mixed.999", "mixed.accepted.837", "mixed.report.json", "mixed.worklist.csv"]


def test_unreachable_scheduler_exits_2(tmp_path: Path, capsys) -> None:
    pytest.importorskip("distributed")
    assert main(["scrub", str(FIXTURES / "mixed.837"), "-o", str(tmp_path), "--dask", "tcp://127.0.0.1:9"]) == 2
    assert "cannot reach the dask scheduler" in capsys.readouterr().err


def test_progress_only_on_a_terminal() -> None:
    quiet = io.StringIO()
    p = Progress(3, quiet)
    p.file_done(10)
    p.close()
    assert quiet.getvalue() == ""
    shown = io.StringIO()
    p = Progress(2, shown, force=True)
    p.file_done(100)
    p.file_done(50)
    p.close()
    text = shown.getvalue()
    assert "2/2 files" in text and "150 claims" in text and "claims/s" in text


def _big_file(path: Path) -> None:
    """Two transactions of many billing-provider loops, with dependents, errors and chemodenervation."""
    txns = []
    for st in range(2):
        claims = []
        for i in range(300):
            lines = [{"code": "64616", "charge": "300.00"}, {"code": "J0585", "mods": ["JZ"], "units": "100",
                                                               "charge": "700.00", "ptr": "2" if i % 11 == 0 else "1"}]
            claims.append({"id": f"S{st}-{i}", "member_id": f"M{i // 2}", "billing_npi": "1234567893",
                           "dependent": {"first": "KID"} if i % 5 == 0 else None, "sbr09": "MB" if i % 3 else "CI",
                           "payer_id": "01112" if i % 3 else "EHP01", "charge": "1.00" if i % 13 == 0 else "1000.00",
                           "dx": ["G24.3"], "lines": lines if i % 2 else lines[:1]})
        segs = transaction_segments(claims, control=f"{st + 1:04d}", claims_per_billing=25)
        if st == 1:
            # Two billing-provider loops far apart reuse one HL id: a problem only the whole ST shows.
            hls = [k for k, s in enumerate(segs) if s.startswith("HL*") and s.endswith("*20*1")]
            segs[hls[-1]] = segs[hls[0]]
        txns.append(segs)
    path.write_text(interchange(txns))


def small_pieces(monkeypatch) -> None:
    """Pieces of a few kilobytes, so that a small test file is cut in many (and inside transactions)."""
    from scrubber import split

    for name, value in (("MIN_SPLIT_BYTES", 0), ("FIRST_PIECE", 4096), ("MIN_PIECE", 8192), ("MAX_PIECE", 16384)):
        monkeypatch.setattr(split, name, value)


def test_one_file_over_two_processes_writes_the_same_files(tmp_path: Path, monkeypatch) -> None:
    from scrubber import split

    small_pieces(monkeypatch)
    src = tmp_path / "big.837"
    _big_file(src)
    planner = split.plan(src, 2)
    pieces = list(planner.pieces())
    planner.close()
    assert len(pieces) >= 8 and any(p.cont for p in pieces) and pieces[-1].bases.ordinal < 600
    single, double = tmp_path / "one", tmp_path / "two"
    (_l1, s1, _e1), = scrub_files([str(src)], str(single), OPTIONS, jobs=1)
    split_options = Options(html=True, now=OPTIONS.now, control_base=OPTIONS.control_base, jobs=2)
    (_l2, s2, _e2), = scrub_files([str(src)], str(double), split_options, jobs=1)
    assert (s1.claims, s1.accepted, s1.rejected) == (s2.claims, s2.accepted, s2.rejected) == (600, s1.accepted, s1.rejected)
    assert s1.rejected > 0 and s1.accepted > 0
    assert _outputs(single) == _outputs(double)
    report = (single / "big.report.json").read_text()
    assert "X12-STRUCTURE" in report  # the repeated HL id was seen, and the same way in both runs
    assert "X12-IG" in report and (single / "big.999").read_text() == (double / "big.999").read_text()


def test_claims_outside_billing_loops_do_not_shift_the_others(tmp_path: Path, monkeypatch) -> None:
    small_pieces(monkeypatch)
    src = tmp_path / "odd.837"
    _big_file(src)
    text = src.read_text(encoding="latin-1")
    # A subscriber loop and its claim before the first billing-provider loop of the second ST.
    first_hl = text.index("HL*1**20*1~", text.index("ST*837*0002"))
    stray = "HL*99**22*0~SBR*P*18*******CI~NM1*IL*1*DOE*X****MI*Z1~NM1*PR*2*P*****PI*EHP01~" \
            "CLM*STRAY*1.00***11:B:1*Y*A*Y*Y~HI*ABK:G243~LX*1~SV1*HC:99213*1.00*UN*1***1~DTP*472*D8*20250110~"
    src.write_text(text[:first_hl] + stray + text[first_hl:], encoding="latin-1")
    one, two = tmp_path / "one", tmp_path / "two"
    scrub_files([str(src)], str(one), OPTIONS, jobs=1)
    split_options = Options(html=True, now=OPTIONS.now, control_base=OPTIONS.control_base, jobs=2)
    scrub_files([str(src)], str(two), split_options, jobs=1)
    assert _outputs(one) == _outputs(two)
