"""The worker pool: a broken pool never leaves the parent waiting for a worker."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# A result the parent cannot rebuild breaks the pool; the executor then ends its workers with
# SIGTERM and waits for them. A worker still handing back a large result (1 MiB, more than a pipe
# holds) must go, not block on the pipe: before the fix this script never ended.
_SCRIPT = textwrap.dedent('''
    import sys
    from concurrent.futures.process import BrokenProcessPool
    from scrubber.pool import process_pool, stop

    def _refuse(*args):
        raise RuntimeError("not rebuilt in the parent")

    class Unreadable:
        def __init__(self, payload):
            self.payload = payload

        def __reduce__(self):
            return (_refuse, (self.payload,))

    def make(n):
        return Unreadable("x" * n)

    if __name__ == "__main__":
        pool = process_pool(2)
        futures = [pool.submit(make, 1 << 20) for _ in range(4)]
        try:
            futures[-1].result()
        except BrokenProcessPool:
            print("broken")
        stop(pool, futures)
        print("stopped")
''')


def _broken_then_stopped(tmp_path, text: str, timeout: int) -> None:
    script = tmp_path / "broken_pool.py"
    script.write_text(text)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=timeout,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["broken", "stopped"]


def test_a_broken_pool_stops_instead_of_waiting_for_ever(tmp_path) -> None:
    _broken_then_stopped(tmp_path, _SCRIPT, 120)


# The same with the other worker in the middle of its work (inside ``interruptible``) when the pool
# breaks: the executor's SIGTERM must end it too, not merely interrupt the work and leave it waiting
# for more (the parent would join it for ever).
_BUSY = _SCRIPT.replace("def make(n):", """def busy(seconds):
    import time
    from scrubber.pool import interruptible
    with interruptible():
        time.sleep(seconds)
    return "slept"

def make(n):""").replace("futures = [pool.submit(make, 1 << 20) for _ in range(4)]",
                         "futures = [pool.submit(busy, 60), pool.submit(make, 10)]")


def test_a_broken_pool_ends_a_busy_worker_too(tmp_path) -> None:
    assert "def busy(seconds)" in _BUSY and "submit(busy, 60)" in _BUSY
    _broken_then_stopped(tmp_path, _BUSY, 45)


def _flags() -> tuple[bool, bool, bool]:
    from scrubber import pool

    return pool._busy, pool._stopping, pool._ending


def test_a_worker_forked_inside_interruptible_starts_idle() -> None:
    # One file over workers: the parent scrubs inside interruptible() when it forks them. A worker
    # that kept the parent's "busy" raised KeyboardInterrupt on Ctrl-C while idle (a traceback on
    # stderr and a broken pool instead of "interrupted").
    from scrubber.pool import interruptible, process_pool

    with interruptible():
        pool = process_pool(1)
        try:
            assert pool.submit(_flags).result(timeout=60) == (False, False, False)
        finally:
            pool.shutdown()
