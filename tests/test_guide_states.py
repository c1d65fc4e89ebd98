"""The validator's states (scrubber.guide.steps): steps taken without counting find what counting finds.

A state is learned once a file has repeated itself a little, so the files here are long enough
for that, and their faults come late: a segment over its maximum, a loop over its maximum (101
claims under one subscriber, 51 lines in one claim), a required segment missing, a wrong LX,
faults of every kind the differential test's mutator makes. Each must come out exactly as the
full path (every segment checked in full) finds it, with the states in use, with few of them
allowed, and after an error has sent the walk back to counting.
"""

from __future__ import annotations

import datetime as dt
import io
import random

import pytest
from mutate import _element_mutation, _join, _segments, synthetic_claims
from test_guide import _by_feed, _errors

from scrubber.errors import InputError
from scrubber.guide import GuideRun, _Tap
from scrubber.model import ClaimUnit
from scrubber.synth import file_837
from scrubber.x12 import reader as reader_module
from scrubber.x12 import segments as segments_module
from scrubber.x12.reader import Reader
from scrubber.x12.segments import Tokenizer


def _by_tap(data: bytes, max_states: int | None = None) -> GuideRun:
    run = GuideRun()
    if max_states is not None:
        run.states.limit = max_states
    for _seg in run.tap(Tokenizer(io.BytesIO(data))):
        pass
    return run


def _claims(n: int, lines: int = 1, member: str | None = None) -> list[dict]:
    return [{"id": f"C{i}", "member_id": member or f"M{i % 7}", "dx": ["G24.3"],
             "lines": [{"code": "99213", "charge": "100.00"} for _ in range(lines)]} for i in range(n)]


def _same(text: str, max_states: int | None = None) -> list[tuple]:
    """The errors of the tap (states) and of the full path: asserted equal, returned."""
    data = text.encode("latin-1")
    full = _errors(_by_feed(data))
    fast = _by_tap(data, max_states)
    assert _errors(fast) == full
    if max_states is not None:
        assert len(fast.states) <= max_states
    return full


def _late_fault(text: str, rng: random.Random) -> str:
    """One fault of the mutator's kinds in the last third of the claims."""
    term, segs = _segments(text)
    first = [i for i, s in enumerate(segs) if s.startswith("CLM*")][len([s for s in segs if s.startswith("CLM*")]) * 2 // 3]
    i = rng.randrange(first, len(segs) - 3)  # not SE, GE, IEA
    kind = rng.randrange(4)
    if kind == 0:
        del segs[i]
    elif kind == 1:
        segs.insert(i, segs[i])
    elif kind == 2 and not segs[i + 1].startswith("SE*"):
        segs[i], segs[i + 1] = segs[i + 1], segs[i]
    else:
        segs[i] = _element_mutation(rng, segs[i])
    return _join(segs, term)


def test_states_are_taken_and_stay_few_whatever_the_number_of_claims() -> None:
    # A count without a maximum (subscribers under a billing provider) is kept as "not 0":
    # the states of 40 and of 400 claims of the same shapes are the same states.
    small = _by_tap(file_837(_claims(40)).encode())
    large = _by_tap(file_837(_claims(400)).encode())
    assert small.errors == large.errors == 0
    assert 10 < len(small.states) == len(large.states) < 100


def test_a_loop_over_its_maximum_is_found_with_states() -> None:
    claims = _claims(101, member="M1")  # 2300 repeats at most 100 times in one subscriber loop
    errors = _same(file_837(claims))
    assert [(e[2], e[3]) for e in errors] == [("CLM", "4")]
    lines = _claims(3, lines=51)  # 2400: at most 50 lines
    errors = _same(file_837(lines[:2] + lines[2:]))
    assert {(e[2], e[3]) for e in errors} == {("LX", "4")}


def test_segment_faults_after_states_are_learned_come_out_as_on_the_full_path() -> None:
    text = file_837(_claims(30, lines=3))
    term, segs = _segments(text)
    claims = [i for i, s in enumerate(segs) if s.startswith("CLM*")]

    def first(claim: int, text: str) -> int:
        return next(i for i in range(claims[claim], len(segs)) if segs[i].startswith(text))

    faulty = list(segs)
    del faulty[first(28, "HI*")]  # HI (required) missing
    faulty.insert(first(27, "DTP*472"), segs[first(27, "DTP*472")])  # DTP over its maximum
    faulty[first(26, "LX*2")] = "LX*7"  # a wrong line number never seen
    for claim in (24, 25):  # a wrong line number, in a text known at that node (twice: the second from memory)
        faulty[first(claim, "LX*3")] = "LX*2"
    errors = _same(_join(faulty, term))
    assert sorted((e[2], e[3], e[4]) for e in errors) == [("DTP", "5", ""), ("HI", "3", ""), *[("LX", "8", "lx")] * 3]


@pytest.mark.parametrize("seed", range(40))
def test_late_faults_of_every_kind_come_out_as_on_the_full_path(seed: int) -> None:
    rng = random.Random(seed)
    base = file_837(synthetic_claims(rng, 30))
    _same(_late_fault(_late_fault(base, rng), rng))


def test_few_states_allowed_change_nothing() -> None:
    rng = random.Random(5)
    found = 0
    for _ in range(10):
        text = _late_fault(file_837(synthetic_claims(rng, 30)), rng)
        found += len(_same(text, max_states=8))
        _same(text, max_states=0)
    assert found > 0


def test_numbers_stay_right_across_empty_segments_and_interchanges() -> None:
    # The tap numbers segments from their place in the tokenizer's runs: empty segments (not
    # counted) and a second interchange must not shift the numbers its errors carry.
    term, segs = _segments(file_837(_claims(20, lines=2)))
    claims = [i for i, s in enumerate(segs) if s.startswith("CLM*")]
    faulty = list(segs)
    dtp = next(i for i in range(claims[15], len(segs)) if segs[i].startswith("DTP*472"))
    faulty.insert(dtp, segs[dtp])  # DTP over its maximum, after empty segments
    for at in (claims[14], claims[12] + 2, claims[3]):
        faulty[at:at] = ["", ""]
    text = _join(faulty, term)
    number = dtp + 2 - next(i for i, x in enumerate(segs) if x.startswith("ST*"))  # the second DTP; empties uncounted
    errors = _same(text + text.replace("000000001", "000000002"))
    assert [(e[0][0], e[1], e[2], e[3]) for e in errors if e[2] == "DTP"] == [(1, number, "DTP", "5"),
                                                                           (2, number, "DTP", "5")]


def _read(data: bytes, guided: bool) -> list[tuple]:
    """What the reader makes of ``data``, with the validator's lists (guided) or segment by segment."""
    reader = Reader(io.BytesIO(data))
    if guided:
        reader.tokenizer = _Tap(reader.tokenizer, GuideRun())  # type: ignore[assignment]
    out: list[tuple] = []
    try:
        for ev in reader.events():
            segs = getattr(ev, "segments", None) or [getattr(ev, "segment", None)]
            out.append((type(ev).__name__, [(s.number, s.offset, s.raw) for s in segs if s is not None]))
            if isinstance(ev, ClaimUnit):
                loops = [ev.billing, ev.subscriber, ev.patient]
                out.append(("loops", [[(s.number, s.raw) for s in loop.segments] for loop in loops if loop]))
    except InputError as exc:
        out.append(("error", str(exc), exc.offset, exc.segment))
    return out


def test_the_reader_makes_the_same_units_from_the_validators_lists() -> None:
    # With the validator in its tokenizer the reader takes runs of segments as lists (numbering
    # them only): units, numbers and loops must be those it makes segment by segment.
    rng = random.Random(3)
    term, segs = _segments(file_837(synthetic_claims(rng, 40)))
    with_empty = list(segs)
    for at in (60, 30, 12):
        with_empty[at:at] = [""]
    texts = [file_837(synthetic_claims(rng, 40)), _join(with_empty, term)]
    texts.append(texts[0] + texts[1].replace("000000001", "000000002"))
    texts += [_late_fault(file_837(synthetic_claims(rng, 30)), rng) for _ in range(12)]
    # a fault in a claim's last segment: the next CLM is taken on the walker's counts
    term, segs = _segments(file_837(_claims(12, lines=2)))
    last = [i - 1 for i, x in enumerate(segs) if x.startswith("CLM*")][9]
    texts.append(_join([*segs[:last], segs[last] + "*X", *segs[last + 1:]], term))
    for text in texts:
        data = text.encode("latin-1")
        assert _read(data, guided=True) == _read(data, guided=False)


def test_a_claim_too_long_is_refused_alike_from_the_validators_lists(monkeypatch) -> None:
    monkeypatch.setattr(reader_module, "MAX_UNIT_SEGMENTS", 30)
    data = file_837(_claims(3) + _claims(1, lines=12) + _claims(2)).encode()
    guided = _read(data, guided=True)
    assert guided[-1][0] == "error" and "more than 30 segments" in guided[-1][1]
    assert guided == _read(data, guided=False)


def test_the_validators_lists_hold_no_more_than_a_read(monkeypatch) -> None:
    # A unit's segments reach the reader at the end of each read at the latest: what the tap
    # holds stays bounded by the read size (1,024 characters: at most 146 segments of 7 or
    # more), whatever the length of the unit (here about 300 segments a claim).
    monkeypatch.setattr(segments_module, "CHUNK", 1024)
    lines = [{"code": "J0585", "charge": "10.00", "ref6r": f"L{j}", "ndc": "00023114501", "ndc_qty": "1",
              "ndc_unit": "UN"} for j in range(50)]
    data = file_837([{"id": f"C{i}", "member_id": "M1", "dx": ["G24.3"], "lines": lines} for i in range(3)]).encode()
    run = GuideRun()
    lists = [len(item) for item in run.units(Tokenizer(io.BytesIO(data))) if isinstance(item, list)]
    assert run.errors == 0 and sum(lists) > 800 and max(lists) <= 146


def test_texts_are_no_longer_remembered_where_none_comes_twice() -> None:
    # Claim ids and line control numbers are new in every claim: after a window of them the
    # validator stops remembering texts there (only the expression is matched); service dates
    # (300 of them, each in three claims in a row: more than a window of 256) stay remembered.
    day = dt.date(2025, 1, 1)
    claims = [{"id": f"C{i}", "member_id": f"M{i % 40}", "dx": ["G24.3"],
               "lines": [{"code": "99213", "charge": "100.00", "ref6r": f"L{i}-1",
                          "dos": (day + dt.timedelta(days=i // 3)).isoformat()}]} for i in range(900)]
    data = file_837(claims).encode()
    fast = _by_tap(data)
    assert _errors(fast) == _errors(_by_feed(data)) == []
    entries = [e for node in fast._nodes.values() for v in node.ids.values()
               for e in (v.values() if isinstance(v, dict) else [v])]
    assert all(e.seen is None for e in entries if e.step.nxt.node.id == "CLM")
    assert any(e.seen is not None for e in entries if e.step.nxt.node.id == "DTP")
    assert sum(len(s) for s in fast._seen.values() if s) < 3 * 256


def test_hl02_must_name_an_hl_still_open_however_many_billing_providers_came_before() -> None:
    # pyx12 keeps every billing provider open (an HL02 may name the first after the second came),
    # but not a subscriber whose loop has been left; the open ones are looked up in a set.
    text = file_837([{"id": f"C{i}", "member_id": f"M{i}"} for i in range(6)], claims_per_billing=2)
    text = text.replace("HL*6*4*22*0", "HL*6*1*22*0")  # the first billing provider: still open
    text = text.replace("HL*8*7*22*0", "HL*8*5*22*0")  # a subscriber left behind: not open
    text = text.replace("HL*9*7*22*0", "HL*9*X*22*0")  # not a number
    segs = [x.strip() for x in text.split("~") if x.strip()]
    st = next(i for i, x in enumerate(segs) if x.startswith("ST*"))
    errors = _same(text)
    assert [(segs[st + e[1] - 1][:5], e[4]) for e in errors] == [("HL*8*", "hl_parent"), ("HL*9*", "hl_parent")]
