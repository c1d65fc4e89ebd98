"""The engine's memory of claim shapes (scrubber.rules.shape) never changes a verdict.

The engine remembers, per claim shape, which checks with bounds found nothing, and skips them on
the next claim of that shape. These tests run the same claims through an engine with that memory
and one without, and require the same findings, field for field, in the same order: over the edit
cases (built to sit on either side of every table date), thousands of generated claims (the
benchmark's mix and a findings-heavy variant of it), mutated files and the public samples. The
memory engine sees every claim set twice, shuffled the second time, so most claims meet a shape
some other claim made first.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import sys
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, SAMPLES
from mutate import corpus

from scrubber.engine import GROUP_MEMO_SIZE, MEMO_SIZE, Engine
from scrubber.errors import InputError
from scrubber.model import ClaimUnit
from scrubber.rules.kinds import BOUNDS, KINDS, READS, WORDS_SIZE
from scrubber.rules.shape import FACETS, claim_shape, epoch_bounds
from scrubber.synth import file_837
from scrubber.x12.reader import Reader

TODAY = dt.date(2026, 1, 20)
CASES = Path(__file__).parent / "cases"


def _claims(data: bytes) -> list[ClaimUnit]:
    try:
        return [ev for ev in Reader(io.BytesIO(data)).events() if isinstance(ev, ClaimUnit)]
    except InputError:
        return []


def _same_verdicts(claims: list[ClaimUnit], seed: int = 1) -> int:
    """Checks every claim with and without the memory; returns how many claims skipped checks."""
    remembering, plain = Engine(today=TODAY), Engine(today=TODAY, memo=False)
    expected = [plain.check(c) for c in claims]
    order = list(range(len(claims)))
    random.Random(seed).shuffle(order)
    hits = 0
    for i in [*range(len(claims)), *order]:
        plan = remembering.plan_for(claims[i])
        known = claim_shape(claims[i], plan.bounds, plan.unit_codes) in plan.memo
        hits += known
        got = remembering.check(claims[i])
        assert got == expected[i], f"claim {claims[i].claim_id!r} (ordinal {claims[i].ordinal}): memory changed it"
    return hits


def _case_claims() -> Iterable[dict]:
    for path in sorted(CASES.rglob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        for case in doc["cases"]:
            if not (case.get("payers") or case.get("ncci") or case.get("replace")):
                yield from case.get("claims") or [case["claim"]]


def test_edit_cases_get_the_same_findings() -> None:
    claims = [c for spec in _case_claims() for c in _claims(file_837([spec]).encode("latin-1"))]
    assert len(claims) > 200
    assert _same_verdicts(claims) >= len(claims)  # the second round at least is remembered


def _bench_claims(n: int, heavy: bool) -> list[ClaimUnit]:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import generate
    finally:
        sys.path.pop(0)
    rng = random.Random(7)
    specs = list(generate.claims(n, seed=3))
    if heavy:
        for spec in specs:
            _faults(rng, spec)
    text = file_837(specs)
    return _claims(text.encode("latin-1"))


def _faults(rng: random.Random, spec: dict) -> None:
    """Two to five of the faults billers make: pointers, balance, diagnoses, add-ons, modifiers, units."""
    lines = spec["lines"]
    for fault in rng.sample(["ptr", "balance", "dx", "addon", "waste", "mod", "units"], rng.randint(2, 5)):
        line = rng.choice(lines)
        if fault == "ptr":
            line["ptr"] = str(len(spec["dx"]) + rng.randint(1, 3))
        elif fault == "balance":
            spec["charge"] = str(sum(Decimal(ln["charge"]) for ln in lines) + Decimal("10.00"))
        elif fault == "dx":
            spec["dx"] = [*spec["dx"][:-1], rng.choice(["G43.70", "G24.0", "I69.35", "Z41.1"])]
        elif fault == "addon":
            lines.append({"code": rng.choice(["95873", "95874", "64643"]), "charge": "140.00", "ptr": "1",
                          "units": rng.choice(["1", "2", "0", "1.5"])})
        elif fault == "waste":
            line["mods"] = rng.choice([["JW", "JZ"], [], ["JW"]])
        elif fault == "mod":
            line["mods"] = [rng.choice(["ZX", "Q9", "50", "RT", "LT", "59"])]
        else:
            line["units"] = rng.choice(["0", "-1", "2.5", "3", "12", "abc", ""])


@pytest.mark.parametrize("heavy", [False, True], ids=["realistic", "findings-heavy"])
def test_generated_claims_get_the_same_findings(heavy: bool) -> None:
    claims = _bench_claims(1500, heavy)
    assert len(claims) >= 1500
    hits = _same_verdicts(claims)
    assert hits > len(claims)  # beyond the replay, claims of the first round met known shapes


def test_steps_remember_by_the_facets_they_read() -> None:
    """Claims that differ only in a pointer still share what the modifier rules found (nothing)."""
    engine = Engine(today=TODAY)
    claims = _bench_claims(400, heavy=True)
    for c in claims:
        engine.check(c)
    plan = engine.plan_for(claims[0])
    index = {step[0].id: i for i, step in enumerate(plan.claim)}
    waste = index["CHEMO-WASTE-MODIFIER"]
    memo = plan.groups[plan.group_of[waste]].memo
    found = [{index for index, _verdict in steps} for steps in memo.values()]
    assert memo and any(waste not in indexes for indexes in found)
    assert any(waste in indexes for indexes in found)  # some claims broke the rule
    assert plan.group_of[index["X12-CLAIM-BALANCE"]] == -1  # no bounds: nothing remembered, it runs on every claim
    # the group's keys hold fewer facets than whole shapes, so they are fewer than the shapes seen
    assert len(memo) < len(plan.memo)


def test_mutated_files_and_samples_get_the_same_findings() -> None:
    samples = sorted(p for p in SAMPLES.glob("*") if p.is_file()) if SAMPLES.exists() else []
    claims = [c for _name, text in corpus(11, 300, samples) for c in _claims(text.encode("latin-1"))]
    claims += [c for p in samples for c in _claims(p.read_bytes())]
    assert len(claims) > 300
    _same_verdicts(claims)


def test_a_bound_splits_one_shape_into_epochs() -> None:
    """64614 was deleted on 2014-01-01: the same claim on either side of that day is not one shape."""
    def claim(i: int, day: str) -> ClaimUnit:
        spec = {"id": f"D{i}", "member_id": f"M{i}", "dx": ["G24.3"], "lines": [{"code": "64614", "dos": day}]}
        return _claims(file_837([spec]).encode())[0]

    before, on, again = claim(1, "2013-12-31"), claim(2, "2014-01-01"), claim(3, "2014-01-01")
    engine = Engine(today=TODAY)
    plan = engine.plan_for(before)
    assert dt.date(2014, 1, 1) in plan.bounds and dt.date(2014, 1, 2) in plan.bounds
    shapes = [claim_shape(c, plan.bounds, plan.unit_codes) for c in (before, on, again)]
    assert shapes[0] != shapes[1] and shapes[1] == shapes[2]
    assert not [f for f in engine.check(before) if f.edit == "CHEMO-CODE-DELETED"]
    assert [f.edit for f in engine.check(on) if f.edit == "CHEMO-CODE-DELETED"] == ["CHEMO-CODE-DELETED"]
    # a known shape whose deletion check found something: it runs again, and words this claim's finding
    assert [f.line for f in engine.check(again) if f.edit == "CHEMO-CODE-DELETED"] == [1]


def test_shape_leaves_out_ids_names_charges_and_plain_units() -> None:
    base = {"dx": ["G24.3"], "lines": [{"code": "64616", "charge": "395.00"},
                                        {"code": "J0585", "mods": ["JZ"], "units": "100", "charge": "725.00"}]}
    one = _claims(file_837([{**base, "id": "A1", "member_id": "M1", "last": "SMITH"}]).encode())[0]
    two = _claims(file_837([{**base, "id": "B2", "member_id": "M2", "last": "JONES",
                             "lines": [{**base["lines"][0], "charge": "400.00"},
                                       {**base["lines"][1], "units": "180", "charge": "1305.00"}]}]).encode())[0]
    engine = Engine(today=TODAY)
    plan = engine.plan_for(one)
    assert claim_shape(one, plan.bounds, plan.unit_codes) == claim_shape(two, plan.bounds, plan.unit_codes)
    # units of a code some kind sums (95874: one unit a day) are in the shape as written
    assert "95874" in plan.unit_codes and "J0585" not in plan.unit_codes


def test_one_memory_serves_the_steps_that_read_the_same_facets() -> None:
    """Two claims that differ only in a pointer: the group reading pointers learns a second key,
    the group reading modifiers (not pointers) knows the second claim already."""
    base = {"dx": ["G24.3", "M43.6"], "lines": [{"code": "64616", "ptr": "1"}, {"code": "95874", "ptr": "1"}]}
    one = _claims(file_837([{**base, "id": "P1"}]).encode())[0]
    two = _claims(file_837([{**base, "id": "P2", "lines": [{"code": "64616", "ptr": "2"},
                                                          {"code": "95874", "ptr": "1"}]}]).encode())[0]
    engine = Engine(today=TODAY)
    plan = engine.plan_for(one)
    index = {step[0].id: i for i, step in enumerate(plan.claim)}
    pointers = plan.groups[plan.group_of[index["X12-DX-POINTER"]]]
    mods = plan.groups[plan.group_of[index["PRO-MODIFIER"]]]
    assert plan.group_of[index["PRO-MODIFIER"]] == plan.group_of[index["PRO-DUPLICATE-LINE"]]  # both read mods
    assert pointers is not mods
    engine.check(one)
    engine.check(two)
    assert len(pointers.memo) == 2 and len(mods.memo) == 1
    engine.forget()
    assert not plan.memo and not pointers.memo and not mods.memo and not engine.context.words
    assert engine.check(two) == Engine(today=TODAY, memo=False).check(two)


def test_a_remembered_verdict_is_worded_for_each_claim() -> None:
    """Judged kinds: the second claim of a shape gets the first one's verdict, worded with its own
    line numbers, dates and segments (an add-on without its primary, a guidance pair, RT and LT)."""
    def claim(i: int, lx: int, day: str) -> ClaimUnit:
        lines = [{"code": "64643", "mods": ["LT"], "lx": lx, "dos": day},
                 {"code": "95873", "lx": lx + 1, "dos": day}, {"code": "95874", "lx": lx + 2, "dos": day},
                 {"code": "64612", "mods": ["RT"], "lx": lx + 3, "dos": day},
                 {"code": "64612", "mods": ["LT"], "lx": lx + 4, "dos": day}]
        spec = {"id": f"J{i}", "member_id": f"M{i}", "sbr09": "MB", "dx": ["G24.3"], "lines": lines}
        return _claims(file_837([spec]).encode())[0]

    first, second = claim(1, 1, "2025-03-03"), claim(2, 11, "2025-04-07")
    engine, fresh = Engine(today=TODAY), Engine(today=TODAY, memo=False)
    plan = engine.plan_for(first)
    assert claim_shape(first, plan.bounds, plan.unit_codes) == claim_shape(second, plan.bounds, plan.unit_codes)
    assert engine.check(first) == fresh.check(first)
    got = engine.check(second)
    assert got == fresh.check(second)
    judged = {"CHEMO-ADDON-WITHOUT-PRIMARY", "CHEMO-GUIDANCE-BOTH", "CHEMO-BILATERAL-MEDICARE"}
    assert judged <= {f.edit for f in got}
    assert all(f.line in range(11, 16) and "2025-04-07" in f.message for f in got if f.edit in judged)


def test_outcomes_are_kept_once_by_what_they_hold() -> None:
    """Equal outcomes share one object; outcomes holding other rows, even equal ones, do not."""
    import dataclasses

    from scrubber.engine import _stand_in

    row = Engine(today=TODAY).catalog.table("chemodenervation", "unit_limits")[0]
    twin = dataclasses.replace(row)
    assert twin == row and twin is not row
    one, same, other = ((3, ((row, 2, (1, 2)),)),), ((3, ((row, 2, (1, 2)),)),), ((3, ((twin, 2, (1, 2)),)),)
    assert _stand_in(one) == _stand_in(same) and hash(_stand_in(one)) == hash(_stand_in(same))
    assert _stand_in(one) != _stand_in(other)
    assert _stand_in(((1, None),)) != _stand_in(((1, True),)) != _stand_in(((1, 1),))
    assert _stand_in(((1, (frozenset({"64642"}), "a")),)) == _stand_in(((1, (frozenset({"64642"}), "a")),))


def test_the_memory_stays_bounded() -> None:
    assert MEMO_SIZE <= 1 << 16
    engine = Engine(today=TODAY)
    claims = _bench_claims(300, heavy=True)
    plan = engine.plan_for(claims[0])
    plan.memo.update({("filler", i): () for i in range(MEMO_SIZE)})
    for group in plan.groups:
        group.memo.update({(-1, i): () for i in range(GROUP_MEMO_SIZE)})
    words = engine.context.words
    assert words is not None
    pointer = plan.claim[next(i for i, step in enumerate(plan.claim) if step[0].id == "X12-DX-POINTER")][0]
    words[id(pointer)] = (pointer, {("filler", i): "" for i in range(WORDS_SIZE)})
    for claim in claims:
        engine.check(claim)
    assert len(plan.memo) <= MEMO_SIZE
    assert all(0 < len(texts) <= WORDS_SIZE for _edit, texts in words.values())
    assert len(words[id(pointer)][1]) < WORDS_SIZE  # it started again
    assert all(len(group.memo) <= GROUP_MEMO_SIZE for group in plan.groups)
    assert any(len(group.memo) < GROUP_MEMO_SIZE for group in plan.groups)  # some started again


def test_a_full_memory_keeps_shapes_from_their_second_sighting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the shape memory has filled up, a new shape is kept only when it comes again; the
    findings stay those of an engine without memory, and ``forget`` makes the engine new again."""
    import scrubber.engine as engine_module

    monkeypatch.setattr(engine_module, "MEMO_SIZE", 16)
    claims = _bench_claims(600, heavy=True)
    _same_verdicts(claims)  # (with a memory this small the choosy path runs on most claims)
    engine = Engine(today=TODAY)
    plan = engine.plan_for(claims[0])
    shapes = {}
    for c in claims:
        shapes.setdefault(claim_shape(c, plan.bounds, plan.unit_codes), c)
    assert len(shapes) > 3 * 16
    fresh = list(shapes.values())
    for c in fresh[:16]:
        engine.check(c)
        assert claim_shape(c, plan.bounds, plan.unit_codes) in plan.memo  # not full yet: kept at once
    assert not plan.choosy
    engine.check(fresh[16])  # the memory was full: it starts again, and is choosy from now on
    assert plan.choosy and len(plan.memo) == 1
    newcomer = fresh[17]
    shape = claim_shape(newcomer, plan.bounds, plan.unit_codes)
    engine.check(newcomer)
    assert shape not in plan.memo and hash(shape) in plan.seen  # seen once: not kept
    engine.check(newcomer)
    assert shape in plan.memo  # seen again: kept
    monkeypatch.setattr(engine_module, "SEEN_SIZE", 4)
    for c in fresh[18:30]:
        engine.check(c)
    assert 0 < len(plan.seen) <= 4  # bounded: it started again
    engine.forget()
    assert not plan.choosy and not plan.seen and not plan.memo


def test_kinds_with_bounds_are_the_ones_the_shape_documents() -> None:
    """A kind with bounds must read only what the shape holds, and with ``reads`` only those facets
    besides codes and dates: listed here, so that adding or widening one is a decision."""
    assert READS == {
        "diagnosis_pointer": ("pointers", "dx"), "service_date": ("claim",), "service_units": ("units",),
        "duplicate_line": ("mods",), "place_of_service": ("claim", "places"), "modifier_code": ("mods",),
        "icd_version": ("dx",), "icd_code_validity": ("dx", "pointers", "claim"),
        "payer_dx_covered": ("payer", "dx", "pointers"), "payer_dx_paired": ("payer", "dx", "pointers"),
        "payer_prior_auth": ("payer", "claim", "auth", "dx", "pointers"),
        "payer_policy_note": ("payer", "dx", "pointers"), "ncci_aoc": (), "code_validity": (), "addon_primary": (),
        "companion": (), "code_conflict": ("payer",), "unit_limit": ("payer", "units"),
        "bilateral_one_line": ("payer", "units", "mods"), "modifier_rule": ("payer", "mods"),
        "drug_units": ("payer", "units"), "ndc_format": ("payer", "drug"), "diagnosis_exclusion": ("payer", "dx", "pointers"),
    }
    assert set(READS) == set(BOUNDS) and set(BOUNDS) <= set(KINDS)
    assert all(set(names) <= set(FACETS) for names in READS.values())
    assert epoch_bounds([dt.date(2014, 1, 1)]) == (dt.date(2014, 1, 1), dt.date(2014, 1, 2))


def test_a_judged_check_replaced_on_the_plan_is_the_one_run() -> None:
    """As for any step: a check put in a plan's place (a wrapper, a test double) runs instead."""
    spec = {"id": "R1", "dx": ["G24.3"], "lines": [{"code": "64643", "mods": ["LT"]}]}
    claim = _claims(file_837([spec]).encode())[0]
    engine = Engine(today=TODAY)
    plan = engine.plan_for(claim)
    index = next(i for i, step in enumerate(plan.claim) if step[0].id == "CHEMO-ADDON-WITHOUT-PRIMARY")
    edit, params, check, trigger = plan.claim[index]
    calls = []

    def counted(*args):  # type: ignore[no-untyped-def]
        calls.append(1)
        return check(*args)

    plan.claim[index] = (edit, params, counted, trigger)
    found = engine.check(claim)
    assert calls and "CHEMO-ADDON-WITHOUT-PRIMARY" in {f.edit for f in found}
