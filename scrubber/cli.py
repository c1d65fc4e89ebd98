"""Command line: ``scrubber scrub | rules | explain``. Exit 0 all accepted, 1 some rejected, 2 unusable input."""

from __future__ import annotations

import argparse
import atexit
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence

from scrubber import __version__
from scrubber.api import Options, output_name
from scrubber.commit import prepare_folder, show_path
from scrubber.errors import OutputError
from scrubber.inputs import expand
from scrubber.parallel import error_line, scrub_files, scrub_on_dask, scrub_one
from scrubber.progress import Progress
from scrubber.runsummary import RunSummary
from scrubber.x12.segments import MAX_SEGMENT


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scrubber", description="Pre-submission scrubber for X12 837P claims.")
    p.add_argument("--version", action="version", version=f"scrubber {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("scrub", help="scrub 837P files: 277CA, accepted 837, JSON and HTML reports")
    s.add_argument("inputs", nargs="+", metavar="INPUT", help="file, folder (every file in it) or - for stdin")
    s.add_argument("-o", "--outdir", help="folder for the outputs (created if needed; optional with --stdout)")
    _registry_flags(s)
    s.add_argument("--jobs", type=int, default=1, metavar="N", help="scrub N inputs in parallel")
    s.add_argument("--dask", metavar="ADDRESS", help="scrub the inputs on a dask.distributed scheduler "
                   "(tcp://HOST:PORT; inputs and OUTDIR on storage every worker sees)")
    s.add_argument("--no-html", action="store_true", help="skip the HTML report")
    s.add_argument("--validate", nargs="?", const="pyx12", default="builtin", choices=("builtin", "pyx12", "off"),
                   help="implementation-guide validation: builtin (the default, compiled from pyx12's map), "
                        "pyx12 (pyx12 itself, slow: the second opinion; bare --validate means this) or off")
    _rule_flags(s)
    s.add_argument("--ncci", metavar="DIR", help="CMS NCCI tables written by `scrubber import-ncci`")
    s.add_argument("--max-segment", type=_positive, default=MAX_SEGMENT, metavar="BYTES",
                   help="longest segment accepted (default 1 MiB); a longer one makes the input unusable")
    s.add_argument("--stdout", choices=("accepted", "277", "json"), help="filter mode: write that output to "
                   "standard output, byte-exact (one input; the other outputs go to -o OUTDIR when given)")
    s.add_argument("--summary", choices=("json",), help="print one JSON object for the run instead of the "
                   "human summary (on standard error with --stdout)")
    r = sub.add_parser("rules", help="list every edit: id, severity, pack, dates, source")
    r.add_argument("--json", action="store_true", help="machine-readable list")
    _rule_flags(r)
    n = sub.add_parser("import-ncci", help="turn CMS's NCCI practitioner PTP, MUE and add-on code files into tables")
    n.add_argument("files", nargs="+", metavar="FILE", help="CMS ZIPs, or the TXT/CSV/XLSX files inside, or folders")
    n.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the tables (use with --ncci DIR)")
    pay = sub.add_parser("payers", help="print the effective payer registry (built-in, plugins, --payers files)")
    pay.add_argument("--json", action="store_true", help="machine-readable")
    _registry_flags(pay)
    e = sub.add_parser("explain", help="explain one edit, with a failing and a passing example")
    e.add_argument("edit", metavar="EDIT-ID")
    e.add_argument("--json", action="store_true", help="machine-readable (as GET /v1/rules/EDIT-ID)")
    v = sub.add_parser("serve", help="HTTP service: POST /v1/scrub, /v1/rules, /healthz, /metrics")
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    v.add_argument("--port", type=int, default=8837, help="port (default 8837)")
    v.add_argument("--workers", type=_positive, default=os.cpu_count() or 1, metavar="N",
                   help="scrubbing processes (default: one per core)")
    v.add_argument("--max-body-mb", type=_positive_float, default=100.0, metavar="MB",
                   help="largest request body accepted, in MiB (default 100); larger ones get 413")
    _registry_flags(v)
    _rule_flags(v)
    v.add_argument("--ncci", metavar="DIR", help="CMS NCCI tables written by `scrubber import-ncci`")
    w = sub.add_parser("watch", help="drop folder: scrub every X12 file that appears in INBOX")
    w.add_argument("inbox", metavar="INBOX")
    w.add_argument("-o", "--outbox", required=True, metavar="OUTBOX", help="folder for the outputs")
    w.add_argument("--processed", metavar="DIR", help="where scrubbed inputs go (default INBOX/processed)")
    w.add_argument("--failed", metavar="DIR", help="where unusable inputs go (default INBOX/failed)")
    w.add_argument("--poll", type=_positive_float, default=0.5, metavar="SECONDS",
                   help="how long a file's size must stay the same before it is taken (default 0.5)")
    w.add_argument("--polling", action="store_true",
                   help="scan only, no file-system events (network shares that do not report changes)")
    w.add_argument("--no-html", action="store_true", help="skip the HTML report")
    _registry_flags(w)
    _rule_flags(w)
    w.add_argument("--ncci", metavar="DIR", help="CMS NCCI tables written by `scrubber import-ncci`")
    m = sub.add_parser("import-mcd", help="turn a CMS Medicare Coverage Database article download into a payer registry")
    m.add_argument("directory", metavar="DIR", help="folder holding article_x_icd10_covered.csv and friends")
    m.add_argument("--article", required=True, help="article id, e.g. A57186")
    m.add_argument("--version", type=int, help="article version (default: the highest in the files)")
    m.add_argument("--pair", action="append", default=[], metavar="GROUP:REQUIRED",
                   help="diagnosis group GROUP needs a second code from group REQUIRED (repeatable)")
    m.add_argument("--base", metavar="FILE", help="registry to update (default: the built-in one)")
    m.add_argument("-o", "--output", required=True, metavar="FILE", help="registry file to write")
    return p


def _rule_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="rule configuration (default: scrubber.toml or [tool.scrubber] "
                   "in pyproject.toml, found walking up from the current folder)")
    p.add_argument("--no-config", action="store_true", help="ignore configuration files")
    p.add_argument("--disable", action="append", default=[], metavar="ID", help="switch an edit off (repeatable)")
    p.add_argument("--enable", action="append", default=[], metavar="ID", help="switch an edit on (repeatable)")
    p.add_argument("--severity", action="append", default=[], metavar="ID=warn|reject",
                   help="change an edit's severity (reject:A7:NNN gives the 277CA code of an edit without one)")


def _rules_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The effective rule configuration and a checked engine for it, or None after a one-line error."""
    from scrubber.config import ConfigError, resolve
    from scrubber.engine import Engine
    from scrubber.rules.ncci_tables import NcciError

    try:
        config = resolve(args.config, use_file=not args.no_config, disable=args.disable, enable=args.enable,
                         severity=args.severity, ncci=getattr(args, "ncci", None))
        return config, Engine(rules=config)
    except (ConfigError, NcciError) as exc:
        _err(str(exc))
        return None


def _registry_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--payers", metavar="FILE", action="append", default=[],
                   help="payer registry extending the built-in one (same key or payer id: replaced); repeatable")
    p.add_argument("--payers-only", metavar="FILE", action="append", default=[],
                   help="payer registry replacing the built-in one and plugins' registries; repeatable")


def _registry(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The effective payer registry, or None after a one-line error (exit 2)."""
    from scrubber.payers import Registry, RegistryError
    from scrubber.plugins import PluginError

    try:
        return Registry.default(extra=args.payers, only=args.payers_only)
    except (RegistryError, PluginError) as exc:
        _err(str(exc))
        return None


def _plugin_packs_load() -> bool:
    """Installed plugin packs load (checked once up front, so a broken one is one line, exit 2)."""
    from scrubber import plugins
    from scrubber.rules.catalog import CatalogError, _plugin_packs

    try:
        if plugins.packs():
            _plugin_packs()
    except (plugins.PluginError, CatalogError) as exc:
        _err(str(exc))
        return False
    return True


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _err(text: str) -> None:
    sys.stderr.write(f"scrubber: {text}\n")


def cmd_scrub(args: argparse.Namespace) -> int:
    if args.outdir is None and not args.stdout:
        _err("scrub needs -o OUTDIR (or --stdout accepted|277|json for filter mode)")
        return 2
    payers = _registry(args)
    if payers is None or not _plugin_packs_load():
        return 2
    inputs, skipped = expand(args.inputs)
    for item in skipped:
        _err(f"{show_path(item.path)}: skipped, {item.reason}")
    if not inputs:
        _err("no input files" + (" that look like X12" if skipped else ""))
        return 2
    if args.stdout and (len(inputs) > 1 or args.dask):
        _err("--stdout takes exactly one input and no --dask (its output would mix several files)")
        return 2
    names: dict[str, str] = {}
    for path in inputs:
        name = output_name(path)
        if name in names:
            _err(f"{show_path(names[name])} and {show_path(path)} would both write {show_path(name)}.* "
                 "into the output folder")
            return 2
        names[name] = path
    checked = _rules_config(args)
    if checked is None:
        return 2
    config = checked[0]
    try:
        if args.outdir is not None:
            prepare_folder(args.outdir)
    except OutputError as exc:
        _err(str(exc))
        return 2
    progress = Progress(inputs, passes=2 if args.validate == "pyx12" else 1)
    options = Options(html=not args.no_html, payers=payers, validate=args.validate == "pyx12",
                      guide="off" if args.validate == "off" else "builtin", rules=config, ncci=config.ncci,
                      max_segment=args.max_segment)
    if args.dask:
        outcomes = _on_dask(args.dask, inputs, args.outdir, options, progress)
        if outcomes is None:
            return 2
    else:
        jobs = args.jobs
        if len(inputs) == 1 and jobs > 1 and not options.validate:
            # One file: cut it at billing-provider loops and check the pieces in parallel.
            options.jobs, jobs = args.jobs, 1
        if min(jobs, len(inputs)) <= 1 and progress.enabled:
            options.progress = progress.advance  # inputs scrubbed in this process report as they go
        if args.stdout:
            outcomes = [scrub_one(inputs[0], args.outdir, options, stream=(args.stdout, sys.stdout.buffer))]
            progress.file_done(outcomes[0][1].claims if outcomes[0][1] else 0, outcomes[0][0])
        else:
            outcomes = scrub_files(inputs, args.outdir, options, jobs=jobs,
                                   done=lambda o: progress.file_done(o[1].claims if o[1] else 0, o[0]))
    progress.close()
    report = RunSummary(outcomes, skipped, args.outdir, args.stdout)
    for label, error in report.errors():
        _err(error_line(label, error))
    # With --stdout, standard output carries the scrubbed data only: the summary goes to stderr.
    out = sys.stderr if args.stdout else sys.stdout
    if args.summary == "json":
        out.write(json.dumps(report.to_dict()) + "\n")
    else:
        for line in report.lines():
            out.write(line + "\n")
    return report.exit_code


def _on_dask(address: str, inputs: list[str], outdir: str, options: Options, progress: Progress):  # type: ignore[no-untyped-def]
    try:
        from distributed import Client
    except ImportError:
        _err("--dask needs the dask extra: pip install 'scrubber[dask]'")
        return None
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError) as exc:
        _err(f"cannot reach the dask scheduler at {address} ({type(exc).__name__})")
        return None
    try:
        return scrub_on_dask(client, [os.path.abspath(p) for p in inputs], os.path.abspath(outdir), options,
                             done=lambda o: progress.file_done(o[1].claims if o[1] else 0, o[0]))
    finally:
        client.close()


def cmd_rules(args: argparse.Namespace) -> int:
    from scrubber.explain import rule_rows

    if not _plugin_packs_load():
        return 2
    checked = _rules_config(args)
    if checked is None:
        return 2
    config, engine = checked
    rows = rule_rows(engine)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    catalog = engine.catalog
    if config.sources:
        print(f"Rule configuration: {', '.join(config.sources)}" + (
            f"; per-payer rules for {', '.join(sorted(config.payers))}" if config.payers else "") + "\n")
    width = max(len(r["id"]) for r in rows)
    print(f"{'EDIT':<{width}}  {'SEVERITY':<8}  {'PACK':<16}  {'277CA':<7}  {'DATES OF SERVICE':<26}  SOURCE")
    for r in rows:
        start, end = r["effective_from"], r["effective_to"]
        dates = "any date" if not (start or end) else f"{start or '...'} to {end or 'open'}"
        sources = catalog.edit(r["id"]).sources
        short = f"{sources[0].document}, {sources[0].date}" + (f" (+{len(sources) - 1} more)" if len(sources) > 1 else "")
        flag = ("" if r["enabled"] else " (off)") + (" (configured)" if r["configured"] else "")
        print(f"{r['id']:<{width}}  {r['severity']:<8}  {r['pack']:<16}  {r['ack'] or '-':<7}  {dates:<26}  "
              f"{short}{flag}")
    print("\nPacks: " + "; ".join(f"{p.name} {p.version} ({p.origin})" for p in catalog.packs))
    print("\n`scrubber explain EDIT` gives every source, the table rows and an example that fails and one that passes.")
    return 0


def cmd_payers(args: argparse.Namespace) -> int:
    registry = _registry(args)
    if registry is None:
        return 2
    doc = registry.describe()
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print("Payer registry layers, in order (a later one replaces a payer with the same key or payer id):")
    for f in doc["files"]:
        print(f"  {f['origin']}: {f['file']}")
    print()
    print("Payers:")
    for p in doc["payers"]:
        print(f"  {p['key']}: {p['name']} [{p['origin']}]")
        print(f"    payer ids (2010BB NM109): {' '.join(p['ids'])}; Medicare: {'yes' if p['medicare'] else 'no'}; "
              f"NDC required: {'yes' if p['requires_ndc'] else 'no'}; excludes: {', '.join(p['excludes']) or '-'}; "
              f"policies: {', '.join(p['policies']) or '-'}")
    print()
    print("Policies:")
    for pol in doc["policies"]:
        state = "partial list" if pol["partial"] else "complete list"
        unused = "" if pol["used"] else "; no payer names it"
        print(f"  {pol['id']} {pol['revision']}: {pol['title']} ({state}, {pol['diagnosis_rows']} diagnosis rows, "
              f"{len(pol['procedures'])} procedures; {pol['origin']}{unused})")
        print(f"    source: {pol['source']}")
    print("\nPayer ids differ between clearinghouses: check every id against your clearinghouse's payer list.")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from scrubber.explain import explain, explain_data

    try:
        print(json.dumps(explain_data(args.edit), indent=2) if args.json else explain(args.edit))
    except KeyError:
        _err(f"no edit {args.edit!r}; `scrubber rules` lists them")
        return 2
    return 0


def cmd_import_mcd(args: argparse.Namespace) -> int:
    from scrubber.importers.mcd import McdImportError, import_article

    try:
        report = import_article(args.directory, args.article, version=args.version, pairs=args.pair,
                                base=args.base, output=args.output)
    except McdImportError as exc:
        _err(str(exc))
        return 2
    print(report)
    return 0


def cmd_import_ncci(args: argparse.Namespace) -> int:
    from scrubber.importers.ncci import NcciImportError, import_files

    try:
        report = import_files(args.files, args.output)
    except NcciImportError as exc:
        _err(str(exc))
        return 2
    except OSError as exc:
        _err(f"{args.output}: cannot write the tables ({exc.strerror or type(exc).__name__})")
        return 2
    print(report)
    return 0


def _run_options(args: argparse.Namespace) -> Options | None:
    """Options from the registry and rule-control flags of serve and watch; None after a one-line error."""
    payers = _registry(args)
    if payers is None or not _plugin_packs_load():
        return None
    checked = _rules_config(args)
    if checked is None:
        return None
    config = checked[0]
    return Options(html=not getattr(args, "no_html", False), payers=payers, rules=config, ncci=config.ncci)


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from scrubber.service.http import serve
    except ImportError as exc:
        _err(f"serve needs the serve extra ({exc.name} is missing): pip install 'scrubber[serve]'")
        return 2
    options = _run_options(args)
    if options is None:
        return 2
    return serve(host=args.host, port=args.port, workers=args.workers, max_body=int(args.max_body_mb * (1 << 20)),
                 options=options)


def cmd_watch(args: argparse.Namespace) -> int:
    from scrubber.service.watch import WatchError, watch

    options = _run_options(args)
    if options is None:
        return 2
    try:
        return watch(args.inbox, args.outbox, processed=args.processed, failed=args.failed, poll=args.poll,
                     options=options, events=not args.polling)
    except WatchError as exc:
        _err(str(exc))
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # File names that are not UTF-8 (or not in the terminal's encoding) print as escapes.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = _parser().parse_args(argv)
    try:
        commands = {"scrub": cmd_scrub, "rules": cmd_rules, "explain": cmd_explain, "import-mcd": cmd_import_mcd,
                    "import-ncci": cmd_import_ncci, "payers": cmd_payers, "serve": cmd_serve, "watch": cmd_watch}
        return commands[args.command](args)
    except KeyboardInterrupt:
        _err("interrupted")
        return 2
    except BrokenPipeError:
        return 0


def entry() -> None:
    """The ``scrubber`` command and ``python -m scrubber``: ``main``; after a scrub, out without the
    interpreter's teardown, which frees the engine's tables object by object (0.04 s of a 0.26 s run
    on a small file, paid by every export hook's call). A scrub's outputs are committed (written,
    fsynced, closed) when ``main`` returns; the streams are flushed here and the exit handlers run
    (pools, temporary folders, logging). Other commands, or other threads still running: the usual exit."""
    code = main()
    if sys.argv[1:2] != ["scrub"] or threading.active_count() > 1:
        raise SystemExit(code)
    # The outputs are in place: a Ctrl-C now has nothing to stop, and raised here it would print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe: what could be written was
        pass
    atexit._run_exitfuncs()
    os._exit(code)
