"""A list that takes ``write`` like a file, for text collected and written out in one piece.

Its own module, left out of the compiled build (see hatch_build.py): a compiled class cannot
inherit from ``list``, and ``list.append`` as ``write`` is the cheapest call either way.
"""

from __future__ import annotations


class Buffer(list):
    """Collects segments like a file, written out in one piece."""

    write = list.append
