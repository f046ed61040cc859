"""Process lifecycle: SIGTERM drains without losing accepted requests; a full queue says 503.

The SIGTERM tests run against every runtime (`bentoml serve` included); queueing and
configuration errors are the default runtime's own behaviour.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from . import loadgen
from .conftest import require_runtime
from .server import RUNTIME_NAMES, ServerProcess


def raw_request(port: int, path: str, body: bytes) -> socket.socket:
    """Open a connection and send the headers and all but the last byte of the body."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body[:-1])
    return sock


def finish(sock: socket.socket, body: bytes) -> tuple[int, dict[str, Any]]:
    sock.sendall(body[-1:])
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    sock.close()
    head, payload = data.split(b"\r\n\r\n", 1)
    return int(head.split()[1]), json.loads(payload)


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


@pytest.mark.parametrize("runtime", RUNTIME_NAMES)
@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_finishes_in_flight_requests_then_exits_0(
    churn_dir: Path, tmp_path: Path, workers: str, sample: dict[str, Any], runtime: str
) -> None:
    require_runtime(runtime)
    server = ServerProcess(churn_dir, tmp_path, runtime=runtime, WORKERS=workers).start()
    try:
        body = json.dumps({"instances": sample["inputs"]}).encode()
        pending = [raw_request(server.port, "/v1/models/churn:predict", body) for _ in range(4)]
        time.sleep(0.3)  # the server has accepted the connections and read the headers
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        for sock in pending:
            status, answer = finish(sock, body)
            assert status == 200
            assert answer["predictions"] == sample["predictions"]
        assert server.proc.wait(timeout=30) == 0
    finally:
        server.stop()


@pytest.mark.parametrize("runtime", RUNTIME_NAMES)
def test_sigterm_under_load_loses_no_accepted_request(
    churn_dir: Path, tmp_path: Path, sample: dict[str, Any], runtime: str
) -> None:
    """A second process keeps 8 connections busy; SIGTERM lands mid-load. A request is
    accepted when the server logged its X-Request-Id: each of those was answered 200, and
    every failure the client saw is an id the server never logged (loadgen.verdict)."""
    require_runtime(runtime)
    server = ServerProcess(churn_dir, tmp_path / "server", runtime=runtime, WORKERS="2").start()
    body = json.dumps({"instances": sample["inputs"][:1]}).encode()
    load = loadgen.start(
        server.url, "/v1/models/churn:predict", body, tmp_path / "load", seconds=20, max=6000
    )
    try:
        load.wait_for(200)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        code = server.proc.wait(timeout=30)
        outcomes = load.outcomes(timeout=30)
    finally:
        load.stop()
        server.stop()
    assert code == 0
    result = loadgen.verdict(
        outcomes, loadgen.logged_requests(server.stdout()), sample["predictions"][:1]
    )
    assert result.problems == []
    assert result.answered >= 200
    assert result.never_accepted > 0, "the load went on until the server was gone"


def test_full_queue_answers_503_with_retry_after(
    churn_dir: Path, tmp_path: Path, sample: dict[str, Any]
) -> None:
    server = ServerProcess(
        churn_dir, tmp_path, MAX_QUEUE="1", MAX_BATCH="1", ACCESS_LOG="false"
    ).start()
    try:
        body = {"instances": sample["inputs"] * 100}

        def call(_: int) -> httpx.Response:
            return httpx.post(f"{server.url}/v1/models/churn:predict", json=body, timeout=60)

        with ThreadPoolExecutor(32) as pool:
            responses = list(pool.map(call, range(64)))
        statuses = {r.status_code for r in responses}
        assert statuses <= {200, 503}
        assert 503 in statuses
        refused = next(r for r in responses if r.status_code == 503)
        assert refused.headers["retry-after"] == "1"
        assert "queue is full" in refused.json()["error"]
        assert httpx.get(f"{server.url}/readyz").status_code == 200
    finally:
        server.stop()


def test_bad_model_dir_exits_with_a_clear_error(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "missing", tmp_path / "logs")
    with pytest.raises(RuntimeError, match=r"signature\.json does not exist"):
        server.start(timeout=30)
    server.stop()
