"""The run-level index: cross-claim verdicts are the same in one process and with --jobs 2."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest

from scrubber import split
from scrubber.api import Options
from scrubber.config import resolve
from scrubber.importers.ncci import import_files
from scrubber.parallel import scrub_files
from scrubber.reports import claims as claims_of
from scrubber.runindex import KeyTable, RunIndex, digest, pack_code, unpack_code
from scrubber.synth import file_837

NCCI = Path(__file__).parent / "ncci"
NOW = dt.datetime(2025, 2, 3, 9, 30)


def _claims() -> tuple[list[dict], dict[str, set[str]]]:
    """400 claims in 2000A loops of 10; pairs whose two halves sit far apart, and what each must get."""
    rng = random.Random(12)
    claims = [{"id": f"C{i}", "member_id": f"M{i}", "lines": [{"code": rng.choice(["99213", "99214"]), "dos": "2024-05-02"}]}
              for i in range(400)]
    expect: dict[str, set[str]] = {}
    # (first position, later position, lines of the first, lines of the later, edit the later gets)
    pairs = [
        (3, 390, [{"code": "99213"}], [{"code": "99213"}], "PRO-DUPLICATE-CLAIM"),
        (20, 300, [{"code": "64615"}], [{"code": "64612"}], "NCCI-PTP"),  # column two later
        (40, 350, [{"code": "64612"}], [{"code": "64615"}], "NCCI-PTP"),  # column one later
        (60, 280, [{"code": "64642"}], [{"code": "64642"}, {"code": "J0585", "mods": ["JZ"], "units": "10"}], "NCCI-MUE"),
    ]
    for n, (a, b, first, later, edit) in enumerate(pairs):
        member = f"PAIR{n}"
        claims[a] = {"id": f"P{n}A", "member_id": member, "lines": [{**ln, "dos": "2024-05-02"} for ln in first]}
        claims[b] = {"id": f"P{n}B", "member_id": member, "lines": [{**ln, "dos": "2024-05-02"} for ln in later]}
        expect[f"P{n}B"] = {edit}
    # A repeated CLM01 whose first claim is rejected (out of balance): the later one is not a duplicate.
    claims[100] = {"id": "BAL", "member_id": "B1", "charge": "5.00", "lines": [{"code": "99213", "dos": "2024-05-02"}]}
    claims[380] = {"id": "BAL", "member_id": "B1", "lines": [{"code": "99213", "dos": "2024-05-02"}]}
    return claims, expect


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("ncci")
    import_files([NCCI], out)
    return str(out)


def test_jobs_2_gives_the_cross_claim_verdicts_of_one_process(tmp_path: Path, tables: str, monkeypatch) -> None:
    from test_parallel import small_pieces

    from scrubber import stitch

    small_pieces(monkeypatch)
    claims, expect = _claims()
    claims[200] = {"id": "AOC", "member_id": "A1", "lines": [{"code": "99292", "dos": "2020-06-01"}]}  # warns now
    src = tmp_path / "batch.837"
    src.write_text(file_837(claims, claims_per_billing=10, gs_date="2025-02-01"))
    planner = split.plan(src, 2)
    starts = [p.bases.ordinal for p in planner.pieces()]
    planner.close()
    assert len(starts) >= 8
    positions = {c["id"]: k for k, c in enumerate(claims)}
    for later in expect:
        a, b = positions[later[:-1] + "A"], positions[later]
        assert any(a < s <= b for s in starts), "the pair must straddle pieces"
    seeded: list[int] = []
    real_seeds = stitch.KeyFilter.seeds
    monkeypatch.setattr(stitch.KeyFilter, "seeds", lambda self, shared: seeded.append(len(shared)) or real_seeds(self, shared))
    one, two = tmp_path / "one", tmp_path / "two"
    # Rule control travels to the workers too: a severity changed there must be the parent's.
    rules = resolve(use_file=False, severity=["PRO-MODIFIER=warn", "NCCI-AOC=warn"])
    base = {"html": False, "now": NOW, "control_base": 700, "ncci": tables, "rules": rules}
    (_l, s1, e1), = scrub_files([str(src)], str(one), Options(**base), jobs=1)
    (_l, s2, e2), = scrub_files([str(src)], str(two), Options(**base, jobs=2), jobs=1)
    assert not e1 and not e2
    assert len(seeded) >= len(expect)  # later pieces were done again with the earlier claims they share keys with
    assert {p.name: p.read_bytes() for p in one.iterdir()} == {p.name: p.read_bytes() for p in two.iterdir()}
    report = json.loads((one / "batch.report.json").read_text())
    cross = {"PRO-DUPLICATE-CLAIM", "NCCI-PTP", "NCCI-MUE"}
    got = {c["claim_id"]: {f["edit"] for f in c["findings"] if f["edit"] in cross} for c in claims_of(report)}
    assert {k: v for k, v in got.items() if v} == expect
    # Every first half stays accepted; the later halves are rejected and point back to it.
    status = {c["claim_id"]: c["status"] for c in claims_of(report)}
    assert all(status[k[:-1] + "A"] == "accepted" and status[k] == "rejected" for k in expect)
    dup = next(f for c in claims_of(report) if c["claim_id"] == "P0B" for f in c["findings"])
    assert f"claim {positions['P0A'] + 1} of this file" in dup["message"]
    assert s1.rejected == s2.rejected == len(expect) + 1
    aoc = next(c for c in claims_of(report) if c["claim_id"] == "AOC")
    assert aoc["status"] == "accepted" and [f["severity"] for f in aoc["findings"] if f["edit"] == "NCCI-AOC"] == ["warn"]


def test_each_input_file_has_its_own_index(tmp_path: Path) -> None:
    """The same claim in two files of one run is no duplicate: a file is one submission batch."""
    for name in ("a", "b"):
        (tmp_path / f"{name}.837").write_text(file_837([{"id": "SAME", "lines": [{"code": "99213"}]}]))
    outcomes = scrub_files([str(tmp_path / "a.837"), str(tmp_path / "b.837")], str(tmp_path / "o"),
                           Options(html=False, now=NOW), jobs=2)
    assert [s.rejected for _l, s, _e in outcomes] == [0, 0]


def test_key_table_grows_and_keeps_every_key() -> None:
    table = KeyTable(4)
    keys = [digest("k", str(i)) for i in range(5000)]
    for i, k in enumerate(keys):
        table.put(k, i)
    assert len(table) == 5000
    assert all(table.get(k) == i for i, k in enumerate(keys))
    assert table.get(digest("absent")) is None
    table.put(keys[0], 77)
    assert table.get(keys[0]) == 77 and len(table) == 5000


def test_codes_pack_into_27_bits_and_back() -> None:
    for code in ("99213", "J0585", "0001A", "G0471", "ZZZZZ", "A", "64615"):
        n = pack_code(code)
        assert 0 < n < 1 << 27 and unpack_code(n) == code
    assert pack_code("ABCDEFG") < 0 and unpack_code(pack_code("ABCDEFG")) == "ABCDEFG"


def test_the_index_stays_small_per_claim() -> None:
    from scrubber.runindex import ClaimKeys, LineKey

    run = RunIndex()
    n = 20000
    for i in range(n):
        lines = tuple(LineKey(j + 1, j + 1, digest("d", str(i)), dt.date(2025, 1, 1), "99213", 1000, False, 0)
                      for j in range(2))
        run.record(ClaimKeys(i + 1, digest("c", str(i)), digest("i", str(i)), lines))
    assert run.nbytes() / n < 200  # about 100 bytes a claim of two lines; no claim content is kept
    assert run.first(digest("c", "123")) == 124
    assert [e.ordinal for e in run.day(digest("d", "5"))] == [6, 6]
