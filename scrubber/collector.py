"""The cyclic garbage collector set for one pass over an input (a whole run, or a split run's piece).

A scrub allocates a claim's objects and frees them as the claim leaves the writers; Python's default
thresholds suit programs that keep what they allocate, and every collection would walk again what
start-up built (engine, tables, code sets).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: net allocations between two collections of the youngest generation during a run (Python's 700
#: suits programs that keep what they allocate; a run frees a claim's objects as it leaves the writers)
RUN_GC_THRESHOLD = 5000
_gc_lock = threading.Lock()
_gc_runs = 0  # runs under way in this process (the service runs several in threads)
_gc_saved: tuple[int, ...] = ()  # the thresholds before the first of them
_gc_thaw = False  # whether nothing was frozen before the first of them


@contextmanager
def for_a_run(frozen: bool = False) -> Iterator[None]:
    """The cyclic garbage collector set for one pass over an input, as it was afterwards.

    What start-up built (engine, tables, code sets) is set aside (``gc.freeze``), so no collection
    walks it again, and the youngest generation is collected less often. On the bench files
    (50,000 claims) this took the collector's time from 1.4 s to about 0.7 s (findings-heavy) and
    from 0.10 s to 0.05 s (realistic); outputs do not depend on it. What was frozen before (a split
    run freezes what its workers inherit) stays frozen. ``frozen``: the caller knows something is
    frozen already (a forked split-run worker), so the count is not asked for: ``gc.get_freeze_count``
    walks the whole frozen list, about 5 ms a piece in a worker.
    """
    global _gc_runs, _gc_saved, _gc_thaw
    with _gc_lock:
        _gc_runs += 1
        if _gc_runs == 1:
            _gc_saved = gc.get_threshold()
            _gc_thaw = not frozen and gc.get_freeze_count() == 0
            if not _gc_thaw:
                # Nothing will thaw what is frozen now (a split-run worker inherits frozen objects and
                # freezes again for each piece): cyclic garbage frozen with it would never be freed.
                # Otherwise the pass thaws at its end, and a full collection here would only cost.
                gc.collect()
            gc.freeze()
            gc.set_threshold(max(RUN_GC_THRESHOLD, _gc_saved[0]) if _gc_saved[0] else 0, *_gc_saved[1:])
    try:
        yield
    finally:
        with _gc_lock:
            _gc_runs -= 1
            if _gc_runs == 0:
                gc.set_threshold(*_gc_saved)
                if _gc_thaw:
                    gc.unfreeze()
