"""NAME.report.html: one offline page billers work rejected claims from, at any file size.

The page is static HTML for what is small (summary, findings by edit split by severity, payers,
rules used; built with lxml, so values are escaped by construction) and compact JSON for the
claims, which a small inline script renders a page at a time: a searchable, sortable index of the
rejected claims on the first screen, each claim's findings and its segments with the ones at fault
highlighted, the claims with warnings, and the clean claims. No network, no external assets.

Claims arrive in file order and totals open the page, so claim rows are spooled (memory, then a
temporary file) and copied into ``<script type="application/json">`` blocks at the end; what stays
in memory is bounded (counters, capped string tables). JSON in a script block has ``<``, ``>`` and
``&`` escaped, so no value can close the block or open markup; the script builds the page with
``textContent``, never with markup from data. Byte budgets (``Limits``) keep the page openable:
every rejected claim is always listed with its findings; past the budget, a rejected claim shows
the segments at fault instead of all its segments, and further warned or clean claims are counted
but not listed (the page says so; the worklist and the JSON report have every finding).
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import IO, Any

from lxml import etree
from lxml.html import builder as E

from scrubber.model import ClaimUnit, ScrubbedClaim
from scrubber.text import for_billers
from scrubber.text import for_markup as text
from scrubber.writers.base import Writer
from scrubber.x12.loop2300 import is_amount

#: claims per page in the page's lists
PAGE_SIZE = 100
_JSON_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


@dataclass(frozen=True, slots=True)
class Limits:
    """Byte budgets for the embedded claim data (the page is about their sum plus 10%)."""

    #: rejected claims with every segment; past this, with the segments at fault only (never left out)
    rejected_full_bytes: int = 48 << 20
    #: claims with warnings only; past this, counted but not listed
    warned_bytes: int = 24 << 20
    #: clean claims (id, payer, charge, dates); past this, counted but not listed
    accepted_bytes: int = 12 << 20
    #: distinct texts (suggestions, sources) and payers shared by reference; later ones are written in place
    strings: int = 20_000
    payers: int = 5_000


@cache
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _html(el: Any) -> str:
    return etree.tostring(el, method="html", encoding="unicode")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_JSON_ESCAPES)


def _money(value: str) -> Decimal:
    return Decimal(value) if is_amount(value) else Decimal(0)


def _dates(c: ClaimUnit) -> str:
    days = c.service_dates()
    if not days:
        return ""
    return days[0].isoformat() if len(days) == 1 else f"{days[0].isoformat()} to {days[-1].isoformat()}"


class _Spool:
    """A JSON array written one element at a time (memory up to 1 MiB, then a temporary file)."""

    def __init__(self, budget: int | None = None) -> None:
        self.file = tempfile.SpooledTemporaryFile(1 << 20, mode="w+", encoding="utf-8")
        self.count = 0
        self.size = 0
        self.budget = budget

    def fits(self) -> bool:
        return self.budget is None or self.size < self.budget

    def add(self, element: str) -> None:
        if self.count:
            self.file.write(",")
        self.file.write(element)
        self.count += 1
        self.size += len(element) + 1

    def copy_to(self, out: IO[str]) -> None:
        out.write("[")
        self.file.seek(0)
        while chunk := self.file.read(1 << 20):
            out.write(chunk)
        out.write("]")
        self.file.close()


class HtmlReportWriter(Writer):
    def __init__(self, out: IO[str], *, input_name: str, meta: dict[str, Any], limits: Limits | None = None,
                 registry: Any = None, titles: dict[str, str] | None = None) -> None:
        self.out = out
        self.input_name = input_name
        self.meta = meta
        self.limits = limits or Limits()
        self.registry = registry
        self.titles = titles or {}
        self.total = self.accepted = self.rejected = self.warned = 0
        self.charges = self.charges_rejected = Decimal(0)
        self.findings: Counter[tuple[str, str]] = Counter()  # (edit, severity) -> findings
        self.claims_by_edit: Counter[str] = Counter()
        self.payer_counts: dict[int | str, list[int]] = {}  # payer ref -> [claims, rejected]
        self.strings: dict[str, int] = {}
        self.payers: dict[tuple[str, str], int] = {}
        self.edits: dict[str, int] = {}
        self.spools = self._new_spools()
        self.full_rejected = 0  # rejected claims shown with all their segments
        self.unlisted: Counter[str] = Counter()

    def _new_spools(self) -> dict[str, Any]:
        """Where each list's rows wait for the page. Split runs' writers hold rows elsewhere and make
        none of these: a spool made only to be dropped runs Python code in its ``__del__``, where a
        Ctrl-C can land and be swallowed."""
        lim = self.limits
        return {"rejected": _Spool(), "warned": _Spool(lim.warned_bytes), "accepted": _Spool(lim.accepted_bytes)}

    # -- per claim ---------------------------------------------------------------------------------
    def claim(self, scrubbed: ScrubbedClaim) -> None:
        c = scrubbed.claim
        amount = _money(c.charge)
        self.total += 1
        self.charges += amount
        for f in scrubbed.findings:
            self.findings[(f.edit, f.severity)] += 1
        for edit in {f.edit for f in scrubbed.findings}:
            self.claims_by_edit[edit] += 1
        payer = self._payer(c)
        # Past the payer cap, one "other payers" row: the table stays bounded whatever the file.
        counts = self.payer_counts.setdefault(payer if isinstance(payer, int) else "", [0, 0])
        counts[0] += 1
        if scrubbed.rejected:
            self.rejected += 1
            self.charges_rejected += amount
            counts[1] += 1
            full = self.spools["rejected"].size < self.limits.rejected_full_bytes
            self.full_rejected += full
            self.spools["rejected"].add(self._row(scrubbed, payer, full=full))
            return
        self.accepted += 1
        kind = "warned" if scrubbed.findings else "accepted"
        self.warned += kind == "warned"
        spool = self.spools[kind]
        if not spool.fits():
            self.unlisted[kind] += 1
        elif kind == "warned":
            spool.add(self._row(scrubbed, payer, full=False))
        else:
            spool.add(_json([text(c.claim_id), payer, text(c.charge), _dates(c)]))

    def _row(self, sc: ScrubbedClaim, payer: int | str, *, full: bool) -> str:
        """[claim, payer, charge, dates, patient, where, edits, findings, segments] of a claim with findings."""
        c = sc.claim
        who = c.patient or c.subscriber
        patient = " ".join(x for x in ((who.last, who.first) if who else ()) if x)
        findings = [[
            self._edit(f.edit), 1 if f.rejects else 0, f.line, text(f.code or ""), text(f.message),
            self._text(for_billers(text(f.suggestion))), self._text(for_billers(text(f.source))),
            f.segment_number, None if full else (text(f.segment) if f.segment else None), self._text(f.confidence),
        ] for f in sc.findings]
        segments = None
        if full:
            d = c.delimiters
            segments = [c.segments[0].number, "\n".join(text(d.element.join(s.els) + d.segment) for s in c.segments)]
        txn = c.transaction
        return _json([text(c.claim_id), payer, text(c.charge), _dates(c), text(patient),
                      text(f"ST {txn.control}, ISA {txn.group.interchange.control}"),
                      sorted({self._edit(f.edit) for f in sc.findings}), findings, segments])

    def _text(self, value: str) -> int | str:
        """A shared text by reference: suggestions and sources repeat across claims."""
        ref = self.strings.get(value)
        if ref is None:
            if len(self.strings) >= self.limits.strings:
                return value
            ref = self.strings[value] = len(self.strings)
        return ref

    def _edit(self, edit: str) -> int:
        return self.edits.setdefault(edit, len(self.edits))

    def _payer(self, c: ClaimUnit) -> int | str:
        name = c.subscriber.payer_name if c.subscriber else ""
        if self.registry is not None:
            known = self.registry.payer_for(c)
            if known is not None:
                name = known.name
        return self._payer_ref((text(c.payer_id), text(name)))

    def _payer_ref(self, key: tuple[str, str]) -> int | str:
        """The payer's number in the page's payer table; past its cap, the payer id itself."""
        ref = self.payers.get(key)
        if ref is None:
            if len(self.payers) >= self.limits.payers:
                return key[0]
            ref = self.payers[key] = len(self.payers)
        return ref

    # -- the page ------------------------------------------------------------------------------------
    def finish(self, notices: list[str]) -> None:
        shell = _html(E.HTML(
            E.HEAD(E.META(charset="utf-8"), E.META(name="viewport", content="width=device-width"),
                   E.TITLE(text(f"Scrub report: {self.input_name}")), E.STYLE(_asset("report_html.css"))),
            E.BODY(*self._summary(), *self._lists(), *self._reference(notices)),
        ))
        cut = shell.rindex("</body>")
        self.out.write("<!DOCTYPE html>\n" + shell[:cut])
        self._data()
        self.out.write("<script>" + _asset("report_html.js") + "</script>\n")
        self.out.write(shell[cut:])

    def _data(self) -> None:
        edits = sorted(self.edits, key=self.edits.__getitem__)
        header = {
            "edits": [[e, text(self.titles.get(e, ""))] for e in edits],
            "payers": [list(k) for k in sorted(self.payers, key=self.payers.__getitem__)],
            "texts": sorted(self.strings, key=self.strings.__getitem__),
            "page": PAGE_SIZE,
        }
        self.out.write('<script type="application/json" id="data-header">' + _json(header) + "</script>\n")
        for kind, spool in self.spools.items():
            self.out.write(f'<script type="application/json" id="data-{kind}">')
            spool.copy_to(self.out)
            self.out.write("</script>\n")

    def _summary(self) -> list[Any]:
        rate = f"{100 * self.accepted / self.total:.1f}%" if self.total else "n/a"
        cards = E.DIV(*(E.DIV(E.B(value), E.SPAN(label), E.CLASS(f"card {cls}")) for value, label, cls in (
            (f"{self.total:,}", "claims", ""), (f"{self.accepted:,}", "accepted", "ok"),
            (f"{self.rejected:,}", "rejected", "rej"), (rate, "clean-claim rate (accepted / claims)", ""),
            (f"{self.charges_rejected:,.2f}", "charges held back", "rej"), (f"{self.charges:,.2f}", "charges in the file", ""),
            (f"{self.warned:,}", "accepted with warnings", "warn"),
            (f"{self.accepted - self.warned:,}", "accepted without findings", "ok"))), E.CLASS("cards"))
        return [E.HEADER(E.H1("Claim scrub report"), E.P(text(self.input_name), E.CLASS("note")), cards),
                E.NOSCRIPT(E.P("The claim lists of this report need JavaScript. The worklist (CSV) and the JSON report "
                               "beside this file hold every finding.", E.CLASS("warn")))]

    def _lists(self) -> list[Any]:
        out = []
        for kind, title, hint in (
            ("rejected", f"Rejected claims ({self.rejected:,})", "Fix these before the file is sent; each claim "
             "shows what is wrong, how to fix it and the rule's source."),
            ("warned", f"Accepted with warnings ({self.warned:,})", "Sent on, but worth a look."),
            ("accepted", f"Accepted claims without findings ({self.accepted - self.warned:,})", ""),
        ):
            notes = [E.P(hint, E.CLASS("note"))] if hint else []
            if kind == "rejected" and self.full_rejected < self.rejected:
                notes.append(E.P(f"All {self.rejected:,} are listed with their findings; to keep this page small "
                                 f"enough to open, the first {self.full_rejected:,} show every segment of the claim and "
                                 "the others the segments at fault.", E.CLASS("note")))
            if self.unlisted[kind]:
                notes.append(E.P(f"{self.unlisted[kind]:,} more are counted above but not listed, to keep this page "
                                 "small enough to open; the worklist (CSV) and the JSON report have every claim.",
                                 E.CLASS("note warn")))
            out.append(E.SECTION(E.H2(title), *notes, E.DIV(E.CLASS("index"), **{"data-kind": kind}),
                                 id=f"{kind}-claims", **{"class": f"list {kind}"}))
            if kind == "rejected":
                out.append(E.SECTION(id="claim-detail", hidden="hidden"))
                out.append(self._by_edit())
        return out

    def _by_edit(self) -> Any:
        edits = sorted({e for e, _s in self.findings},
                       key=lambda e: (-self.findings[(e, "reject")], -self.findings[(e, "warn")], e))
        if not edits:
            return E.SECTION(E.H2("Findings by edit"), E.P("No findings.", E.CLASS("note")), id="by-edit")
        top = max(self.findings.values())
        table = E.TABLE(E.THEAD(E.TR(E.TH("edit"), E.TH("what it checks"), E.TH("rejecting findings"),
                                     E.TH("warnings"), E.TH("claims"), E.TH(""))), E.CLASS("by-edit"))
        body = E.TBODY()
        for edit in edits:
            rej, warn = self.findings[(edit, "reject")], self.findings[(edit, "warn")]
            bars = E.TD(E.SPAN(E.CLASS("bar reject"), style=f"width:{round(240 * rej / top)}px"),
                        E.SPAN(E.CLASS("bar warn"), style=f"width:{round(240 * warn / top)}px"))
            body.append(E.TR(
                E.TD(E.A(edit, href=f"#edit={edit}", **{"class": "edit-link", "data-edit": edit})),
                E.TD(text(self.titles.get(edit, ""))),
                E.TD(f"{rej:,}", E.CLASS("num reject" if rej else "num")), E.TD(f"{warn:,}", E.CLASS("num warn" if warn else "num")),
                E.TD(f"{self.claims_by_edit[edit]:,}", E.CLASS("num")), bars))
        table.append(body)
        return E.SECTION(E.H2("Findings by edit"), E.P("Choose an edit to list only the claims it concerns.",
                                                       E.CLASS("note")), table, id="by-edit")

    def _reference(self, notices: list[str]) -> list[Any]:
        out = [E.H2("Payers")]
        payers = E.TABLE(E.TR(E.TH("payer id (2010BB)"), E.TH("name"), E.TH("claims"), E.TH("rejected")))
        names = {ref: key for key, ref in self.payers.items()}
        for ref, (n, rej) in sorted(self.payer_counts.items(), key=lambda kv: -kv[1][0]):
            pid, name = names[ref] if isinstance(ref, int) else ("(other payers)", "")
            payers.append(E.TR(E.TD(pid), E.TD(name), E.TD(f"{n:,}", E.CLASS("num")), E.TD(f"{rej:,}", E.CLASS("num"))))
        out += [payers, E.H2("Rules used"), self._rules()]
        if notices:
            out += [E.H2("File notices"), E.UL(*[E.LI(text(for_billers(n))) for n in notices])]
        return [E.SECTION(*out, id="reference")]

    def _rules(self) -> Any:
        rows = [E.TR(E.TH("pack or policy"), E.TH("version"), E.TH("notes"))]
        for p in self.meta.get("packs", []):
            origin = "" if p.get("origin", "built-in") == "built-in" else f" ({p['origin']})"
            rows.append(E.TR(E.TD(text(f"pack {p['pack']}{origin}")), E.TD(text(p["version"])),
                             E.TD(f"{p['edits']} edits")))
        registry = self.meta.get("payer_registry") or {}
        for pol in registry.get("policies", []):
            flag = E.B("partial list", E.CLASS("warn")) if pol["partial"] else "complete list"
            rows.append(E.TR(E.TD(text(f"payer policy {pol['policy']}")), E.TD(text(pol["revision"])),
                             E.TD(flag, f", {pol['diagnoses']} diagnosis rows")))
        layers = ", ".join(f"{layer['file']} ({layer['origin']})" for layer in registry.get("layers", []))
        return E.DIV(E.TABLE(*rows), E.P(text(f"Payer registry: {layers or registry.get('file') or 'built-in'}; "
                                              f"scrubber {self.meta.get('scrubber', '')}."), E.CLASS("note")))
