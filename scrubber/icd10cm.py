"""The ICD-10-CM code set, as the simple-icd-10-cm package ships it.

The package's API parses the whole tabular list on import (about 2 s and 180 MB here), while a
scrub needs two answers per code: does it exist, and is it billable (a leaf). Its data folder also
carries the plain list of every code (chapters, blocks, categories down to 7th-character codes),
which answers both in milliseconds and a few MB, so that list is read directly, without importing
the package. A code is billable when no other code extends it.
"""

from __future__ import annotations

import bisect
import importlib.util
from functools import cache
from pathlib import Path


class CodeSetUnavailable(RuntimeError):
    pass


@cache
def _code_list() -> tuple[frozenset[str], frozenset[str], list[str], str]:
    spec = importlib.util.find_spec("simple_icd_10_cm")
    if spec is None or not spec.submodule_search_locations:
        raise CodeSetUnavailable("the simple-icd-10-cm package is not installed")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    lists = sorted(data.glob("code-list-*.txt"))
    if not lists:
        raise CodeSetUnavailable(f"no code list in {data}")
    codes = set()
    for line in lists[-1].read_text(encoding="utf-8").splitlines():
        code = line.split(" ")[0].replace(".", "").strip().upper()
        if len(code) >= 3 and "-" not in code and code[0].isalpha():
            codes.add(code)
    headers = {c[:k] for c in codes for k in range(3, len(c))}
    version = lists[-1].stem.removeprefix("code-list-")
    return frozenset(codes), frozenset(headers & codes), sorted(codes), version


def version() -> str:
    return _code_list()[3]


def status(code: str) -> str:
    """'billable', 'header' (needs more characters) or 'unknown'."""
    codes, headers, _sorted, _v = _code_list()
    code = code.replace(".", "").upper()
    if code not in codes:
        return "unknown"
    return "header" if code in headers else "billable"


def children(code: str, limit: int = 3) -> list[str]:
    """A few codes that extend ``code`` one level down (for suggestions)."""
    _codes, _headers, ordered, _v = _code_list()
    code = code.replace(".", "").upper()
    out: list[str] = []
    i = bisect.bisect_right(ordered, code)
    while i < len(ordered) and ordered[i].startswith(code) and len(out) < limit:
        candidate = ordered[i]
        if not any(candidate.startswith(o) for o in out):
            out.append(candidate)
        i += 1
    return out
