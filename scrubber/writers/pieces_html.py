"""The HTML report as a worker writes it on one piece of a file (scrubber.split); the text outputs'
piece writers are scrubber.writers.pieces (compiled).

The writer writes each row to a file per list, a rejected claim's row in both forms (all
segments, or the segments at fault: the parent knows which one the page's size budget allows),
and marks a text, payer or edit it has not been given a shared reference for, so that the parent
can number it in file order.
"""

from __future__ import annotations

import io
from array import array
from dataclasses import dataclass, field
from typing import Any

from scrubber.model import ScrubbedClaim
from scrubber.writers.report_html import HtmlReportWriter, Limits

#: opens and closes a provisional reference in an HTML row; no text reaches a row with these
#: characters (``scrubber.text.for_markup`` turns control characters into U+FFFD)
MARK_OPEN, MARK_CLOSE = "\x00\x01", "\x01\x00"
_UNLIMITED = 1 << 62


def mark(tag: str, n: int) -> str:
    return f"{MARK_OPEN}{tag}{n}{MARK_CLOSE}"


class _EditMark(str):
    """A provisional edit reference; sorts among the given (int) ones by its provisional number."""

    number: int

    def __lt__(self, other: object) -> bool:
        return self.number < (other.number if isinstance(other, _EditMark) else other)  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        return self.number > (other.number if isinstance(other, _EditMark) else other)  # type: ignore[operator]


class _Shared(dict):
    """A shared-reference table seeded with the parent's; a value it lacks gets a mark.

    Every use of a mark is noted in ``uses`` (tag, number), in the order the writer asks: the
    parent numbers a value where the writer would have, at its first use in a row that is listed.
    """

    def __init__(self, seed: dict, tag: str, uses: list[tuple[str, int]], cap: int | None = None) -> None:
        super().__init__(seed)
        self.tag = tag
        self.uses = uses
        self.local: dict[Any, str] = {}
        self.base = len(seed)
        #: the page's table is full: a value it lacks is written out where it is used, as the writer does
        self.full = cap is not None and len(seed) >= cap

    def get(self, key: Any, default: Any = None) -> Any:
        ref = dict.get(self, key)
        if ref is not None:
            return ref
        if self.full:
            return None  # the writer writes the value out itself
        ref = self.local.get(key)
        if ref is None:
            n = len(self.local)
            ref = mark(self.tag, n)
            if self.tag == "E":
                ref = _EditMark(ref)
                ref.number = self.base + n
            self.local[key] = ref
        self.uses.append((self.tag, int(ref[3:-2])))
        return ref

    def setdefault(self, key: Any, default: Any = None) -> Any:
        return self.get(key)


class _PayerCounts(dict):
    """Claims per payer keyed by the payer's mark too (the writer keys a reference it lacks as "")."""

    def __init__(self, writer: PieceHtml) -> None:
        super().__init__()
        self.writer = writer

    def setdefault(self, key: Any, default: Any = None) -> Any:
        last = self.writer.last_payer
        if key == "" and isinstance(last, str) and last.startswith(MARK_OPEN):
            key = last
        return dict.setdefault(self, key, default)


class RowFile:
    """One list's rows, each followed by a comma (as the page joins them), with each row's length in
    characters (the page's budgets count those) and in bytes (where the next row starts), standing
    in for the writer's spool."""

    size = 0  # never at a budget: the parent applies the budgets
    budget = None

    def __init__(self, path: str) -> None:
        self.path = path
        self._fh = open(path, "wb")  # closed by close()
        self.chars = array("q")
        self.nbytes = array("q")
        self.count = 0

    def fits(self) -> bool:
        return True

    def add(self, element: str) -> None:
        data = element.encode("utf-8", "replace") + b","
        self._fh.write(data)
        self.chars.append(len(element))
        self.nbytes.append(len(data))
        self.count += 1

    def close(self) -> None:
        self._fh.close()

    def index(self) -> tuple[str, bytes, bytes]:
        return self.path, self.chars.tobytes(), self.nbytes.tobytes()


@dataclass(slots=True)
class HtmlSeed:
    """The parent's shared-reference tables when the piece was handed out."""

    strings: dict[str, int] = field(default_factory=dict)
    payers: dict[tuple[str, str], int] = field(default_factory=dict)
    edits: dict[str, int] = field(default_factory=dict)
    caps: tuple[int, int] = (0, 0)  # the page's caps on shared texts and payers


class PieceHtml(HtmlReportWriter):
    """Rows to four files: rejected claims in full, and again with the segments at fault only; warned;
    accepted (the parent picks what the page's budgets allow)."""

    def __init__(self, stem: str, *, seed: HtmlSeed, registry: Any = None, titles: dict[str, str] | None = None) -> None:
        limits = Limits(rejected_full_bytes=_UNLIMITED, warned_bytes=_UNLIMITED, accepted_bytes=_UNLIMITED,
                        strings=seed.caps[0], payers=seed.caps[1])
        self.rows = {kind: RowFile(f"{stem}.html-{kind}") for kind in ("rejected", "short", "warned", "accepted")}
        super().__init__(io.StringIO(), input_name="", meta={}, limits=limits, registry=registry, titles=titles)
        self.uses: list[tuple[str, int]] = []
        self.strings = _Shared(seed.strings, "T", self.uses, seed.caps[0])
        self.payers = _Shared(seed.payers, "P", self.uses, seed.caps[1])
        self.edits = _Shared(seed.edits, "E", self.uses)
        self.payer_counts = _PayerCounts(self)
        self.last_payer: Any = None
        #: one letter a claim: r(ejected), w(arned), a(ccepted)
        self.order: list[str] = []
        #: (claim in the piece, its list's letter, uses[a:b]) for claims that used a mark
        self.row_uses: list[tuple[int, str, int, int]] = []

    def _new_spools(self) -> dict[str, Any]:
        return {kind: self.rows[kind] for kind in ("rejected", "warned", "accepted")}

    def _payer(self, c: Any) -> int | str:
        self.last_payer = super()._payer(c)
        return self.last_payer

    def claim(self, scrubbed: ScrubbedClaim) -> None:
        before, rejected = len(self.uses), self.rejected
        super().claim(scrubbed)
        if self.rejected > rejected:
            self.rows["short"].add(self._row(scrubbed, self.last_payer, full=False))
            kind = "r"
        else:
            kind = "w" if scrubbed.findings else "a"
        if len(self.uses) > before:
            self.row_uses.append((len(self.order), kind, before, len(self.uses)))
        self.order.append(kind)

    def finish(self, notices: list[str]) -> None:
        pass

    def close(self) -> None:
        for rows in self.rows.values():
            rows.close()

    def result(self) -> dict[str, Any]:
        return {
            "total": self.total, "accepted": self.accepted, "rejected": self.rejected, "warned": self.warned,
            "charges": str(self.charges), "charges_rejected": str(self.charges_rejected),
            "findings": dict(self.findings), "claims_by_edit": dict(self.claims_by_edit),
            "payer_counts": [(k, v) for k, v in self.payer_counts.items()],
            "values": {t.tag: list(t.local) for t in (self.strings, self.payers, self.edits)},  # type: ignore[attr-defined]
            "uses": self.uses, "row_uses": self.row_uses, "order": "".join(self.order),
            "edit_base": self.edits.base,  # type: ignore[attr-defined]
            "rows": {kind: rows.index() for kind, rows in self.rows.items()},
        }
