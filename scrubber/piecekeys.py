"""The cross-claim keys of a split run (scrubber.split): what a piece's claims looked up and recorded,
and the parent's filter of the keys recorded by earlier pieces.

Compiled (scrubber._native): these are per-claim and per-key loops, in the workers (every claim's
keys) and in the parent (every recorded key of every piece), where they cost more interpreted than
the rest of the split path's bookkeeping together.
"""

from __future__ import annotations

import datetime as dt
from array import array
from typing import Any

from mypy_extensions import i64

from scrubber.runindex import ClaimKeys, LineKey

#: a recorded line: index, LX01, day key, date of service (ordinal), code, units, bypass, anatomic
LineRow = tuple[int, int, int, int, str, int, bool, int]


class PieceKeys:
    """The keys of a piece's claims: ``lookups``, every key any claim looked up (what the index of an
    earlier piece could hold for it), and the keys of its accepted claims in columns (cheap to gather,
    to pickle and to scan), for seeding a later piece that shares one."""

    def __init__(self) -> None:
        # A list, duplicates and all: appending costs a claim less than a set's hashing, and the
        # parent's filter takes a key twice as readily as once.
        self.lookups: list[int] = []
        self.ordinal: list[int] = []
        self.content: list[int] = []  # 0: none (digests are never 0)
        self.claim_id: list[int] = []
        self.first_line: list[int] = []  # where the claim's lines start in ``lines``
        self.lines: list[LineRow] = []

    def __reduce__(self) -> tuple[Any, ...]:
        # Compiled, a class pickles this way only; the columns go as arrays (small and quick to load).
        return _rebuilt, (array("q", self.ordinal).tobytes(), array("q", self.content).tobytes(),
                          array("q", self.claim_id).tobytes(), array("q", self.first_line).tobytes(), self.lines)

    def claim(self, keys: ClaimKeys, accepted: bool) -> None:
        """A claim's keys, in file order: looked up always, recorded when the claim is accepted."""
        lookups = self.lookups
        content = keys.content or 0
        claim_id = keys.claim_id or 0
        if content:
            lookups.append(content)
        if claim_id:
            lookups.append(claim_id)
        for lk in keys.lines:
            if lk.day:
                lookups.append(lk.day)
        if not accepted:
            return
        self.ordinal.append(keys.ordinal)
        self.content.append(content)
        self.claim_id.append(claim_id)
        self.first_line.append(len(self.lines))
        for lk in keys.lines:
            if lk.day:
                self.lines.append((lk.index, lk.number, lk.day, lk.dos.toordinal(), lk.code, lk.units, lk.bypass,
                                   lk.anatomic))

    def looked_up(self) -> bytes:
        """The keys looked up, as array("q") bytes (0, no key, left out; a key may come more than once)."""
        return array("q", self.lookups).tobytes()

    def recorded(self) -> bytes:
        """The keys the accepted claims recorded, as array("q") bytes, in no particular order: the
        parent marks them in its filter, and reads them again only for the few keys the filter
        cannot rule out (three in a run of 200,000 claims), where sorting them cost every piece."""
        keys = array("q", self.content)
        keys.extend(array("q", self.claim_id))
        prev: int = 0
        for line in self.lines:
            day = line[2]
            if day != prev:  # the lines of a claim mostly share their day key
                keys.append(day)
                prev = day
        # A 0 (a claim without that key) is marked like any key: no lookup is ever 0.
        return keys.tobytes()

    def holding(self, shared: set[int]) -> list[ClaimKeys]:
        """The accepted claims with one of ``shared`` among their keys, in order."""
        out: list[ClaimKeys] = []
        n = len(self.ordinal)
        for i in range(n):
            a = self.first_line[i]
            b = self.first_line[i + 1] if i + 1 < n else len(self.lines)
            lines = self.lines[a:b]
            if self.content[i] in shared or self.claim_id[i] in shared or any(line[2] in shared for line in lines):
                out.append(ClaimKeys(self.ordinal[i], self.content[i] or None, self.claim_id[i] or None, tuple(
                    LineKey(line[0], line[1], line[2], dt.date.fromordinal(line[3]), line[4], line[5], line[6],
                            line[7]) for line in lines)))
        return out


def _rebuilt(ordinal: bytes, content: bytes, claim_id: bytes, first_line: bytes, lines: list[LineRow]) -> PieceKeys:
    keys = PieceKeys()
    keys.ordinal = _ints(ordinal)
    keys.content = _ints(content)
    keys.claim_id = _ints(claim_id)
    keys.first_line = _ints(first_line)
    keys.lines = lines
    return keys


def _ints(data: bytes) -> list[int]:
    a = array("q")
    a.frombytes(data)
    return a.tolist()


# -- the parent's filter: three bits a key, in one 64-byte block of a bit array -------------------------
# One block a key: a key's three bits share a cache line, so marking a key costs one miss where
# three bits anywhere in a filter of megabytes cost three (the parent marked 360,000 keys in
# 0.131 s beside two busy workers, 0.075 s blocked). The low bits choose the block, the high bits the
# bits in it: digests are blake2b, every bit as random as any other.
# Keys are read from the array("q") bytes one byte at a time: compiled, a byte of ``bytes`` is a
# machine read, where iterating an array boxes every key (a quarter of these loops' time).
BLOCK_BYTES = 64


def _key(data: bytes, at: i64) -> i64:
    """The signed little-endian 64-bit key at ``at`` (array("q") on this machine's byte order)."""
    top: i64 = data[at + 7]
    key: i64 = top - 256 if top >= 128 else top  # signed: no step overflows 64 bits
    j: i64 = 6
    while j >= 0:
        key = (key << 8) | data[at + j]
        j -= 1
    return key


def _spots(key: i64, blocks: i64) -> tuple[i64, i64, i64]:
    """The key's three bit positions in a filter of ``blocks`` blocks, a power of two (a tuple of
    machine ints when compiled)."""
    base = (key & (blocks - 1)) << 9  # 512 bits a block
    return base | ((key >> 37) & 511), base | ((key >> 46) & 511), base | ((key >> 55) & 511)


def mark(bits: bytearray, data: bytes) -> None:
    """Set the bits of every key of ``data`` (array("q") bytes); ``bits`` is a whole number of blocks,
    a power of two."""
    blocks: i64 = len(bits) // BLOCK_BYTES  # i64: machine integers when compiled
    at: i64 = 0
    while at < len(data):
        a, b, c = _spots(_key(data, at), blocks)
        at += 8
        bits[a >> 3] |= 1 << (a & 7)
        bits[b >> 3] |= 1 << (b & 7)
        bits[c >> 3] |= 1 << (c & 7)


def maybe(bits: bytearray, data: bytes) -> list[int]:
    """The keys of ``data`` (array("q") bytes) whose three bits are all set (recorded, or a rare false positive)."""
    out: list[int] = []
    blocks: i64 = len(bits) // BLOCK_BYTES
    at: i64 = 0
    while at < len(data):
        key = _key(data, at)
        at += 8
        a, b, c = _spots(key, blocks)
        # most keys: one bit looked at
        if bits[a >> 3] >> (a & 7) & 1 and bits[b >> 3] >> (b & 7) & 1 and bits[c >> 3] >> (c & 7) & 1:
            out.append(key)
    return out
