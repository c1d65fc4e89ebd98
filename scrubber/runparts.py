"""What one run of one input is made of, shared by the single-process path (scrubber.api.run)
and split runs (scrubber.stitch, scrubber.piecework): its settings, its summary, the report's
record of what it judged by, the engine its settings describe, its output handles and its 999.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from scrubber import __version__
from scrubber.engine import Engine
from scrubber.model import ScrubbedClaim
from scrubber.x12.segments import MAX_SEGMENT


@dataclass(slots=True)
class Options:
    """Settings of one run. ``now`` and ``control_base`` make outputs reproducible in tests."""

    payers: Any = None
    html: bool = True
    now: dt.datetime | None = None
    control_base: int | None = None
    source_name: str = ""
    source_id: str = ""
    only_edits: set[str] | None = None
    #: progress display: called as ``progress(bytes_done, claims_done, stage)`` every thousand claims
    #: read (stage "scrub"), and as pyx12's pieces come back (stage "pyx12"); see scrubber.progress
    progress: Any = None
    #: processes for one large file (cut at 2000A loops; the outputs are those of one process)
    jobs: int = 1
    #: implementation-guide validation through pyx12 (X12-IG findings and NAME.999)
    validate: bool = False
    #: the built-in implementation-guide validator (scrubber.guide): "builtin" or "off"; with
    #: ``validate`` pyx12 takes its place
    guide: str = "builtin"
    #: rule control (scrubber.config.RuleConfig): edits off/on, severities, per payer
    rules: Any = None
    #: folder written by `scrubber import-ncci` (else the configuration's, else none)
    ncci: str | None = None
    #: longest segment read (characters); input without terminators fails fast instead of filling memory
    max_segment: int = MAX_SEGMENT

    @property
    def validator(self) -> str:
        """Which implementation-guide check runs: "pyx12", "builtin" or "off"."""
        return "pyx12" if self.validate else ("off" if self.guide == "off" else "builtin")

    def moment(self) -> dt.datetime:
        return self.now or dt.datetime.now().replace(microsecond=0)

    def control(self, moment: dt.datetime) -> int:
        # Like pyx12: derived from the clock unless given, so two runs rarely share ISA13.
        return self.control_base if self.control_base is not None else int(moment.strftime("%H%M%S")) * 100


@dataclass(slots=True)
class Summary:
    """What a run counted; the exit status follows from it."""

    input_name: str
    claims: int = 0
    accepted: int = 0
    rejected: int = 0
    transactions: int = 0
    notices: list[str] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    #: findings per edit (warnings included), and claims each edit rejected (a claim counts once per edit)
    findings_by_edit: dict[str, int] = field(default_factory=dict)
    rejected_by_edit: dict[str, int] = field(default_factory=dict)
    guide: Any = None  # the built-in validator's run (scrubber.guide.GuideRun), for the 999

    @property
    def exit_code(self) -> int:
        return 1 if self.rejected else 0

    def count(self, scrubbed: ScrubbedClaim) -> None:
        """Add one claim's findings to the per-edit counts (only claims with findings get here)."""
        by_edit = self.findings_by_edit
        rejecting = set()
        for f in scrubbed.findings:
            by_edit[f.edit] = by_edit.get(f.edit, 0) + 1
            if f.severity == "reject":
                rejecting.add(f.edit)
        for edit in rejecting:
            self.rejected_by_edit[edit] = self.rejected_by_edit.get(edit, 0) + 1


def meta(engine: Engine) -> dict[str, Any]:
    """What the run judged by: pack versions, payer policies (partial lists flagged), rule control, NCCI."""
    registry = engine.payers
    return {
        "rule_config": engine.rules.as_dict(),
        "ncci": engine.ncci.describe(),
        "scrubber": __version__,
        "packs": [{"pack": p.name, "version": p.version, "edits": len(p.edits), "origin": p.origin}
                  for p in engine.catalog.packs],
        "payer_registry": {
            "file": registry.path.name if registry is not None and registry.path else None,
            "layers": [{"file": f.path.name, "origin": f.origin} for f in getattr(registry, "files", [])],
            "policies": [{"policy": p.id, "revision": p.revision, "partial": p.partial, "diagnoses": len(p.diagnoses)}
                         for p in (registry.policies.values() if registry is not None else [])],
        },
    }


def engine_for(options: Options) -> Engine:
    """The engine a run's options describe (payers, rule control, NCCI tables)."""
    return Engine(payers=options.payers, only=options.only_edits, rules=options.rules, ncci=options.ncci)


def open_outputs(open_output: Any, html: bool) -> dict[str, IO[str]]:
    """The handles the writers write to (``open_output(key, encoding)``; NAME.999 only when there is one)."""
    handles = {"277": open_output("277"), "837": open_output("837"), "json": open_output("json", "ascii"),
               "worklist": open_output("worklist", "utf-8")}
    if html:
        handles["html"] = open_output("html", "utf-8")
    return handles


def ack_999(summary: Summary, moment: dt.datetime, control: int) -> str:
    """The built-in validator's 999 when it found an error, else ""."""
    guide = summary.guide
    if guide is None or not guide.errors:
        return ""
    from scrubber.writers.ack999 import write_999

    return write_999(guide, now=moment, control=control)
