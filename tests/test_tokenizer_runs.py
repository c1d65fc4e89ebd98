"""The tokenizer's runs (``Tokenizer.runs``) against the tokenizer as it was before them.

Runs end at each IEA found with ``str.find`` instead of a check on every segment, and the
validator's tap splits them itself. Whatever the input (several interchanges with their own
delimiters, "IEA" inside element values or with blank space around it, empty segments, a last
IEA without its terminator, any read size, any bytes), both tokenizers and the tap yield the same
segments (elements, raw text, offset) and note the same empty segments, or fail alike.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scrubber.errors import InputError
from scrubber.guide import GuideRun
from scrubber.synth import interchange, transaction_segments
from scrubber.x12 import segments
from scrubber.x12.segments import (
    _ISA_SCAN,
    _LEAD_KEEP,
    _NO_PADDING,
    _WS,
    Delimiters,
    Segment,
    Tokenizer,
    _same_delimiters_next,
    _too_long,
    parse_isa,
)

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DELIMITERS = [("*", ":", "^", "~"), ("|", ">", "^", "'"), ("^", "\\", "{", "~"), ("*", ":", "^", "\n")]
#: names that put "IEA" where a careless search would take it for an IEA segment (with "~" as the
#: terminator, some start segments of their own: "IEAX" and "IEA " are not IEAs, " IEA" and "IEA" are)
NAMES = ["IEA", "XIEA", "IEA X", "IEAIEA", "SMITH", "X~IEAX", "X~IEA ", "X~ IEA", "X~IEA", "X~IEA*1", "X~IEA~Y", "X~IEA  ~Y"]


def _one_by_one(self: Tokenizer) -> Iterator[Segment]:
    """The tokenizer as it was before runs (commit 702a40c): segment by segment, an IEA checked on each."""
    buf = ""
    base = 0  # absolute offset of buf[0]
    eof = False
    chunks = self._chunks

    def more() -> bool:
        nonlocal buf, eof
        if eof:
            return False
        try:
            buf += next(chunks)
            return True
        except StopIteration:
            eof = True
            return False

    more()
    n_isa = 0
    delims: Delimiters | None = None
    limit = self.max_segment
    while True:
        if delims is None:
            # Between interchanges: skip blank space (dropping it as it goes: bounded memory,
            # linear time), then an ISA must follow.
            skipped = ""
            while True:
                stripped = buf.lstrip(_WS + "\x00\x1a")
                dropped = len(buf) - len(stripped)
                skipped = (skipped + buf[:dropped])[-_LEAD_KEEP:]
                base += dropped
                buf = stripped
                if buf or not more():
                    break
            if not buf:
                self.end_offset = base
                return
            while len(buf) < _ISA_SCAN and more():
                pass
            delims, isa_len = parse_isa(buf, base)
            self.delimiters = delims
            sep = delims.element
            isa_text = buf[: isa_len - 1]
            # Keep the line break before a later ISA in its raw text, as for any segment.
            lead = skipped.translate(_NO_PADDING) if n_isa else ""
            n_isa += 1
            yield Segment(isa_text.split(sep), lead + isa_text, base)
            base += isa_len
            buf = buf[isa_len:]
        term = delims.segment
        sep = delims.element
        parts = buf.split(term)
        last = len(parts) - 1
        if len(buf) > limit and max(map(len, parts)) > limit:
            _too_long(parts, limit, base, term)
        restart = False
        for i in range(last):
            raw = parts[i]
            text = raw.strip(_WS)  # the same object when there is nothing to strip
            if not text:
                # An empty segment (two terminators in a row, or a blank line when the
                # terminator is a newline) carries nothing: note where, and read on.
                self.empty_count += 1
                if self.empty_count <= 10:
                    self.empty_segments.append(base)
                base += len(raw) + 1
                continue
            els = text.split(sep)
            seg = Segment(els, raw, base)
            base += len(raw) + 1
            yield seg
            if els[0] == "IEA" and not _same_delimiters_next(parts, i + 1, last, term, base, delims):
                buf = term.join(parts[i + 1:])
                delims = None
                restart = True
                break
        if restart:
            continue
        buf = parts[last]
        if not more():
            text = buf.strip(_WS + "\x00\x1a")
            if text:
                # A last IEA without its terminator (or a last line without its newline when
                # the newline is the terminator) is common and harmless; anything else is a
                # file cut short.
                if not text.startswith("IEA" + sep):
                    raise InputError(
                        "input ends inside a segment (no terminator after the last one)", offset=base
                    )
                yield Segment(text.split(sep), buf.rstrip(_WS + "\x00\x1a"), base)
                base += len(buf)
                buf = ""
            self.end_offset = base + len(buf)
            return


def _segments(data: bytes, how: str) -> tuple[list[tuple[list[str], str, int]], list[int], int, object]:
    tok = Tokenizer(io.BytesIO(data))
    segs: Iterator[Segment]
    if how == "before":
        segs = _one_by_one(tok)
    elif how == "runs":
        segs = iter(tok)
    else:
        segs = GuideRun().tap(tok)
    out: list[tuple[list[str], str, int]] = []
    try:
        for seg in segs:
            out.append((seg.els, seg.raw, seg.offset))
    except InputError as exc:
        return out, tok.empty_segments, tok.empty_count, (str(exc), exc.offset)
    return out, tok.empty_segments, tok.empty_count, tok.end_offset


def _same(data: bytes) -> None:
    before = _segments(data, "before")
    assert _segments(data, "runs") == before
    assert _segments(data, "tap") == before


def _file(spec: list[tuple[int, str, str, bool]]) -> str:
    """Interchanges of (delimiters, newline, a name, an extra segment "IEA" or a blank one)."""
    text = ""
    for n, (d, newline, name, extra) in enumerate(spec):
        sep, comp, rep, term = DELIMITERS[d]
        if term == "\n":
            newline = ""
        body = transaction_segments([{"id": f"C{n}", "last": name}, {"id": f"D{n}"}])
        if extra:
            body.insert(3, "")  # an empty segment
            body.insert(5, "NTE*ADD*IEA")
        text += interchange([body], control=n + 1, sep=sep, comp=comp, rep=rep, term=term, newline=newline)
    return text


@SETTINGS
@given(spec=st.lists(st.tuples(st.integers(0, len(DELIMITERS) - 1), st.sampled_from(["", "\n", "\r\n", "  \n"]),
                               st.sampled_from(NAMES), st.booleans()), min_size=1, max_size=4),
       chunk=st.integers(1, 200) | st.just(1 << 20), cut=st.integers(0, 40))
def test_runs_read_what_the_tokenizer_read_segment_by_segment(spec, chunk, cut) -> None:
    text = _file(spec)
    for data in (text.encode("latin-1"), text.rstrip("~\n' ").encode("latin-1"), text[:-cut].encode("latin-1")):
        with mock.patch.object(segments, "CHUNK", chunk):
            _same(data)


@SETTINGS
@given(st.binary(max_size=1500), st.integers(0, 2000), st.integers(1, 300))
def test_runs_read_any_bytes_as_the_tokenizer_did(noise: bytes, at: int, chunk: int) -> None:
    raw = _file([(0, "\n", "IEA", True), (1, "", "SMITH", False)]).encode("latin-1")
    with mock.patch.object(segments, "CHUNK", chunk):
        _same(raw[:at] + noise + raw[at:])
