"""Shortcuts added to the reader and writers for speed give what the general path gives.

The accepted 837 joins a claim's segments whole unless one may be indented; the 277CA passes values
made of letters and digits without cleaning them; charges, amounts and repeated report cells are
worked out once and remembered (bounded); a run sets the garbage collector for itself and puts it
back. Each test feeds both paths the same values, plain and odd, and requires the same result.
"""

from __future__ import annotations

import gc
import random

from scrubber import api, collector
from scrubber.memo import Memo
from scrubber.writers import accepted837, ack277
from scrubber.x12 import loop2300
from scrubber.x12.segments import Delimiters, Segment

LEADS = ["", "\n", "\r\n", "\n\n", " ", "\t", "\n ", "\n\t", "  \n", "\r", "\n \n", " \r\n"]
BODIES = ["CLM*A1*10", "NM1*IL*1*DOE JOHN", "N3*1 MAIN ST", "REF*D9* X", "NTE*ADD*A\tB", "SV1*HC:99213*1"]


def test_a_claims_text_joined_whole_is_what_segment_by_segment_gives() -> None:
    rng = random.Random(7)
    for term in ("~", "\n", "'"):
        for _ in range(3000):
            raws = [rng.choice(LEADS) + rng.choice(BODIES) for _ in range(rng.randint(1, 6))]
            if term == "\n":  # a newline terminator leaves no newline in a segment's lead
                raws = [r.replace("\n", "") or "X" for r in raws]
            segs = [Segment(r.strip(" \t\r\n").split("*"), r, 0) for r in raws]
            expected = term.join([accepted837._bare(r) for r in raws]) + term
            assert accepted837._segments(segs, term) == expected, raws


def test_a_segments_line_break_lead_is_what_the_general_rule_gives() -> None:
    for lead in LEADS:
        for body in BODIES:
            raw = lead + body
            general = raw[: len(raw) - len(raw.lstrip(" \t\r\n"))].translate(accepted837._NOT_LINE_BREAK)
            assert accepted837._lead(raw) == general, raw


def test_277_values_of_letters_and_digits_pass_as_the_cleaner_would_leave_them() -> None:
    values = ack277.Values(Delimiters("*", ":", "^", "~"))
    general = ack277.Values(Delimiters("*", ":", "^", "~"))
    general.__class__ = type("General", (ack277.Values,), {"__call__": _general_clean})
    for value in ["", "A", "AB", "PCN0001", "X" * 81, "ÀB", "Ａ1", "A B", "A*B", " A", "1EG4711178002", "ª"]:
        for max_len, min_len in ((80, 2), (50, 1), (2, 2), (10, 1)):
            assert values(value, max_len, min_len) == general(value, max_len, min_len), (value, max_len)


def _general_clean(self: ack277.Values, value: str, max_len: int, min_len: int = 1) -> str:
    """Values.__call__ without its letters-and-digits shortcut."""
    text = value[: 4 * max_len + 64]
    if not text.isascii():
        text = ack277._to_ascii(text)
    text = "".join(c if c in self.allowed else " " if c in self._delims else "" for c in text)
    text = " ".join(text.split())[:max_len].strip(" ")
    return text if len(text) >= min_len else ""


def test_remembered_charges_and_amounts_are_what_reading_them_gives_and_stay_bounded() -> None:
    rng = random.Random(3)
    texts = ["135.00", "0", "1.005", "-1", "", "abc", "1e3"] + [f"{rng.randint(0, 10**6)}.{rng.randint(0, 99)}"
                                                              for _ in range(3 * ack277._CHARGES_MAX)]
    for text in texts * 2:
        assert loop2300.is_amount(text) == loop2300._is_amount(text), text
        if loop2300._is_amount(text):
            assert ack277._charge(text) == ack277._read_charge(text), text
    assert len(loop2300._AMOUNTS) <= loop2300._AMOUNTS_MAX
    assert len(ack277._CHARGES) <= ack277._CHARGES_MAX


def test_a_memo_gives_the_functions_answer_and_forgets_when_full() -> None:
    calls: list[int] = []
    memo = Memo(lambda n: calls.append(n) or n * 2, size=3)
    assert [memo[n] for n in (1, 2, 1, 3, 4, 1)] == [2, 4, 2, 6, 8, 2]
    assert calls == [1, 2, 3, 4, 1]  # 1 remembered until the memo filled up, then worked out again
    assert len(memo) <= 3


def test_a_run_puts_the_garbage_collector_back_as_it_found_it() -> None:
    from scrubber.synth import file_837

    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()  # a split run earlier in this process may have frozen some
    seen: list[tuple[int, ...]] = []
    real = api._run

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(gc.get_threshold())
        assert gc.get_freeze_count() > 0
        return real(*args, **kwargs)

    api._run = spy  # type: ignore[assignment]
    try:
        data = file_837([{"id": "C1", "member_id": "M1", "dx": ["G24.3"], "lines": [{"code": "99213"}]}])
        result = api.scrub_bytes(data.encode("latin-1"))
    finally:
        api._run = real  # type: ignore[assignment]
    assert result.summary.claims == 1
    assert seen and seen[0][0] >= collector.RUN_GC_THRESHOLD
    assert gc.get_threshold() == before
    assert (gc.get_freeze_count() == 0) == (frozen_before == 0)  # thawed only if nothing was frozen before


def test_a_pass_never_freezes_garbage_so_repeated_passes_do_not_grow() -> None:
    """A split-run worker sets the collector for each piece: garbage frozen then would live for ever."""
    import weakref

    from scrubber import collector

    class Node:
        pass

    def garbage() -> weakref.ref:
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: only the collector frees it
        return weakref.ref(a)

    gc.disable()  # no collection of its own may free the cycle first
    try:
        gc.freeze()  # as in a split-run worker, which inherits frozen objects
        for _ in range(3):
            ref = garbage()
            with collector.for_a_run():
                assert ref() is None  # freed before the freeze, not set aside with the living
    finally:
        gc.unfreeze()
        gc.enable()
