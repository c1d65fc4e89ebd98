"""NAME.report.html: one self-contained page billers fix rejected claims from.

Built with lxml element construction, so every value that comes from the claim file is escaped as
text by construction; a stray control byte is replaced (XML forbids it). No network, no external
assets: styles and the small filter script are inline.

Order: summary; rejected claims (each with its findings and its original segments, the segments at
fault highlighted and annotated); claims with warnings only; accepted claims as a compact table.
Large inputs stay openable: sections and table rows are capped (``Limits``) and the page says what
it left to the JSON report. Claims arrive in file order, so each part is spooled and the page is
assembled at the end.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

from lxml import etree
from lxml.html import builder as E

from scrubber.model import ClaimUnit, ScrubbedClaim
from scrubber.text import for_markup as text
from scrubber.writers.base import Writer
from scrubber.x12.loop2300 import is_amount

CSS = """
:root{--rej:#b00020;--warn:#8a5a00;--ok:#1b6e20;--mute:#666;--line:#ddd}
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:1.2em;color:#1d1d1d}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin:1.6em 0 .5em;border-bottom:2px solid var(--line)}
h3{font-size:1.05em;margin:0 0 .4em}a{color:#0b57d0}
table{border-collapse:collapse;margin:.4em 0 .8em;width:100%}
td,th{border:1px solid var(--line);padding:.25em .45em;text-align:left;vertical-align:top}
th{background:#f4f4f4;font-weight:600}
.cards{display:flex;flex-wrap:wrap;gap:.6em;margin:.6em 0}
.card{border:1px solid var(--line);border-radius:6px;padding:.5em .8em;min-width:9em}
.card b{display:block;font-size:1.4em}.card span{color:var(--mute);font-size:.9em}
.reject,.badge.rejected{color:var(--rej)}.warn,.badge.warned{color:var(--warn)}.badge.accepted{color:var(--ok)}
.badge{font-size:.8em;border:1px solid currentColor;border-radius:3px;padding:0 .3em;margin-left:.4em}
.bar{background:#c8d7f5;height:.9em;display:inline-block;vertical-align:middle}
.bar.reject{background:#f3b9c2}.bar.warn{background:#f5ddb0}
section.claim{border:1px solid var(--line);border-left:4px solid var(--rej);border-radius:4px;padding:.6em .8em;margin:.8em 0}
section.claim.warned{border-left-color:var(--warn)}
dl.facts{display:grid;grid-template-columns:max-content 1fr max-content 1fr;gap:.1em .8em;margin:.2em 0 .6em}
dl.facts dt{color:var(--mute)}dl.facts dd{margin:0}
table.segments td.seg{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-all}
table.segments td.num{color:var(--mute);width:3em;text-align:right}
table.segments tr.fault td{background:#fdecee}table.segments tr.fault.warn-only td{background:#fff6e0}
table.segments td.notes{width:45%}td.notes p{margin:0 0 .3em}
.note{color:var(--mute)}.filter{margin:.6em 0;padding:.4em .6em;background:#f7f7f7;border-radius:4px}
@media print{.filter{display:none}section.claim{break-inside:avoid}body{max-width:none}}
"""

SCRIPT = """
(function(){
  var sel=document.getElementById('edit-filter');
  function apply(v){
    sel.value=v;
    var shown=0;
    document.querySelectorAll('[data-edits]').forEach(function(el){
      var ok=!v||(' '+el.getAttribute('data-edits')+' ').indexOf(' '+v+' ')>=0;
      el.hidden=!ok; if(ok&&el.tagName==='SECTION')shown++;
    });
    document.getElementById('filter-count').textContent=v?shown+' claim section(s) with '+v:'';
  }
  sel.addEventListener('change',function(){location.hash=sel.value?'edit='+sel.value:'';apply(sel.value);});
  function fromHash(){var h=decodeURIComponent(location.hash.slice(1));if(h.indexOf('edit=')===0)apply(h.slice(5));}
  window.addEventListener('hashchange',fromHash);fromHash();
})();
"""


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps that keep the page openable whatever the input (about 6 MB at most; see the README)."""

    rejected_details: int = 500
    warned_details: int = 200
    rejected_rows: int = 10_000
    accepted_rows: int = 5_000


def _html(el: Any) -> str:
    return etree.tostring(el, method="html", encoding="unicode")


def _money(value: str) -> Decimal:
    return Decimal(value) if is_amount(value) else Decimal(0)


class HtmlReportWriter(Writer):
    def __init__(self, out: IO[str], *, input_name: str, meta: dict[str, Any], limits: Limits | None = None,
                 registry: Any = None) -> None:
        self.out = out
        self.input_name = input_name
        self.meta = meta
        self.limits = limits or Limits()
        self.registry = registry
        self.total = self.accepted = self.rejected = self.warned = 0
        self.charges = self.charges_rejected = Decimal(0)
        self.by_edit: Counter[str] = Counter()
        self.severity: dict[str, str] = {}
        self.payers: dict[str, list[Any]] = {}
        self.anchors: Counter[str] = Counter()
        self.parts = {k: tempfile.SpooledTemporaryFile(1 << 20, mode="w+", encoding="utf-8")
                      for k in ("rejected", "rejected_rows", "warned", "warned_rows", "accepted_rows")}
        self.counts: Counter[str] = Counter()

    # -- per claim ---------------------------------------------------------------------------------
    def claim(self, scrubbed: ScrubbedClaim) -> None:
        c = scrubbed.claim
        amount = _money(c.charge)
        self.total += 1
        self.charges += amount
        for f in scrubbed.findings:
            self.by_edit[f.edit] += 1
            if self.severity.get(f.edit) != "reject":
                self.severity[f.edit] = f.severity
        payer = self.payers.setdefault(c.payer_id, [self._payer_name(c), 0, 0])
        payer[1] += 1
        anchor = self._anchor(c)
        if scrubbed.rejected:
            self.rejected += 1
            self.charges_rejected += amount
            payer[2] += 1
            self._place(scrubbed, anchor, "rejected", self.limits.rejected_details, self.limits.rejected_rows)
        elif scrubbed.findings:
            self.accepted += 1
            self.warned += 1
            self._place(scrubbed, anchor, "warned", self.limits.warned_details, self.limits.rejected_rows)
        else:
            self.accepted += 1
            if self.counts["accepted_rows"] < self.limits.accepted_rows:
                self.counts["accepted_rows"] += 1
                self.parts["accepted_rows"].write(_html(E.TR(
                    E.TD(text(c.claim_id), id=anchor), E.TD(text(c.payer_id)), E.TD(_dates(c)), E.TD(text(c.charge)))))
            else:
                self.counts["accepted_unlisted"] += 1

    def _payer_name(self, c: ClaimUnit) -> str:
        if self.registry is not None:
            payer = self.registry.payer_for(c)
            if payer is not None:
                return payer.name
        return c.subscriber.payer_name if c.subscriber else ""

    def _anchor(self, c: ClaimUnit) -> str:
        base = "claim-" + "_".join(text(c.claim_id or "unnamed").split())
        self.anchors[base] += 1
        n = self.anchors[base]
        return base if n == 1 else f"{base}-{n}"

    def _place(self, sc: ScrubbedClaim, anchor: str, kind: str, detail_cap: int, row_cap: int) -> None:
        if self.counts[kind] < detail_cap:
            self.counts[kind] += 1
            self.parts[kind].write(_html(self._section(sc, anchor, kind)))
        elif self.counts[f"{kind}_rows"] < row_cap:
            self.counts[f"{kind}_rows"] += 1
            c = sc.claim
            edits = sorted({f.edit for f in sc.findings})
            self.parts[f"{kind}_rows"].write(_html(E.TR(
                E.TD(text(c.claim_id), id=anchor), E.TD(text(c.payer_id)), E.TD(_dates(c)), E.TD(text(c.charge)),
                E.TD(", ".join(edits)), **{"data-edits": " ".join(edits)})))
        else:
            self.counts[f"{kind}_unlisted"] += 1

    def _section(self, sc: ScrubbedClaim, anchor: str, kind: str) -> Any:
        c = sc.claim
        d = c.delimiters
        edits = sorted({f.edit for f in sc.findings})
        status = "rejected" if kind == "rejected" else "accepted with warnings"
        who = c.patient or c.subscriber
        facts = E.DL(
            E.DT("payer"), E.DD(text(f"{self._payer_name(c)} ({c.payer_id})")),
            E.DT("patient account (CLM01)"), E.DD(text(c.claim_id)),
            E.DT("service dates"), E.DD(_dates(c)),
            E.DT("charge"), E.DD(text(c.charge)),
            E.DT("patient"), E.DD(text(" ".join(x for x in ((who.last, who.first) if who else ()) if x))),
            E.DT("transaction"), E.DD(text(f"ST {c.transaction.control}, ISA {c.transaction.group.interchange.control}")),
            E.CLASS("facts"),
        )
        findings = E.TABLE(E.TR(*(E.TH(h) for h in ("edit", "severity", "line", "code", "what is wrong", "how to fix",
                                                       "source"))), E.CLASS("findings"))
        for f in sc.findings:
            findings.append(E.TR(
                E.TD(E.A(f.edit, href=f"#edit={f.edit}")), E.TD(f.severity, E.CLASS(f.severity)),
                E.TD(str(f.line) if f.line is not None else "claim"), E.TD(text(f.code or "")),
                E.TD(text(f.message)), E.TD(text(f.suggestion)), E.TD(text(f"{f.source} (confidence: {f.confidence})")),
            ))
        notes: dict[int | None, list[Any]] = {}
        for f in sc.findings:
            notes.setdefault(f.segment_number, []).append(f)
        segments = E.TABLE(E.CLASS("segments"))
        for seg in c.segments:
            found = notes.get(seg.number, [])
            row = E.TR(E.TD(str(seg.number), E.CLASS("num")), E.TD(text(d.element.join(seg.els) + d.segment), E.CLASS("seg")))
            cell = E.TD(E.CLASS("notes"))
            for f in found:
                cell.append(E.P(E.B(f.edit, E.CLASS(f.severity)), " " + text(f.message)))
            row.append(cell)
            if found:
                warn_only = all(f.severity != "reject" for f in found)
                row.set("class", "fault warn-only" if warn_only else "fault")
            segments.append(row)
        unplaced = [f for f in sc.findings if f.segment_number is None or f.segment_number not in {s.number for s in c.segments}]
        extra = [E.P(E.B(f.edit), " (about a segment outside the claim) " + text(f.message), E.CLASS("note"))
                 for f in unplaced]
        return E.SECTION(
            E.H3(E.A(f"Claim {text(c.claim_id)}", href=f"#{anchor}"), E.SPAN(status, E.CLASS(f"badge {kind}"))),
            facts, findings, E.P("The claim as it is in the file (segment numbers count from its ST):", E.CLASS("note")),
            segments, *extra,
            E.CLASS(f"claim {kind}"), id=anchor, **{"data-edits": " ".join(edits)},
        )

    # -- the page ------------------------------------------------------------------------------------
    def finish(self, notices: list[str]) -> None:
        rate = f"{100 * self.accepted / self.total:.1f}%" if self.total else "n/a"
        clean = self.accepted - self.warned
        cards = E.DIV(
            *(E.DIV(E.B(value), E.SPAN(label), E.CLASS("card")) for value, label in (
                (str(self.total), "claims"), (str(self.accepted), "accepted"), (str(self.rejected), "rejected"),
                (rate, "clean-claim rate (accepted / claims)"), (f"{self.charges_rejected:,.2f}", "charges held back"),
                (f"{self.charges:,.2f}", "charges in the file"), (str(self.warned), "accepted with warnings"),
                (str(clean), "accepted without findings"))),
            E.CLASS("cards"))
        body = E.BODY(E.H1("Claim scrub report"), E.P(text(self.input_name), E.CLASS("note")), cards)
        body.append(E.H2("Findings by edit"))
        if self.by_edit:
            top = max(self.by_edit.values())
            chart = E.TABLE(E.TR(E.TH("edit"), E.TH("severity"), E.TH("findings"), E.TH("")))
            for edit, n in sorted(self.by_edit.items(), key=lambda kv: (-kv[1], kv[0])):
                sev = self.severity.get(edit, "")
                width = max(1, round(300 * n / top))
                chart.append(E.TR(E.TD(E.A(edit, href=f"#edit={edit}")), E.TD(sev, E.CLASS(sev)), E.TD(str(n)),
                                  E.TD(E.SPAN(E.CLASS(f"bar {sev}"), style=f"width:{width}px"))))
            body.append(chart)
        else:
            body.append(E.P("No findings."))
        body.append(E.H2("Payers"))
        payers = E.TABLE(E.TR(E.TH("payer id (2010BB)"), E.TH("name"), E.TH("claims"), E.TH("rejected")))
        for pid, (name, n, rej) in sorted(self.payers.items(), key=lambda kv: -kv[1][1]):
            payers.append(E.TR(E.TD(text(pid)), E.TD(text(name)), E.TD(str(n)), E.TD(str(rej))))
        body.append(payers)
        body.append(E.H2("Rules used"))
        body.append(self._rules())
        if notices:
            body.append(E.H2("File notices"))
            body.append(E.UL(*[E.LI(text(n)) for n in notices]))
        options = [E.OPTION("all edits", value="")] + [E.OPTION(e, value=e) for e in sorted(self.by_edit)]
        body.append(E.DIV(E.LABEL("Show only claims with edit ", E.SELECT(*options, id="edit-filter")),
                          E.SPAN(id="filter-count", **{"class": "note"}), E.CLASS("filter")))
        page_head = E.HEAD(E.META(charset="utf-8"), E.META(name="viewport", content="width=device-width"),
                           E.TITLE(text(f"Scrub report: {self.input_name}")), E.STYLE(CSS))
        # The body is written in pieces (spooled sections), so serialise its head and tail around them.
        shell = _html(E.HTML(page_head, body))
        cut = shell.rindex("</body>")
        self.out.write("<!DOCTYPE html>\n" + shell[:cut])
        self._part(E.H2(f"Rejected claims ({self.rejected})"), "rejected", "rejected claims", with_edits=True)
        self._part(E.H2(f"Accepted with warnings ({self.warned})"), "warned", "claims with warnings", with_edits=True)
        self._accepted()
        self.out.write(_html(E.SCRIPT(SCRIPT)))
        self.out.write(shell[cut:])
        for spool in self.parts.values():
            spool.close()

    def _rules(self) -> Any:
        rows = [E.TR(E.TH("pack or policy"), E.TH("version"), E.TH("notes"))]
        for p in self.meta.get("packs", []):
            rows.append(E.TR(E.TD(f"pack {p['pack']}"), E.TD(p["version"]), E.TD(f"{p['edits']} edits")))
        registry = self.meta.get("payer_registry") or {}
        for pol in registry.get("policies", []):
            flag = E.B("partial list", E.CLASS("warn")) if pol["partial"] else "complete list"
            rows.append(E.TR(E.TD(text(f"payer policy {pol['policy']}")), E.TD(text(pol["revision"])),
                             E.TD(flag, f", {pol['diagnoses']} diagnosis rows")))
        table = E.TABLE(*rows)
        source = registry.get("file")
        return E.DIV(table, E.P(text(f"Payer registry: {source or 'built-in'}; scrubber {self.meta.get('scrubber', '')}."),
                                E.CLASS("note")))

    def _copy(self, key: str) -> None:
        spool = self.parts[key]
        spool.seek(0)
        while chunk := spool.read(1 << 20):
            self.out.write(chunk)

    def _part(self, title: Any, kind: str, label: str, *, with_edits: bool) -> None:
        self.out.write(_html(title))
        shown, rows, unlisted = self.counts[kind], self.counts[f"{kind}_rows"], self.counts[f"{kind}_unlisted"]
        if not (shown or rows or unlisted):
            self.out.write(_html(E.P("None.", E.CLASS("note"))))
            return
        self._copy(kind)
        if rows:
            self.out.write(_html(E.P(f"The first {shown} {label} are shown in full above; {rows} more are listed "
                                     "here (the JSON report has every finding).", E.CLASS("note"))))
            head = E.TR(E.TH("claim"), E.TH("payer"), E.TH("service dates"), E.TH("charge"), E.TH("edits"))
            self.out.write("<table>" + _html(head))
            self._copy(f"{kind}_rows")
            self.out.write("</table>")
        if unlisted:
            self.out.write(_html(E.P(f"{unlisted} more {label} are not listed on this page, to keep it small enough "
                                     "to open; see the JSON report.", E.CLASS("note"))))

    def _accepted(self) -> None:
        self.out.write(_html(E.H2(f"Accepted claims without findings ({self.accepted - self.warned})")))
        listed, unlisted = self.counts["accepted_rows"], self.counts["accepted_unlisted"]
        if listed:
            head = E.TR(E.TH("claim"), E.TH("payer"), E.TH("service dates"), E.TH("charge"))
            self.out.write("<table>" + _html(head))
            self._copy("accepted_rows")
            self.out.write("</table>")
        if unlisted:
            self.out.write(_html(E.P(f"{unlisted} more accepted claims are counted above but not listed, to keep the "
                                     "page small enough to open; the JSON report lists every claim.", E.CLASS("note"))))
        if not (listed or unlisted):
            self.out.write(_html(E.P("None.", E.CLASS("note"))))


def _dates(c: ClaimUnit) -> str:
    days = c.service_dates()
    if not days:
        return "none"
    return days[0].isoformat() if len(days) == 1 else f"{days[0].isoformat()} to {days[-1].isoformat()}"
