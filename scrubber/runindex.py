"""The run-level index: what cross-claim edits need to know about the claims already checked.

Scope: one input file, taken as one submission batch. Each input file gets a fresh index (a folder
of files, ``--jobs N`` over several files and Dask scrub each file on its own, so they give the
verdicts a single process gives). Within a file the first claim wins, in input order: a claim is
judged against the claims before it that were *accepted* (a rejected claim is not forwarded, so it
neither counts as the first of a duplicate nor pairs with later claims), and it is recorded only if
it is accepted in turn. Outputs are streamed, so a claim already written cannot be taken back; the
later claim is the one that is rejected, and its finding points to the earlier one by ordinal.

Memory is small and bounded per claim: no claim is kept, only 8-byte blake2b digests of normalised
keys in open-addressing tables of ``array`` slots, and per service line one fixed-size record
(packed code, units, ordinal, line number, modifier bits): about 100 bytes a claim, whatever
the size of the claim's segments.

Determinism with ``--jobs N`` on one file (scrubber.split): each worker runs the cross-claim edits
within its piece, its index empty or seeded, and reports the keys its claims looked up and those its
accepted claims recorded (``claim_keys`` turns a claim into plain ints and strings). The parent,
settling pieces in file order, does a piece again with its index seeded by the earlier accepted
claims that share a key with it (``record`` them first, in file order): the index then holds, for
every key the piece looks up, exactly what a single pass would hold at that point.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from scrubber.model import ClaimUnit, Line

#: NCCI-associated modifiers that can bypass a PTP edit with indicator 1 (other than anatomic ones)
BYPASS = frozenset({"59", "XE", "XS", "XP", "XU", "24", "25", "27", "57", "58", "78", "79", "91"})
#: anatomic NCCI-associated modifiers; they bypass an edit only when the two lines differ in site
ANATOMIC = ("E1", "E2", "E3", "E4", "FA", "F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9",
            "TA", "T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "LT", "RT", "LC", "LD", "RC", "LM", "RI")
ANATOMIC_BIT = {m: 1 << i for i, m in enumerate(ANATOMIC)}
#: claim frequency codes (CLM05-3) that legitimately repeat an earlier claim: replacement, void
REPEATS_ALLOWED = frozenset({"7", "8"})
_CODE_CHARS = {c: i + 1 for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")}
_INTERNED: dict[str, int] = {}


def digest(*parts: str) -> int:
    """A non-zero signed 64-bit key for the parts (0 marks an empty slot): the first 8 bytes of
    their blake2b, little-endian, the same in every process (workers' keys meet the parent's)."""
    h = _BLAKE2B_8.copy()  # a copy of a ready hasher: cheaper than a constructor with keywords
    h.update("\x1f".join(parts).encode("utf-8", "surrogateescape"))
    return _signed64(h.digest())[0] or 1


_BLAKE2B_8 = hashlib.blake2b(digest_size=8)
_signed64 = struct.Struct("<q").unpack


def pack_code(code: str) -> int:
    """A procedure code as a positive int below 2**27 (codes of up to 5 letters/digits), else interned."""
    if len(code) <= 5:
        n = 0
        for ch in code:
            v = _CODE_CHARS.get(ch)
            if v is None:
                break
            n = n * 37 + v
        else:
            return n
    return -_INTERNED.setdefault(code, len(_INTERNED) + 1)


def unpack_code(n: int) -> str:
    if n < 0:
        return next(k for k, v in _INTERNED.items() if v == -n)
    out = []
    while n:
        n, r = divmod(n, 37)
        out.append("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[r - 1])
    return "".join(reversed(out))


def modifier_bits(modifiers: tuple[str, ...]) -> tuple[bool, int]:
    """(carries a non-anatomic NCCI-associated modifier, bit set of its anatomic modifiers)."""
    anat = 0
    for m in modifiers:
        anat |= ANATOMIC_BIT.get(m, 0)
    return any(m in BYPASS for m in modifiers), anat


def units_milli(text: str) -> int:
    try:
        return max(0, min(round(float(text) * 1000), 2**31 - 1))
    except (ValueError, OverflowError):  # "nan", "inf": X12-UNITS reports those
        return 0


# Not frozen: a frozen dataclass sets each field through object.__setattr__, and one of these is
# made for every claim (nothing mutates them after claim_keys).
@dataclass(slots=True, init=False)
class LineKey:
    index: int  # position of the line in the claim (Line.index)
    number: int  # LX01
    day: int  # digest(patient, rendering provider, DOS)
    dos: dt.date
    code: str
    units: int  # thousandths
    bypass: bool
    anatomic: int

    # Written out, as in scrubber.model: compiled, it runs natively (one a line of every claim).
    def __init__(self, index: int, number: int, day: int, dos: dt.date, code: str, units: int, bypass: bool,
                 anatomic: int) -> None:
        self.index = index
        self.number = number
        self.day = day
        self.dos = dos
        self.code = code
        self.units = units
        self.bypass = bypass
        self.anatomic = anatomic

    def __reduce__(self) -> tuple[Any, ...]:
        # Compiled, a class with required __init__ arguments pickles this way only (scrubber._native):
        # a split run sends earlier claims' keys to the worker that does a piece again.
        return LineKey, (self.index, self.number, self.day, self.dos, self.code, self.units, self.bypass,
                         self.anatomic)


@dataclass(slots=True, init=False)
class ClaimKeys:
    """Everything the index needs from a claim: plain values, picklable."""

    ordinal: int
    content: int | None  # same patient, billing provider, dates and lines; None for replacements/voids
    claim_id: int | None  # same CLM01 from the same billing provider
    lines: tuple[LineKey, ...]

    def __init__(self, ordinal: int, content: int | None, claim_id: int | None, lines: tuple[LineKey, ...]) -> None:
        self.ordinal = ordinal
        self.content = content
        self.claim_id = claim_id
        self.lines = lines

    def __reduce__(self) -> tuple[Any, ...]:
        return ClaimKeys, (self.ordinal, self.content, self.claim_id, self.lines)


def patient_key(claim: ClaimUnit) -> str:
    sub = claim.subscriber
    if sub is None:
        return ""
    who = [sub.payer_id, sub.member_qualifier, sub.member_id.upper()]
    pat = claim.patient
    if pat is not None:  # a dependent: the subscriber's id plus the patient's name
        who += [pat.last.upper(), pat.first.upper(), pat.suffix.upper()]
    return "|".join(who)


def rendering_npis(claim: ClaimUnit) -> tuple[str, dict[int, str]]:
    """(the claim's rendering NPI, falling back to the billing NPI; line index -> its own 2420A NPI)."""
    claim_npi = ""
    lines: dict[int, str] = {}
    for seg, line in claim.names:
        e = seg.els
        if len(e) > 9 and e[1] == "82" and e[8] == "XX":
            if line is not None:
                lines[line.index] = e[9]
            else:
                claim_npi = e[9]
    return claim_npi or claim.billing_npi, lines


@lru_cache(maxsize=4096)
def _iso(day: dt.date) -> str:
    return day.isoformat()


def claim_keys(claim: ClaimUnit, with_lines: bool = True, codes: frozenset[str] | None = None) -> ClaimKeys:
    """The claim's keys.

    ``with_lines=False`` leaves out the per-line day keys (0) no loaded edit would read; then only
    lines of ``codes`` (e.g. codes with an MUE) get a line key at all.
    """
    patient = patient_key(claim)
    claim_npi, line_npis = rendering_npis(claim) if with_lines else ("", {})
    lines = []
    content = []
    days: dict[tuple[str, dt.date], int] = {}
    cdos = claim.dos
    for ln in claim.lines:
        dos = cdos if ln.dtp is None else ln.dos
        if ln.sv1 is None or dos is None:
            continue
        mods = ln.modifiers
        content.append(f"{_iso(dos)}/{ln.code}/{'-'.join(sorted(mods)) if len(mods) > 1 else ''.join(mods)}/{ln.units}")
        if with_lines:
            npi = line_npis.get(ln.index, claim_npi)
            day = days.get((npi, dos), 0)
            if not day:
                day = days[(npi, dos)] = digest(patient, npi, _iso(dos))
        elif codes is None or ln.code not in codes:
            continue
        else:
            day = 0  # no day key (not recorded)
        bypass, anat = modifier_bits(mods)
        lines.append(LineKey(ln.index, ln.number, day, dos, ln.code, units_milli(ln.units), bypass, anat))
    if claim.frequency in REPEATS_ALLOWED:
        return ClaimKeys(claim.ordinal, None, None, tuple(lines))
    npi = claim.billing_npi
    content.sort()
    return ClaimKeys(
        ordinal=claim.ordinal,
        content=digest("C", patient, npi, *content) if content else None,
        claim_id=digest("I", npi, claim.claim_id) if claim.claim_id else None,
        lines=tuple(lines),
    )


class _Shard:
    """Open addressing over two arrays: non-zero 64-bit keys, 32-bit values (12 bytes a slot)."""

    __slots__ = ("keys", "mask", "used", "vals")

    def __init__(self, size: int) -> None:
        self.keys = array("q", [0]) * size
        self.vals = array("i", [0]) * size
        self.mask = size - 1
        self.used = 0

    def slot(self, key: int) -> int:
        mask, keys = self.mask, self.keys
        i = (key >> _SHARD_BITS) & mask  # the low bits chose the shard: the next ones spread within it
        while keys[i] != 0 and keys[i] != key:
            i = (i + 1) & mask
        return i

    def grown(self) -> _Shard:
        bigger = _Shard(len(self.keys) * 2)
        for k, v in zip(self.keys, self.vals, strict=True):
            if k:
                i = bigger.slot(k)
                bigger.keys[i] = k
                bigger.vals[i] = v
        bigger.used = self.used
        return bigger


#: a key table is cut into 2**_SHARD_BITS shards that grow one at a time, so growing never holds
#: two copies of the whole table (at a million claims that would be some 75 MB at once)
_SHARD_BITS = 5
_SHARD_MASK = (1 << _SHARD_BITS) - 1


class KeyTable:
    """A map of non-zero 64-bit keys to 32-bit values in arrays (12 bytes a slot, a slot in 1.5-3 used)."""

    __slots__ = ("_shards",)

    def __init__(self, capacity: int = 1024) -> None:
        per = max(16, 1 << ((capacity * 3 // 2) >> _SHARD_BITS).bit_length())
        self._shards = [_Shard(per) for _ in range(1 << _SHARD_BITS)]

    def __len__(self) -> int:
        return sum(s.used for s in self._shards)

    # get and put probe as _Shard.slot does, inline: they run for every claim of a file.
    def get(self, key: int) -> int | None:
        shard = self._shards[key & _SHARD_MASK]
        keys, mask = shard.keys, shard.mask
        i = (key >> _SHARD_BITS) & mask
        while True:
            k = keys[i]
            if k == key:
                return shard.vals[i]
            if k == 0:
                return None
            i = (i + 1) & mask

    def put(self, key: int, value: int, replace: bool = True) -> None:
        """Map ``key`` to ``value`` (or, with ``replace=False``, only if ``key`` has no value yet)."""
        n = key & _SHARD_MASK
        shard = self._shards[n]
        keys, mask = shard.keys, shard.mask
        i = (key >> _SHARD_BITS) & mask
        while (k := keys[i]) != 0 and k != key:
            i = (i + 1) & mask
        if k == key:
            if replace:
                shard.vals[i] = value
            return
        shard.used += 1
        if shard.used * 3 > len(keys) * 2:
            shard = self._shards[n] = shard.grown()
            i = shard.slot(key)
        shard.keys[i] = key
        shard.vals[i] = value

    def nbytes(self) -> int:
        return sum(len(s.keys) * (s.keys.itemsize + s.vals.itemsize) for s in self._shards)


@dataclass(slots=True)
class Earlier:
    """A service line of an earlier accepted claim of the run, for the same patient, provider and day."""

    ordinal: int
    line: int  # LX01
    code: str
    units: int  # thousandths
    bypass: bool
    anatomic: int


class RunIndex:
    """Keys of the accepted claims of one input file (see the module docstring)."""

    def __init__(self) -> None:
        self._claims = KeyTable()  # digest -> ordinal of the first claim with it
        self._days = KeyTable()  # digest(patient, provider, DOS) -> 1 + index of the newest record
        # One record per service line of an accepted claim, chained per day key.
        self._code = array("i")
        self._units = array("i")
        self._ordinal = array("i")
        self._line = array("i")
        self._flags = array("i")  # bit 0: non-anatomic bypass modifier; anatomic set in _anat
        self._anat = array("i")
        self._next = array("i")
        #: file-level observations of run kinds: notice template -> (claims, first date, last date)
        self.tallies: dict[str, tuple[int, dt.date, dt.date]] = {}

    def tally(self, template: str, day: dt.date) -> None:
        """Count one claim toward a file notice instead of a finding on every claim."""
        n, first, last = self.tallies.get(template, (0, day, day))
        self.tallies[template] = (n + 1, min(first, day), max(last, day))

    def notices(self) -> list[str]:
        return [t.format(claims=n, first=first.isoformat(), last=last.isoformat())
                for t, (n, first, last) in self.tallies.items()]

    def first(self, key: int | None) -> int | None:
        """Ordinal of the earlier accepted claim recorded under ``key``."""
        return None if key is None else self._claims.get(key)

    def day(self, key: int) -> Iterator[Earlier]:
        """Lines of earlier accepted claims for one patient, provider and date of service."""
        head = self._days.get(key)
        i = (head or 0) - 1
        while i >= 0:
            yield Earlier(self._ordinal[i], self._line[i], unpack_code(self._code[i]), self._units[i],
                          bool(self._flags[i] & 1), self._anat[i])
            i = self._next[i] - 1

    def record(self, keys: ClaimKeys) -> None:
        """Remember an accepted claim."""
        for key in (keys.content, keys.claim_id):
            if key is not None:
                self._claims.put(key, keys.ordinal, replace=False)
        for lk in keys.lines:
            if not lk.day:
                continue
            self._code.append(pack_code(lk.code))
            self._units.append(lk.units)
            self._ordinal.append(keys.ordinal)
            self._line.append(lk.number)
            self._flags.append(1 if lk.bypass else 0)
            self._anat.append(lk.anatomic)
            self._next.append(self._days.get(lk.day) or 0)
            self._days.put(lk.day, len(self._code))

    def nbytes(self) -> int:
        """Memory held by the index's arrays (for the benchmark and the docs)."""
        per = sum(a.itemsize * len(a) for a in (self._code, self._units, self._ordinal, self._line, self._flags,
                                                 self._anat, self._next))
        return self._claims.nbytes() + self._days.nbytes() + per


def line_of(claim: ClaimUnit, index: int) -> Line | None:
    return claim.lines[index - 1] if 0 < index <= len(claim.lines) else None
