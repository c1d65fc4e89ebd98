"""Which files of a folder are claim files: X12 starts with ``ISA`` after an optional BOM and blank space.

A folder exported by a practice-management system often holds other files too (a README, a LICENSE,
a script); those are skipped and listed, not treated as unusable inputs. A file named on the command
line is always scrubbed, so a non-X12 file given by name still exits 2 with its one-line reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: enough for a BOM, some blank space and "ISA"
_HEAD = 4096
_BLANK = " \t\r\n\x00\x1a"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str
    reason: str


def looks_like_x12(head: bytes) -> bool:
    """True when ``head`` (the first bytes of a file) starts an X12 interchange.

    Mirrors what the reader accepts: a UTF-8 BOM, UTF-16 with or without BOM, blank space first.
    """
    if head.startswith(_UTF16_BOMS) or (len(head) > 3 and head[1:4:2] == b"\0\0"):
        encoding = "utf-16" if head.startswith(_UTF16_BOMS) else "utf-16-le"
        text = head[: len(head) - len(head) % 2].decode(encoding, errors="ignore")
    else:
        text = head.removeprefix(b"\xef\xbb\xbf").decode("latin-1")
    return text.lstrip(_BLANK).startswith("ISA")


def file_looks_like_x12(path: str | Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return looks_like_x12(fh.read(_HEAD))
    except OSError:
        return True  # let the scrub report why it cannot be read, as for a named file


def expand(inputs: list[str]) -> tuple[list[str], list[Skipped]]:
    """Named files as given; folders to the X12 files in them (not recursive, dotfiles ignored)."""
    files: list[str] = []
    skipped: list[Skipped] = []
    for item in inputs:
        if item == "-" or not os.path.isdir(item):
            files.append(item)
            continue
        for p in sorted(Path(item).iterdir()):
            if p.name.startswith(".") or not p.is_file():
                continue
            if file_looks_like_x12(p):
                files.append(str(p))
            else:
                skipped.append(Skipped(str(p), "not X12 (does not start with ISA)"))
    return files, skipped
