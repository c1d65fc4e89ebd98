"""Answers worked out once for values that repeat from claim to claim (charges and amounts, payer
ids, edit ids, sources, suggestions): a look-up costs a dictionary subscript, with no Python call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: values kept per memo; past it the memo starts again empty (values that never repeat, such as
#: claim ids, cannot make it grow)
SIZE = 4096


class Memo(dict):  # type: ignore[type-arg]
    """``memo[value]`` is ``fn(value)``, worked out on the first look-up (values must be hashable)."""

    def __init__(self, fn: Callable[[Any], Any], size: int = SIZE) -> None:
        super().__init__()
        self.fn = fn
        self.size = size

    def __missing__(self, key: Any) -> Any:
        if len(self) >= self.size:
            self.clear()
        value = self[key] = self.fn(key)
        return value
