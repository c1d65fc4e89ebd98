"""What the HTTP service's worker processes run: one scrub of a request body, one ``explain``.

Kept free of web imports so a worker process loads only the scrubber. Each worker holds one Engine
for the server's options (payer registry, rule configuration, NCCI tables; rules, tables and code
sets loaded once), rebuilt when the day changes since edits judge "today".
"""

from __future__ import annotations

import datetime as dt
import io
import os
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from scrubber.api import OUTPUT_KEYS, Options, engine_for, scrub_to_dir
from scrubber.engine import Engine
from scrubber.errors import InputError

_options = Options()
_engine: Engine | None = None
_engine_day: dt.date | None = None


def engine() -> Engine:
    global _engine, _engine_day
    today = dt.date.today()
    if _engine is None or _engine_day != today:
        _engine, _engine_day = engine_for(_options), today
    return _engine


def warm(options: Options | None = None) -> None:
    """Process initializer: take the server's options, load rules and code sets before a request needs them."""
    global _options
    from scrubber.synth import file_837

    _options = options or Options()
    _exit_with_parent()
    scrub(file_837([{"id": "WARM1"}]).encode("latin-1"), "report", "warm-up")


def _exit_with_parent() -> None:
    """A worker whose server is gone (killed, crashed) exits instead of idling forever.

    A spawned pool worker holds both ends of its task queue, so it never sees the parent's end close.
    """
    parent = os.getppid()

    def check() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=check, name="exit-with-parent", daemon=True).start()


def ready() -> int:
    return os.getpid()


@dataclass(slots=True)
class Answer:
    """A scrub's outcome as the service needs it: the requested output, counts for headers and metrics."""

    status: int
    body: bytes = b""
    claims: int = 0
    accepted: int = 0
    rejected: int = 0
    rejected_by_edit: dict[str, int] = field(default_factory=dict)
    error: dict[str, Any] | None = None


def where(exc: InputError) -> str | None:
    parts = [f"byte {exc.offset}"] if exc.offset is not None else []
    if exc.segment is not None:
        parts.append(f"segment {exc.segment}")
    return ", ".join(parts) or None


def scrub(data: bytes | bytearray, output: str, name: str) -> Answer:
    """Scrub ``data``; the answer's body is the one output asked for (OUTPUT_KEYS), nothing else is kept."""
    out = io.BytesIO()
    try:
        summary = scrub_to_dir(io.BytesIO(data), None, name=name, options=replace(_options, html=output == "html"),
                               engine=engine(), stream=(output, out))
    except InputError as exc:
        return Answer(422, error={"error": exc.message, "where": where(exc)})
    except Exception as exc:  # never a traceback, never claim content, back to the client
        return Answer(500, error={"error": f"unexpected {type(exc).__name__} while scrubbing", "where": None})
    body = out.getvalue()
    status = 204 if not body and OUTPUT_KEYS[output] == "837" else 200  # no claim accepted: nothing to send
    return Answer(status, body, summary.claims, summary.accepted, summary.rejected, dict(summary.rejected_by_edit))


def explain(edit_id: str) -> dict[str, Any] | None:
    from scrubber.explain import explain_data

    try:
        return explain_data(edit_id)
    except KeyError:
        return None


def supports(output: str) -> bool:
    """Whether this build writes ``output`` (``?output=``); the worklist comes with its writer."""
    return output in OUTPUT_KEYS
