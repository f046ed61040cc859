"""The webhook server against clients that send nonsense, stall, or come in crowds, and the
modes of what it writes (issue #13, item 7). Raw requests on real sockets to the real server.
"""

from __future__ import annotations

import json
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from trigger_support import (
    Server,
    read_all,
    serving,
    status_of,
    wait_for,
)

SETTINGS = {"state_dir": "state/webhook", "max_body_bytes": 1000, "max_connections": 3,
            "read_timeout": 1}  # fmt: skip


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    umask = getattr(request, "param", -1)
    with serving(tmp_path, {"churn": {}}, settings=SETTINGS, umask=umask) as srv:
        yield srv


def post(length_lines: bytes, body: bytes = b"{}") -> bytes:
    return b"POST /hooks/churn HTTP/1.1\r\nHost: x\r\n" + length_lines + b"\r\n" + body


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (b"Content-Length: \xb2\r\n", 400),  # a Unicode digit: int() would take it
        (b"Content-Length: \xd9\xa2\r\n", 400),
        (b"Content-Length: 1_0\r\n", 400),
        (b"Content-Length: +2\r\n", 400),
        (b"Content-Length: -1\r\n", 400),
        (b"Content-Length: 0x2\r\n", 400),
        (b"Content-Length: 2\r\nContent-Length: 3\r\n", 400),
        (b"Content-Length: 9999999999999999999999\r\n", 400),
        (b"Content-Length: 1001\r\n", 413),
        (b"Transfer-Encoding: chunked\r\n", 411),
        (b"", 411),
    ],
    ids=lambda v: repr(v)[:40] if isinstance(v, bytes) else str(v),
)
def test_content_length_is_ascii_digits_within_the_limit(
    server: Server, headers: bytes, status: int
) -> None:
    answer = server.raw(post(headers))
    assert status_of(answer) == status, answer[:300]
    assert server.get("/healthz") == {"status": "ok"}


def test_a_stalled_upload_is_cut_off_after_read_timeout(server: Server) -> None:
    with socket.create_connection(server.address, timeout=10) as sock:
        sock.sendall(post(b"Content-Length: 100\r\n", b'{"ref": '))
        started = time.monotonic()
        read_all(sock)  # the server closes the connection
        assert time.monotonic() - started < 5


def test_headers_trickling_in_are_cut_off_after_read_timeout(server: Server) -> None:
    request = post(b"Content-Length: 2\r\n" + b"X-Slow: a\r\n" * 20)
    with socket.create_connection(server.address, timeout=10) as sock:
        started = time.monotonic()
        cut_off = False
        for byte in request:  # one byte every 0.1 s: each read is quick, the whole is not
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                cut_off = True
                break
            time.sleep(0.1)
            if time.monotonic() - started > 5:
                break
        assert cut_off or read_all(sock) == b"", "the server still reads after 5 s"
    assert time.monotonic() - started < 5


def test_requests_beyond_max_connections_get_503_until_slots_free(server: Server) -> None:
    stalled = [socket.create_connection(server.address, timeout=10) for _ in range(3)]
    try:
        wait_for(lambda: status_of(server.raw(b"GET /healthz HTTP/1.0\r\n\r\n")) == 503,
                 "the fourth request to be refused", timeout=1)  # fmt: skip
        answer = server.raw(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert status_of(answer) == 503
        assert b"Retry-After: 1" in answer
    finally:
        for sock in stalled:
            sock.close()
    wait_for(lambda: status_of(server.raw(b"GET /healthz HTTP/1.0\r\n\r\n")) == 200, "a slot")


def test_garbage_paths_and_build_ids_are_4xx(server: Server) -> None:
    for path in (b"/builds/\xc2\xb2", b"/builds/" + b"9" * 40, b"/builds/-1", b"/../etc"):
        answer = server.raw(b"GET " + path + b" HTTP/1.0\r\n\r\n")
        assert status_of(answer) == 404, (path, answer[:200])
    assert server.get("/healthz") == {"status": "ok"}


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        (b"PUT /hooks/churn HTTP/1.1", 405),
        (b"DELETE /builds/1 HTTP/1.1", 405),
        (b"HEAD /builds HTTP/1.1", 405),
        (b"BREW /pot HTTP/1.1", 501),
        (b"GET", 400),
        (b"GET /" + b"x" * 70000 + b" HTTP/1.1", 414),
    ],
)
def test_requests_the_server_does_not_serve_get_a_json_answer(
    server: Server, request_line: bytes, status: int
) -> None:
    answer = server.raw(request_line + b"\r\nHost: x\r\n\r\n")
    assert status_of(answer) == status, answer[:200]
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"application/json" in head
    if request_line.startswith(b"HEAD"):
        return
    assert "error" in json.loads(body)
    assert server.get("/healthz") == {"status": "ok"}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("server", [0o000], indirect=True, ids=["umask=000"])
def test_state_is_private_to_its_owner_whatever_the_umask(server: Server) -> None:
    server.deliver(server.shas[2])
    (server.tmp / "gate").touch()
    wait_for(lambda: [b["status"] for b in server.get("/builds")["builds"]] == ["succeeded"],
             "the build")  # fmt: skip
    state = server.tmp / "state"
    folders = [state, *(f for f in state.rglob("*") if f.is_dir())]
    files = [f for f in state.rglob("*") if f.is_file()]
    names = {f.name for f in files}
    assert {"history.sqlite", "build.log"} <= names, names
    assert {"locks", "builds", "1"} <= {f.name for f in folders}
    assert {str(f): oct(mode(f)) for f in folders} == {str(f): "0o700" for f in folders}
    assert {str(f): oct(mode(f)) for f in files} == {str(f): "0o600" for f in files}
