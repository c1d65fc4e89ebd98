"""NAME.report.json (schema ``scrubber.report/1``, see the contract).

Claims are spooled as they come; totals, which open the document, are written at the end.
"""

from __future__ import annotations

import json
import tempfile
from decimal import Decimal
from typing import IO, Any

from scrubber.model import Finding, ScrubbedClaim
from scrubber.text import human
from scrubber.writers.base import Writer
from scrubber.x12.loop2300 import is_amount

SCHEMA = "scrubber.report/1"


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


def claim_dict(sc: ScrubbedClaim) -> dict[str, Any]:
    c = sc.claim
    txn = c.transaction
    return {
        "claim_id": human(c.claim_id),
        "interchange": txn.group.interchange.control,
        "transaction": txn.control,
        "payer_id": c.payer_id,
        "billing_npi": c.billing_npi,
        "charge": f"{Decimal(c.charge):.2f}" if is_amount(c.charge) else c.charge,
        "service_dates": [d.isoformat() for d in c.service_dates()],
        "status": "rejected" if sc.rejected else "accepted",
        "segments": [c.segments[0].number, c.segments[-1].number],
        "findings": [finding_dict(f) for f in sc.findings],
    }


class JsonReportWriter(Writer):
    def __init__(self, out: IO[str], *, input_name: str, meta: dict[str, Any]) -> None:
        self.out = out
        self.input_name = input_name
        self.meta = meta
        self.total = self.accepted = self.rejected = self.warned = 0
        self.charges = Decimal(0)
        self.charges_rejected = Decimal(0)
        self.by_edit: dict[str, int] = {}
        self._spool = tempfile.SpooledTemporaryFile(1 << 20, mode="w+", encoding="ascii")

    def claim(self, scrubbed: ScrubbedClaim) -> None:
        c = scrubbed.claim
        amount = Decimal(c.charge) if is_amount(c.charge) else Decimal(0)
        self.total += 1
        self.charges += amount
        if scrubbed.rejected:
            self.rejected += 1
            self.charges_rejected += amount
        else:
            self.accepted += 1
            if scrubbed.findings:
                self.warned += 1
        for f in scrubbed.findings:
            self.by_edit[f.edit] = self.by_edit.get(f.edit, 0) + 1
        if self.total > 1:
            self._spool.write(",\n")
        self._spool.write(json.dumps(claim_dict(scrubbed)))

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
        }
        text = json.dumps(head, indent=2)
        self.out.write(text[:-2] + ',\n  "claims": [\n')
        self._spool.seek(0)
        while chunk := self._spool.read(1 << 20):
            self.out.write(chunk)
        self._spool.close()
        self.out.write("\n  ]\n}\n")
