"""``python -m scrubber.compiled``: which build this install runs (compiled with mypyc, or pure
Python and why), in one line. See scrubber/_native.py and the README's "Compiled build"."""

from __future__ import annotations

from scrubber import _native

if __name__ == "__main__":
    print(_native.status())
