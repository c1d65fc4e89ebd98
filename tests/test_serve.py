"""``scrubber serve`` as clients meet it: the real server in a subprocess on a loopback port, real HTTP.

Covers every output (277CA and accepted 837 validated with pyx12), the count headers, 422 with the
CLI's message, 413 by Content-Length and while reading a chunked body, ten concurrent requests
that each get their own answer, a large request that does not hold up small ones, the rules and
explain endpoints against the CLI's JSON, /healthz, /metrics and the access log.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES
from oracle import assert_valid_277, assert_valid_837

pytest.importorskip("uvicorn")
pytest.importorskip("starlette")
from prometheus_client.parser import text_string_to_metric_families

from scrubber.api import scrub_bytes, scrub_file
from scrubber.reports import claims as claims_of
from scrubber.synth import file_837

LIMIT_MB = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, tmp: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "serve.log"
        self._log_fh = open(self.log, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "scrubber", "serve", "--port", str(self.port), *args],
                                     stdout=self._log_fh, stderr=subprocess.STDOUT)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                status, _h, body = self.get("/healthz")
                if status == 200:
                    assert json.loads(body)["status"] == "ok"
                    return
                assert status == 503 and json.loads(body)["status"] == "starting"
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("server not ready:\n" + self.log.read_text())

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read()

    def get(self, path: str) -> tuple[int, Any, bytes]:
        return self.request("GET", path)

    def scrub(self, body: bytes, output: str | None = None) -> tuple[int, Any, bytes]:
        return self.request("POST", "/v1/scrub" + (f"?output={output}" if output else ""), body)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        self._log_fh.close()
        return code


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("serve"), "--workers", "2", "--max-body-mb", str(LIMIT_MB))
    yield srv
    assert srv.stop() == 0, srv.log.read_text()


MIXED = (FIXTURES / "mixed.837").read_bytes()


def test_every_output_of_a_scrub_with_its_count_headers(server: Server) -> None:
    status, headers, body = server.scrub(MIXED)
    assert status == 200 and headers["Content-Type"] == "application/json"
    report = json.loads(body)
    assert (report["claims_total"], report["accepted"], report["rejected"]) == (9, 3, 6)
    assert (headers["X-Scrubber-Claims"], headers["X-Scrubber-Accepted"], headers["X-Scrubber-Rejected"]) == ("9", "3", "6")

    status, headers, body = server.scrub(MIXED, "277")
    assert status == 200 and headers["Content-Type"] == "application/edi-x12"
    assert_valid_277(body.decode("latin-1"))
    assert body.count(b"STC*A1:20") == 3 and headers["X-Scrubber-Rejected"] == "6"

    status, headers, body = server.scrub(MIXED, "accepted")
    assert status == 200 and headers["Content-Type"] == "application/edi-x12"
    assert_valid_837(body.decode("latin-1"))
    local = scrub_file(FIXTURES / "mixed.837").accepted_837()
    assert body == (local if isinstance(local, bytes) else local.encode("latin-1"))  # byte-exact

    status, headers, body = server.scrub(MIXED, "html")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert body.lstrip().lower().startswith(b"<!doctype html") and b"X12-CLAIM-BALANCE" in body

    status, headers, body = server.scrub(MIXED, "worklist")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    assert rows[0][:5] == ["claim_id", "payer_id", "line", "code", "edit"]
    assert len(rows) - 1 == sum(len(c["findings"]) for c in claims_of(report))  # one row per finding

    status, _h, body = server.scrub(MIXED, "pdf")
    assert status == 400 and "report|277|accepted" in json.loads(body)["error"]


def test_no_claim_accepted_is_204_for_the_accepted_837(server: Server) -> None:
    data = file_837([{"id": "R1", "charge": "1.00"}]).encode("latin-1")
    status, headers, body = server.scrub(data, "accepted")
    assert (status, body, headers["X-Scrubber-Accepted"], headers["X-Scrubber-Rejected"]) == (204, b"", "0", "1")


def test_unusable_input_is_422_with_the_clis_message(server: Server, tmp_path: Path) -> None:
    cut = MIXED[: MIXED.index(b"GE*")]  # ends inside the interchange
    for data in (b"PK\x03\x04 not x12 at all", cut, b""):
        status, headers, body = server.scrub(data)
        assert status == 422 and headers["Content-Type"] == "application/json"
        answer = json.loads(body)
        assert set(answer) == {"error", "where"} and answer["error"]
        src = tmp_path / "bad.837"
        src.write_bytes(data)
        cli = subprocess.run([sys.executable, "-m", "scrubber", "scrub", str(src), "-o", str(tmp_path / "o")],
                             capture_output=True, timeout=60)
        assert cli.returncode == 2
        line = cli.stderr.decode().strip()
        assert answer["error"] in line and (answer["where"] is None or answer["where"] in line), (answer, line)


def test_ten_concurrent_requests_each_get_their_own_answer(server: Server) -> None:
    bodies = [file_837([{"id": f"K{i}C{j}", "charge": "1.00" if j < i % 3 else "100.00"} for j in range(5 + i)],
                       control=i + 1).encode("latin-1") for i in range(10)]
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda b: server.scrub(b), bodies))
    for i, (status, headers, body) in enumerate(answers):
        assert status == 200
        report = json.loads(body)
        assert {c["claim_id"] for c in claims_of(report)} == {f"K{i}C{j}" for j in range(5 + i)}
        local = scrub_bytes(bodies[i]).summary  # the same scrub in this process
        assert (headers["X-Scrubber-Claims"], headers["X-Scrubber-Rejected"]) == (str(local.claims), str(local.rejected))
        assert report["rejected"] == local.rejected


def test_a_large_request_does_not_hold_up_small_ones(server: Server) -> None:
    big = file_837([{"id": f"B{j}", "dx": ["G24.3"], "lines": [{"code": "64616", "charge": "100.00"}],
                     "charge": "100.00"} for j in range(18000)]).encode("latin-1")
    assert 2 << 20 < len(big) < LIMIT_MB << 20
    finished: dict[str, float] = {}

    def send(label: str, data: bytes) -> int:
        status = server.scrub(data, "277")[0]
        finished[label] = time.monotonic()
        return status

    with ThreadPoolExecutor(6) as pool:
        big_done = pool.submit(send, "big", big)
        time.sleep(0.3)  # the big body is in a worker by now
        small = [pool.submit(send, f"small{i}", MIXED) for i in range(5)]
        assert [f.result() for f in small] == [200] * 5
        assert big_done.result() == 200
    assert max(finished[f"small{i}"] for i in range(5)) < finished["big"]


def test_a_body_over_the_limit_is_413_before_it_is_read(server: Server) -> None:
    # Content-Length over the limit: the answer comes without the body being sent at all.
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(f"POST /v1/scrub HTTP/1.1\r\nHost: x\r\nContent-Length: {(LIMIT_MB << 20) + 1}\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):  # the server closes the connection after a 413
            answer += chunk
    head = answer.decode("latin-1")
    assert head.startswith("HTTP/1.1 413") and "connection: close" in head.lower(), head
    assert json.loads(head.split("\r\n\r\n", 1)[1])["where"] == "body"


def test_a_chunked_body_is_cut_off_at_the_limit(server: Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    size = (LIMIT_MB << 20) + (256 << 10)
    conn.request("POST", "/v1/scrub", body=iter([b"ISA" + b"x" * (64 << 10)] * (size // (64 << 10))),
                 encode_chunked=True)
    resp = conn.getresponse()
    assert resp.status == 413 and b"over the limit" in resp.read()
    conn.close()
    assert server.get("/healthz")[0] == 200  # and the server carries on


def test_rules_and_explain_as_the_cli_gives_them(server: Server) -> None:
    status, _h, body = server.get("/v1/rules")
    cli = subprocess.run([sys.executable, "-m", "scrubber", "rules", "--json"], capture_output=True, timeout=60)
    assert status == 200 and json.loads(body) == json.loads(cli.stdout)
    status, _h, body = server.get("/v1/rules/x12-units")
    cli = subprocess.run([sys.executable, "-m", "scrubber", "explain", "X12-UNITS", "--json"], capture_output=True,
                         timeout=60)
    explained = json.loads(body)
    assert status == 200 and explained == json.loads(cli.stdout)
    assert explained["examples"]["fail"]["findings"] and not explained["examples"]["pass"]["findings"]
    status, _h, body = server.get("/v1/rules/NO-SUCH-EDIT")
    assert status == 404 and "NO-SUCH-EDIT" in json.loads(body)["error"]


def _metrics(server: Server) -> dict[tuple[str, tuple], float]:
    status, headers, body = server.get("/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(body.decode()) for s in fam.samples}


def test_metrics_count_requests_claims_and_rejections_by_edit(server: Server) -> None:
    before = _metrics(server)
    units = file_837([{"id": "U1", "lines": [{"code": "99213", "units": "0"}]}]).encode("latin-1")
    for data in (MIXED, MIXED, units, b"not x12"):
        server.scrub(data)
    after = _metrics(server)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("scrubber_claims_scrubbed_total", status="accepted") == 6
    assert delta("scrubber_claims_scrubbed_total", status="rejected") == 13
    assert delta("scrubber_claims_rejected_by_edit_total", edit="X12-UNITS") == 3
    assert delta("scrubber_claims_rejected_by_edit_total", edit="X12-CLAIM-BALANCE") == 2
    assert delta("scrubber_inputs_unusable_total") == 1
    assert delta("scrubber_http_requests_total", method="POST", path="/v1/scrub", status="200") == 3
    assert delta("scrubber_http_requests_total", method="POST", path="/v1/scrub", status="422") == 1
    assert delta("scrubber_http_request_duration_seconds_count", path="/v1/scrub") == 4


def test_access_log_has_no_claim_content(server: Server) -> None:
    server.scrub(MIXED)
    server.scrub(MIXED + b"garbage after")
    time.sleep(0.2)
    log = server.log.read_text(encoding="utf-8", errors="replace")
    access = [ln for ln in log.splitlines() if " scrubber.access " in ln]
    assert access
    for ln in access:
        assert re.fullmatch(r"\S+ \S+ scrubber\.access (GET|POST) (/\S*|other) \d{3} \d+ \d+\.\d{3}", ln), ln
    # nothing of the claims anywhere in the server's output: claim ids, member ids, names, codes
    text = MIXED.decode("latin-1")
    clm01 = re.findall(r"~\s*CLM\*([^*]+)", text)
    names = re.findall(r"NM1\*IL\*1\*([^*]+)\*([^*]+)", text)
    assert clm01 and names
    for value in [*clm01, *(n for pair in names for n in pair)]:
        assert value not in log, value


def test_serve_without_the_extra_gives_a_one_line_hint() -> None:
    code = "import sys; sys.modules['uvicorn'] = None; from scrubber.cli import main; sys.exit(main(['serve']))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.decode().strip().splitlines() == [
        "scrubber: serve needs the serve extra (uvicorn is missing): pip install 'scrubber[serve]'"]


def test_a_port_in_use_is_a_one_line_error(server: Server) -> None:
    proc = subprocess.run([sys.executable, "-m", "scrubber", "serve", "--port", str(server.port)],
                          capture_output=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.decode().count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{server.port}" in proc.stderr.decode()


def test_workers_exit_with_a_killed_server(tmp_path: Path) -> None:
    srv = Server(tmp_path, "--workers", "1")
    children = subprocess.run(["pgrep", "-P", str(srv.proc.pid)], capture_output=True, text=True).stdout.split()
    assert children
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(10)
    end = time.monotonic() + 10
    while time.monotonic() < end and any(Path(f"/proc/{c}").exists() for c in children):
        time.sleep(0.2)
    assert not any(Path(f"/proc/{c}").exists() and "zombie" not in Path(f"/proc/{c}/status").read_text().lower()
                   for c in children)


def test_rule_control_reaches_the_workers(tmp_path: Path) -> None:
    srv = Server(tmp_path, "--workers", "1", "--disable", "X12-UNITS", "--no-config")
    try:
        rules = {r["id"]: r for r in json.loads(srv.get("/v1/rules")[2])}
        assert rules["X12-UNITS"]["enabled"] is False and rules["X12-UNITS"]["configured"] is True
        units = file_837([{"id": "U1", "lines": [{"code": "99213", "units": "0"}]}]).encode("latin-1")
        report = json.loads(srv.scrub(units)[2])
        assert "X12-UNITS" not in {f["edit"] for c in claims_of(report) for f in c["findings"]}
        assert "X12-UNITS" in {f.edit for c in scrub_bytes(units).claims for f in c.findings}  # on by default
    finally:
        assert srv.stop() == 0
