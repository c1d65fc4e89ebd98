"""One regular expression per map segment that accepts only segments with no element error.

Checking a segment element by element in Python costs tens of microseconds; one ``fullmatch``
over its text costs well under one. The expression is built from the same tables as the exact
check (scrubber.guide.elements) and errs only one way: whatever it accepts, the exact check
finds nothing in (tests/test_guide.py checks that on every segment of the samples and of the
mutated files); whatever it refuses goes to the exact check, which says what is wrong. So it
may refuse a few valid values (29 February, a date with a time) to stay simple.

Per element: usage (required, not used, situational), the character set (pyx12's 5010 extended
set, without the separators), lengths, code lists (the map's and codes.xml's, as a trie), no
trailing space, N and R numbers with their digit counts, DT dates and TM times, dates named by a
qualifier (DTP03 after DTP02, a 1251 after its 1250), composites with their components. Syntax
notes become conditionals on whether an element's group took part in the match.
"""

from __future__ import annotations

import re
from itertools import product

from scrubber.guide.tables import Comp, Elem, Seg

_E5 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!\"&'()*+,-./:;?= abcdefghijklmnopqrstuvwxyz%~@[]_{}\\|<>^`#$"
_E5_SET = frozenset(_E5)
_WS = "[ \\t\\r\\n]*"
_NEVER = "(?!)"
_MONTH_DAY = ("(?:(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)"
              "|02(?:0[1-9]|1[0-9]|2[0-8]))")
_D8 = f"(?:1[89][0-9]{{2}}|[2-9][0-9]{{3}}){_MONTH_DAY}"
_D6 = f"[0-9]{{2}}{_MONTH_DAY}"
_HHMM = "(?:[01][0-9]|2[0-3])[0-5][0-9]"


_CHARSETS: dict[tuple[str, str, bool], str] = {}


def _charset(sep: str, comp: str, space: bool = True) -> str:
    """The character class of the set, with runs of consecutive characters as ranges: the same
    class, but a few tokens instead of ninety for the expression compiler to read, each time."""
    key = (sep, comp, space)
    found = _CHARSETS.get(key)
    if found is None:
        codes = sorted(ord(c) for c in _E5 if c not in (sep, comp) and (space or c != " "))
        runs: list[list[int]] = []
        for code in codes:
            if runs and runs[-1][1] == code - 1:
                runs[-1][1] = code
            else:
                runs.append([code, code])
        body = "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in runs)
        found = _CHARSETS[key] = f"[{body}]"
    return found


def _trie(codes: list[str]) -> str:
    """An alternation of literal codes as a trie, so matching does not try them one by one."""
    tree: dict = {}
    for code in codes:
        node = tree
        for ch in code:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        end = "" in node
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch != ""]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if end else body

    return emit(tree) if codes else _NEVER


def _text_ok(el: Elem, value: str, sep: str, comp: str) -> bool:
    """Would this code pass every other check of the element (length, characters, spaces)?"""
    return (el.min_len <= len(value) <= el.max_len and value != "" and set(value) <= _E5_SET
            and sep not in value and comp not in value and not value.endswith(" "))


def _date_pattern(dtype: str) -> str | None:
    if dtype in ("D8", "DT"):
        return _D8
    if dtype == "D6":
        return _D6
    if dtype == "RD8":
        return f"{_D8}-{_D8}"
    if dtype == "TM":
        return f"{_HHMM}(?:[0-5][0-9](?:[0-9]{{1,2}})?)?"
    return None


def _value(el: Elem, sep: str, comp: str, type_list: tuple[str, ...] = (),
           external: dict[str, frozenset[str]] | None = None) -> str:
    """A non-empty value that the exact check accepts (never matches the empty string)."""
    lo, hi = max(el.min_len, 1), el.max_len
    if hi < lo or el.regex is not None:
        return _NEVER
    dtype = el.dtype
    if el.codes or el.external is not None:
        listed = set(el.codes or ())
        if el.external is not None:
            listed |= (external or {}).get(el.external, frozenset())
        return _trie(sorted(c for c in listed if _text_ok(el, c, sep, comp)))
    if dtype[:1] == "N" and dtype[1:].isdigit():
        return f"-?[0-9]{{{lo},{hi}}}"
    if dtype == "R":
        return (f"-?(?:[0-9]{{{lo},{hi}}}(?![0-9.])|(?=[0-9.]{{{lo + 1},{hi + 1}}}(?![0-9.]))[0-9]*\\.[0-9]+)")
    if dtype == "DT":
        if (lo, hi) == (8, 8):
            return _D8
        if (lo, hi) == (6, 6):
            return _D6
        return _NEVER
    if dtype == "TM":
        allowed = [n for n in (4, 6, 7, 8) if lo <= n <= hi]
        tails = {4: "", 6: "[0-5][0-9]", 7: "[0-5][0-9][0-9]", 8: "[0-5][0-9][0-9]{2}"}
        return _HHMM + "(?:" + "|".join(tails[n] for n in allowed) + ")" if allowed else _NEVER
    if dtype in ("AN", "ID"):
        if type_list:
            dated = [p for p in (_date_pattern(t) for t in type_list) if p]
            if any(t in ("TM", "RD8", "DT", "D8", "D6") for t in type_list):
                if not dated:
                    return _NEVER
                # the date forms are digits (and one hyphen): within AN's set; length still counts
                return f"(?=[0-9-]{{{lo},{hi}}}(?![0-9-]))(?:" + "|".join(dated) + ")"
        any_char, last = _charset(sep, comp), _charset(sep, comp, space=False)
        return f"{any_char}{{{lo - 1},{hi - 1}}}{last}"
    return _NEVER


def _composite(node: Comp, sep: str, comp: str, external: dict[str, frozenset[str]]) -> str:
    """A composite with at least one component given and every required component present."""
    c = re.escape(comp)
    first = node.parts[0]
    head = "" if first.usage == "N" else _value(first, sep, comp, (), external)
    if first.usage != "R":
        head = f"(?:{head})?"
    tail = ""
    required_after = False
    for part in reversed(node.parts[1:]):
        body = "" if part.usage == "N" else _value(part, sep, comp, (), external)
        if part.usage != "R":
            body = f"(?:{body})?"
        required_after = required_after or part.usage == "R"
        tail = f"(?:{c}{body}{tail})" + ("" if required_after else "?")
    not_separator = "[^" + re.escape(sep) + "]"
    content = "[^" + re.escape(sep + comp) + " \\t\\r\\n]"
    return f"(?={not_separator}*?{content})(?:{head}{tail})"


def segment_pattern(node: Seg, sep: str, comp: str,
                    external: dict[str, frozenset[str]] | None = None) -> re.Pattern[str] | None:
    """The compiled expression for ``node`` under these separators, or None if none can be made."""
    if sep == comp or any(ch.isalnum() or ch in " \t\r\n." for ch in (sep, comp)):
        return None
    external = external or {}
    s = re.escape(sep)
    noted = {i for _code, idxs in node.syntax for i in idxs}
    type_list: tuple[str, ...] = ()
    bodies: list[tuple[str, bool]] = []  # (pattern of the element with its separator, required)
    dtp_codes: list[str] = []
    for i, child in enumerate(node.elements, start=1):
        group = f"g{i}"
        if isinstance(child, Comp):
            value = _NEVER if child.usage == "N" else _composite(child, sep, comp, external)
            usage = child.usage
        else:
            if child.ele_num == "1250":
                type_list = (*type_list, *sorted(child.codes or ()))
            if node.id == "DTP" and i == 2:
                dtp_codes = sorted(c for c in (child.codes or ()) if _text_ok(child, c, sep, comp))
                value = "(?:" + "|".join(f"(?P<q{k}>{re.escape(code)})" for k, code in enumerate(dtp_codes)) + ")" \
                    if dtp_codes else _NEVER
            elif node.id == "DTP" and i == 3:
                value = _dtp_date(child, dtp_codes, sep, comp)
            else:
                value = _NEVER if child.usage == "N" else _value(
                    child, sep, comp, type_list if child.ele_num == "1251" else (), external)
            usage = child.usage
        if i in noted:
            value = f"(?P<{group}>{value})"
        if usage == "R":
            bodies.append((value, True))
        else:
            bodies.append((f"(?:{value})?", False))
    tail = ""
    required_after = False
    for value, required in reversed(bodies):
        required_after = required_after or required
        tail = f"(?:{s}{value}{tail})" + ("" if required_after else "?")
    conditions = "".join(_syntax(code, idxs) for code, idxs in node.syntax if len(idxs) >= 2)
    pattern = f"{_WS}{re.escape(node.id)}{tail}(?<!{s}){conditions}{_WS}"
    try:
        return re.compile(pattern, re.S)
    except (re.error, RecursionError, OverflowError):
        return None


def _dtp_date(el: Elem, codes: list[str], sep: str, comp: str) -> str:
    """DTP03 checked by the format its DTP02 names (a conditional on DTP02's group)."""
    plain = _value(el, sep, comp)  # DTP03 has no code list
    out = plain
    for k, code in reversed(list(enumerate(codes))):
        dated = _date_pattern(code) if code in ("RD8", "D8", "D6", "DT", "TM") else None
        shape = f"(?=[0-9-]{{{max(el.min_len, 1)},{el.max_len}}}(?![0-9-])){dated}" if dated else plain
        out = f"(?(q{k}){shape}|{out})"
    return out


def _syntax(code: str, idxs: tuple[int, ...]) -> str:
    """A syntax note as nested conditionals on the elements' groups (zero width)."""
    def ok(present: tuple[bool, ...]) -> bool:
        n = sum(present)
        if code == "P":
            return n in (0, len(idxs))
        if code == "R":
            return n > 0
        if code == "E":
            return n <= 1
        if code == "C":
            return not present[0] or all(present[1:])
        if code == "L":
            return not present[0] or any(present[1:])
        return True

    if all(ok(p) for p in product((True, False), repeat=len(idxs))):
        return ""

    def build(k: int, present: tuple[bool, ...]) -> str:
        if k == len(idxs):
            return "" if ok(present) else _NEVER
        return f"(?(g{idxs[k]}){build(k + 1, (*present, True))}|{build(k + 1, (*present, False))})"

    return build(0, ())
