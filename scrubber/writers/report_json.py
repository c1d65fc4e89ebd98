"""NAME.report.json, schema ``scrubber.report/2`` (``scrubber/schemas/report-2.json``).

Claims with findings are written in full (as in version 1, plus their ``ordinal``); a claim
without findings, most of a file, is one compact row of ``CLEAN_COLUMNS`` (about 90 bytes instead
of 250). ``scrubber.reports.claims`` gives every claim in file order as version 1 has it.

Both lists are spooled as claims come (memory, then a temporary file); the totals, which open the
document, are written at the end. Rows are formatted here, without ``json``: a clean claim's
values are nearly always plain ASCII, and only the others go through the encoder.
"""

from __future__ import annotations

import json
import re
import tempfile
from decimal import Decimal
from functools import lru_cache
from typing import IO, Any

from mypy_extensions import mypyc_attr

from scrubber.memo import Memo
from scrubber.model import Finding, ScrubbedClaim
from scrubber.text import human
from scrubber.writers.base import Writer
from scrubber.x12.loop2300 import is_amount

SCHEMA = "scrubber.report/2"
#: what a row of ``clean`` holds, in order (``segments``: the claim's first and last segment numbers)
CLEAN_COLUMNS = ("ordinal", "claim_id", "interchange", "transaction", "payer_id", "billing_npi", "charge",
                 "service_dates", "segments")
_SPOOL = 1 << 20
_PLAIN_AMOUNT = re.compile(r"(0|[1-9][0-9]{0,15})(?:\.([0-9]{0,2}))?")


def finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "edit": f.edit,
        "severity": f.severity,
        "line": f.line,
        "code": f.code,
        "message": human(f.message),
        "suggestion": human(f.suggestion),
        "category": f.category if f.rejects else None,
        "status_code": f.status_code if f.rejects else None,
        "segment": human(f.segment) if f.segment else f.segment,
        "segment_number": f.segment_number,
        "source": f.source,
        "confidence": f.confidence,
    }


def charge_text(text: str) -> str:
    """CLM02 with two decimals; the raw text when it is not an amount (the claim is then rejected)."""
    plain = _PLAIN_AMOUNT.fullmatch(text)
    if plain is not None:  # nearly always: formatted from the text, no Decimal needed
        whole, frac = plain.groups()
        return f"{whole}.{(frac or '').ljust(2, '0')}"
    return f"{Decimal(text):.2f}" if is_amount(text) else text


@lru_cache(maxsize=4096)
def _iso(day: Any) -> str:
    return day.isoformat()


def claim_dict(sc: ScrubbedClaim) -> dict[str, Any]:
    """A claim in full, as version 1 writes every claim (and version 2 the claims with findings)."""
    c = sc.claim
    txn = c.transaction
    return {
        "claim_id": human(c.claim_id),
        "interchange": txn.group.interchange.control,
        "transaction": txn.control,
        "payer_id": c.payer_id,
        "billing_npi": c.billing_npi,
        "charge": charge_text(c.charge),
        "service_dates": [_iso(d) for d in c.service_dates()],
        "status": "rejected" if sc.rejected else "accepted",
        "segments": [c.segments[0].number, c.segments[-1].number],
        "findings": [finding_dict(f) for f in sc.findings],
    }


def _text(value: str) -> str:
    """A JSON string: plain ASCII as it is, anything else escaped by the encoder."""
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return json.dumps(value)


def _value(value: str | int | None) -> str:
    if value is None:
        return "null"
    return _text(value) if value.__class__ is str else str(value)


#: ``_text`` of values that repeat (edit ids, sources, control numbers, payer ids, NPIs),
#: ``_text(human(...))`` of suggestions, a charge's JSON string and a date's
_JSON = Memo(_text)
_HUMAN_JSON = Memo(lambda value: _text(human(value)))
_CHARGE_JSON = Memo(lambda value: _text(charge_text(value)))
_DATE_JSON = Memo(lambda day: f'"{day.isoformat()}"')


def _dates_json(dates: list[Any]) -> str:
    return _DATE_JSON[dates[0]] if len(dates) == 1 else ",".join([_DATE_JSON[d] for d in dates])


def finding_json(f: Finding) -> str:
    """``finding_dict(f)`` as compact JSON, written without building the dict (same bytes as ``json``)."""
    rejects = f.severity == "reject"
    code, segment, line, number = f.code, f.segment, f.line, f.segment_number
    category = f.category if rejects else None
    status = f.status_code if rejects else None
    # Codes, messages and segments vary too much to be worth remembering; numbers are written as
    # ``_value`` writes them, without the call.
    return (f'{{"edit":{_JSON[f.edit]},"severity":{_JSON[f.severity]},'
            f'"line":{line if line.__class__ is int else _value(line)},'
            f'"code":{_text(code) if code.__class__ is str else _value(code)},'
            f'"message":{_text(human(f.message))},"suggestion":{_HUMAN_JSON[f.suggestion]},'
            f'"category":{_JSON[category] if category.__class__ is str else _value(category)},'
            f'"status_code":{_JSON[status] if status.__class__ is str else _value(status)},'
            f'"segment":{_text(human(segment)) if segment else _value(segment)},'
            f'"segment_number":{number if number.__class__ is int else _value(number)},'
            f'"source":{_JSON[f.source]},"confidence":{_JSON[f.confidence]}}}')


def flagged_json(sc: ScrubbedClaim) -> str:
    """A claim with findings in full, with its ordinal: ``json.dumps({"ordinal": ..., **claim_dict(sc)})``
    with compact separators, byte for byte, written directly."""
    c = sc.claim
    txn = c.transaction
    dates = _dates_json(c.service_dates())
    findings = ",".join([finding_json(f) for f in sc.findings])
    return (f'{{"ordinal":{c.ordinal},"claim_id":{_text(human(c.claim_id))},'
            f'"interchange":{_JSON[txn.group.interchange.control]},"transaction":{_JSON[txn.control]},'
            f'"payer_id":{_JSON[c.payer_id]},"billing_npi":{_JSON[c.billing_npi]},'
            f'"charge":{_CHARGE_JSON[c.charge]},"service_dates":[{dates}],'
            f'"status":"{"rejected" if sc.rejected else "accepted"}",'
            f'"segments":[{c.segments[0].number},{c.segments[-1].number}],"findings":[{findings}]}}')


Shared = tuple[Any, Any, Any, str]


def clean_row(sc: ScrubbedClaim, shared: Shared | None = None) -> tuple[str, Shared]:
    """A claim without findings as one compact JSON array of ``CLEAN_COLUMNS``.

    ``shared`` is what the previous claim returned: the columns its transaction and loops give
    (interchange, transaction, payer, billing NPI), reused while they are the same objects.
    """
    c = sc.claim
    txn, sub, billing = c.transaction, c.subscriber, c.billing
    if shared is None or shared[0] is not txn or shared[1] is not sub or shared[2] is not billing:
        shared = (txn, sub, billing, f"{_JSON[txn.group.interchange.control]},{_JSON[txn.control]},"
                                     f"{_JSON[c.payer_id]},{_JSON[c.billing_npi]}")
    row = (f"[{c.ordinal},{_text(human(c.claim_id))},{shared[3]},{_CHARGE_JSON[c.charge]},"
           f"[{_dates_json(c.service_dates())}],"
           f"[{c.segments[0].number},{c.segments[-1].number}]]")
    return row, shared


class _Spool:
    """Rows of one JSON array, in memory up to 1 MiB, then in a temporary file."""

    def __init__(self, file: IO[str] | None = None) -> None:
        # ``file``: rows go there instead (a split run's piece writes its rows to a file of its own)
        self.file: IO[str] = file if file is not None else tempfile.SpooledTemporaryFile(_SPOOL, mode="w+",
                                                                                        encoding="ascii")
        self.parts: list[str] = []
        self.size = 0
        self.count = 0

    def add(self, row: str) -> None:
        self.parts.append(row)
        self.size += len(row)
        self.count += 1
        if self.size > 1 << 16:  # one spool write per 64 KiB of rows: spool writes are not cheap
            self.flush()

    def flush(self) -> None:
        """The rows gathered so far to the file."""
        if self.parts:
            self.file.write((",\n" if self.file.tell() else "") + ",\n".join(self.parts))
            self.parts.clear()
            self.size = 0

    def copy_to(self, out: IO[str]) -> None:
        self.flush()
        self.file.seek(0)
        while chunk := self.file.read(1 << 20):
            out.write(chunk)
        self.file.close()


@mypyc_attr(allow_interpreted_subclasses=True)  # subclassed in Python (scrubber._native: split runs)
class JsonReportWriter(Writer):
    def __init__(self, out: IO[str], *, input_name: str, meta: dict[str, Any]) -> None:
        self.out = out
        self.input_name = input_name
        self.meta = meta
        self.total = self.accepted = self.rejected = self.warned = 0
        self.charges = Decimal(0)
        self.charges_rejected = Decimal(0)
        self.by_edit: dict[str, int] = {}
        self._flagged: Any
        self._clean: Any
        self._flagged, self._clean = self._new_rows()
        self._shared: Shared | None = None

    def _new_rows(self) -> tuple[Any, Any]:
        """Where the rows of each list (claims with findings, clean claims) wait for the totals.

        A split run's writers put them elsewhere (scrubber.writers.pieces, stitching): making a spool
        only to drop it would leave its ``__del__``, Python code, where Ctrl-C can land.
        """
        return _Spool(), _Spool()

    def claim(self, scrubbed: ScrubbedClaim) -> None:
        c = scrubbed.claim
        findings = scrubbed.findings
        self.total += 1
        if not findings:  # the common case: accepted, one compact row
            self.accepted += 1
            self.charges += _AMOUNT[c.charge]
            row, self._shared = clean_row(scrubbed, self._shared)
            self._clean.add(row)
            return
        amount = _AMOUNT[c.charge]
        self.charges += amount
        if scrubbed.rejected:
            self.rejected += 1
            self.charges_rejected += amount
        else:
            self.accepted += 1
            self.warned += 1
        by_edit = self.by_edit
        for f in findings:
            by_edit[f.edit] = by_edit.get(f.edit, 0) + 1
        self._flagged.add(flagged_json(scrubbed))

    def finish(self, notices: list[str]) -> None:
        head = {
            "schema": SCHEMA,
            "input": self.input_name,
            "claims_total": self.total,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "accepted_with_warnings": self.warned,
            "charges_total": f"{self.charges:.2f}",
            "charges_rejected": f"{self.charges_rejected:.2f}",
            "findings_by_edit": dict(sorted(self.by_edit.items())),
            "notices": notices,
            **self.meta,
            "clean_columns": list(CLEAN_COLUMNS),
        }
        text = json.dumps(head, indent=2)
        self.out.write(text[:-2] + ',\n  "claims": [\n')
        self._flagged.copy_to(self.out)
        self.out.write('\n  ],\n  "clean": [\n')
        self._clean.copy_to(self.out)
        self.out.write("\n  ]\n}\n")


def _amount(text: str) -> Decimal:
    if _PLAIN_AMOUNT.fullmatch(text):
        return Decimal(text)
    return Decimal(text) if is_amount(text) else Decimal(0)


#: CLM02 texts as numbers (charges repeat from claim to claim)
_AMOUNT = Memo(_amount)
