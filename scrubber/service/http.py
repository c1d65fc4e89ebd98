"""``scrubber serve``: the HTTP service of the contract, on Starlette and uvicorn.

The event loop only receives bodies and sends answers; every scrub runs in a worker process (a
``ProcessPoolExecutor`` of ``--workers`` processes, each with its rules and code sets loaded), so a
large request never blocks the others. Bodies over the limit are refused by their Content-Length
before they are read, and while being read when they come without one.

Access log lines carry method, path, status, size and duration only: never a query string, a header
or a byte of the body, since those can hold claim content.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scrubber import __version__
from scrubber.api import Options, engine_for
from scrubber.service import jobs

#: ?output= value -> media type of the answer
OUTPUTS = {
    "report": "application/json",
    "277": "application/edi-x12",
    "accepted": "application/edi-x12",
    "html": "text/html; charset=utf-8",
    "worklist": "text/csv; charset=utf-8",
}
ROUTES = ("/v1/scrub", "/v1/rules", "/healthz", "/metrics")

access_log = logging.getLogger("scrubber.access")
log = logging.getLogger("scrubber.serve")


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (not the process-global one)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("scrubber_http_requests", "HTTP requests answered", ["method", "path", "status"],
                                registry=self.registry)
        self.duration = Histogram("scrubber_http_request_duration_seconds", "Time to answer a request", ["path"],
                                  registry=self.registry,
                                  buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
        self.claims = Counter("scrubber_claims_scrubbed", "Claims scrubbed", ["status"], registry=self.registry)
        self.rejected_by_edit = Counter("scrubber_claims_rejected_by_edit", "Claims rejected, by the edit that "
                                        "rejected them (a claim counts once per edit)", ["edit"], registry=self.registry)
        self.unusable = Counter("scrubber_inputs_unusable", "Request bodies refused as unusable input (422)",
                                registry=self.registry)

    def scrubbed(self, answer: jobs.Answer) -> None:
        if answer.status == 422:
            self.unusable.inc()
            return
        self.claims.labels("accepted").inc(answer.accepted)
        self.claims.labels("rejected").inc(answer.rejected)
        for edit, n in answer.rejected_by_edit.items():
            self.rejected_by_edit.labels(edit).inc(n)


@dataclass
class State:
    workers: int
    max_body: int
    options: Options = field(default_factory=Options)
    metrics: Metrics = field(default_factory=Metrics)
    pool: ProcessPoolExecutor | None = None
    ready: bool = False
    rules: list[dict[str, Any]] = field(default_factory=list)
    explained: dict[str, dict[str, Any]] = field(default_factory=dict)

    def new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the parent runs an event loop, and forking it is not safe.
        self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=jobs.warm, initargs=(self.options,))
        return self.pool

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a worker; a pool left broken by a killed worker is replaced for later requests."""
        pool = self.pool
        assert pool is not None
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        except BrokenProcessPool:
            if self.pool is pool:
                log.error("a scrubbing process died; starting a new pool")
                self.new_pool()
            raise


def _problem(status: int, error: str, where: str | None = None, **headers: str) -> JSONResponse:
    return JSONResponse({"error": error, "where": where}, status_code=status, headers=headers or None)


def _too_large(state: State) -> JSONResponse:
    limit = f"{state.max_body / (1 << 20):g} MiB"
    # The rest of the body is not read, so the connection cannot be reused.
    return _problem(413, f"request body over the limit of {limit} (--max-body-mb)", "body", Connection="close")


async def _read_body(request: Request, limit: int) -> bytearray | None:
    """The body, or None as soon as it is known to exceed ``limit`` (by header or while reading)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return body  # not copied to bytes: it is pickled to the worker as it is


def _safe_name(raw: str | None) -> str:
    """The report's input name from ``?name=`` (a file name only, no folders), else ``request``."""
    name = os.path.basename((raw or "").replace("\\", "/")).strip()
    return name[:200] if name and name not in (".", "..") else "request"


async def scrub(request: Request) -> Response:
    state: State = request.app.state.scrubber
    output = request.query_params.get("output", "report")
    if output not in OUTPUTS or not jobs.supports(output):
        choices = "|".join(o for o in OUTPUTS if jobs.supports(o))
        return _problem(400, f"output must be one of {choices}", "query")
    body = await _read_body(request, state.max_body)
    if body is None:
        return _too_large(state)
    if not state.ready:
        return _problem(503, "starting: rules and code sets are still loading", None, **{"Retry-After": "1"})
    try:
        answer: jobs.Answer = await state.run(jobs.scrub, body, output, _safe_name(request.query_params.get("name")))
    except BrokenProcessPool:
        return _problem(503, "a scrubbing process died (out of memory?); retry", None, **{"Retry-After": "1"})
    state.metrics.scrubbed(answer)
    if answer.error is not None:
        return JSONResponse(answer.error, status_code=answer.status)
    headers = {"X-Scrubber-Claims": str(answer.claims), "X-Scrubber-Accepted": str(answer.accepted),
               "X-Scrubber-Rejected": str(answer.rejected)}
    if answer.status == 204:
        return Response(status_code=204, headers=headers)
    return Response(answer.body, media_type=OUTPUTS[output], headers=headers)


async def rules(request: Request) -> Response:
    return JSONResponse(request.app.state.scrubber.rules)


async def rule(request: Request) -> Response:
    state: State = request.app.state.scrubber
    edit_id = request.path_params["edit_id"].upper()
    if edit_id not in state.explained:
        if not any(r["id"] == edit_id for r in state.rules):
            return _problem(404, f"no edit {edit_id!r}; GET /v1/rules lists them", "path")
        # explain runs the edit's examples through the engine: CPU work, so in a worker, once.
        state.explained[edit_id] = await state.run(jobs.explain, edit_id)
    return JSONResponse(state.explained[edit_id])


async def healthz(request: Request) -> Response:
    state: State = request.app.state.scrubber
    if not state.ready:
        return JSONResponse({"status": "starting", "version": __version__}, status_code=503)
    return JSONResponse({"status": "ok", "version": __version__, "workers": state.workers})


async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.scrubber.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _route_label(path: str) -> str:
    """The path as a metrics label: a template, so IDs in paths cannot grow the label set."""
    if path.startswith("/v1/rules/"):
        return "/v1/rules/{id}"
    return path if path in ROUTES else "other"


class AccessLog:
    """ASGI middleware: one log line and the request metrics for every HTTP request."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]],
                       send: Callable[[dict], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status, size = 500, 0

        async def counting_send(message: dict) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            took = time.perf_counter() - start
            label = _route_label(scope["path"])
            self.metrics.requests.labels(scope["method"], label, str(status)).inc()
            self.metrics.duration.labels(label).observe(took)
            access_log.info("%s %s %d %d %.3f", scope["method"], label if label == "other" else scope["path"],
                            status, size, took)


def create_app(workers: int = 1, max_body: int = 100 << 20, options: Options | None = None) -> Starlette:
    disable_created_metrics()  # the *_created series only double the scrape
    state = State(workers, max_body, options or Options())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from scrubber.explain import rule_rows

        state.rules = rule_rows(engine_for(state.options))
        pool = state.new_pool()
        loop = asyncio.get_running_loop()
        # One task per worker makes the pool start them all; each loads the engine first (initializer).
        warming = asyncio.gather(*(loop.run_in_executor(pool, jobs.ready) for _ in range(workers)))
        warming.add_done_callback(lambda f: _ready(state, f))
        try:
            yield
        finally:
            warming.cancel()
            if state.pool is not None:
                # uvicorn has let the running requests finish; queued work is dropped.
                state.pool.shutdown(wait=True, cancel_futures=True)

    app = Starlette(routes=[
        Route("/v1/scrub", scrub, methods=["POST"]),
        Route("/v1/rules", rules, methods=["GET"]),
        Route("/v1/rules/{edit_id}", rule, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ], lifespan=lifespan)
    app.state.scrubber = state
    app.add_middleware(AccessLog, metrics=state.metrics)
    return app


def _ready(state: State, fut: asyncio.Future) -> None:
    if fut.cancelled():
        return
    if fut.exception() is not None:
        log.error("worker processes failed to start: %s", type(fut.exception()).__name__)
        return
    state.ready = True
    log.info("ready: %d worker processes with rules and code sets loaded", state.workers)


def serve(host: str = "127.0.0.1", port: int = 8837, workers: int = 1, max_body: int = 100 << 20,
          options: Options | None = None) -> int:
    """Run until SIGINT/SIGTERM. Returns the exit status (2: the address cannot be used)."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sys.stderr.write(f"scrubber: cannot listen on {host}:{port} ({exc.strerror or exc})\n")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    log.info("scrubber %s listening on http://%s:%d (%d workers, bodies up to %g MiB)", __version__, host,
             sock.getsockname()[1], workers, max_body / (1 << 20))
    config = uvicorn.Config(create_app(workers, max_body, options), access_log=False, log_config=None,
                            timeout_graceful_shutdown=30)
    # uvicorn stops gracefully on SIGINT/SIGTERM and then re-raises the signal; a requested stop is a
    # clean exit (status 0) for process supervisors, not a death by signal.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stopped)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _stopped(signum: int, frame: Any) -> None:
    raise SystemExit(0)
