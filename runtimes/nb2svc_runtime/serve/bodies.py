"""Serve side: JSON responses and request bodies (size and time limits, media types).

The predict endpoints (serve/predict.py) read their requests straight from ASGI: the headers
they need in one pass over the scope's (`Head`), the body from `receive` (`read_body`), and
they answer with a `Reply`, which is what Starlette's `Response` would have sent, header for
header (docs/architecture.md, "Request path"). The other endpoints use Starlette's
`Request` and `JSON`.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope

from . import protocols
from .errors import ApiError
from .service import ModelService

_TIMEOUT = getattr(asyncio, "timeout", None)


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(exc: ApiError) -> Response:
    return JSON(exc.body(), status_code=exc.status, headers=exc.headers)


def service_of(request: Request) -> ModelService:
    return request.app.state.service  # type: ignore[no-any-return]


def named_service(request: Request) -> ModelService:
    """The service, once the path's `{name}` is its model's (404 if not)."""
    service = service_of(request)
    service.check_name(request.path_params["name"])
    return service


# --- raw ASGI: what the predict endpoints read and send ---------------------------------


class ClientGone(Exception):
    """The client disconnected before its request body arrived: there is no one to answer
    (recorded as status 499, the status nginx gives it, with no response and no traceback)."""


CLIENT_GONE = 499


@dataclass(frozen=True)
class Head:
    """The request headers a predict endpoint reads (the first of each, as Starlette's
    `Headers.get` gives), taken from the scope in one pass."""

    content_type: str = ""
    content_length: str | None = None
    binary_length: str | None = None  # Inference-Header-Content-Length (serve/v2_binary.py)

    @classmethod
    def of(cls, scope: Scope) -> Head:
        found: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            if name in _HEAD_NAMES and name not in found:
                found[name] = value.decode("latin-1")
        return cls(
            found.get(b"content-type", ""),
            found.get(b"content-length"),
            found.get(b"inference-header-content-length"),
        )


_HEAD_NAMES = frozenset({b"content-type", b"content-length", b"inference-header-content-length"})


@dataclass(frozen=True)
class Reply:
    """A whole response: status, body, media type and headers, framed as Starlette frames
    a `Response` (the given headers first, then content-length and content-type)."""

    status: int
    body: bytes
    media_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    def start(self, extra: Sequence[tuple[bytes, bytes]] = ()) -> Message:
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
        raw.append((b"content-length", str(len(self.body)).encode()))
        raw.append((b"content-type", self.media_type.encode("latin-1")))
        raw.extend(extra)
        return {"type": "http.response.start", "status": self.status, "headers": raw}

    def message(self) -> Message:
        return {"type": "http.response.body", "body": self.body}


def json_reply(content: Any) -> Reply:
    return Reply(200, orjson.dumps(content))


def error_reply(exc: ApiError) -> Reply:
    return Reply(exc.status, orjson.dumps(exc.body()), headers=exc.headers)


def media_type(header: str, allowed: Sequence[str]) -> str:
    """The request's media type if allowed (a missing header counts as JSON), else 415."""
    kind, _, params = header.partition(";")
    kind = kind.strip().lower() or "application/json"
    charset = (
        params.strip().lower().removeprefix("charset=").strip('"')
        if "charset=" in params.lower()
        else "utf-8"
    )
    if kind.endswith("+json"):
        kind = "application/json"
    if kind not in allowed or charset not in ("utf-8", "utf8"):
        raise ApiError(
            415, f"unsupported content type {header!r}; use {' or '.join(allowed)} (UTF-8)"
        )
    return kind


async def read_body(receive: Receive, head: Head, limit: int, timeout: float) -> bytes:
    """The body, refused early (Content-Length) or while streaming once over `limit` bytes;
    a body that does not arrive within `timeout` seconds is a 408 closing the connection."""
    declared = head.content_length
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, f"invalid Content-Length header {declared!r}")
        if int(declared) > limit:
            raise ApiError(
                413,
                f"request body of {declared} bytes exceeds the {limit}-byte limit (MAX_BODY_BYTES)",
            )
    try:
        if _TIMEOUT is None:  # Python < 3.11: wait_for runs the read as a task of its own
            return await asyncio.wait_for(_stream_body(receive, limit), timeout)
        async with _TIMEOUT(timeout):  # the same limit, without a task per request
            return await _stream_body(receive, limit)
    except asyncio.TimeoutError:
        raise ApiError(
            408,
            f"the request body did not arrive within {timeout:g} s (READ_TIMEOUT)",
            headers={"Connection": "close"},
        ) from None


async def _stream_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body exceeds the {limit}-byte limit (MAX_BODY_BYTES)")
        if not message.get("more_body", False):
            if not chunks:
                return chunk
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)


async def request_body(
    service: ModelService,
    head: Head,
    receive: Receive,
    allowed: Sequence[str] = ("application/json",),
) -> tuple[str, bytes]:
    """(media type, body) of a predict request, within the server's limits."""
    kind = media_type(head.content_type, allowed)
    settings = service.settings
    return kind, await read_body(receive, head, settings.max_body_bytes, settings.read_timeout)


def csv_rows(raw: bytes, service: ModelService) -> list[Any]:
    """The CSV body's rows; the csv module's own errors are the client's (400)."""
    try:
        return protocols.csv_rows(raw, service.signature, service.settings.max_rows)
    except csv.Error as exc:
        raise ApiError(400, f"malformed CSV: {exc}") from None
