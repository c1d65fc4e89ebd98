"""Text for people: input characters were read as latin-1 (one per byte); show UTF-8 as UTF-8."""

from __future__ import annotations


def human(text: str) -> str:
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return text
