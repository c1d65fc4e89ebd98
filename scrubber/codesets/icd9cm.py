"""ICD-9-CM diagnosis codes: the final CMS set (version 32), for dates of service before 2015-10-01.

Diagnosis codes were frozen from 2012-10-01 (``FREEZE``) until ICD-10-CM replaced them, so on those
dates a code outside version 32 is certainly invalid; before the freeze a code may have been deleted
since, and the list cannot say (``data/PROVENANCE-icd9cm.md``). Every code in the list is billable; a
code that other codes extend needs more digits.
"""

from __future__ import annotations

import bisect
import datetime as dt
import gzip
from functools import cache
from importlib import resources

FREEZE = dt.date(2012, 10, 1)
END = dt.date(2015, 10, 1)


class Icd9Codes:
    def __init__(self, text: str) -> None:
        codes: list[str] = []
        self.version = ""
        for line in text.splitlines():
            if line.startswith("@version"):
                self.version = line.split(" ")[1]
            elif line and line[0] not in "#@":
                codes.extend(line.split(" "))
        self.codes = frozenset(codes)
        self._ordered = sorted(codes)

    def __contains__(self, code: str) -> bool:
        return code in self.codes

    def beneath(self, prefix: str, limit: int = 8) -> tuple[list[str], int]:
        """The first ``limit`` codes that extend ``prefix``, and how many there are."""
        i = bisect.bisect_right(self._ordered, prefix)
        j = bisect.bisect_left(self._ordered, prefix + "~")
        return self._ordered[i:min(j, i + limit)], j - i

    def nearest(self, code: str, limit: int = 6) -> tuple[str, list[str], int]:
        for k in range(len(code) - 1, 2, -1):
            found, total = self.beneath(code[:k], limit)
            if total:
                return code[:k], found, total
        return "", [], 0


@cache
def codes() -> Icd9Codes:
    data = resources.files("scrubber.codesets").joinpath("data", "icd9cm.txt.gz").read_bytes()
    return Icd9Codes(gzip.decompress(data).decode("utf-8"))
