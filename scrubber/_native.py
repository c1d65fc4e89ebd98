"""The compiled build: which modules it covers, and running without it.

``pip install .`` compiles ``MODULES`` with mypyc where the machine can (hatch_build.py: a C
compiler and Python's headers), and builds pure Python where it cannot or when told
``SCRUBBER_PURE=1`` (or ``SCRUBBER_COMPILE=0``); the package is the same Python either way, and
writes the same bytes (tests/test_native.py). At run time:

* ``SCRUBBER_PURE=1`` loads every ``scrubber`` module from its ``.py`` source even when a
  compiled one sits beside it (for comparing the two, and for tests that replace functions);
* a compiled module whose source has changed since it was built (an editable install being
  edited) would run the old code: when any source no longer matches the hash recorded at build
  time, the whole package runs from source and says so once on stderr.

``python -m scrubber.compiled`` says which build is running, and why a build is pure.

What compiled code asks of these modules (mypyc): annotations true at run time (a value of the
wrong type is a TypeError, also where a stand-in object is handed in: a stand-in for a file must
return from ``seek`` and ``write`` what a file returns); no function or module attribute replaced
at run time (monkeypatching reaches only callers that are not compiled: the tests run the
sources); no attribute set on a function; a class subclassed in Python, outside ``MODULES``,
marked ``@mypyc_attr(allow_interpreted_subclasses=True)``, and its methods overridden on the class,
not on an instance; a class inheriting a builtin other than ``dict`` or ``Exception`` marked
``@mypyc_attr(native_class=False)``; an object pickled (sent to or from ``--jobs`` and Dask
workers, with a run summary) given a ``__reduce__`` (see scrubber.guide.validator.GuideRun and
scrubber.rules.catalog), as a compiled class with required ``__init__`` arguments, or a frozen
one, pickles no other way.

Kept free of other scrubber imports: ``scrubber/__init__.py`` runs it before anything else.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import os
import sys
from pathlib import Path

#: the per-segment and per-claim modules, compiled together (one mypyc group): each must type-check
#: cleanly under mypy (``mypy --ignore-missing-imports --follow-imports=silent`` over the list)
MODULES = (
    "scrubber/model.py",
    "scrubber/x12/segments.py",
    "scrubber/x12/dates.py",
    "scrubber/x12/loop2300.py",
    "scrubber/x12/reader.py",
    "scrubber/guide/elements.py",
    "scrubber/guide/fast.py",
    "scrubber/guide/steps.py",
    "scrubber/guide/walker.py",
    "scrubber/guide/validator.py",
    "scrubber/guide/piece_run.py",
    "scrubber/writers/base.py",
    "scrubber/writers/ack277.py",
    "scrubber/writers/accepted837.py",
    "scrubber/writers/report_json.py",
    "scrubber/writers/worklist.py",
    "scrubber/writers/pieces.py",
    "scrubber/memo.py",
    "scrubber/runindex.py",
    "scrubber/piecekeys.py",
    "scrubber/text.py",
    "scrubber/rules/catalog.py",
    "scrubber/rules/codesets.py",
    "scrubber/rules/tables.py",
    "scrubber/rules/shape.py",
    "scrubber/rules/kinds.py",
    "scrubber/rules/kinds_codes.py",
    "scrubber/rules/kinds_conflicts.py",
    "scrubber/rules/kinds_core.py",
    "scrubber/rules/kinds_drugs.py",
    "scrubber/rules/kinds_dx.py",
    "scrubber/rules/kinds_lines.py",
    "scrubber/rules/kinds_modifiers.py",
    "scrubber/rules/kinds_ncci.py",
    "scrubber/rules/kinds_payer.py",
    "scrubber/rules/kinds_pro.py",
    "scrubber/rules/kinds_units.py",
    "scrubber/engine.py",
)
#: written by the build beside the compiled modules: each source's sha256 when it was compiled
MANIFEST = "_native_sources.json"
#: written by every build: whether it compiled, and if not why ({"compiled": bool, "why": str})
RECORD = "_native_build.json"

_PACKAGE = Path(__file__).resolve().parent
_ROOT = _PACKAGE.parent


def module_name(path: str) -> str:
    """``scrubber/x12/reader.py`` -> ``scrubber.x12.reader`` (a package's ``__init__`` -> the package)."""
    name = path.removesuffix(".py").replace("/", ".")
    return name.removesuffix(".__init__")


def source_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _SourceOnly:
    """Finds ``scrubber`` modules as ``.py`` sources only, passing over compiled ones (a meta path
    finder needs only ``find_spec``: importlib.abc would bring importlib.resources into every start)."""

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
              f"{', ...' if len(stale) > 3 else ''}); running pure Python. Reinstall (pip install -e .) "
              "to compile them again.", file=sys.stderr)
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


def build_record() -> dict[str, object] | None:
    """What the install's build did (None for a build older than the record)."""
    try:
        record = json.loads((_PACKAGE / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def status() -> str:
    """One line: which build this process runs, and why when it is not the compiled one."""
    import scrubber.api
    import scrubber.cli
    import scrubber.stitch  # noqa: F401  (loads the modules the command line uses, --jobs too)

    done = compiled()
    if done:
        return f"compiled: {len(done)} of {len(MODULES)} modules (mypyc)"
    if os.environ.get("SCRUBBER_PURE", "") not in ("", "0"):
        return "pure Python (SCRUBBER_PURE is set)"
    if _stale():
        return "pure Python (the compiled modules are older than their sources)"
    record = build_record()
    if record is None:
        return f"pure Python (no build record in {_PACKAGE}: sources run in place, or an older install)"
    return f"pure Python ({record.get('why') or 'built without compiling'})"
