"""NAME.worklist.csv: one row per finding, for billers' work queues and spreadsheets.

UTF-8, a header row, RFC 4180 quoting (the csv module), rows in file order. A spreadsheet runs a
cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula (CSV
injection), and claim ids and messages echo the input, so such a cell gets a leading ``'``. Text is
what billers read: engineers' hints (commands, flags) are left out, as in the HTML report; the
JSON report keeps the full text. Rows are written as claims arrive: nothing is held.
"""

from __future__ import annotations

import csv
from typing import IO, Any

from mypy_extensions import mypyc_attr

from scrubber.memo import Memo
from scrubber.model import ScrubbedClaim
from scrubber.text import for_billers, for_markup
from scrubber.writers.base import Writer

COLUMNS = ("claim_id", "payer_id", "line", "code", "edit", "severity", "confidence", "message", "suggestion",
           "source", "segment_number")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def defused(value: Any) -> str:
    """A cell as text that no spreadsheet evaluates."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in _FORMULA_FIRST and text else text


_FORMULA_FIRST = frozenset(FORMULA_STARTS)


def cell(value: str) -> str:
    """A CSV cell as the ``csv`` module writes it (minimal quoting, RFC 4180): quoted, with its quotes
    doubled, when it holds a comma, a quote or a line break."""
    if "," in value or '"' in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def row(cells: list[str]) -> str:
    """One CSV record; ``cells`` as ``csv.writer`` (``lineterminator="\\r\\n"``) writes them, in one piece.

    A finding's texts run to a kilobyte, and the ``csv`` module walks them a character at a time;
    these tests are whole-string searches (``tests/test_fast_paths.py`` compares the two).
    """
    if len(cells) == 1 and cells[0] == "":
        return '""\r\n'
    return ",".join([cell(c) for c in cells]) + "\r\n"


def text_cell(value: str) -> str:
    """``cell(defused(for_billers(for_markup(value))))`` in one call: a message as billers read it."""
    if value.isascii() and value.isprintable():  # nearly always: for_markup leaves it as it is
        if "`" in value or "/" in value or " --" in value:
            value = for_billers(value)
        if value[:1] in _FORMULA_FIRST and value:
            value = "'" + value
        if "," in value or '"' in value or "\n" in value or "\r" in value:
            return '"' + value.replace('"', '""') + '"'
        return value
    return cell(defused(for_billers(for_markup(value))))


#: cells of values that repeat from finding to finding (edit ids, sources, suggestions, codes), quoted
#: as ``row`` quotes them (messages vary too much to be worth remembering)
_PLAIN_CELL = Memo(lambda value: cell(defused(value)))
_TEXT_CELL = Memo(text_cell)
_SOURCE_CELL = Memo(lambda value: cell(defused(for_billers(value))))
_CODE_CELL = Memo(lambda value: cell(defused(for_markup(value))))


@mypyc_attr(allow_interpreted_subclasses=True)  # subclassed in Python (scrubber._native: split runs)
class WorklistWriter(Writer):
    def __init__(self, out: IO[str]) -> None:
        self.out = out
        csv.writer(out, lineterminator="\r\n").writerow(COLUMNS)

    def claim(self, scrubbed: ScrubbedClaim) -> None:
        if not scrubbed.findings:
            return
        c = scrubbed.claim
        # What ``row`` makes of the cells, a finding at a time; line and segment numbers are numbers
        # (never a formula), every text cell is defused.
        who = f"{cell(defused(for_markup(c.claim_id)))},{cell(defused(for_markup(c.payer_id)))},"
        self.out.write("".join([
            f"{who}{'' if f.line is None else f.line},{_CODE_CELL[f.code or '']},{_PLAIN_CELL[f.edit]},"
            f"{_PLAIN_CELL[f.severity]},{_PLAIN_CELL[f.confidence]},"
            f"{text_cell(f.message)},{_TEXT_CELL[f.suggestion]},"
            f"{_SOURCE_CELL[f.source]},{'' if f.segment_number is None else f.segment_number}\r\n"
            for f in scrubbed.findings]))
