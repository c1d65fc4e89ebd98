"""Load on ``scrubber serve``: C clients POST one file for S seconds; requests/s and latency.

    python bench/serve_load.py fixtures/mixed.837 --clients 10 --seconds 10 --workers 2 [--output 277]

Starts the server on a free loopback port (``--url`` uses a running one instead), waits for /healthz,
then each client thread sends the file over one keep-alive connection, again and again.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from urllib.parse import urlsplit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if json.load(r)["status"] == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("server did not become ready")


def client(url: str, body: bytes, output: str, until: float, latencies: list[float], claims: list[int]) -> None:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    while time.monotonic() < until:
        start = time.perf_counter()
        conn.request("POST", f"/v1/scrub?output={output}", body)
        resp = conn.getresponse()
        resp.read()
        if resp.status not in (200, 204):
            raise SystemExit(f"status {resp.status}")
        latencies.append(time.perf_counter() - start)
        claims.append(int(resp.headers["X-Scrubber-Claims"]))
    conn.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--output", default="report")
    ap.add_argument("--url", help="a running server (default: start one)")
    args = ap.parse_args()
    body = open(args.file, "rb").read()
    proc = None
    url = args.url
    if url is None:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen([sys.executable, "-m", "scrubber", "serve", "--port", str(port), "--workers",
                                 str(args.workers)], stderr=subprocess.DEVNULL)
    try:
        wait_ready(url)
        latencies: list[float] = []
        claims: list[int] = []
        until = time.monotonic() + args.seconds
        start = time.perf_counter()
        threads = [threading.Thread(target=client, args=(url, body, args.output, until, latencies, claims))
                   for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.perf_counter() - start
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
    latencies.sort()
    print(f"{len(latencies)} requests in {took:.1f} s with {args.clients} clients, {args.workers} workers: "
          f"{len(latencies) / took:.0f} requests/s, {sum(claims) / took:,.0f} claims/s; latency median "
          f"{statistics.median(latencies) * 1000:.1f} ms, p95 {latencies[int(len(latencies) * 0.95)] * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
