"""Properties of the reader, checked by hypothesis over generated inputs (not a fixed list).

- Any bytes: the reader yields events or raises InputError, never anything else.
- Any valid file, with any delimiters, line breaks and read sizes: every claim comes out once, in
  order, with its CLM01, and every segment's offset points at its own text.
- Any input that stops terminating segments: InputError once the segment limit is passed.
"""

from __future__ import annotations

import io
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scrubber.errors import InputError
from scrubber.model import ClaimUnit
from scrubber.synth import file_837
from scrubber.x12 import segments
from scrubber.x12.reader import Reader

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GOOD = file_837([{"id": "A1"}, {"id": "B2", "dependent": {"first": "KID"}}])
ISA = GOOD.split("~", 1)[0] + "~"

#: delimiters a sender may choose (element, component, repetition, terminator)
DELIMITERS = st.sampled_from([("*", ":", "^", "~"), ("|", ">", "^", "'"), ("^", "\\", "{", "~"),
                              ("*", ":", "^", "\n"), ("!", "@", "#", "$")])
ID_CHARS = st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="*:^~|>'\\{!@#$")


def _events(data: bytes, max_segment: int = segments.MAX_SEGMENT) -> list:
    return list(Reader(io.BytesIO(data), max_segment=max_segment).events())


@SETTINGS
@given(st.binary(max_size=3000))
def test_any_bytes_give_events_or_one_input_error(data: bytes) -> None:
    try:
        _events(data)
    except InputError:
        pass


@SETTINGS
@given(st.binary(max_size=2000), st.integers(0, len(GOOD)))
def test_any_bytes_inside_a_good_file_give_events_or_one_input_error(noise: bytes, at: int) -> None:
    raw = GOOD.encode()
    try:
        _events(raw[:at] + noise + raw[at:])
    except InputError:
        pass


@SETTINGS
@given(
    ids=st.lists(st.text(ID_CHARS, min_size=1, max_size=20), min_size=1, max_size=6),
    delims=DELIMITERS,
    newline=st.sampled_from(["", "\n", "\r\n"]),
    chunk=st.integers(1, 97),
)
def test_every_claim_comes_out_once_whatever_the_delimiters_and_read_sizes(ids, delims, newline, chunk) -> None:
    sep, comp, rep, term = delims
    if term == "\n":
        newline = ""
    text = file_837([{"id": i} for i in ids], sep=sep, comp=comp, rep=rep, term=term, newline=newline)
    data = text.encode("latin-1")
    with mock.patch.object(segments, "CHUNK", chunk):  # segments and ISAs cut at every possible place
        events = _events(data)
    claims = [e for e in events if isinstance(e, ClaimUnit)]
    assert [c.claim_id for c in claims] == ids
    for claim in claims:
        for seg in claim.segments:
            assert text[seg.offset:seg.offset + len(seg.raw)] == seg.raw
            assert seg.raw.strip(" \r\n").split(sep) == seg.els


@SETTINGS
@given(tail=st.binary(min_size=1, max_size=400).filter(lambda b: b"~" not in b), limit=st.integers(16, 200))
def test_input_that_stops_terminating_segments_fails_at_the_limit(tail: bytes, limit: int) -> None:
    data = ISA.encode() + b"GS*HC*" + tail * (limit // len(tail) + 2)
    try:
        _events(data, max_segment=limit)
    except InputError as exc:
        assert exc.offset is not None and exc.offset >= len(ISA)
    else:
        raise AssertionError("a segment longer than the limit was read")
