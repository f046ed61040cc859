"""The webhook server's guards against broken or hostile clients (docs/triggers.md, "Limits").

Every request is unauthenticated until its body's signature is checked, so before that:

- `Content-Length` must be ASCII digits (at most 12); a missing one or a `Transfer-Encoding`
  is 411, two different values 400, a body over the limit 413. `int()` alone would take
  `" 12"`, `"1_2"` or Unicode digits such as `"²"`.
- A request must arrive whole (request line, headers, body) within `read_timeout` seconds
  of its connection, however slowly its bytes trickle in; each read also waits at most that.
- At most `max_connections` requests are handled at once; the next ones are answered 503
  by one thread, which gives each half a second to send its head (64 wait their turn;
  more are closed unanswered).
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from nb2svc.triggers.signatures import Rejected

DEFAULT_MAX_CONNECTIONS = 32
DEFAULT_READ_TIMEOUT = 30.0
REFUSED_BACKLOG = 64  # requests waiting for their 503; beyond that they are just closed
_DIGITS = re.compile(r"[0-9]{1,12}")
_BUSY = json.dumps({"error": "too many requests in progress; retry later"}).encode() + b"\n"


def content_length(values: list[str] | None, transfer_encoding: str | None, limit: int) -> int:
    """The body length a request announces, strictly parsed; Rejected(400/411/413) if not."""
    if transfer_encoding is not None:
        raise Rejected(411, "Transfer-Encoding is not accepted; send a Content-Length")
    if not values:
        raise Rejected(411, "Content-Length required")
    distinct = {v.strip(" \t") for v in values}
    if len(distinct) != 1:
        raise Rejected(400, "more than one Content-Length")
    (text,) = distinct
    if not _DIGITS.fullmatch(text):
        raise Rejected(400, f"Content-Length {text[:40]!r} is not a number of bytes")
    length = int(text)
    if length > limit:
        raise Rejected(413, f"body over {limit} bytes")
    return length


class GuardedServer(ThreadingHTTPServer):
    """A threading HTTP server with a bound on requests in progress and on reading time."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> None:  # fmt: skip
        super().__init__(address, handler)
        self.read_timeout = read_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        # The requests holding a slot, with the time by which each must have been read
        # (None once it has been, or has been cut off).
        self._active: dict[socket.socket, float | None] = {}
        self._lock = threading.Lock()
        self._refused: queue.Queue[socket.socket] = queue.Queue(maxsize=REFUSED_BACKLOG)
        self._refuser: threading.Thread | None = None

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._busy(request)
            return
        with self._lock:
            self._active[request] = time.monotonic() + self.read_timeout
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._done(request)
            self.shutdown_request(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._done(request)

    def _done(self, request: socket.socket) -> None:
        with self._lock:
            held = request in self._active
            self._active.pop(request, None)
        if held:
            self._slots.release()

    def reading_done(self, request: socket.socket) -> None:
        """The handler has read the whole request: no deadline any more (the slot stays)."""
        with self._lock:
            if request in self._active:
                self._active[request] = None

    def service_actions(self) -> None:
        """Between polls of the accepting loop: cut off requests still being read too long."""
        now = time.monotonic()
        with self._lock:
            late = [s for s, due in self._active.items() if due is not None and due < now]
            for sock in late:
                self._active[sock] = None
        for sock in late:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # the handler's read returns; it answers nothing

    def _busy(self, request: socket.socket) -> None:
        """Hand the request to the one thread that answers 503s; close it if that is behind."""
        with self._lock:
            if self._refuser is None:
                self._refuser = threading.Thread(target=self._refuse_all, daemon=True)
                self._refuser.start()
        try:
            self._refused.put_nowait(request)
        except queue.Full:
            self.shutdown_request(request)

    def _refuse_all(self) -> None:
        while True:
            request = self._refused.get()
            with contextlib.suppress(OSError):
                _refuse(request)
            self.shutdown_request(request)


def _refuse(request: socket.socket) -> None:
    """Read the request's head (briefly), answer 503, read what else came, so that closing
    does not reset the connection before the client has read the answer."""
    request.settimeout(0.5)
    head = b""
    with contextlib.suppress(TimeoutError):
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = request.recv(65536)
            if not chunk:
                break
            head += chunk
    answer = (
        "HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(_BUSY)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    request.sendall(answer.encode() + _BUSY)
    request.shutdown(socket.SHUT_WR)
    with contextlib.suppress(TimeoutError):
        for _ in range(16):
            if not request.recv(65536):
                break
