"""The built-in implementation-guide validator (WEDI SNIP 1-2), compiled from pyx12's 837P map.

``tables`` compiles and caches the map, ``walker`` places segments in it, ``elements`` checks
their elements, ``validator`` runs both over one input as the reader reads it (``steps``: the
steps and states that let it skip both for what it has seen before) and files the errors by
claim and loop, ``messages`` words them. ``attach`` puts it in the reader's tokenizer's place; the X12-IG edit (scrubber.rules.kinds_core) reads the errors back per claim.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scrubber.guide.validator import GuideError, GuideRun

__all__ = ["GuideError", "GuideRun", "attach"]


class _Tap:
    """The reader's tokenizer, with every segment checked by the validator as it is made.

    It hands the reader segments that may open or close a unit one by one and the segments
    between them as lists (``batches``: see ``GuideRun.units`` and ``Reader._unit_batched``).
    """

    batches = True

    def __init__(self, tokenizer: Any, run: GuideRun) -> None:
        self._tokenizer = tokenizer
        self._run = run

    def __iter__(self) -> Iterator[Any]:
        return self._run.units(self._tokenizer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)


def attach(reader: Any, engine: Any) -> GuideRun | None:
    """Validate what ``reader`` reads, for ``engine``'s X12-IG edit; None when that edit is off."""
    if not engine.runs("X12-IG"):
        return None
    run = GuideRun()
    reader.tokenizer = _Tap(reader.tokenizer, run)
    engine.context.extra["guide"] = run
    return run
