"""NAME.report.html: one self-contained page for the people who fix claims.

Built with lxml element construction, so every value from the claim file is escaped as text.
Only claims with findings are kept for detail (up to ``detail_limit``); accepted clean claims are
counted, not listed, so the page stays small for large files.
"""

from __future__ import annotations

from decimal import Decimal
from typing import IO, Any

from lxml import etree
from lxml.html import builder as E

from scrubber.model import ScrubbedClaim
from scrubber.text import for_markup as human
from scrubber.writers.base import Writer
from scrubber.x12.loop2300 import is_amount

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.reject{color:#a00}.warn{color:#a60}
pre{background:#f8f8f8;padding:.5em;overflow-x:auto}mark{background:#fdd}
.claim{border-top:2px solid #ddd;margin-top:1em}
"""


class HtmlReportWriter(Writer):
    def __init__(self, out: IO[str], *, input_name: str, meta: dict[str, Any], detail_limit: int = 2000) -> None:
        self.out = out
        self.input_name = input_name
        self.meta = meta
        self.detail_limit = detail_limit
        self.total = self.accepted = self.rejected = 0
        self.charges_rejected = Decimal(0)
        self.by_edit: dict[str, int] = {}
        self.details: list[Any] = []
        self.omitted = 0

    def claim(self, scrubbed: ScrubbedClaim) -> None:
        c = scrubbed.claim
        self.total += 1
        if scrubbed.rejected:
            self.rejected += 1
            if is_amount(c.charge):
                self.charges_rejected += Decimal(c.charge)
        else:
            self.accepted += 1
        for f in scrubbed.findings:
            self.by_edit[f.edit] = self.by_edit.get(f.edit, 0) + 1
        if not scrubbed.findings:
            return
        if len(self.details) >= self.detail_limit:
            self.omitted += 1
            return
        self.details.append(self._claim_section(scrubbed))

    def _claim_section(self, sc: ScrubbedClaim) -> Any:
        c = sc.claim
        d = c.delimiters
        at_fault = {f.segment_number for f in sc.findings}
        rows = [
            E.TR(
                E.TH("edit"),
                E.TH("severity"),
                E.TH("line"),
                E.TH("code"),
                E.TH("message"),
                E.TH("suggestion"),
                E.TH("source"),
            )
        ]
        for f in sc.findings:
            rows.append(
                E.TR(
                    E.TD(f.edit),
                    E.TD(f.severity, E.CLASS(f.severity)),
                    E.TD(str(f.line or "")),
                    E.TD(human(f.code or "")),
                    E.TD(human(f.message)),
                    E.TD(human(f.suggestion)),
                    E.TD(f.source),
                )
            )
        pre = E.PRE()
        for seg in c.segments:
            text = human(d.element.join(seg.els) + d.segment) + "\n"
            if seg.number in at_fault:
                mark = E.MARK(text)
                pre.append(mark)
            else:
                if len(pre):
                    pre[-1].tail = (pre[-1].tail or "") + text
                else:
                    pre.text = (pre.text or "") + text
        status = "rejected" if sc.rejected else "accepted with warnings"
        return E.DIV(
            E.H3(f"Claim {human(c.claim_id)} ({status})"),
            E.P(
                f"payer {human(c.payer_id)}, charge {human(c.charge)}, service dates "
                + ", ".join(x.isoformat() for x in c.service_dates())
            ),
            E.TABLE(*rows),
            pre,
            E.CLASS("claim"),
            id=f"claim-{human(c.claim_id)}",
        )

    def finish(self, notices: list[str]) -> None:
        rate = f"{100 * self.accepted / self.total:.1f}%" if self.total else "n/a"
        summary = E.TABLE(
            E.TR(E.TH("claims"), E.TD(str(self.total))),
            E.TR(E.TH("accepted"), E.TD(str(self.accepted))),
            E.TR(E.TH("rejected"), E.TD(str(self.rejected))),
            E.TR(E.TH("clean-claim rate"), E.TD(rate)),
            E.TR(E.TH("rejected charges"), E.TD(f"{self.charges_rejected:.2f}")),
        )
        edits = E.TABLE(
            E.TR(E.TH("edit"), E.TH("findings")),
            *[E.TR(E.TD(k), E.TD(str(v))) for k, v in sorted(self.by_edit.items(), key=lambda kv: -kv[1])],
        )
        body = E.BODY(E.H1(f"Scrub report: {human(self.input_name)}"), summary, E.H2("Findings by edit"), edits)
        if notices:
            body.append(E.H2("File notices"))
            body.append(E.UL(*[E.LI(n) for n in notices]))
        body.append(E.H2("Claims with findings"))
        body.extend(self.details)
        if self.omitted:
            body.append(E.P(f"{self.omitted} more claims with findings are in the JSON report only."))
        page = E.HTML(
            E.HEAD(E.META(charset="utf-8"), E.TITLE(f"Scrub report: {human(self.input_name)}"), E.STYLE(CSS)), body
        )
        self.out.write("<!DOCTYPE html>\n")
        self.out.write(etree.tostring(page, method="html", encoding="unicode"))
