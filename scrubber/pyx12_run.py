"""pyx12 run in this process over one interchange: its maps loaded once per process, and the error
tree it builds kept (pyx12 offers no way to get it back from ``x12n_document``).
"""

from __future__ import annotations

import io
import logging
from typing import Any

from scrubber.ig_tree import Ix, capture

#: pyx12's maps by (file, folder): loading the 837P map is most of the cost of a small run
_MAPS: dict[tuple[str, str | None], Any] = {}


def _cached_map_loader() -> None:
    import pyx12.map_if

    if getattr(pyx12.map_if.load_map_file, "_scrubber_cached", False):
        return
    original = pyx12.map_if.load_map_file

    def load(map_file: str, param: Any, map_path: str | None = None) -> Any:
        key = (map_file, map_path)
        if key not in _MAPS:
            _MAPS[key] = original(map_file, param, map_path)
        return _MAPS[key]

    load._scrubber_cached = True  # type: ignore[attr-defined]
    pyx12.map_if.load_map_file = load


_LAST: list[Any] = []



def _capture_handler() -> None:
    """Keep the ``err_handler`` pyx12 builds in ``x12n_document``: its tree is what we read."""
    import pyx12.error_handler

    base = pyx12.error_handler.err_handler
    if getattr(base, "_scrubber_capture", False):
        return

    class Kept(base):  # type: ignore[misc, valid-type]
        _scrubber_capture = True

        def __init__(self) -> None:
            super().__init__()
            _LAST[:] = [self]

    pyx12.error_handler.err_handler = Kept


def run_pyx12(text: Any, skip: set[tuple[int, int]], starts: set[tuple[int, int]]) -> tuple[list[Ix], str]:
    """pyx12 over one interchange (text or a text file): its error tree and its 999."""
    import pyx12.params
    import pyx12.x12n_document

    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    _cached_map_loader()
    _capture_handler()
    _LAST.clear()
    fd_999 = io.StringIO()
    pyx12.x12n_document.x12n_document(
        param=pyx12.params.params(), src_file=io.StringIO(text) if isinstance(text, str) else text, fd_997=fd_999,
        fd_html=None, fd_xmldoc=None, fd_json=None, map_path=None)
    errh = _LAST.pop() if _LAST else None
    return (capture(errh, skip, starts) if errh is not None else []), fd_999.getvalue()
