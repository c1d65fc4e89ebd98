"""Where the rule packs live (inside an installed wheel, or beside the package in a checkout), and
reading their YAML.

A YAML file is parsed once per content: the parsed document is pickled in the user cache folder
(``$XDG_CACHE_HOME/scrubber``, else ``~/.cache/scrubber``, beside the guide's tables) under a hash
of the file's bytes, and later starts load that instead. Parsing the bundled packs and registry
(14 files, 170 KB) took 22 ms of every start and importing PyYAML 8-14 ms more, against 2 ms for
the pickles. Editing a file changes its hash, so an edit is read at once; a cache folder that
cannot be written, or a damaged cache file, only means parsing the YAML, never an error.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent
#: in every cache key: a change to what a parsed document holds (or to pickling) starts afresh
YAML_FORMAT = b"scrubber-yaml-1"
#: parsed-YAML cache files kept (each edit of a pack makes one; the oldest go)
YAML_KEEP = 200


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "scrubber"


def edits_dir() -> Path:
    for candidate in (_PACKAGE / "_edits", _PACKAGE.parent / "edits"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("rule packs not found (expected scrubber/_edits or ./edits)")


def read_yaml(path: Path) -> Any:
    """A YAML file, safely (through libyaml when PyYAML has it), or its parsed copy from the cache.

    Raises OSError, UnicodeDecodeError, ValueError (a date PyYAML cannot build) and, from PyYAML,
    an error of ``yaml_errors()``.
    """
    data = Path(path).read_bytes()
    cached = _cache_file(data)
    doc = _load(cached)
    if doc is not None:
        return doc[0]
    import yaml  # only when a file is read for the first time: most starts do without it

    text = data.decode("utf-8")
    parsed = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    cache_pickle(cached, (parsed,), YAML_KEEP)
    return parsed


def yaml_errors() -> tuple[type[Exception], ...]:
    """PyYAML's error class, for an ``except`` that must not import PyYAML before an error comes."""
    import yaml

    return (yaml.YAMLError,)


def _cache_file(data: bytes) -> Path:
    key = hashlib.sha256(YAML_FORMAT + b"\0" + data).hexdigest()[:40]
    return cache_dir() / f"yaml-{key}.pickle"


def _load(path: Path) -> tuple[Any] | None:
    try:
        with open(path, "rb") as fh:
            doc = pickle.load(fh)
    except Exception:  # absent, or damaged in any way: parse the file instead
        return None
    return doc if isinstance(doc, tuple) and len(doc) == 1 else None


def cache_pickle(path: Path, value: Any, keep: int) -> None:
    """Pickle ``value`` into the cache file ``path`` atomically, keeping the newest ``keep`` files of
    its kind (its name up to the first ``-``); a folder we cannot write to is not an error."""
    kind = path.name.split("-", 1)[0]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{kind}-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        older = sorted(path.parent.glob(f"{kind}-*.pickle"), key=_mtime, reverse=True)[keep:]
        for old in older:
            old.unlink(missing_ok=True)
    except (OSError, pickle.PicklingError, TypeError):
        pass


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
