"""Code lists as rule tables write them: "64612 64642-64647 @primary".

A range expands between two codes of the same shape (digits, or one letter then digits); ``@role``
names every code the pack's ``codes`` table gives that role, each only while that code is valid.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from scrubber.rules.catalog import Row


@lru_cache(maxsize=4096)
def expand(cell: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """(codes, roles) named by a table cell."""
    codes: set[str] = set()
    roles: list[str] = []
    for item in cell.replace(",", " ").split():
        if item.startswith("@"):
            roles.append(item[1:])
        elif "-" in item:
            lo, hi = item.split("-", 1)
            codes.update(_range(lo, hi))
        else:
            codes.add(item)
    return frozenset(codes), tuple(roles)


def _range(lo: str, hi: str) -> list[str]:
    prefix = lo[:-len(lo.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))] if lo[:1].isalpha() else ""
    a, b = lo[len(prefix):], hi[len(prefix):]
    if not (a.isdigit() and b.isdigit() and len(a) == len(b) and hi.startswith(prefix) and int(a) <= int(b)):
        raise ValueError(f"bad code range {lo}-{hi}")
    return [f"{prefix}{n:0{len(a)}d}" for n in range(int(a), int(b) + 1)]


class CodeBook:
    """The pack's ``codes`` table: each code's role and the dates it is valid."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows: dict[str, Row] = {}
        self.by_role: dict[str, list[Row]] = {}
        for row in rows:
            for code in expand(row["code"])[0]:
                self.rows[code] = row
                self.by_role.setdefault(row["role"], []).append(row)
        self._role_codes = {role: frozenset(c for c, r in self.rows.items() if r["role"] == role)
                            for role in self.by_role}
        self.role_of = {c: r["role"] for c, r in self.rows.items()}
        #: cell -> {code it can name: None (always) or the row whose dates decide}
        self._cells: dict[str, dict[str, Row | None]] = {}

    def role_codes(self, role: str) -> frozenset[str]:
        """Every code ever given ``role`` (for quick "does this claim concern us" tests)."""
        return self._role_codes.get(role, frozenset())

    def matches(self, code: str, cell: str, day: dt.date | None) -> bool:
        # Two lookups: this runs for every line of every check.
        names = self._cells.get(cell)
        if names is None:
            names = self._cells[cell] = self._names(cell)
        if code not in names:
            return False
        row = names[code]
        return row is None or day is None or row.valid_on(day)

    def _names(self, cell: str) -> dict[str, Row | None]:
        """What ``matches`` needs of a cell: listed codes always, a role's codes while valid."""
        codes, roles = expand(cell)
        out: dict[str, Row | None] = {c: row for role in roles for c in self.role_codes(role)
                                      if (row := self.rows.get(c)) is not None}
        out.update(dict.fromkeys(codes))
        return out

    def universe(self, cell: str) -> frozenset[str]:
        """Every code ``cell`` can ever match, whatever the date."""
        codes, roles = expand(cell)
        out = set(codes)
        for role in roles:
            out |= self.role_codes(role)
        return frozenset(out)

    def valid_on(self, code: str, day: dt.date) -> bool:
        row = self.rows.get(code)
        return row is None or row.valid_on(day)
