"""Streaming segment tokenizer.

Reads bytes in chunks and yields segments with the delimiters of the interchange they belong to:
every ISA is parsed on its own, so interchanges with different delimiters can share one file.
Bytes are decoded as latin-1 so that one character is one byte and offsets stay exact; any byte
sequence (UTF-8 names, stray high bytes) round-trips unchanged into the accepted 837.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final

from scrubber.errors import InputError

CHUNK = 1 << 20
#: longest segment read, in characters (with the blank space before it): far above any real one
#: (the longest 837P element is 264), low enough that input without terminators fails fast
MAX_SEGMENT = 1 << 20
_WS: Final = " \t\r\n"
#: blank space kept before a later ISA (its line break goes back out); the rest is only skipped
_LEAD_KEEP = 16
#: repetition separators to pick from when ISA11 gives none usable (4010's "U", or a clash)
_REPETITION = "^{}|!`~\\@#$%&"
# An ISA is 106 characters; give non-padded ones room, but not a whole file.
_ISA_SCAN = 400
_NO_PADDING = str.maketrans("", "", "\x00\x1a")


@dataclass(frozen=True, slots=True)
class Delimiters:
    element: str
    component: str
    repetition: str
    segment: str

    def __reduce__(self) -> tuple[type[Delimiters], tuple[str, str, str, str]]:
        # Frozen: rebuilt through __init__, the same way compiled (scrubber._native) or not.
        return Delimiters, (self.element, self.component, self.repetition, self.segment)

    @property
    def newline_after(self) -> bool:
        return self.segment not in "\r\n"


class Segment:
    """One segment: its elements, its raw text as in the file, where it was and its number in its ST."""

    __slots__ = ("els", "number", "offset", "raw")

    def __init__(self, els: list[str], raw: str, offset: int, number: int = 0) -> None:
        self.els = els
        #: the exact text between the previous terminator and this one (leading newlines kept),
        #: without the terminator itself
        self.raw = raw
        self.offset = offset
        self.number = number

    @property
    def id(self) -> str:
        return self.els[0]

    def el(self, i: int) -> str:
        els = self.els
        return els[i] if i < len(els) else ""

    def text(self, sep: str) -> str:
        return sep.join(self.els)

    def __reduce__(self) -> tuple[type[Segment], tuple[list[str], str, int, int]]:
        # Explicit, so that a compiled Segment (scrubber._native) pickles like the pure one.
        return Segment, (self.els, self.raw, self.offset, self.number)


def parse_isa(text: str, offset: int) -> tuple[Delimiters, int]:
    """Delimiters from the ISA at the start of ``text``; returns them and the ISA length.

    The fixed-width layout (106 characters) is the rule, but files in the wild pad badly, so the
    16th element separator is found by scanning and ISA16 and the terminator follow it.
    """
    if len(text) < 4 or not text.startswith("ISA"):
        raise InputError("not X12: expected an ISA segment", offset=offset)
    sep = text[3]
    if sep.isalnum() or sep in _WS:
        raise InputError(f"broken ISA: {sep!r} cannot be an element separator", offset=offset)
    pos = 3
    for _ in range(15):
        pos = text.find(sep, pos + 1, _ISA_SCAN)
        if pos < 0:
            raise InputError("broken ISA: fewer than 16 elements", offset=offset)
    if pos + 2 >= len(text):
        raise InputError("broken ISA: truncated before its terminator", offset=offset)
    component, terminator = text[pos + 1], text[pos + 2]
    fields = text[: pos + 1].split(sep)
    repetition = fields[11] if len(fields) > 11 and len(fields[11]) == 1 else ""
    if component.isalnum() or component == sep:
        raise InputError(f"broken ISA: {component!r} cannot be a component separator", offset=offset)
    if terminator.isalnum() or terminator in (sep, component) or terminator == " ":
        raise InputError(f"broken ISA: {terminator!r} cannot be a segment terminator", offset=offset)
    if len(fields[13]) != 9 or not (fields[13].isascii() and fields[13].strip().isdigit()):
        raise InputError("broken ISA: ISA13 control number is not 9 digits", offset=offset)
    if not fields[12].startswith("005"):
        raise InputError(f"unsupported X12 version {fields[12]!r} in ISA12 (005010 is required)", offset=offset)
    if not repetition or repetition.isalnum() or repetition in (sep, component, terminator, " "):
        # 4010 put "U" here; whatever stands in, take a character no other delimiter uses.
        repetition = next(c for c in _REPETITION if c not in (sep, component, terminator))
    return Delimiters(sep, component, repetition, terminator), pos + 3


def _decoded_chunks(stream: BinaryIO) -> Iterator[str]:
    """Text chunks of the input: BOM dropped, UTF-16 decoded, everything else as latin-1."""
    head = _read(stream, 0)
    if not head:
        return
    done = len(head)  # bytes read so far
    decoder: codecs.IncrementalDecoder
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(head) > 3 and head[1:4:2] == b"\0\0"):
        enc = "utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-16-le"
        decoder = codecs.getincrementaldecoder(enc)(errors="strict")
    else:
        if head.startswith(b"\xef\xbb\xbf"):
            head = head[3:]
        decoder = codecs.getincrementaldecoder("latin-1")()
    data = head
    while True:
        final = not data
        try:
            text = decoder.decode(data, final=final)
        except UnicodeDecodeError as exc:
            what = "ends inside a character" if final else "does not decode"
            raise InputError(f"input looks like UTF-16 but {what}",
                             offset=done if final else done - len(data) + exc.start) from None
        if text:
            yield text
        if final:
            return
        data = _read(stream, done)
        done += len(data)


def _read(stream: BinaryIO, offset: int) -> bytes:
    try:
        return stream.read(CHUNK)
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or type(exc).__name__})", offset=offset) from None


def _too_long(parts: list[str], limit: int, base: int, term: str) -> None:
    """No terminator within ``limit`` characters: reading on would hold the whole file (and cost
    time growing with its square); no real segment comes near it."""
    for part in parts:
        if len(part) > limit:
            raise InputError(f"no segment terminator {term!r} within {limit} characters (longer than any real "
                             "segment; see --max-segment)", offset=base)
        base += len(part) + 1


def _same_delimiters_next(parts: list[str], i: int, last: int, term: str, base: int, delims: Delimiters) -> bool:
    """After an IEA: whether the next part is an ISA with the same delimiters (the common case), so
    splitting goes on over the same parts without copying the buffer."""
    if i >= last:
        return False
    head = parts[i].lstrip(_WS)
    if not head.startswith("ISA"):
        return False
    try:
        return parse_isa(head + term, base)[0] == delims
    except InputError:
        return False


#: one run of segment texts to split: parts[start:stop] of a chunk split at the terminator, the
#: offset of parts[start], the element separator
Run = tuple[list[str], int, int, int, str]


def _ieas(buf: str, term: str, sep: str) -> Iterator[tuple[int, int]]:
    """Where ``buf.split(term)`` holds an IEA before its last (unterminated) part: (its index,
    the offset of its terminator), found without looking at every segment (an IEA is rare)."""
    index = counted = 0
    pos = buf.find("IEA")
    while pos >= 0:
        end = buf.find(term, pos)
        if end < 0:
            return
        begin = buf.rfind(term, 0, pos) + 1
        after = buf[pos + 3:end]
        # as the split would read it: only blank space before "IEA", an element separator or
        # nothing but blank space after it
        if not buf[begin:pos].strip(_WS) and (after[:1] == sep or not after.strip(_WS)):
            index += buf.count(term, counted, pos)
            counted = pos
            yield index, end
        pos = buf.find("IEA", end)


class Tokenizer:
    """Iterate segments of a byte stream. ``delimiters`` is that of the current interchange."""

    def __init__(self, stream: BinaryIO, max_segment: int = MAX_SEGMENT) -> None:
        self._chunks = _decoded_chunks(stream)
        self.max_segment = max_segment
        self.delimiters: Delimiters | None = None
        self.end_offset = 0
        #: offsets of the first empty segments skipped (pyx12 silently stops reading at the first one)
        self.empty_segments: list[int] = []
        self.empty_count = 0

    def __iter__(self) -> Iterator[Segment]:
        # The inner loop runs for every segment: nothing in it that a run can do once.
        skip = self.skip_empty
        for run in self.runs():
            if isinstance(run, Segment):
                yield run
                continue
            parts, start, stop, base, sep = run
            for i in range(start, stop):
                raw = parts[i]
                text = raw.strip(_WS)  # the same object when there is nothing to strip
                if text:
                    yield Segment(text.split(sep), raw, base)
                else:
                    skip(base)
                base += len(raw) + 1

    def skip_empty(self, offset: int) -> None:
        """An empty segment (two terminators in a row, or a blank line when the terminator is a
        newline) carries nothing: note where, and read on."""
        self.empty_count += 1
        if self.empty_count <= 10:
            self.empty_segments.append(offset)

    def runs(self) -> Iterator[Segment | Run]:
        """The input as runs of segment texts to split (see ``Run``; a text stripped of blank
        space to nothing is an empty segment, ``skip_empty``), and the segments read apart:
        each ISA, and a last IEA without its terminator.

        A run ends at an IEA, so that what follows it (another ISA, perhaps with other
        delimiters) is read only once the IEA has been taken.
        """
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
            start = done = 0  # the next part, and where it starts in buf
            restart = False
            for iea, end in _ieas(buf, term, sep):
                yield parts, start, iea + 1, base + done, sep
                start, done = iea + 1, end + 1
                if not _same_delimiters_next(parts, start, last, term, base + done, delims):
                    buf = buf[done:]
                    base += done
                    delims = None
                    restart = True
                    break
            if restart:
                continue
            if start < last:
                yield parts, start, last, base + done, sep
            base += len(buf) - len(parts[last])
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
