"""Scrubbing many inputs at once: a local process pool, or a dask.distributed cluster.

Each input is scrubbed whole by one worker with ``scrub_to_dir`` (pure per file: no shared state),
so the outputs are the same files a single-process run writes. On a cluster the workers write into
``outdir`` themselves: the inputs and the output folder must be on storage every worker sees.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from scrubber.api import Options, scrub_to_dir
from scrubber.commit import show_path
from scrubber.errors import InputError, OutputError
from scrubber.pool import interruptible, process_pool, stop, stopping
from scrubber.runparts import Summary

#: (input label, summary or None, one-line error)
Outcome = tuple[str, "Summary | None", str]
#: how an output-folder error starts: it is not about the input, so it is shown without its label
OUTPUT_FOLDER = "output folder "


def scrub_one(path: str, outdir: str | None, options: Options, *, stream: Any = None) -> Outcome:
    """Scrub one input, turning every failure into a one-line reason (never a traceback).

    ``stream``: as for ``scrub_to_dir`` (filter mode).
    """
    label = "stdin" if path == "-" else show_path(path)
    if stopping():
        return label, None, "interrupted before it started; nothing written"
    try:
        with interruptible():
            return label, scrub_to_dir(path, outdir, options=options, stream=stream), ""
    except InputError as exc:
        return label, None, str(exc)
    except OutputError as exc:
        return label, None, str(exc) if label in str(exc) else f"{exc}; input {label} not scrubbed"
    except KeyboardInterrupt:
        if stopping():  # in a worker: report it; the parent stops the run
            return label, None, "interrupted; its earlier outputs are unchanged"
        raise
    except OSError as exc:
        return label, None, f"cannot scrub ({exc.strerror or type(exc).__name__})"
    except Exception as exc:  # a bad file must never end in a traceback
        if os.environ.get("SCRUBBER_DEBUG"):
            raise
        return label, None, f"unexpected {type(exc).__name__} while scrubbing (SCRUBBER_DEBUG=1 shows where)"


def error_line(label: str, error: str) -> str:
    """The stderr line for a failed input: output-folder problems name the folder, not the input."""
    return error if error.startswith(OUTPUT_FOLDER) else f"{label}: {error}"


def scrub_files(paths: Sequence[str], outdir: str, options: Options, *, jobs: int = 1,
                done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Scrub ``paths`` with up to ``jobs`` processes; outcomes in the order of ``paths``.

    Ctrl-C stops the run promptly: queued inputs are cancelled, inputs under way are interrupted
    (their outputs not committed), and KeyboardInterrupt propagates.
    """
    jobs = max(1, min(jobs, len(paths)))
    if jobs == 1 or "-" in paths:
        out = []
        for p in paths:
            out.append(scrub_one(p, outdir, options))
            if done:
                done(out[-1])
        return out
    from concurrent.futures import as_completed

    results: dict[int, Outcome] = {}
    pool = process_pool(jobs)
    futures = {pool.submit(scrub_one, p, outdir, options): i for i, p in enumerate(paths)}
    try:
        for fut in as_completed(futures):
            results[futures[fut]] = fut.result()
            if done:
                done(results[futures[fut]])
    except BaseException:
        stop(pool, list(futures))
        raise
    pool.shutdown()
    return [results[i] for i in range(len(paths))]


def scrub_on_dask(client: Any, paths: Sequence[str], outdir: str, options: Options | None = None, *,
                  done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Scrub ``paths`` on a ``dask.distributed`` cluster; outcomes in the order of ``paths``.

    >>> from distributed import Client
    >>> outcomes = scrub_on_dask(Client("tcp://scheduler:8786"), ["/shared/in/a.837"], "/shared/out")
    """
    from distributed import as_completed as dask_completed

    options = options or Options()
    futures = client.map(scrub_one, list(paths), [outdir] * len(paths), [options] * len(paths), pure=False)
    index = {f.key: i for i, f in enumerate(futures)}
    results: dict[int, Outcome] = {}
    for fut in dask_completed(futures):
        results[index[fut.key]] = fut.result()
        if done:
            done(results[index[fut.key]])
    return [results[i] for i in range(len(paths))]
