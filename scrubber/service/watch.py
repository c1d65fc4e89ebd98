"""``scrubber watch INBOX -o OUTBOX``: the drop folder of the contract, crash-safe.

A file that appears in INBOX is taken once it is completely written (moved into place, or its size
and modification time unchanged for one poll interval); dotfiles and temporary names (``*.tmp``,
``*.part``, ...) are left alone until renamed. File-system events (watchdog: inotify, FSEvents,
ReadDirectoryChangesW) wake the watcher at once; a periodic scan stands behind them and is all there
is with ``--polling``, without watchdog, or when the events cannot be had.

The protocol, for an input N whose outputs are NAME.* (N = NAME.ext). Each step is atomic, so a
stop at any moment (even SIGKILL) leaves a state the next start completes without losing N or
scrubbing it twice to OUTBOX:

1. **Claim**: ``INBOX/N`` -> ``INBOX/.work/N`` (one rename). N gets a ``-2``, ``-3`` ... suffix if
   NAME.* is already in OUTBOX or N in processed/ or failed/, so no earlier output is overwritten
   and ``OUTBOX/NAME.report.json`` is this input's alone.
2. **Scrub** into OUTBOX with the output commit of ``scrubber scrub`` (scrubber.commit: staged, then
   committed as one set at its journal's rename, ``NAME.report.json`` last). Killed before that
   commit point: nothing of N is in OUTBOX and N is scrubbed again on restart.
3. **Done**: N moves to ``processed/``. On restart, N still in ``.work`` with ``NAME.report.json``
   in OUTBOX (after completing a commit its journal shows was under way) means committed: N is
   only moved, never scrubbed again.

Unusable input: the one-line reason is written to ``INBOX/.work/.notes/N.error.txt`` (atomically),
which is the commit point; the note then moves to ``failed/N.error.txt`` and N to ``failed/N``.
A problem with OUTBOX (full disk, permissions) is not the input's fault: N stays claimed and is
retried. One watcher per INBOX (a lock in ``.work``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import logging
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scrubber.api import Options, engine_for, output_name, scrub_to_dir
from scrubber.commit import JOURNAL, OutputSet
from scrubber.errors import InputError, OutputError

WORK = ".work"
NOTES = ".notes"
#: names exporters and copy tools use while a file is still being written
TEMPORARY = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".filepart", ".swp", "~")
#: with file-system events, a scan at least this often all the same (events can be lost)
IDLE_SCAN = 5.0
RETRY = 5.0


class WatchError(Exception):
    """A folder the watcher cannot use; the message is the one line for stderr."""


@dataclass(frozen=True)
class Folders:
    inbox: Path
    outbox: Path
    processed: Path
    failed: Path

    @property
    def work(self) -> Path:
        return self.inbox / WORK

    @property
    def notes(self) -> Path:
        return self.inbox / WORK / NOTES

    @classmethod
    def make(cls, inbox: str | Path, outbox: str | Path, processed: str | Path | None = None,
             failed: str | Path | None = None) -> Folders:
        inbox = Path(inbox)
        folders = cls(inbox, Path(outbox), Path(processed) if processed else inbox / "processed",
                      Path(failed) if failed else inbox / "failed")
        for label, path in (("INBOX", folders.inbox), ("OUTBOX", folders.outbox), ("processed", folders.processed),
                            ("failed", folders.failed), ("INBOX", folders.notes)):
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WatchError(f"{label} folder {path}: cannot create it ({exc.strerror or type(exc).__name__})") from None
            if not path.is_dir():
                raise WatchError(f"{label} folder {path}: a file is in the way, not a folder")
        real = os.path.realpath(inbox)
        for label, path in (("OUTBOX", folders.outbox), ("processed", folders.processed), ("failed", folders.failed)):
            if os.path.realpath(path) == real:
                raise WatchError(f"{label} folder {path} is INBOX itself: its files would be taken as inputs")
        return folders


def waiting(name: str) -> bool:
    """A name the watcher leaves alone: hidden, or a temporary name an exporter renames later."""
    return name.startswith(".") or name.lower().endswith(TEMPORARY)


class Watcher:
    def __init__(self, folders: Folders, options: Options | None = None, *, poll: float = 0.5,
                 events: bool = True, log: Any = None) -> None:
        self.folders = folders
        self.options = options or Options()
        self.poll = poll
        self.events = events
        self._log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.wake = threading.Event()
        #: name -> (size, mtime_ns) and when first seen so; a file is taken when unchanged for a poll
        self._seen: dict[str, tuple[tuple[int, int], float]] = {}
        self._moved_in: set[str] = set()
        self._retry_at = 0.0
        self._engine_obj: Any = None
        self._engine_day: dt.date | None = None

    # -- the loop ---------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        observer = self._observe() if self.events else None
        self._log(f"watching {self.folders.inbox} -> {self.folders.outbox} "
                  f"({'file-system events and ' if observer else ''}a scan every "
                  f"{IDLE_SCAN if observer else self.poll:g} s)")
        try:
            while not stop.is_set():
                self.wake.clear()  # before the scan: an event during it makes the wait below return at once
                try:
                    self.step(stop)
                except Exception as exc:  # a folder gone or full: say so and try again, never die
                    self._log(f"{_reason(exc)}; retrying in {RETRY:g} s")
                    stop.wait(RETRY)
                timeout = self.poll if (self._seen or observer is None) else IDLE_SCAN
                self.wake.wait(timeout)
        finally:
            if observer is not None:
                # watchdog logs a harmless race of its own inotify thread when stopped while events arrive
                logging.getLogger("watchdog.observers.inotify").setLevel(logging.CRITICAL)
                observer.stop()
                observer.join(5)

    def step(self, stop: threading.Event | None = None) -> None:
        """Finish what is claimed (a restart's leftovers, a retry), then take every input ready now."""
        if time.monotonic() < self._retry_at or not self.resume():
            return
        for name in self.ready():
            if stop is not None and stop.is_set():
                return
            claimed = self.claim(name)
            if claimed is not None and not self.process(claimed):
                return

    def _observe(self) -> Any:
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            self._log("watchdog is not installed (pip install 'scrubber[watch]'): scanning only")
            return None
        watcher = self

        class Wake(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                dest = getattr(event, "dest_path", "")
                if event.event_type == "moved" and dest and os.path.dirname(dest) == str(watcher.folders.inbox):
                    watcher._moved_in.add(os.path.basename(dest))  # renamed into place: complete
                watcher.wake.set()

        observer = Observer()
        try:
            observer.schedule(Wake(), str(self.folders.inbox), recursive=False)
            observer.start()
        except OSError as exc:  # e.g. the inotify watch limit, or a file system without events
            self._log(f"no file-system events for {self.folders.inbox} ({exc.strerror or exc}): scanning only")
            return None
        return observer

    # -- which files are ready --------------------------------------------------------------
    def ready(self) -> list[str]:
        now = time.monotonic()
        found: dict[str, tuple[int, int]] = {}
        try:
            entries = list(os.scandir(self.folders.inbox))
        except OSError as exc:
            self._log(f"INBOX {self.folders.inbox}: cannot list it ({exc.strerror})")
            return []
        for entry in entries:
            if waiting(entry.name):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            found[entry.name] = (st.st_size, st.st_mtime_ns)
        ready = []
        for name, key in found.items():
            if name in self._moved_in:
                ready.append(name)
                continue
            before = self._seen.get(name)
            if before is None or before[0] != key:
                self._seen[name] = (key, now)
            elif now - before[1] >= self.poll:
                ready.append(name)
        for name in list(self._seen):
            if name not in found or name in ready:
                del self._seen[name]
        self._moved_in.difference_update([n for n in list(self._moved_in) if n not in found or n in ready])
        return sorted(ready, key=lambda n: found[n][1])  # oldest first

    # -- the protocol -----------------------------------------------------------------------
    def claim(self, name: str) -> str | None:
        """Step 1: move the input into .work under a name no earlier input holds."""
        target = self._free_name(name)
        try:
            os.rename(self.folders.inbox / name, self.folders.work / target)
        except FileNotFoundError:
            return None  # gone meanwhile
        _fsync_dir(self.folders.work)
        return target

    def _free_name(self, name: str) -> str:
        stem, dot, ext = name.rpartition(".")
        if not (dot and stem):
            stem, ext = name, ""
        candidate, k = name, 1
        while self._taken(candidate):
            k += 1
            candidate = f"{stem}-{k}.{ext}" if ext else f"{stem}-{k}"
        return candidate

    def _taken(self, name: str) -> bool:
        f = self.folders
        out = output_name(name)
        if any(p.exists() for p in (f.work / name, f.processed / name, f.failed / name, f.failed / f"{name}.error.txt",
                                    f.outbox / f"{out}.report.json", f.outbox / f"{out}.277",
                                    f.outbox / JOURNAL.format(out))):
            return True
        return any(output_name(e.name) == out for e in os.scandir(f.work) if e.name != NOTES)

    def process(self, name: str, *, again: bool = False) -> bool:
        """Steps 2-3 for a claimed input; False when OUTBOX cannot take outputs (retried later)."""
        f = self.folders
        out = output_name(name)
        try:
            if again and self._committed(out):
                self._log(f"{name}: its outputs were committed before a stop; moving it on")
                _move(f.work / name, f.processed / name)
                return True
            if again:
                self._log(f"{name}: scrubbing it again (claimed before a stop or a retry; nothing committed)")
            summary = scrub_to_dir(f.work / name, f.outbox, options=self.options, engine=self._engine())
        except InputError as exc:
            self.fail(name, str(exc))
            return True
        except OSError as exc:  # OutputError included: the output folder, not the input
            self._log(f"{name}: {_reason(exc)}; retrying in {RETRY:g} s")
            self._retry_at = time.monotonic() + RETRY
            return False
        except Exception as exc:  # a bad file must never stop the watcher
            self.fail(name, f"unexpected {type(exc).__name__} while scrubbing")
            return True
        self._log(f"{name}: {summary.claims} claims, {summary.accepted} accepted, {summary.rejected} rejected "
                  f"-> {f.outbox / out}.*")
        _move(f.work / name, f.processed / name)
        return True

    def _committed(self, out: str) -> bool:
        """Whether NAME.* of this input are in OUTBOX, after completing a commit a killed run left."""
        with OutputSet(self.folders.outbox, out, {}):
            pass  # entering takes NAME's lock and rolls an interrupted commit forward
        return (self.folders.outbox / f"{out}.report.json").exists()

    def _engine(self) -> Any:
        """The run's engine, loaded once (and again when the day changes: edits judge "today")."""
        today = dt.date.today()
        if self._engine_day != today:
            self._engine_obj, self._engine_day = engine_for(self.options), today
        return self._engine_obj

    def fail(self, name: str, reason: str) -> None:
        """Unusable input: record why (the commit point), then move note and input to failed/."""
        f = self.folders
        tmp = f.notes / f".{name}.error.tmp"
        with open(tmp, "w", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(f"{name}: {reason}\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, f.notes / f"{name}.error.txt")
        _fsync_dir(f.notes)
        self._log(f"{name}: unusable, {reason} -> {f.failed / name}")
        self.finish_failed(name)

    def finish_failed(self, name: str) -> None:
        f = self.folders
        note = f.notes / f"{name}.error.txt"
        if note.exists():
            _move(note, f.failed / note.name)
        if (f.work / name).exists():
            _move(f.work / name, f.failed / name)

    def resume(self) -> bool:
        """Finish every claimed input (moved on if committed, else scrubbed); False: OUTBOX failed, retry later."""
        f = self.folders
        for note in sorted(f.notes.glob("*.error.txt")):
            self.finish_failed(note.name.removesuffix(".error.txt"))
        for path in sorted(f.notes.glob(".*.error.tmp")):
            path.unlink(missing_ok=True)
        for entry in sorted(os.scandir(f.work), key=lambda e: e.name):
            if entry.name == NOTES or entry.name.startswith(".") or not entry.is_file():
                continue
            if (f.failed / f"{entry.name}.error.txt").exists():
                self.finish_failed(entry.name)  # its note moved, the input not yet
            elif not self.process(entry.name, again=True):
                return False
        return True


def _reason(exc: BaseException) -> str:
    """One line for the log: the path and the system's reason, or the exception's type (no content)."""
    if isinstance(exc, OutputError):
        return str(exc)  # names the output folder
    if isinstance(exc, OSError):
        return f"{exc.filename or 'a folder'}: {exc.strerror or type(exc).__name__}"
    if os.environ.get("SCRUBBER_DEBUG"):
        raise exc
    return f"unexpected {type(exc).__name__} (SCRUBBER_DEBUG=1 shows where)"


def _move(src: Path, dst: Path) -> None:
    """Rename, or copy then delete across file systems (a restart repeats it harmlessly)."""
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = dst.with_name(f".{dst.name}.moving")
        shutil.copyfile(src, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dst)
        _fsync_dir(dst.parent)
        os.unlink(src)
    _fsync_dir(dst.parent)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _single_watcher(folders: Folders):  # type: ignore[no-untyped-def]
    """One watcher per INBOX: two would resume each other's work."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(folders.work / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WatchError(f"another scrubber watch is already running on {folders.inbox}") from None
        yield
    finally:
        os.close(fd)


def watch(inbox: str | Path, outbox: str | Path, *, processed: str | Path | None = None,
          failed: str | Path | None = None, poll: float = 0.5, options: Options | None = None,
          events: bool = True) -> int:
    """Run until SIGINT/SIGTERM (the file being scrubbed is finished first). Raises WatchError."""
    folders = Folders.make(inbox, outbox, processed, failed)
    stop = threading.Event()
    watcher = Watcher(folders, options, poll=poll, events=events)

    def stopping(signum: int, frame: Any) -> None:
        stop.set()
        watcher.wake.set()

    with _single_watcher(folders):
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, stopping)
        watcher.run(stop)
    return 0
