"""The outputs of one input, committed as a set: after a run, all of them are new or none changed.

Protocol, for the outputs ``NAME.*`` of one input in ``OUTDIR`` (the README tells consumers what to
watch for):

1. **Lock.** ``OUTDIR/.NAME.scrubber-lock`` is locked (``flock``, exclusive) for the whole run, so
   two runs writing the same NAME take turns; runs writing other names do not wait.
2. **Recover.** Under the lock, a journal left by a run killed after its commit point is rolled
   forward, and a staging folder left by a run killed before it is removed. The first run in a
   folder does this for every name whose lock is free (``sweep``).
3. **Stage.** Every output is written into ``OUTDIR/.NAME.scrubber-stage/`` (same file system, so the
   renames below are atomic), then flushed and fsynced.
4. **Commit point.** A journal listing the files to rename and the stale ones to remove is written
   and fsynced in the stage, then renamed to ``OUTDIR/.NAME.scrubber-commit``.
5. **Apply.** Stale outputs are removed, staged files renamed into place (in the order given, the
   JSON report last), the folder fsynced, the journal removed, the stage and the lock file deleted.

An error before the commit point (a full disk, an unusable input, Ctrl-C) removes the stage and
leaves the previous set exactly as it was. SIGINT/SIGTERM are held during step 5, so Ctrl-C cannot
split it; a SIGKILL there leaves the journal, which the next run in the folder completes.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import signal
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from scrubber.errors import OutputError
from scrubber.pool import signals_held

try:
    import fcntl
except ImportError:  # not POSIX: runs writing the same names are not serialised
    fcntl = None  # type: ignore[assignment]

LOCK = ".{}.scrubber-lock"
STAGE = ".{}.scrubber-stage"
JOURNAL = ".{}.scrubber-commit"
_STAGED_JOURNAL = "journal.json"
_SUFFIXES = (".scrubber-lock", ".scrubber-stage", ".scrubber-commit")
#: tests only: kill this process (SIGKILL) at the named point of a commit
FAULT_ENV = "SCRUBBER_TEST_KILL_AT"
_swept: set[str] = set()
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS}


def folder_error(outdir: Path | str, exc: OSError, doing: str) -> OutputError:
    """The one-line message for an output-folder problem: names the folder, never the input."""
    reason = exc.strerror or type(exc).__name__
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        reason = "a file is in the way, not a folder"
    return OutputError(f"output folder {show_path(outdir)}: {doing} ({reason})")


def show_path(path: Path | str) -> str:
    """A path as text that any terminal or log can take (undecodable bytes as \\xNN)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def prepare_folder(outdir: Path | str) -> Path:
    """Create the output folder if needed; OutputError when that is impossible or it is no folder."""
    if str(outdir) == "":
        raise OutputError("output folder '': an empty name (give a folder, . for this one)")
    outdir = Path(outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise folder_error(outdir, exc, "cannot create it") from None
    if not outdir.is_dir():
        raise OutputError(f"output folder {show_path(outdir)}: a file is in the way, not a folder")
    return outdir


class _StagedFile(io.FileIO):
    """A staged output: write errors (a full disk) become OutputError naming the output folder."""

    outdir: Path

    def write(self, data: Any) -> int | None:  # called per buffer flush, not per writer call
        try:
            return super().write(data)
        except OutputError:
            raise
        except OSError as exc:
            raise folder_error(self.outdir, exc, "cannot write the outputs") from None


class OutputSet:
    """The named outputs of one input. ``open(key)`` gives a text handle to write; ``commit()``.

    ``files`` maps a key to a file name in ``outdir``, in the order the files are renamed into place
    (put the file consumers watch for last). Every name in ``files`` belongs to this set: one not
    opened (or discarded) this run is removed at the commit, so no stale output survives beside new
    ones. ``protect`` lists inputs of the run: an output that would replace one is refused.
    """

    def __init__(self, outdir: Path | str, name: str, files: Mapping[str, str], *,
                 protect: Iterable[str | Path] = ()) -> None:
        self.outdir = Path(outdir)
        self.name = name
        self.files = dict(files)
        self.protect = [Path(p) for p in protect]
        self.stage = self.outdir / STAGE.format(name)
        self._handles: dict[str, IO[str]] = {}
        self._lock: int | None = None
        self._committed = False

    # -- set-up -----------------------------------------------------------------------------
    def __enter__(self) -> OutputSet:
        prepare_folder(self.outdir)
        self._refuse_inputs()
        sweep(self.outdir)
        try:
            self._lock = _acquire(self.outdir / LOCK.format(self.name))
            recover(self.outdir, self.name)
            self.stage.mkdir()
        except OutputError:
            self._release()
            raise
        except OSError as exc:
            self._release()
            raise folder_error(self.outdir, exc, "cannot prepare the outputs") from None
        except BaseException:  # Ctrl-C once the lock is taken: __exit__ will not run, so nothing may stay
            self.abort()
            self._release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._committed:
            self.abort()
        self._release()

    def _refuse_inputs(self) -> None:
        for fname in self.files.values():
            target = self.outdir / fname
            for src in self.protect:
                if _same_file(target, src):
                    raise OutputError(f"output folder {show_path(self.outdir)}: {show_path(fname)} is an input of "
                                      "this run and an output would replace it; write the outputs to another folder")

    # -- writing ----------------------------------------------------------------------------
    def open(self, key: str, encoding: str = "latin-1") -> IO[str]:
        """A text handle for output ``key``, staged until ``commit()``."""
        return self._open(key, encoding, os.O_CREAT | os.O_EXCL)

    def adopt(self, key: str, handle: IO[str], path: str | Path) -> IO[str] | None:
        """Output ``key``, whose staged file ``handle`` is (as ``open`` gave it, nothing written yet),
        becomes the file at ``path`` in the stage folder, moved, not copied (a split run's stitched
        277CA and 837); returns a handle writing at its end. None, and nothing done, when ``handle``
        is not this set's (an output sent to a stream)."""
        if self._handles.get(key) is not handle:
            return None
        handle.close()
        try:
            os.replace(path, self.stage / self.files[key])
        except OSError as exc:
            raise folder_error(self.outdir, exc, "cannot write the outputs") from None
        return self._open(key, getattr(handle, "encoding", "latin-1"), os.O_APPEND)

    def _open(self, key: str, encoding: str, flags: int) -> IO[str]:
        path = self.stage / self.files[key]
        try:
            fd = os.open(path, os.O_WRONLY | flags | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError as exc:
            raise folder_error(self.outdir, exc, "cannot write the outputs") from None
        raw = _StagedFile(fd, "wb")
        raw.outdir = self.outdir
        fh = io.TextIOWrapper(io.BufferedWriter(raw, 1 << 16), encoding=encoding, errors="replace", newline="")
        self._handles[key] = fh
        return fh

    def discard(self, key: str) -> None:
        """Output ``key`` is not produced this run (an earlier one is removed at the commit)."""
        fh = self._handles.pop(key, None)
        if fh is not None:
            with contextlib.suppress(OSError):
                fh.close()
            (self.stage / self.files[key]).unlink(missing_ok=True)

    def commit(self) -> list[Path]:
        """Make the staged files the outputs, all at once; returns their paths."""
        written = [f for k, f in self.files.items() if k in self._handles]
        journal = {"name": self.name, "rename": written,
                   "remove": [f for k, f in self.files.items() if k not in self._handles]}
        try:
            for fh in self._handles.values():
                fh.flush()
                os.fsync(fh.fileno())
                fh.close()
            staged = self.stage / _STAGED_JOURNAL
            with open(staged, "w", encoding="utf-8", errors="surrogateescape") as jf:
                json.dump(journal, jf)
                jf.flush()
                os.fsync(jf.fileno())
            _fsync_dir(self.stage)
        except OutputError:
            raise
        except OSError as exc:
            raise folder_error(self.outdir, exc, "cannot write the outputs") from None
        _fault("staged")
        with signals_held():  # the set is moved into place whole; Ctrl-C acts right after
            try:
                os.replace(staged, self.outdir / JOURNAL.format(self.name))  # the commit point
                self._committed = True
                _fsync_dir(self.outdir)
                _fault("committed")
                _apply(self.outdir, self.name, journal)
            except OSError as exc:
                if not self._committed:
                    raise folder_error(self.outdir, exc, "cannot commit the outputs") from None
                raise OutputError(f"output folder {show_path(self.outdir)}: the outputs were committed but not all "
                                  f"moved into place ({exc.strerror}); the next run in this folder completes "
                                  "them") from None
        return [self.outdir / f for f in written]

    def abort(self) -> None:
        """Forget everything staged; the previous outputs stay as they were."""
        for fh in self._handles.values():
            with contextlib.suppress(OSError, ValueError):
                fh.close()
        self._handles.clear()
        shutil.rmtree(self.stage, ignore_errors=True)

    def _release(self) -> None:
        if self._lock is not None:
            _release(self._lock, self.outdir / LOCK.format(self.name))
            self._lock = None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False  # one of them does not exist: nothing to overwrite


# -- recovery -------------------------------------------------------------------------------
def recover(outdir: Path, name: str) -> None:
    """Under NAME's lock: roll an interrupted commit forward, or drop a dead run's stage."""
    journal_path = outdir / JOURNAL.format(name)
    stage = outdir / STAGE.format(name)
    try:
        with open(journal_path, encoding="utf-8", errors="surrogateescape") as jf:
            journal = json.load(jf)
    except FileNotFoundError:
        shutil.rmtree(stage, ignore_errors=True)
        return
    except (OSError, ValueError) as exc:
        raise OutputError(f"output folder {show_path(outdir)}: the commit journal {show_path(journal_path.name)} "
                          f"cannot be read ({type(exc).__name__}); check NAME.* by hand and remove it") from None
    with signals_held():  # the set is moved into place whole; Ctrl-C acts right after
        _apply(outdir, name, journal)


def _apply(outdir: Path, name: str, journal: dict[str, Any]) -> None:
    """Step 5; idempotent, so a run killed half-way through it can be completed by the next."""
    stage = outdir / STAGE.format(name)
    for fname in journal["remove"]:
        (outdir / fname).unlink(missing_ok=True)
    first = True
    for fname in journal["rename"]:
        src = stage / fname
        if src.exists():  # else moved before the interruption
            os.replace(src, outdir / fname)
            if first:
                _fault("renamed-one")
                first = False
    _fsync_dir(outdir)
    (outdir / JOURNAL.format(name)).unlink(missing_ok=True)
    shutil.rmtree(stage, ignore_errors=True)


def sweep(outdir: Path) -> None:
    """Once per process and folder: complete or drop what killed runs left, for names nobody holds."""
    key = os.path.realpath(outdir)
    if key in _swept:
        return
    _swept.add(key)
    try:
        entries = [e.name for e in os.scandir(outdir) if e.name.startswith(".") and e.name.endswith(_SUFFIXES)]
    except OSError:
        return
    names = {n[1:].rsplit(".scrubber-", 1)[0] for n in entries}
    for name in sorted(names):
        lock_path = outdir / LOCK.format(name)
        fd = _acquire(lock_path, wait=False)
        if fd is None:
            continue  # a live run holds it and recovers it itself
        try:
            recover(outdir, name)
        except OutputError:
            pass  # reported when that name is next written
        finally:
            _release(fd, lock_path)


# -- locks, fsync --------------------------------------------------------------------------
def _acquire(path: Path, wait: bool = True) -> int | None:
    """Lock ``path`` (created if needed); None when ``wait`` is False and another run holds it.

    A holder deletes the lock file when done, so after locking, check that the file we hold is
    still the one at ``path``; if not, someone released it meanwhile: lock the new one.
    """
    if fcntl is None:
        return -1
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return None
            except OSError as exc:
                if exc.errno not in _NO_LOCKS:
                    raise
                os.close(fd)  # a file system without locks (some network mounts): go on unlocked
                return -1
            held = os.fstat(fd)
            try:
                now = os.stat(path)
            except FileNotFoundError:
                now = None
            if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _release(fd: int, path: Path) -> None:
    if fd < 0:
        return
    with contextlib.suppress(OSError):
        path.unlink()  # while still held: a waiter that got the old file sees it is gone and retries
    os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems do not fsync folders; the renames are still atomic
    finally:
        os.close(fd)


def _fault(point: str) -> None:
    if os.environ.get(FAULT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)
