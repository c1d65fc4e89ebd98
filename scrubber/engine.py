"""Run the packs' edits over claim units and collect findings (all of them, never the first only)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from scrubber.model import ClaimUnit, Finding
from scrubber.payers import Registry
from scrubber.rules import kinds_core, kinds_dx, kinds_lines, kinds_payer  # noqa: F401  (importing registers the kinds)
from scrubber.rules.catalog import Catalog, Edit, load_catalog
from scrubber.rules.kinds import KINDS, TRIGGERS, Check, Context

STRUCTURE = "X12-STRUCTURE"
#: edits that also run on a claim that cannot be read (the others would guess at missing data)
ALWAYS = frozenset({STRUCTURE, "X12-IG"})


class Engine:
    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        today: dt.date | None = None,
        payers: Any = None,
        only: set[str] | None = None,
    ) -> None:
        self.catalog = catalog or load_catalog()
        if payers is None:
            payers = Registry.builtin()
        elif isinstance(payers, (str, Path)):
            payers = Registry.load(payers)
        self.payers = payers
        self.context = Context(self.catalog, today or dt.date.today(), payers)
        plan: list[tuple[Edit, dict[str, Any], Check, frozenset[str] | None]] = []
        for pack in self.catalog.packs:
            for edit in pack.edits:
                if not edit.enabled or (only is not None and edit.id not in only and edit.id not in ALWAYS):
                    continue
                for kind_name, params in edit.checks:
                    try:
                        check = KINDS[kind_name]
                    except KeyError:
                        raise ValueError(f"edit {edit.id}: unknown check kind {kind_name!r}") from None
                    trigger = TRIGGERS.get(kind_name)
                    plan.append((edit, params, check, trigger(edit, params, self.context) if trigger else None))
        self._structure = [p for p in plan if p[0].id in ALWAYS]
        self._plan = [p for p in plan if p[0].id != STRUCTURE]

    def check(self, claim: ClaimUnit) -> list[Finding]:
        ctx = self.context
        ctx.claim_cache.clear()
        if claim.problems:
            # The claim cannot be read reliably: say why, and do not guess at the rest.
            return [f for e, p, c, _t in self._structure for f in c(claim, e, p, ctx)]
        out: list[Finding] = []
        codes = {ln.code for ln in claim.lines}
        edit = None
        try:  # one guard per claim, not per check: the loop is the hot path
            for edit, params, check, trigger in self._plan:
                if trigger is not None and trigger.isdisjoint(codes):
                    continue
                out.extend(check(claim, edit, params, ctx))
        except Exception as exc:
            # A value no check foresaw: the claim is held with the reason, and the run goes on.
            # The exception's text may quote claim content: name its type only.
            what = edit.id if edit is not None else "a"
            claim.problems.append((f"the {what} check could not judge a value in this claim ({type(exc).__name__})",
                                   claim.clm))
            return self.check(claim)
        return out
