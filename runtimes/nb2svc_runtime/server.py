"""Serve side: the Starlette application implementing the HTTP contract
(docs/architecture.md, "Contracts")."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import protocols, v2
from .config import Settings
from .errors import ApiError
from .jsonlog import access_line
from .metrics import exposition
from .openapi import docs_page, openapi_document
from .service import ModelService, all_workers_ready

log = logging.getLogger("nb2svc.server")
Endpoint = Callable[[Request], Awaitable[Response]]


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
        return await asyncio.wait_for(_stream_body(request, limit), timeout)
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


# --- health -----------------------------------------------------------------------------


async def livez(request: Request) -> Response:
    return JSON({"status": "alive", "live": True})


def _readiness(service: ModelService) -> Response:
    if service.ready and not service.draining and all_workers_ready():
        return JSON({"status": "ready", "ready": True})
    reason = (
        "shutting down"
        if service.draining
        else (service.load_error or "the model is still loading")
    )
    return JSON({"error": f"not ready: {reason}", "details": [], "ready": False}, status_code=503)


async def readyz(request: Request) -> Response:
    return _readiness(service_of(request))


async def metrics(request: Request) -> Response:
    body, content_type = exposition()
    return Response(body, media_type=content_type)


# --- KServe v1 --------------------------------------------------------------------------


async def v1_models(request: Request) -> Response:
    return JSON({"models": [service_of(request).name]})


async def v1_model(request: Request) -> Response:
    if request.path_params["name"].endswith(":predict"):
        message = f"method GET not allowed on {request.url.path}; use POST"
        raise ApiError(405, message, headers={"Allow": "POST"})
    service = named_service(request)
    if not service.ready:
        return JSON(
            {"error": "model not ready", "details": [], "name": service.name, "ready": False},
            status_code=503,
        )
    return JSON({"name": service.name, "ready": True})


async def v1_predict(request: Request) -> Response:
    service = named_service(request, ready=True)
    with arriving(service):
        _, raw = await json_body(request)
        rows = protocols.v1_rows(protocols.parse_json(raw))
    result = await service.predict(rows, want_proba=True)
    return JSON(protocols.predictions_body(result.predictions, result.probabilities))


# --- MLflow -----------------------------------------------------------------------------


def csv_rows(raw: bytes, service: ModelService) -> list[Any]:
    """The CSV body's rows; the csv module's own errors are the client's (400)."""
    try:
        return protocols.csv_rows(raw, service.signature, service.settings.max_rows)
    except csv.Error as exc:
        raise ApiError(400, f"malformed CSV: {exc}") from None


async def ping(request: Request) -> Response:
    return _readiness(service_of(request))


async def invocations(request: Request) -> Response:
    service = service_of(request)
    service.require_ready()
    with arriving(service):
        kind, raw = await json_body(request, ("application/json", "text/csv"))
        if kind == "text/csv":
            rows = csv_rows(raw, service)
        else:
            rows = protocols.mlflow_rows(protocols.parse_json(raw))
    result = await service.predict(rows, want_proba=False)
    return JSON({"predictions": result.predictions})


# --- Open Inference Protocol v2 ---------------------------------------------------------


async def v2_server(request: Request) -> Response:
    from . import __version__

    return JSON({"name": "nb2svc", "version": __version__, "extensions": []})


async def v2_live(request: Request) -> Response:
    return JSON({"live": True})


async def v2_ready(request: Request) -> Response:
    service = service_of(request)
    ok = service.ready and not service.draining and all_workers_ready()
    return JSON(
        {"ready": ok} if ok else {"error": "not ready", "details": [], "ready": False},
        status_code=200 if ok else 503,
    )


async def v2_model(request: Request) -> Response:
    service = named_service(request)
    spec = protocols.v2_tensor_spec(service.signature)
    return JSON(
        {
            "name": service.name,
            "versions": [],
            "platform": f"nb2svc-{service.signature.framework}",
            **spec,
        }
    )


async def v2_model_ready(request: Request) -> Response:
    service = named_service(request)
    status = 200 if service.ready else 503
    return JSON({"name": service.name, "ready": service.ready}, status_code=status)


async def v2_infer(request: Request) -> Response:
    service = named_service(request, ready=True)
    with arriving(service):
        _, raw = await json_body(request)
        body = protocols.parse_json(raw)
        rows = v2.v2_rows(body, service.signature)
        outputs = v2.requested_outputs(body, service.signature)
    result = await service.predict(rows, want_proba="predict_proba" in outputs)
    request_id = protocols.new_request_id(body)
    return JSON(
        v2.v2_response(
            service.signature, request_id, outputs, result.predictions, result.probabilities
        )
    )


# --- documentation ----------------------------------------------------------------------


async def openapi_json(request: Request) -> Response:
    service = service_of(request)
    return JSON(openapi_document(service.signature, service.sample, service.settings.max_rows))


async def docs(request: Request) -> Response:
    service = service_of(request)
    csp = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    csp += "connect-src 'self'"
    return HTMLResponse(
        docs_page(service.signature, service.sample), headers={"Content-Security-Policy": csp}
    )


async def index(request: Request) -> Response:
    service = service_of(request)
    name = service.name
    return JSON(
        {
            "name": name,
            "ready": service.ready,
            "docs": "/docs",
            "openapi": "/openapi.json",
            "predict": f"/v1/models/{name}:predict",
        }
    )


ROUTES = [
    Route("/", index, methods=["GET"]),
    Route("/livez", livez, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/healthz", readyz, methods=["GET"], name="healthz"),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/v1/models", v1_models, methods=["GET"]),
    Route("/v1/models/{name}:predict", v1_predict, methods=["POST"]),
    Route("/v1/models/{name}", v1_model, methods=["GET"]),
    Route("/invocations", invocations, methods=["POST"]),
    Route("/ping", ping, methods=["GET"]),
    Route("/v2", v2_server, methods=["GET"]),
    Route("/v2/health/live", v2_live, methods=["GET"]),
    Route("/v2/health/ready", v2_ready, methods=["GET"]),
    Route("/v2/models/{name}", v2_model, methods=["GET"]),
    Route("/v2/models/{name}/ready", v2_model_ready, methods=["GET"]),
    Route("/v2/models/{name}/infer", v2_infer, methods=["POST"]),
    Route(
        "/v2/models/{name}/versions/{version}/infer",
        v2_infer,
        methods=["POST"],
        name="v2_infer_version",
    ),
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs, methods=["GET"]),
]


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


class Observe:
    """ASGI middleware: request metrics, JSON-line access logs (with the client's
    X-Request-Id, echoed in the response), and the last word on errors: an exception no
    handler answered becomes a JSON 500 on a connection that stays open (Starlette's
    outermost handler re-raises, and uvicorn then closes the connection)."""

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
        except Exception as exc:
            if started:
                raise
            log.error("unhandled error", exc_info=exc)
            await JSON(INTERNAL_ERROR_BODY, status_code=500)(scope, receive, send_wrapper)
        finally:
            self._record(scope, status, time.perf_counter() - start, rid)

    def _record(self, scope: Scope, status: int, elapsed: float, rid: str | None) -> None:
        route = scope.get("route")
        label = getattr(route, "path", None) or "unmatched"
        metrics = self.service.metrics
        metrics.requests.labels(label, scope["method"], str(status)).inc()
        metrics.latency.labels(label).observe(elapsed)
        if self.access_log:
            client = scope.get("client") or ("", 0)
            line = access_line(
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "client": client[0],
                    **({"request_id": rid} if rid is not None else {}),
                }
            )
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()


def create_app(
    settings: Settings | None = None, on_fatal: Callable[[str], None] | None = None
) -> Starlette:
    """The ASGI app; the model loads in the background after startup (see /readyz)."""
    settings = settings or Settings.from_env()
    service = ModelService(settings, on_fatal)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loader = asyncio.get_running_loop().create_task(service.start())
        try:
            yield
        finally:
            service.draining = True
            loader.cancel()
            await service.stop()

    app = Starlette(
        routes=ROUTES,
        lifespan=lifespan,
        exception_handlers={
            ApiError: on_api_error,
            HTTPException: on_http_error,
            Exception: on_unexpected,
        },
    )
    app.state.service = service
    app.add_middleware(Observe, service=service, access_log=settings.access_log)
    return app
