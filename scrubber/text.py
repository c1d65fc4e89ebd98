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
