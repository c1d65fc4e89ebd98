"""What one ``scrubber scrub`` run did, across its inputs: the human lines and ``--summary json``."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

from scrubber.api import output_name
from scrubber.inputs import Skipped
from scrubber.runparts import Summary

SCHEMA = "scrubber.summary/1"


class RunSummary:
    def __init__(self, outcomes: Sequence[tuple[str, Summary | None, str]], skipped: Sequence[Skipped],
                 outdir: str | None, stdout: str | None) -> None:
        self.outcomes = list(outcomes)
        self.skipped = list(skipped)
        self.outdir = outdir
        self.stdout = stdout
        self.done = [s for _label, s, _e in self.outcomes if s is not None]

    @property
    def exit_code(self) -> int:
        codes = [s.exit_code if s is not None else 2 for _label, s, _e in self.outcomes]
        return max(codes, default=0)

    def errors(self) -> list[tuple[str, str]]:
        return [(label, error) for label, s, error in self.outcomes if s is None]

    def totals(self) -> dict[str, int]:
        return {key: sum(getattr(s, key) for s in self.done) for key in ("claims", "accepted", "rejected")}

    def lines(self) -> list[str]:
        """One line per scrubbed input, and a totals line when there were several inputs."""
        out = []
        for label, s, _error in self.outcomes:
            if s is None:
                continue
            where = []
            if self.outdir is not None:
                where.append(os.path.join(self.outdir, output_name(label if label != "stdin" else "-")) + ".*")
            if self.stdout:
                where.append(f"standard output ({self.stdout})")
            out.append(f"{label}: {s.claims} claims, {s.accepted} accepted, {s.rejected} rejected -> {', '.join(where)}")
        if len(self.outcomes) > 1 or self.skipped:
            t = self.totals()
            extra = [f"{n} {what}" for n, what in ((len(self.errors()), "unusable"), (len(self.skipped), "skipped")) if n]
            out.append(f"total: {len(self.outcomes)} inputs, {t['claims']} claims, {t['accepted']} accepted, "
                       f"{t['rejected']} rejected" + (f" ({', '.join(extra)})" if extra else ""))
        return out

    def to_dict(self) -> dict[str, Any]:
        by_edit: Counter[str] = Counter()
        rejected_by_edit: Counter[str] = Counter()
        inputs = []
        for label, s, error in self.outcomes:
            if s is None:
                inputs.append({"input": label, "exit_code": 2, "error": error})
                continue
            by_edit.update(s.findings_by_edit)
            rejected_by_edit.update(s.rejected_by_edit)
            inputs.append({
                "input": label, "exit_code": s.exit_code, "claims": s.claims, "accepted": s.accepted,
                "rejected": s.rejected, "findings_by_edit": dict(sorted(s.findings_by_edit.items())),
                "outputs": [str(p) for p in s.outputs], "notices": len(s.notices),
            })
        return {
            "schema": SCHEMA,
            "exit_code": self.exit_code,
            **self.totals(),
            "unusable": len(self.errors()),
            "findings_by_edit": dict(sorted(by_edit.items())),
            "rejected_by_edit": dict(sorted(rejected_by_edit.items())),
            "outputs": [str(p) for s in self.done for p in s.outputs],
            "stdout": self.stdout,
            "skipped": [{"path": k.path, "reason": k.reason} for k in self.skipped],
            "inputs": inputs,
        }
