"""The Python API: scrub a file, bytes or a stream; the command line is a thin layer over this.

``scrub_file``/``scrub_bytes`` keep every output in memory and return a ``Result``; ``scrub_to_dir``
streams the outputs into a folder (constant memory) and is what the command line uses.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import tempfile
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, BinaryIO

from scrubber import __version__
from scrubber.engine import Engine
from scrubber.errors import InputError
from scrubber.model import ClaimUnit, GroupEnd, InterchangeEnd, ScrubbedClaim, TransactionEnd
from scrubber.split import SplitFindings
from scrubber.split import plan as split_plan
from scrubber.writers.accepted837 import Accepted837Writer
from scrubber.writers.ack277 import Ack277Writer
from scrubber.writers.base import ENCODING, AtomicFile, Writer
from scrubber.writers.report_html import HtmlReportWriter
from scrubber.writers.report_json import JsonReportWriter
from scrubber.x12.reader import Reader


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
    #: called with the number of claims read so far, every few thousand claims (progress display)
    progress: Any = None
    #: processes for one large file (cut at 2000A loops; the outputs are those of one process)
    jobs: int = 1
    #: implementation-guide validation through pyx12 (X12-IG findings and NAME.999)
    validate: bool = False

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


class _Collect(Writer):
    def __init__(self) -> None:
        self.claims: list[ScrubbedClaim] = []

    def claim(self, scrubbed: ScrubbedClaim) -> None:
        self.claims.append(scrubbed)


def meta(engine: Engine) -> dict[str, Any]:
    """What the run judged by: pack versions and the payer policies, partial lists flagged."""
    registry = engine.payers
    return {
        "scrubber": __version__,
        "packs": [{"pack": p.name, "version": p.version, "edits": len(p.edits)} for p in engine.catalog.packs],
        "payer_registry": {
            "file": registry.path.name if registry is not None and registry.path else None,
            "policies": [{"policy": p.id, "revision": p.revision, "partial": p.partial, "diagnoses": len(p.diagnoses)}
                         for p in (registry.policies.values() if registry is not None else [])],
        },
    }


def run(stream: BinaryIO, input_name: str, writers: Iterable[Writer], engine: Engine,
        progress: Any = None, split: Any = None, notices: list[str] | None = None) -> Summary:
    """Read, check and feed every writer in one pass. Raises InputError for unusable input.

    With ``split`` (scrubber.split.SplitFindings) the checks of each claim come from worker
    processes; a claim the parent reads as structurally broken is checked here.
    """
    writers = list(writers)
    reader = Reader(stream)
    summary = Summary(input_name)
    txn = None
    position = 0
    for ev in reader.events():
        if isinstance(ev, ClaimUnit):
            findings = None
            if split is not None:
                if ev.transaction is not txn:
                    txn, position = ev.transaction, 0
                found = split.get(ev.transaction.index, position)
                position += 1
                if found is not None and not ev.problems and not found[1]:
                    findings = found[0]
            scrubbed = ScrubbedClaim(ev, findings if findings is not None else engine.check(ev))
            summary.claims += 1
            if progress is not None and summary.claims % 5000 == 0:
                progress(summary.claims)
            if scrubbed.findings:
                summary.count(scrubbed)
            if scrubbed.rejected:
                summary.rejected += 1
            else:
                summary.accepted += 1
            for w in writers:
                w.claim(scrubbed)
        elif isinstance(ev, TransactionEnd):
            for w in writers:
                w.end_transaction(ev.transaction)
        elif isinstance(ev, GroupEnd):
            for w in writers:
                w.end_group(ev.group)
        elif isinstance(ev, InterchangeEnd):
            for w in writers:
                w.end_interchange(ev.interchange)
    summary.transactions = reader.transactions
    summary.notices = [*(notices or []), *reader.notices]
    for w in writers:
        w.finish(summary.notices)
    return summary


def output_name(input_path: str) -> str:
    """``NAME`` for an input ``NAME.ext``; standard input is ``stdin``."""
    if input_path == "-":
        return "stdin"
    base = os.path.basename(input_path)
    stem, dot, _ext = base.rpartition(".")
    return stem if dot and stem else base


#: outputs by the names the command line (``--stdout``) and the HTTP service (``?output=``) use
OUTPUT_KEYS = {"277": "277", "accepted": "837", "json": "json", "report": "json", "html": "html"}


def scrub_to_dir(
    source: str | Path | BinaryIO,
    outdir: str | Path | None,
    *,
    name: str | None = None,
    options: Options | None = None,
    engine: Engine | None = None,
    stream: tuple[str, BinaryIO] | None = None,
) -> Summary:
    """Scrub one input into ``outdir``: NAME.277, NAME.accepted.837, NAME.report.json/.html.

    Every file appears atomically at the end, or not at all when the input is unusable.
    With ``stream=(OUTPUT, binary stream)`` (OUTPUT a key of ``OUTPUT_KEYS``; filter mode and the
    HTTP service) that output goes to the stream instead of ``outdir``, byte-exact, once the whole
    input has been read, so an unusable input leaves nothing half-written there either; with
    ``outdir=None`` the other outputs are not kept.
    """
    options = options or Options()
    engine = engine or Engine(payers=options.payers, only=options.only_edits)
    streamed = OUTPUT_KEYS[stream[0]] if stream else None
    folder = Path(outdir) if outdir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    if name is None:
        name = "stdin" if source == "-" or not isinstance(source, (str, Path)) else output_name(str(source))
    input_label = os.path.basename(str(source)) if isinstance(source, (str, Path)) and source != "-" else name

    def sink(key: str, filename: str, encoding: str = ENCODING) -> Any:
        if stream is not None and key == streamed:
            return _StreamedFile(stream[1], encoding)
        return AtomicFile(folder / filename, encoding) if folder is not None else _NullFile()

    moment = options.moment()
    files = {
        "277": sink("277", f"{name}.277"),
        "837": sink("837", f"{name}.accepted.837"),
        "json": sink("json", f"{name}.report.json", "ascii"),
    }
    if streamed == "html" or (options.html and folder is not None):
        files["html"] = sink("html", f"{name}.report.html", "utf-8")
    run_options = replace(options, html="html" in files)
    writers = make_writers({k: f.fh for k, f in files.items()}, input_label, run_options, engine, moment)
    ack_path = folder / f"{name}.999" if folder is not None else None
    try:
        if options.validate:
            summary = _validated(source, input_label, writers, engine, options, files, ack_path)
        elif isinstance(source, (str, Path)) and source != "-":
            pieces = split_plan(source, options.jobs * 16) if options.jobs > 1 else None
            if pieces:
                with ProcessPoolExecutor(options.jobs) as pool, open(source, "rb") as fh:
                    worker_options = replace(options, progress=None)
                    split = SplitFindings(str(source), pieces, worker_options, pool)
                    summary = run(fh, input_label, writers, engine, options.progress, split)
            else:
                with open(source, "rb") as fh:
                    summary = run(fh, input_label, writers, engine, options.progress)
        else:
            data = source if not isinstance(source, (str, Path)) else _stdin()
            summary = run(data, input_label, writers, engine, options.progress)
    except BaseException:
        for f in files.values():
            f.discard()
        raise
    if options.validate and "999" not in files and ack_path is not None:
        ack_path.unlink(missing_ok=True)  # no error now: an old 999 would mislead
    if summary.accepted == 0:
        # No claim to forward: a stale accepted 837 from an earlier run must not be sent by mistake.
        files.pop("837").discard()
        if folder is not None:
            (folder / f"{name}.accepted.837").unlink(missing_ok=True)
    for f in files.values():
        f.commit()
        if f.path is not None:
            summary.outputs.append(f.path)
    return summary


class _StreamedFile:
    """An output spooled until the run ends, then copied to a stream (nothing partial reaches it)."""

    path = None

    def __init__(self, target: BinaryIO, encoding: str) -> None:
        self._target = target
        self._spool = tempfile.SpooledTemporaryFile(16 << 20)  # memory, then disk
        self.fh: IO[str] = io.TextIOWrapper(self._spool, encoding, errors="replace", newline="")

    def commit(self) -> None:
        self.fh.flush()
        self._spool.seek(0)
        shutil.copyfileobj(self._spool, self._target, 1 << 20)
        self._target.flush()
        self.fh.close()

    def discard(self) -> None:
        self.fh.close()


class _NullFile:
    """An output nobody asked for (filter mode without ``-o``)."""

    path = None

    def __init__(self) -> None:
        self.fh: IO[str] = _Null()

    def commit(self) -> None:
        pass

    def discard(self) -> None:
        pass


class _Null(io.TextIOBase):
    def write(self, s: str) -> int:
        return len(s)


def make_writers(out: dict[str, IO[str]], label: str, options: Options, engine: Engine,
                 moment: dt.datetime) -> list[Writer]:
    """One writer per output (keys 837, 277, json, html), all fed by the same pass."""
    writers: list[Writer] = [
        Accepted837Writer(out["837"]),
        Ack277Writer(out["277"], now=moment, control_base=options.control(moment),
                     source_name=options.source_name, source_id=options.source_id),
        JsonReportWriter(out["json"], input_name=label, meta=meta(engine)),
    ]
    if options.html:
        writers.append(HtmlReportWriter(out["html"], input_name=label, meta=meta(engine), registry=engine.payers))
    return writers


def validate_then_run(data: BinaryIO, label: str, writers: list[Writer], engine: Engine,
                      options: Options) -> tuple[Summary, Any]:
    """pyx12 over ``data`` first (its errors become X12-IG findings), then the usual pass over it."""
    from scrubber.validate import validate_stream

    data.seek(0)
    report = validate_stream(data, jobs=validation_jobs(options))
    data.seek(0)
    notices = list(report.file_level)
    if report.errors:
        notices.insert(0, f"pyx12 reported {report.errors} implementation-guide error(s); see the 999")
    engine.context.extra["ig"] = report
    try:
        return run(data, label, writers, engine, options.progress, notices=notices), report
    finally:
        engine.context.extra.pop("ig", None)


def validation_jobs(options: Options) -> int:
    """pyx12 is the slow part of --validate: spread its transactions over the cores by default."""
    return options.jobs if options.jobs > 1 else (os.cpu_count() or 1)


def _validated(source: Any, label: str, writers: list[Writer], engine: Engine, options: Options,
               files: dict[str, Any], ack_path: Path | None) -> Summary:
    """``validate_then_run`` over a file, or over standard input kept for the two passes."""
    if isinstance(source, (str, Path)) and source != "-":
        data: Any = open(source, "rb")  # closed below
    else:
        data = tempfile.SpooledTemporaryFile(16 << 20)  # memory, then disk
        stream = source if not isinstance(source, (str, Path)) else _stdin()
        while chunk := stream.read(1 << 20):
            data.write(chunk)
    try:
        summary, report = validate_then_run(data, label, writers, engine, options)
    finally:
        data.close()
    if report.errors and ack_path is not None:
        files["999"] = AtomicFile(ack_path)
        files["999"].fh.write(report.ack_999())
    return summary


def _stdin() -> BinaryIO:
    import sys

    return sys.stdin.buffer


@dataclass(slots=True)
class Result:
    """Outputs of one scrub, held in memory."""

    summary: Summary
    claims: list[ScrubbedClaim]
    _837: str
    _277: str
    _json: str
    _html: str
    ack_999_text: str = ""  # pyx12's 999 when validated and it found errors

    def accepted_837(self) -> str:
        return self._837

    def ack_277(self) -> str:
        return self._277

    def to_json(self) -> str:
        return self._json

    def to_html(self) -> str:
        return self._html

    @property
    def exit_code(self) -> int:
        return self.summary.exit_code


def scrub_stream(
    stream: BinaryIO, name: str = "stdin", *, options: Options | None = None, engine: Engine | None = None
) -> Result:
    options = options or Options()
    engine = engine or Engine(payers=options.payers, only=options.only_edits)
    bufs = {k: io.StringIO(newline="") for k in ("837", "277", "json", "html")}
    collect = _Collect()
    writers = [*make_writers(bufs, name, options, engine, options.moment()), collect]
    ack = ""
    if options.validate:
        summary, report = validate_then_run(io.BytesIO(stream.read()), name, writers, engine, options)
        ack = report.ack_999()
    else:
        summary = run(stream, name, writers, engine)
    return Result(summary, collect.claims, *(bufs[k].getvalue() for k in ("837", "277", "json", "html")), ack)


def scrub_bytes(
    data: bytes,
    name: str = "stdin",
    *,
    payers: Any = None,
    options: Options | None = None,
    engine: Engine | None = None,
) -> Result:
    options = options or Options(payers=payers)
    return scrub_stream(io.BytesIO(data), name, options=options, engine=engine)


def scrub_file(
    path: str | Path, *, payers: Any = None, options: Options | None = None, engine: Engine | None = None
) -> Result:
    options = options or Options(payers=payers)
    with open(path, "rb") as fh:
        return scrub_stream(fh, os.path.basename(str(path)), options=options, engine=engine)


__all__ = ["InputError", "Options", "Result", "Summary", "scrub_bytes", "scrub_file", "scrub_stream", "scrub_to_dir"]
