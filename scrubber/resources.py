"""Where the rule packs live: inside an installed wheel, or beside the package in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def edits_dir() -> Path:
    for candidate in (_PACKAGE / "_edits", _PACKAGE.parent / "edits"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("rule packs not found (expected scrubber/_edits or ./edits)")
