"""CCYYMMDD dates as X12 writes them."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache


@lru_cache(maxsize=8192)
def parse_d8(text: str) -> dt.date | None:
    """A real calendar date from CCYYMMDD, or None (20250230 is not a date)."""
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def parse_dtp(qualifier: str, text: str) -> tuple[dt.date | None, dt.date | None]:
    """First and last date of a DTP02/DTP03 pair (D8 or RD8); None where unreadable."""
    if qualifier == "D8":
        d = parse_d8(text)
        return d, d
    if qualifier == "RD8":
        start, _, end = text.partition("-")
        first, last = parse_d8(start), parse_d8(end)
        if first is None or last is None or last < first:
            return None, None
        return first, last
    return None, None


def d8(day: dt.date) -> str:
    return day.strftime("%Y%m%d")
