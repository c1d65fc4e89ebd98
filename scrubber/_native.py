"""The optional compiled build: which modules it covers, and running without it.

``SCRUBBER_COMPILE=1 pip install .`` compiles ``MODULES`` with mypyc (hatch_build.py); a plain
``pip install`` does not, and the package is the same Python either way. At run time:

* ``SCRUBBER_PURE=1`` loads every ``scrubber`` module from its ``.py`` source even when a
  compiled one sits beside it (for comparing the two, and for tests that replace functions);
* a compiled module whose source has changed since it was built (an editable install being
  edited) would run the old code: when any source no longer matches the hash recorded at build
  time, the whole package runs from source and says so once on stderr.

Kept free of other scrubber imports: ``scrubber/__init__.py`` runs it before anything else.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import json
import os
import sys
from pathlib import Path

#: the per-segment and per-claim modules, compiled together (one mypyc group); each must
#: type-check cleanly under mypy and define no class that inherits from a builtin type
MODULES = (
    "scrubber/x12/segments.py",
    "scrubber/x12/dates.py",
    "scrubber/x12/loop2300.py",
    "scrubber/x12/reader.py",
    "scrubber/guide/elements.py",
    "scrubber/guide/fast.py",
    "scrubber/guide/walker.py",
    "scrubber/guide/validator.py",
    "scrubber/writers/base.py",
    "scrubber/writers/ack277.py",
    "scrubber/writers/accepted837.py",
    "scrubber/writers/report_json.py",
    "scrubber/writers/worklist.py",
    "scrubber/memo.py",
    "scrubber/runindex.py",
    "scrubber/rules/shape.py",
    "scrubber/engine.py",
)
#: written by the build beside the compiled modules: each source's sha256 when it was compiled
MANIFEST = "_native_sources.json"

_PACKAGE = Path(__file__).resolve().parent
_ROOT = _PACKAGE.parent


def module_name(path: str) -> str:
    """``scrubber/x12/reader.py`` -> ``scrubber.x12.reader`` (a package's ``__init__`` -> the package)."""
    name = path.removesuffix(".py").replace("/", ".")
    return name.removesuffix(".__init__")


def source_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _SourceOnly(importlib.abc.MetaPathFinder):
    """Finds ``scrubber`` modules as ``.py`` sources only, passing over compiled ones."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("scrubber.") or not path:
            return None
        loaders = [(importlib.machinery.SourceFileLoader, importlib.machinery.SOURCE_SUFFIXES)]
        for entry in path:  # type: ignore[attr-defined]
            spec = importlib.machinery.FileFinder(str(entry), *loaders).find_spec(fullname)
            if spec is not None:
                return spec
        return None


def _stale() -> list[str]:
    """Compiled modules whose source differs from the one they were built from."""
    manifest = _PACKAGE / MANIFEST
    try:
        recorded = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return []
    stale = []
    for path, digest in recorded.items():
        try:
            if source_hash(_ROOT / path) != digest:
                stale.append(path)
        except OSError:
            stale.append(path)
    return stale


def choose() -> None:
    """Before any other scrubber module loads: run from source when asked to or when compiled code is stale."""
    if os.environ.get("SCRUBBER_PURE", "") not in ("", "0"):
        sys.meta_path.insert(0, _SourceOnly())
        return
    stale = _stale()
    if stale:
        print(f"scrubber: compiled modules are older than their sources ({', '.join(stale[:3])}"
              f"{', ...' if len(stale) > 3 else ''}); running pure Python. Reinstall with SCRUBBER_COMPILE=1 "
              "to rebuild them.", file=sys.stderr)
        sys.meta_path.insert(0, _SourceOnly())


def compiled() -> list[str]:
    """The names of the modules of ``MODULES`` loaded from compiled code in this process."""
    names = []
    for path in MODULES:
        module = sys.modules.get(module_name(path))
        origin = getattr(module, "__file__", None) or ""
        if origin.endswith((".so", ".pyd")):
            names.append(module_name(path))
    return names
