"""Text for people: input characters were read as latin-1 (one per byte); show UTF-8 as UTF-8."""

from __future__ import annotations

import re
from functools import lru_cache


def human(text: str) -> str:
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return text


# XML 1.0 (and so lxml) refuses C0 control characters other than tab, LF and CR; a stray one in a
# claim must not stop the report. Shown as U+FFFD, the usual mark for an unreadable character.
_XML_UNSAFE = {c: "\ufffd" for c in range(32) if c not in (9, 10, 13)}


def for_markup(text: str) -> str:
    """``human(text)`` made safe to place in an HTML/XML document."""
    if text.isascii() and text.isprintable():  # nearly always: nothing to change
        return text
    return human(text).translate(_XML_UNSAFE)


def icd_display(code: str, icd9: bool = False) -> str:
    """An ICD code as people write it: 837 HI codes carry no decimal point (G243 is G24.3)."""
    code = code.strip()
    if "." in code or len(code) <= 3:
        return code
    cut = 4 if icd9 and code[:1] == "E" else 3  # ICD-9 external causes: E880.9
    return f"{code[:cut]}.{code[cut:]}"


_SEE_COMMAND = re.compile(r"\s*\(see `[^`]*`\)")
_FILE_PATH = re.compile(r"\s*\((?:[\w.-]+/)+[\w.-]+\.(?:md|py|ya?ml|csv|json)\)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


def for_billers(text: str) -> str:
    """Text for billers' screens and spreadsheets: engineers' hints (commands, flags) left out.

    "(see `scrubber explain X`)" and "(shared/spec/edits.md)" go; a sentence that tells to run a command keeps only what comes
    before its "; " (the advice), or goes whole. The JSON report keeps the full text for engineers.
    """
    if "`" not in text and "/" not in text and " --" not in text:
        return text  # most messages: no command, no path, no flag (every hint needs one of these)
    return _for_billers(text)


@lru_cache(maxsize=4096)  # sources and suggestions repeat from claim to claim
def _for_billers(text: str) -> str:
    text = _FILE_PATH.sub("", _SEE_COMMAND.sub("", text))
    if "`" not in text and " --" not in text:
        return text
    kept = []
    for sentence in _SENTENCE.split(text):
        cut = min((i for i in (sentence.find("`"), sentence.find(" --")) if i >= 0), default=-1)
        if cut < 0:
            kept.append(sentence)
        elif "; " in sentence[:cut]:
            kept.append(sentence[: sentence.rindex("; ", 0, cut)] + ".")
    return " ".join(kept)
