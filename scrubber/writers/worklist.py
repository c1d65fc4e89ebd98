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

from scrubber.model import ScrubbedClaim
from scrubber.text import for_billers, for_markup
from scrubber.writers.base import Writer

COLUMNS = ("claim_id", "payer_id", "line", "code", "edit", "severity", "confidence", "message", "suggestion",
           "source", "segment_number")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def defused(value: Any) -> str:
    """A cell as text that no spreadsheet evaluates."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class WorklistWriter(Writer):
    def __init__(self, out: IO[str]) -> None:
        self._csv = csv.writer(out, lineterminator="\r\n")
        self._csv.writerow(COLUMNS)

    def claim(self, scrubbed: ScrubbedClaim) -> None:
        if not scrubbed.findings:
            return
        c = scrubbed.claim
        claim_id, payer_id = for_markup(c.claim_id), for_markup(c.payer_id)
        for f in scrubbed.findings:
            self._csv.writerow([defused(v) for v in (
                claim_id, payer_id, f.line, for_markup(f.code or ""), f.edit, f.severity, f.confidence,
                for_billers(for_markup(f.message)), for_billers(for_markup(f.suggestion)),
                for_billers(f.source), f.segment_number,
            )])
