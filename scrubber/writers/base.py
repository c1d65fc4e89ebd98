"""The visitor interface every writer implements, and the atomic output file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO

from scrubber.model import Group, Interchange, ScrubbedClaim, Transaction

_UMASK = os.umask(0)
os.umask(_UMASK)
ENCODING = "latin-1"  # one byte per character: input bytes go back out unchanged


class Writer:
    """Receives events in input order. Every method is optional."""

    def claim(self, scrubbed: ScrubbedClaim) -> None:
        pass

    def end_transaction(self, txn: Transaction) -> None:
        pass

    def end_group(self, group: Group) -> None:
        pass

    def end_interchange(self, interchange: Interchange) -> None:
        pass

    def finish(self, notices: list[str]) -> None:
        pass


class AtomicFile:
    """A text file that appears under its name only on ``commit()``; ``discard()`` leaves no trace.

    The temporary lives in the target's folder so the final rename is atomic on one file system.
    """

    def __init__(self, path: Path, encoding: str = ENCODING) -> None:
        self.path = path
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        self._tmp = Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual permissions
        self.fh: IO[str] = os.fdopen(fd, "w", encoding=encoding, errors="replace", newline="")

    def commit(self) -> None:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.replace(self._tmp, self.path)

    def discard(self) -> None:
        if not self.fh.closed:
            self.fh.close()
        self._tmp.unlink(missing_ok=True)
