"""Serve side: what wraps every request: the error handlers' JSON answers, request metrics
and JSON-line access logs (the ASGI middleware `Observe`)."""

from __future__ import annotations

import asyncio
import logging
import sys
import time

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .bodies import CLIENT_GONE, JSON, ClientGone, error_response
from .errors import ApiError
from .jsonlog import access_line
from .service import ModelService

log = logging.getLogger("nb2svc.server")


async def on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {
        404: f"not found: {request.url.path}",
        405: f"method {request.method} not allowed on {request.url.path}",
    }
    message = messages.get(exc.status_code, str(exc.detail))
    return JSON({"error": message, "details": []}, status_code=exc.status_code, headers=exc.headers)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc)
    return JSON({"error": "internal server error", "details": []}, status_code=500)


MAX_REQUEST_ID = 128


def client_request_id(scope: Scope) -> str | None:
    """The client's X-Request-Id, if it is short printable ASCII (else it is not logged)."""
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"x-request-id":
            if 0 < len(value) <= MAX_REQUEST_ID and all(0x21 <= b <= 0x7E for b in value):
                return value.decode("ascii")
            return None
    return None


INTERNAL_ERROR_BODY = {"error": "internal server error", "details": []}


class AccessLog:
    """The access log's lines, written to stdout once per event-loop turn instead of once
    per request: the requests that finish in the same turn share one write (under load,
    dozens), and a line is never later than the loop's next turn. Outside a running loop a
    line is written at once (docs/architecture.md, "Request path")."""

    def __init__(self) -> None:
        self._lines: list[bytes] = []

    def write(self, line: bytes) -> None:
        if not self._lines:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:
                self._lines.append(line)
                self.flush()
                return
        self._lines.append(line)

    def flush(self) -> None:
        if self._lines:
            lines, self._lines = self._lines, []
            sys.stdout.buffer.write(b"".join(lines))
            sys.stdout.buffer.flush()


ACCESS_LOG = AccessLog()  # one per process; the app's shutdown flushes it (server.py)


class Observe:
    """ASGI middleware: request metrics, JSON-line access logs (with the client's
    X-Request-Id, echoed in the response), and the last word on errors: an exception no
    handler answered becomes a JSON 500 on a connection that stays open (Starlette's
    outermost handler re-raises, and uvicorn then closes the connection). The predict lane
    (serve/lane.py) does the same for the requests it serves, through `record`."""

    def __init__(self, app: ASGIApp, service: ModelService, access_log: bool) -> None:
        self.app = app
        self.service = service
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        started = False
        rid = client_request_id(scope)

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                if rid is not None:
                    headers = [*message.get("headers", ()), (b"x-request-id", rid.encode())]
                    message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except ClientGone:
            status = CLIENT_GONE
        except Exception as exc:
            if started:
                raise
            log.error("unhandled error", exc_info=exc)
            await JSON(INTERNAL_ERROR_BODY, status_code=500)(scope, receive, send_wrapper)
        finally:
            label = getattr(scope.get("route"), "path", None) or "unmatched"
            record(self.service, self.access_log, scope, label, status, start, rid)


def record(
    service: ModelService,
    access_log: bool,
    scope: Scope,
    label: str,
    status: int,
    start: float,
    rid: str | None,
) -> None:
    """A finished request's metrics (by route `label`) and, with `access_log`, its access-log
    line; `start` is its time.perf_counter() on arrival."""
    elapsed = time.perf_counter() - start
    metrics = service.metrics
    metrics.child(metrics.requests, label, scope["method"], str(status)).inc()
    metrics.child(metrics.latency, label).observe(elapsed)
    if access_log:
        client = scope.get("client") or ("", 0)
        fields = {
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": round(elapsed * 1000, 3),
            "client": client[0],
        }
        if rid is not None:
            fields["request_id"] = rid
        ACCESS_LOG.write(access_line(fields))
