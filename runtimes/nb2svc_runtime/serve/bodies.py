"""Serve side: JSON responses and request bodies (size and time limits, media types),
shared by the endpoints of every protocol (serve/server.py)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
from collections.abc import Sequence
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

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


def named_service(request: Request, *, ready: bool = False) -> ModelService:
    """The service, once the path's `{name}` is its model's (404 if not) and, with `ready`,
    once the model is loaded (503 if not)."""
    service = service_of(request)
    service.check_name(request.path_params["name"])
    if ready:
        service.require_ready()
    return service


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The body, refused early (Content-Length) or while streaming once over `limit` bytes;
    a body that does not arrive within `timeout` seconds is a 408 closing the connection."""
    declared = request.headers.get("content-length")
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
            return await asyncio.wait_for(_stream_body(request, limit), timeout)
        async with _TIMEOUT(timeout):  # the same limit, without a task per request
            return await _stream_body(request, limit)
    except asyncio.TimeoutError:
        raise ApiError(
            408,
            f"the request body did not arrive within {timeout:g} s (READ_TIMEOUT)",
            headers={"Connection": "close"},
        ) from None


async def _stream_body(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body exceeds the {limit}-byte limit (MAX_BODY_BYTES)")
        chunks.append(chunk)
    return b"".join(chunks)


def media_type(request: Request, allowed: Sequence[str]) -> str:
    """The request's media type if allowed (a missing header counts as JSON), else 415."""
    header = request.headers.get("content-type", "")
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


async def json_body(
    request: Request, allowed: Sequence[str] = ("application/json",)
) -> tuple[str, bytes]:
    kind = media_type(request, allowed)
    settings = service_of(request).settings
    return kind, await read_body(request, settings.max_body_bytes, settings.read_timeout)


@contextlib.contextmanager
def arriving(service: ModelService) -> Any:
    if service.batcher is None:
        yield
        return
    with service.batcher.arriving_request():
        yield


def csv_rows(raw: bytes, service: ModelService) -> list[Any]:
    """The CSV body's rows; the csv module's own errors are the client's (400)."""
    try:
        return protocols.csv_rows(raw, service.signature, service.settings.max_rows)
    except csv.Error as exc:
        raise ApiError(400, f"malformed CSV: {exc}") from None
