"""Worker processes that stop promptly and cleanly on Ctrl-C.

Ctrl-C reaches every process of the terminal's group. A stock ProcessPoolExecutor worker would die
with a traceback when idle, or hand the interrupt back and start its next queued input. Ours note
the interrupt: a scrub under way is interrupted (its outputs are not committed), queued ones return
at once without touching the output folder, and an idle worker just waits to be shut down.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a pool is made: a one-process run does without (about 10 ms of start-up)
    from concurrent.futures import Future, ProcessPoolExecutor

_stopping = False
_busy = False
_ending = False  # SIGTERM arrived during work: the process ends once the work has unwound


def _on_interrupt(signum: int, frame: object) -> None:
    global _stopping, _ending
    first = not _stopping
    _stopping = True
    if signum == signal.SIGTERM:
        # The executor ends the workers of a broken pool with SIGTERM, and waits for them: one
        # that is handing back a result (not busy) would otherwise block on the pipe for ever, and
        # one at work, interrupted, would wait for more work. It ends (at once, or once the work
        # has unwound: its files closed, nothing committed).
        if not _busy:
            os._exit(128 + signal.SIGTERM)
        _ending = True
    if first and _busy:
        raise KeyboardInterrupt


_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM held (in this thread, and in processes forked in it) until the end; they
    act right after."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _init_worker() -> None:
    global _stopping, _busy, _ending
    # A forked worker starts with the parent's flags, and the parent may be inside interruptible()
    # (one file scrubbed over workers): the worker is idle and not stopping until told so.
    _stopping = _busy = _ending = False
    signal.signal(signal.SIGINT, _on_interrupt)
    signal.signal(signal.SIGTERM, _on_interrupt)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)  # held by process_pool while forking


def _ready() -> None:
    """A task that does nothing: submitted first, it makes the executor fork its workers."""


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool whose workers exist when it is returned, forked with Ctrl-C and SIGTERM held: one
    arriving between a fork and the worker's handler would end the worker with a traceback and
    break the pool; held, it waits for the handler (and, in the parent, for the fork to be done)."""
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(workers, initializer=_init_worker)
    with signals_held():
        pool.submit(_ready)  # with the fork start method, the first submit forks every worker
    return pool


def stopping() -> bool:
    """True in a worker once an interrupt arrived: queued work should return at once."""
    return _stopping


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Work that an interrupt may cut short (it then raises KeyboardInterrupt inside)."""
    global _busy
    _busy = True
    try:
        yield
    finally:
        _busy = False
        if _ending:
            os._exit(128 + signal.SIGTERM)


def stop(pool: ProcessPoolExecutor, futures: list[Future]) -> None:
    """After Ctrl-C in the parent: cancel what has not started and pass the interrupt on.

    A terminal's Ctrl-C has reached the workers already; an interrupt sent to the parent alone
    (``kill -INT``) has not, so it is forwarded.
    """
    for fut in futures:
        fut.cancel()
    for proc in list(getattr(pool, "_processes", {}).values()):  # the executor keeps no public list
        with contextlib.suppress(OSError):
            os.kill(proc.pid, signal.SIGINT)
    pool.shutdown(wait=True, cancel_futures=True)
