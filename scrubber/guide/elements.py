"""Element checks of one segment against its map node, as pyx12's segment_if/element_if make them.

Every check pyx12 makes is here, in its order: too many elements, a simple element given
components, usage (required, not used), length (numbers counted without sign and point), control
characters, trailing spaces, code values (the map's list, then a codes.xml list), data type (the
5010 extended character set, N0-N2, R, DT, TM), date formats named by a qualifier (DTP02 for
DTP03; a 1250 element's codes for the 1251 after it), the map's regular expressions, composites
(required, not used, too many components) and syntax notes (P, R, C, L, E).

Two cases where pyx12 itself fails with an exception (a composite with more components than the
map has; an RD8 date with two hyphens) are reported as errors here.

Results are cached per (map node, component separator, segment text): most segments of a file
(payer, provider, SBR, dates, common service lines) repeat exactly.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from scrubber.guide.fast import segment_pattern
from scrubber.guide.tables import Comp, Elem, Seg
from scrubber.x12.segments import Delimiters

_N = re.compile(r"-?[0-9]+", re.S | re.ASCII)
_R = re.compile(r"-?[0-9]*(\.[0-9]+)?", re.S | re.ASCII)
# pyx12's 5010 extended character set (charset "E" with ICVN 00501)
_BAD_CHAR = re.compile(r"""[^A-Z0-9!"&'()*+,\-\./:;?= a-z%~@\[\]_{}\\|<>^`#$]""", re.S | re.ASCII)
_BAD_CHAR_4010 = re.compile(r"""[^A-Z0-9!"&'()*+,\-\./:;?= a-z%~@\[\]_{}\\|<>#$]""", re.S | re.ASCII)
_NOT_DIGITS = re.compile(r"[^0-9]+", re.S)
_CONTROL = {
    "\x07": "BEL", "\x09": "HT", "\x0a": "LF", "\x0b": "VT", "\x0c": "FF", "\x0d": "CR", "\x1c": "FS",
    "\x1d": "GS", "\x1e": "RS", "\x1f": "US", "\x01": "SOH", "\x02": "STX", "\x03": "ETX", "\x04": "EOT",
    "\x05": "ENQ", "\x06": "ACK", "\x11": "DC1", "\x12": "DC2", "\x13": "DC3", "\x14": "DC4", "\x15": "NAK",
    "\x16": "SYN", "\x17": "ETB",
}
_CONTROL_RE = re.compile("[" + "".join(_CONTROL) + "]")
DATE_TYPES = ("RD8", "DT", "D8", "D6")


class ElementError(NamedTuple):
    """One finding at element level. ``code`` is the 999 IK403 code; ``what`` keys the message."""

    code: str
    pos: int  # element position (IK401-1)
    sub: int  # component position, 0 for a simple element (IK401-2)
    node: Elem | Comp | None
    value: str
    what: str
    detail: str = ""


def is_valid_date(dtype: str, val: str) -> bool:
    if (dtype == "D8" and len(val) != 8) or (dtype == "D6" and len(val) != 6):
        return False
    if _NOT_DIGITS.search(val) or len(val) not in (6, 8, 12):
        return False
    if len(val) == 6:
        val = ("20" if int(val[0:2]) < 50 else "19") + val
    year, month, day = int(val[0:4]), int(val[4:6]), int(val[6:8])
    if year < 1800 or not 1 <= month <= 12:
        return False
    if month in (1, 3, 5, 7, 8, 10, 12):
        ok = 1 <= day <= 31
    elif month in (4, 6, 9, 11):
        ok = 1 <= day <= 30
    elif not year % 4 and not (not year % 100 and year % 400):
        ok = 1 <= day <= 29
    else:
        ok = 1 <= day <= 28
    return ok and (len(val) != 12 or is_valid_time(val[8:12]))


def is_valid_time(val: str) -> bool:
    if _NOT_DIGITS.search(val):
        return False
    if val[0:2] > "23" or val[2:4] > "59":
        return False
    if len(val) > 4:
        if len(val) < 6 or val[4:6] > "59" or len(val) > 8:
            return False
    return True


def valid_type(val: str, dtype: str, icvn5: bool = True) -> bool:
    """pyx12's validation.IsValidDataType with charset E."""
    if not dtype:
        return True
    if dtype[0] == "N":
        return _N.fullmatch(val) is not None
    if dtype == "R":
        return _R.fullmatch(val) is not None
    if dtype in ("ID", "AN"):
        return (_BAD_CHAR if icvn5 else _BAD_CHAR_4010).search(val) is None
    if dtype == "RD8":
        parts = val.split("-")
        # pyx12 raises on three or more parts; that is no valid range either
        return len(parts) == 2 and valid_type(parts[0], "D8") and valid_type(parts[1], "D8")
    if dtype in ("DT", "D8", "D6"):
        return is_valid_date(dtype, val)
    if dtype == "TM":
        return is_valid_time(val)
    return dtype == "B"


def _check_value(el: Elem, val: str, pos: int, sub: int, external: dict[str, frozenset[str]],
                 type_list: tuple[str, ...] | list[str], out: list[ElementError]) -> None:
    """A non-empty value: everything element_if.is_valid_errors checks after usage."""
    dtype = el.dtype
    numeric = dtype == "R" or dtype[:1] == "N"
    n = len(val.replace("-", "").replace(".", "")) if numeric else len(val)
    if n < el.min_len:
        out.append(ElementError("4", pos, sub, el, val, "short", str(el.min_len)))
    if n > el.max_len:
        out.append(ElementError("5", pos, sub, el, val, "long", str(el.max_len)))
    bad = _CONTROL_RE.search(val)
    if bad:
        out.append(ElementError("6", pos, sub, el, val, "control", _CONTROL[bad.group(0)]))
        return
    if dtype in ("AN", "ID") and val[-1] == " " and len(val.rstrip()) >= el.min_len:
        out.append(ElementError("6", pos, sub, el, val, "trailing"))
    codes = el.codes
    if codes or el.external is not None:
        if val not in (codes or ()) and not (el.external is not None and val in external.get(el.external, ())):
            out.append(ElementError("7", pos, sub, el, val, "code", el.external or ""))
    if not valid_type(val, dtype):
        if dtype in DATE_TYPES:
            out.append(ElementError("8", pos, sub, el, val, "date"))
        elif dtype == "TM":
            out.append(ElementError("9", pos, sub, el, val, "time"))
        else:
            out.append(ElementError("6", pos, sub, el, val, "type", dtype))
    if type_list and not any(valid_type(val, t, False) for t in type_list):
        if "TM" in type_list:
            out.append(ElementError("9", pos, sub, el, val, "time"))
        elif any(t in type_list for t in DATE_TYPES):
            out.append(ElementError("8", pos, sub, el, val, "date", "/".join(t for t in type_list)))
    if el.regex is not None and re.search(el.regex, val, re.S) is None:
        out.append(ElementError("7", pos, sub, el, val, "pattern"))


def _check_element(el: Elem, val: str | None, pos: int, sub: int, in_comp: Comp | None,
                   external: dict[str, frozenset[str]], type_list: tuple[str, ...] | list[str],
                   out: list[ElementError]) -> None:
    if not val:
        if el.usage == "R" and (el.seq != 1 or in_comp is None or in_comp.usage == "R"):
            out.append(ElementError("1", pos, sub, el, "", "missing"))
        return
    if el.usage == "N":
        out.append(ElementError("I10", pos, sub, el, val, "not_used"))
        return
    _check_value(el, val, pos, sub, external, type_list, out)


def _check_composite(node: Comp, parts: list[str] | None, pos: int, external: dict[str, frozenset[str]],
                     out: list[ElementError]) -> None:
    empty = parts is None or not any(parts)
    if empty and node.usage in ("N", "S"):
        return
    if node.usage == "R" and empty:
        out.append(ElementError("1", pos, 0, node, "", "missing_composite"))
        return
    assert parts is not None
    if node.usage == "N":
        out.append(ElementError("I10", pos, 0, node, "", "not_used"))
        return
    n = len(node.parts)
    if len(parts) > n:
        out.append(ElementError("13", pos, 0, node, "", "components", str(n)))
    for i, part in enumerate(node.parts):
        _check_element(part, parts[i] if i < len(parts) else None, pos, i + 1, node, external, (), out)


def check_segment(node: Seg, els: list[str], comp: str, external: dict[str, frozenset[str]]) -> list[ElementError]:
    """Every element-level error of one segment (``els[0]`` is the segment id)."""
    out: list[ElementError] = []
    children = node.elements
    count = len(children)
    given = len(els) - 1
    isa = els[0] == "ISA"
    if given > count:
        out.append(ElementError("3", count + 1, 0, None, "", "too_many", str(count)))
    dtype: list[str] = []
    type_list: list[str] = []
    is_dtp = els[0] == "DTP"
    for i, child in enumerate(children):
        raw = els[i + 1] if i < given else None
        pos = i + 1
        if isinstance(child, Comp):
            _check_composite(child, raw.split(comp) if raw is not None and not isa else
                             ([raw] if raw is not None else None), pos, external, out)
            continue
        if i == 1 and is_dtp and raw in ("RD8", "D8", "D6", "DT", "TM"):
            dtype = [raw]
        if child.ele_num == "1250" and raw is not None:
            type_list.extend(child.codes or ())
        if raw is not None and not isa and comp in raw:
            out.append(ElementError("13", pos, 0, child, "", "composite"))
            continue
        if i == 2 and is_dtp:
            _check_element(child, raw, pos, 0, None, external, dtype, out)
        elif child.ele_num == "1251" and type_list:
            _check_element(child, raw, pos, 0, None, external, type_list, out)
        else:
            _check_element(child, raw, pos, 0, None, external, (), out)
    for code, idxs in node.syntax:
        _syntax(code, idxs, els, comp, isa, out)
    return out


def _present(els: list[str], i: int, comp: str, isa: bool) -> bool:
    if i >= len(els):
        return False
    v = els[i]
    return bool(v.rstrip(comp)) if not isa else bool(v)


def _syntax(code: str, idxs: tuple[int, ...], els: list[str], comp: str, isa: bool, out: list[ElementError]) -> None:
    if len(idxs) < 2:
        return
    here = [_present(els, i, comp, isa) for i in idxs]
    count = sum(here)
    bad = False
    if code == "P":
        bad = 0 < count < len(idxs)
    elif code == "R":
        bad = count == 0
    elif code == "E":
        bad = count > 1
    elif code == "C":
        bad = here[0] and sum(here[1:]) != len(idxs) - 1
    elif code == "L":
        bad = here[0] and not any(here[1:])
    if bad:
        # The element the note is about: the first absent one it requires, else the first given.
        if code in ("E",):
            at = next((i for i, h in zip(idxs[1:], here[1:], strict=True) if h), idxs[0])
        else:
            at = next((i for i, h in zip(idxs, here, strict=True) if not h), idxs[0])
        out.append(ElementError("10" if code == "E" else "2", at, 0, None, "", "syntax",
                                code + "".join(f"{i:02d}" for i in idxs)))


#: compiled expressions, shared by every run of the process (a few hundred at most: one per map
#: segment and separator pair); compiling them costs more than checking a small file
_COMPILED: dict[tuple[Seg, str, str], Any] = {}


class SegmentChecker:
    """Element checks of a segment: one regular expression first, the exact check when it refuses.

    The expression (scrubber.guide.fast) accepts only segments without element errors, so the
    exact check runs only on segments that may have one; its results are kept per segment text,
    as a faulty segment is often repeated claim after claim.
    """

    __slots__ = ("_errors", "_patterns", "comp", "external", "sep")

    def __init__(self, external: dict[str, frozenset[str]]) -> None:
        self.external = external
        self.sep, self.comp = "*", ":"
        self._patterns: dict[Seg, Any] = {}
        self._errors: dict[tuple[Seg, str], list[ElementError]] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled with the run summary: see scrubber.guide.validator.GuideRun.__reduce__.
        return SegmentChecker, (self.external,), self.__getstate__()

    def delimiters(self, d: Delimiters) -> None:
        if (d.element, d.component) != (self.sep, self.comp):
            self._patterns.clear()
            self._errors.clear()
        self.sep, self.comp = d.element, d.component

    def pattern(self, node: Seg) -> Any:
        """The node's expression for the current separators (False when none can be made)."""
        found = self._patterns.get(node)
        if found is None:
            key = (node, self.sep, self.comp)
            found = _COMPILED.get(key)
            if found is None:
                found = _COMPILED[key] = segment_pattern(node, self.sep, self.comp, self.external) or False
            self._patterns[node] = found
        return found

    def __call__(self, node: Seg, els: list[str], raw: str | None) -> list[ElementError]:
        if raw is None:
            return check_segment(node, els, self.comp, self.external)
        pattern = self._patterns.get(node)
        if pattern is None:
            pattern = self.pattern(node)
        if pattern and pattern.fullmatch(raw):
            return []
        key = (node, raw)
        found = self._errors.get(key)
        if found is None:
            found = check_segment(node, els, self.comp, self.external)
            if len(self._errors) > 10_000:
                self._errors.clear()
            self._errors[key] = found
        return found
