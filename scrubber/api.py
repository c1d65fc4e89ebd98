"""The Python API: scrub a file, bytes or a stream; the command line is a thin layer over this.

``scrub_file``/``scrub_bytes`` keep every output in memory and return a ``Result``; ``scrub_to_dir``
streams the outputs into a folder (constant memory) and is what the command line uses.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, BinaryIO

from scrubber import collector
from scrubber.commit import OutputSet
from scrubber.engine import Engine
from scrubber.errors import InputError
from scrubber.guide import attach as attach_guide
from scrubber.model import ClaimUnit, GroupEnd, InterchangeEnd, ScrubbedClaim, TransactionEnd
from scrubber.runparts import Options, Summary, ack_999, engine_for, meta, open_outputs
from scrubber.writers.accepted837 import Accepted837Writer
from scrubber.writers.ack277 import Ack277Writer
from scrubber.writers.base import ENCODING, Writer
from scrubber.writers.report_json import JsonReportWriter
from scrubber.writers.worklist import WorklistWriter
from scrubber.x12.reader import Reader
from scrubber.x12.segments import MAX_SEGMENT


class _Collect(Writer):
    def __init__(self) -> None:
        self.claims: list[ScrubbedClaim] = []

    def claim(self, scrubbed: ScrubbedClaim) -> None:
        self.claims.append(scrubbed)


def run(stream: BinaryIO, input_name: str, writers: Iterable[Writer], engine: Engine,
        progress: Any = None, notices: list[str] | None = None,
        max_segment: int = MAX_SEGMENT, validator: str = "builtin") -> Summary:
    """Read, check and feed every writer in one pass. Raises InputError for unusable input.

    This is the reference path: ``--jobs N`` on one file (scrubber.split) gives the same outputs.
    """
    with collector.for_a_run():
        return _run(stream, input_name, writers, engine, progress, notices, max_segment, validator)


def _run(stream: BinaryIO, input_name: str, writers: Iterable[Writer], engine: Engine, progress: Any,
         notices: list[str] | None, max_segment: int, validator: str) -> Summary:
    writers = list(writers)
    reader = Reader(stream, max_segment=max_segment)
    summary = Summary(input_name)
    guide = attach_guide(reader, engine) if validator == "builtin" else None
    run_index = engine.new_run()  # cross-claim edits: one index per input file, claims in input order
    take = [w.claim for w in writers]
    check, check_run = engine.check, engine.check_run
    claims = rejected = 0  # counted here, into the summary at the end
    for ev in reader.events():
        if ev.__class__ is ClaimUnit:
            findings = check(ev)
            across = check_run(ev, run_index, findings)
            if across:
                findings = findings + across
            scrubbed = ScrubbedClaim(ev, findings)
            claims += 1
            if progress is not None and claims % 1000 == 0:
                progress(ev.segments[-1].offset if ev.segments else 0, claims, "scrub")
            if findings:
                summary.count(scrubbed)
                if scrubbed.rejected:
                    rejected += 1
            for claim in take:
                claim(scrubbed)
        elif isinstance(ev, TransactionEnd):
            for w in writers:
                w.end_transaction(ev.transaction)
        elif isinstance(ev, GroupEnd):
            for w in writers:
                w.end_group(ev.group)
        elif isinstance(ev, InterchangeEnd):
            for w in writers:
                w.end_interchange(ev.interchange)
    summary.claims, summary.rejected, summary.accepted = claims, rejected, claims - rejected
    summary.transactions = reader.transactions
    summary.notices = [*(notices or []), *engine.notices(run_index), *reader.notices]
    if guide is not None:
        engine.context.extra.pop("guide", None)
        summary.guide = guide
        if guide.errors:
            summary.notices = [f"the implementation-guide check found {guide.errors} error(s); see the 999",
                               *summary.notices, *guide.notices]
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
OUTPUT_KEYS = {"277": "277", "accepted": "837", "json": "json", "report": "json", "html": "html",
               "worklist": "worklist"}


#: every output of an input NAME, in the order a commit renames them into place: the JSON report
#: last, so a consumer that reacts to it finds the rest already there. A name not written in a run
#: is removed by its commit (no stale accepted 837, 999 or report beside new outputs).
OUTPUT_FILES = {
    "277": "{}.277",
    "837": "{}.accepted.837",
    "999": "{}.999",
    "worklist": "{}.worklist.csv",
    "html": "{}.report.html",
    "json": "{}.report.json",
}


def output_files(name: str) -> dict[str, str]:
    """Output key -> file name in the output folder, for the input's NAME."""
    return {key: pattern.format(name) for key, pattern in OUTPUT_FILES.items()}


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

    The outputs are committed as one set (scrubber.commit): all of them appear together at the end,
    or, when the input is unusable or anything fails first, none of the earlier ones changes.
    Raises InputError (the input) or OutputError (the output folder).

    With ``stream=(OUTPUT, binary stream)`` (OUTPUT a key of ``OUTPUT_KEYS``; filter mode and the
    HTTP service) that output goes to the stream instead of ``outdir``, byte-exact, once the whole
    input has been read and the folder's outputs are committed (an unusable input leaves nothing
    half-written there either); with ``outdir=None`` the other outputs are not kept.
    """
    options = options or Options()
    engine_given = engine is not None
    engine = engine or engine_for(options)
    is_path = isinstance(source, (str, Path)) and source != "-"
    if name is None:
        name = output_name(str(source)) if is_path else "stdin"
    input_label = _readable(os.path.basename(str(source))) if is_path else name
    moment = options.moment()
    streamed = OUTPUT_KEYS[stream[0]] if stream else None
    target = _StreamedOutput(stream[1]) if stream else None
    html = streamed == "html" or (options.html and outdir is not None)
    folder: Any = (OutputSet(outdir, name, output_files(name), protect=[source] if is_path else [])
                   if outdir is not None else _NoFolder())
    stream_in = _open_input(source) if is_path else (source if not isinstance(source, (str, Path)) else _stdin())
    try:
        with folder as out:

            def open_output(key: str, encoding: str = ENCODING) -> IO[str]:
                return target.open(encoding) if target is not None and key == streamed else out.open(key, encoding)

            run_options = replace(options, html=html)
            summary = None
            if is_path and options.jobs > 1 and not options.validate and isinstance(out, OutputSet):
                from scrubber.stitch import scrub_split  # one large file over worker processes

                summary = scrub_split(str(source), out, input_label, run_options, engine, moment, engine_given,
                                      open_output)
            if summary is None:
                summary = _scrub_into(open_output, out, stream_in, is_path, input_label, run_options, engine, moment)
            if summary.accepted == 0:
                # no claim to forward: an earlier accepted 837 goes too, and none reaches the stream
                if streamed == "837" and target is not None:
                    target.discard()
                else:
                    out.discard("837")
            summary.outputs = out.commit()
        if target is not None:
            target.commit()
    finally:
        if target is not None:
            target.discard()
        if is_path:
            stream_in.close()
    return summary


def _scrub_into(open_output: Any, out: Any, stream: BinaryIO, is_path: bool, label: str, options: Options,
                engine: Engine, moment: dt.datetime) -> Summary:
    """One pass over the input in this process (the reference path; ``--jobs 1``)."""
    writers = make_writers(open_outputs(open_output, options.html), label, options, engine, moment)
    if options.validate:
        summary, ack = _validated(stream, is_path, label, writers, engine, options)
        if ack:
            out.open("999").write(ack)
        return summary
    summary = run(stream, label, writers, engine, options.progress, max_segment=options.max_segment,
                  validator=options.validator)
    text = ack_999(summary, moment, options.control(moment))
    if text:
        out.open("999").write(text)  # not opened: an earlier NAME.999 goes at the commit
    return summary


class _StreamedOutput:
    """An output spooled until the run ends, then copied to a stream (nothing partial reaches it)."""

    def __init__(self, target: BinaryIO) -> None:
        self._target = target
        self._spool: Any = None
        self.fh: IO[str] | None = None

    def open(self, encoding: str) -> IO[str]:
        self._spool = tempfile.SpooledTemporaryFile(16 << 20)  # memory, then disk
        self.fh = io.TextIOWrapper(self._spool, encoding, errors="replace", newline="")
        return self.fh

    def commit(self) -> None:
        if self.fh is None or self.fh.closed:
            return
        self.fh.flush()
        self._spool.seek(0)
        shutil.copyfileobj(self._spool, self._target, 1 << 20)
        self._target.flush()
        self.fh.close()

    def discard(self) -> None:
        if self.fh is not None:
            self.fh.close()


class _NoFolder:
    """No output folder (filter mode without ``-o``, the HTTP service): outputs not asked for go nowhere."""

    def __enter__(self) -> _NoFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def open(self, key: str, encoding: str = ENCODING) -> IO[str]:
        return _Null()

    def discard(self, key: str) -> None:
        pass

    def commit(self) -> list[Path]:
        return []


class _Null(io.TextIOBase):
    def write(self, s: str) -> int:
        return len(s)


def _open_input(path: str | Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError("no such file") from None
    except IsADirectoryError:
        raise InputError("is a directory") from None
    except PermissionError:
        raise InputError("permission denied") from None
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or type(exc).__name__})") from None


def _readable(text: str) -> str:
    """A file name for reports: bytes that are not UTF-8 shown as U+FFFD, never lone surrogates."""
    return os.fsencode(text).decode("utf-8", "replace")


def make_writers(out: dict[str, IO[str]], label: str, options: Options, engine: Engine,
                 moment: dt.datetime) -> list[Writer]:
    """One writer per output (keys 837, 277, json, worklist, html), all fed by the same pass."""
    writers: list[Writer] = [
        Accepted837Writer(out["837"]),
        Ack277Writer(out["277"], now=moment, control_base=options.control(moment),
                     source_name=options.source_name, source_id=options.source_id),
        JsonReportWriter(out["json"], input_name=label, meta=meta(engine)),
    ]
    if "worklist" in out:
        writers.append(WorklistWriter(out["worklist"]))
    if options.html:
        from scrubber.writers.report_html import HtmlReportWriter  # lxml: only runs that write the page load it

        writers.append(HtmlReportWriter(out["html"], input_name=label, meta=meta(engine), registry=engine.payers,
                                        titles={e.id: e.title for e in engine.catalog.edits.values()}))
    return writers


def validate_then_run(data: BinaryIO, label: str, writers: list[Writer], engine: Engine,
                      options: Options) -> tuple[Summary, Any]:
    """pyx12 over ``data`` first (its errors become X12-IG findings), then the usual pass over it."""
    from scrubber.validate import validate_stream

    data.seek(0)
    shown = options.progress
    report = validate_stream(data, jobs=validation_jobs(options), max_segment=options.max_segment,
                             progress=(lambda done, claims: shown(done, claims, "pyx12")) if shown else None)
    data.seek(0)
    notices = list(report.file_level)
    if report.errors:
        notices.insert(0, f"pyx12 reported {report.errors} implementation-guide error(s)"
                       + ("; see the 999" if report.acks else ""))
    engine.context.extra["ig"] = report
    try:
        return run(data, label, writers, engine, options.progress, notices=notices,
                   max_segment=options.max_segment, validator="pyx12"), report
    finally:
        engine.context.extra.pop("ig", None)


def validation_jobs(options: Options) -> int:
    """pyx12 is the slow part of --validate: spread its transactions over the cores by default."""
    return options.jobs if options.jobs > 1 else (os.cpu_count() or 1)


def _validated(stream: BinaryIO, is_path: bool, label: str, writers: list[Writer], engine: Engine,
               options: Options) -> tuple[Summary, str]:
    """``validate_then_run`` over a file, or over standard input kept for the two passes; (summary, 999)."""
    if is_path:
        data: Any = stream
    else:
        data = tempfile.SpooledTemporaryFile(16 << 20)  # memory, then disk
        while chunk := stream.read(1 << 20):
            data.write(chunk)
    try:
        summary, report = validate_then_run(data, label, writers, engine, options)
    finally:
        if not is_path:
            data.close()
    return summary, report.ack_999() if report.errors else ""


def _stdin() -> BinaryIO:
    import sys

    return sys.stdin.buffer


@dataclass(slots=True)
class Result:
    """Outputs of one scrub, held in memory.

    X12 outputs are ``bytes``: the scrubber reads input one byte per character (latin-1), so every
    byte of a kept segment comes back out unchanged, whatever the input's own encoding. Reports are
    text: ``to_json()`` and ``to_html()`` give ``str``, ``worklist()`` the CSV as ``str`` (the file
    is written as UTF-8), ``report()`` the parsed JSON report.
    """

    summary: Summary
    claims: list[ScrubbedClaim]
    _837: bytes
    _277: bytes
    _json: str
    _html: str
    ack_999_text: str = ""  # pyx12's 999 when validated and it found errors
    _worklist: str = ""

    def accepted_837(self) -> bytes:
        """The input without its rejected claims (empty when no claim was accepted)."""
        return self._837

    def ack_277(self) -> bytes:
        """The 277CA: one 2200D per claim of the input."""
        return self._277

    def to_json(self) -> str:
        """The report (schema ``scrubber.report/2``, ``scrubber/schemas/report-2.json``) as JSON text."""
        return self._json

    def report(self) -> dict[str, Any]:
        """The report as a ``dict`` (parsed from ``to_json()``: a new copy on every call)."""
        return json.loads(self._json)

    def to_html(self) -> str:
        return self._html

    def worklist(self) -> str:
        """NAME.worklist.csv: one row per finding, header first, spreadsheet formulas defused."""
        return self._worklist

    @property
    def exit_code(self) -> int:
        return self.summary.exit_code


def scrub_stream(
    stream: BinaryIO, name: str = "stdin", *, options: Options | None = None, engine: Engine | None = None
) -> Result:
    options = options or Options()
    engine = engine or engine_for(options)
    bufs = {k: io.StringIO(newline="") for k in ("837", "277", "json", "html", "worklist")}
    collect = _Collect()
    writers = [*make_writers(bufs, name, options, engine, options.moment()), collect]
    ack = ""
    if options.validate:
        summary, report = validate_then_run(io.BytesIO(stream.read()), name, writers, engine, options)
        ack = report.ack_999()
    else:
        summary = run(stream, name, writers, engine, max_segment=options.max_segment, validator=options.validator)
        ack = ack_999(summary, options.moment(), options.control(options.moment()))
    x12 = {k: bufs[k].getvalue().encode(ENCODING, "replace") for k in ("837", "277")}
    return Result(summary, collect.claims, x12["837"], x12["277"], bufs["json"].getvalue(), bufs["html"].getvalue(),
                  ack, bufs["worklist"].getvalue())


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
