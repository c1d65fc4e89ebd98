"""Text for people: input characters were read as latin-1 (one per byte); show UTF-8 as UTF-8."""

from __future__ import annotations


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
    return human(text).translate(_XML_UNSAFE)


def icd_display(code: str, icd9: bool = False) -> str:
    """An ICD code as people write it: 837 HI codes carry no decimal point (G243 is G24.3)."""
    code = code.strip()
    if "." in code or len(code) <= 3:
        return code
    cut = 4 if icd9 and code[:1] == "E" else 3  # ICD-9 external causes: E880.9
    return f"{code[:cut]}.{code[cut:]}"
