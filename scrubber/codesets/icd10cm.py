"""ICD-10-CM by date of service: which codes are billable on a day, FY2016 to FY2026.

The table (``data/icd10cm.txt.gz``, built by ``tools/build_icd10cm.py`` from the yearly CMS/CDC files,
see ``data/PROVENANCE-icd10cm.md``) holds every billable code with the days it is billable, the codes
that are headers, and the days whose verdict rests on a mid-year date only a secondary source gives.
It is read once per process, lazily (0.04 s and 13 MB measured), and every lookup on the hot path is a
dict lookup: a diagnosis is judged once per claim.

A header is a code with billable codes beneath it on that day; so G35, billable until 2025-09-30, is a
header from 2025-10-01, when G35.A to G35.D were added.
"""

from __future__ import annotations

import bisect
import datetime as dt
import gzip
from dataclasses import dataclass
from functools import cache
from importlib import resources

FIRST_DAY = dt.date(2015, 10, 1)
_OPEN = dt.date.max.toordinal()
#: how many codes beneath a header are scanned for a message (the failure path only)
_SCAN_LIMIT = 3000

Span = tuple[int, int]  # date ordinals, end exclusive


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why a code is or is not billable on a day."""

    state: str  # billable | header | not_yet | deleted | never
    code: str
    day: dt.date
    since: dt.date | None = None  # not_yet: first day billable; deleted: first day no longer billable
    children: tuple[str, ...] = ()  # header: billable codes beneath it on the day (the first few)
    more: int = 0  # header: how many more there are
    doubt: str = ""  # a source key: the day lies where only a secondary source dates the change

    @property
    def billable(self) -> bool:
        return self.state == "billable"


def fiscal_year(day: dt.date) -> int:
    """FY N runs from (N-1)-10-01 to N-09-30."""
    return day.year + 1 if day.month >= 10 else day.year


class CodeTable:
    """The parsed table. Build it with :func:`table`; it is shared and read-only."""

    def __init__(self, text: str) -> None:
        self.years: dict[int, tuple[int, str]] = {}
        self.sources: dict[str, str] = {}
        spans: dict[str, tuple[Span, ...]] = {}
        headers: list[str] = []
        doubt: dict[str, tuple[tuple[int, int, str], ...]] = {}
        midyear: dict[tuple[str, int], str] = {}
        section: list[str] = []
        current: tuple[Span, ...] = ()
        days: set[int] = set()
        for line in text.splitlines():
            if not line or line[0] == "#":
                continue
            if line[0] == "@":
                self._meta(line[1:].split(" "))
            elif line[0] == "=":
                section = line[1:].split(" ")
                if section[0] == "B":
                    current = ((_ordinal(section[1]), _ordinal(section[2])),)  # shared by the section's codes
                    days.update(current[0])
            elif section[0] == "B":
                for code in line.split(" "):
                    spans[code] = spans[code] + current if code in spans else current
            elif section[0] == "H":
                headers.extend(line.split(" "))
            elif section[0] == "D":
                window = (_ordinal(section[1]), _ordinal(section[2]), section[3])
                days.update(window[:2])
                for code in line.split(" "):
                    doubt[code] = (*doubt.get(code, ()), window)
            elif section[0] == "M":
                days.add(_ordinal(section[1]))
                for code in line.split(" "):
                    midyear[(code, _ordinal(section[1]))] = section[2]
        self._spans = spans
        days.discard(_OPEN)
        self._days = sorted({self.first_day, self.end, *map(dt.date.fromordinal, days)})
        self.headers = frozenset(headers)
        self._doubt = doubt
        self._midyear = midyear
        self._ordered = sorted(spans)

    def _meta(self, parts: list[str]) -> None:
        if parts[0] == "covers":
            self.first_day, self.end = dt.date.fromisoformat(parts[1]), dt.date.fromisoformat(parts[2])
        elif parts[0] == "year":
            self.years[int(parts[1])] = (int(parts[2]), " ".join(parts[3:]))
        elif parts[0] == "source":
            self.sources[parts[1]] = " ".join(parts[2:])
        elif parts[0] == "format" and parts[1] != "scrubber.icd10cm/1":
            raise ValueError(f"unknown ICD-10-CM table format {parts[1]!r}")

    # -- the hot path ------------------------------------------------------------------------------

    def billable_on(self, code: str, day: dt.date) -> bool:
        spans = self._spans.get(code)
        if spans is None:
            return False
        n = day.toordinal()
        for a, b in spans:  # nearly always one span
            if a <= n < b:
                return True
        return False

    def boundaries(self) -> list[dt.date]:
        """Every day on which some code's verdict (or its wording) changes, and the table's ends."""
        return list(self._days)

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    def covers(self, day: dt.date) -> bool:
        return self.first_day <= day < self.end

    # -- reasons (only for codes that fail) --------------------------------------------------------

    def judge(self, code: str, day: dt.date) -> Verdict:
        """The verdict for ``code`` (no point, upper case) on ``day`` within the table's years."""
        if self.billable_on(code, day):
            return Verdict("billable", code, day)
        verdict = self._why_not(code, day)
        n = day.toordinal()
        key = next((k for a, b, k in self._doubt.get(code, ()) if a <= n < b), "")
        if key:
            return Verdict(verdict.state, code, day, verdict.since, verdict.children, verdict.more, key)
        return verdict

    def _why_not(self, code: str, day: dt.date) -> Verdict:
        n = day.toordinal()
        if code in self.headers:
            children, total = self.beneath(code, day)
            if total:
                return Verdict("header", code, day, children=tuple(children), more=total - len(children))
        spans = list(self._spans.get(code, ()))
        if not spans and code in self.headers:
            spans = [s for c in self._scan(code) for s in self._spans[c]]
        if not spans:
            return Verdict("never", code, day)
        later = [a for a, _b in spans if a > n]
        if later:
            return Verdict("not_yet", code, day, since=dt.date.fromordinal(min(later)))
        ended = [b for _a, b in spans if b <= n]
        return Verdict("deleted", code, day, since=dt.date.fromordinal(max(ended)))

    def change_source(self, code: str, day: dt.date | None) -> str:
        """The source key of a change of ``code`` on ``day`` inside a fiscal year, else ""."""
        return self._midyear.get((code, day.toordinal()), "") if day else ""

    def midyear(self) -> dict[str, tuple[dt.date, str]]:
        """Codes that changed inside a fiscal year: the day and the source key."""
        return {code: (dt.date.fromordinal(day), key) for (code, day), key in self._midyear.items()}

    def codes(self) -> list[str]:
        """Every code that is billable on some day of the table, in order."""
        return list(self._ordered)

    def _scan(self, prefix: str) -> list[str]:
        """Codes that extend ``prefix`` (at most _SCAN_LIMIT of them), in order."""
        out = []
        i = bisect.bisect_right(self._ordered, prefix)
        while i < len(self._ordered) and self._ordered[i].startswith(prefix) and len(out) < _SCAN_LIMIT:
            out.append(self._ordered[i])
            i += 1
        return out

    def beneath(self, prefix: str, day: dt.date, limit: int = 8) -> tuple[list[str], int]:
        """The first ``limit`` codes extending ``prefix`` billable on ``day``, and how many there are."""
        valid = [c for c in self._scan(prefix) if self.billable_on(c, day)]
        return valid[:limit], len(valid)

    def nearest(self, code: str, day: dt.date, limit: int = 6) -> tuple[str, list[str], int]:
        """Billable codes on ``day`` under the longest prefix of ``code`` that has some: (prefix, codes, count)."""
        for k in range(len(code) - 1, 2, -1):
            prefix = code[:k]
            found, total = self.beneath(prefix, day, limit)
            if self.billable_on(prefix, day):
                found, total = [prefix, *found][:limit], total + 1
            if total:
                return prefix, found, total
        return "", [], 0


def _ordinal(text: str) -> int:
    return _OPEN if text == "-" else dt.date.fromisoformat(text).toordinal()


@cache
def table() -> CodeTable:
    data = resources.files("scrubber.codesets").joinpath("data", "icd10cm.txt.gz").read_bytes()
    return CodeTable(gzip.decompress(data).decode("utf-8"))
