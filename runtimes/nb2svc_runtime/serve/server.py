"""Serve side: the Starlette application implementing the HTTP contract
(docs/architecture.md, "Contracts"): its endpoints and routes. The predict endpoints are in
serve/predict.py and the predict lane in front of the app (serve/lane.py) serves their
POSTs; every other request is observed by serve/observe.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from . import protocols, v2_binary
from .bodies import JSON, named_service, service_of
from .config import Settings
from .docs_page import docs_page
from .errors import ApiError
from .lane import PredictLane
from .metrics import exposition
from .observe import ACCESS_LOG, Observe, on_api_error, on_http_error, on_unexpected
from .openapi import openapi_document
from .predict import INVOCATIONS, V1_PREDICT, V2_INFER
from .service import ModelService, all_workers_ready

Endpoint = Callable[[Request], Awaitable[Response]]


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


# --- MLflow -----------------------------------------------------------------------------


async def ping(request: Request) -> Response:
    return _readiness(service_of(request))


# --- Open Inference Protocol v2 ---------------------------------------------------------


async def v2_server(request: Request) -> Response:
    from .. import __version__

    extensions = [v2_binary.EXTENSION]
    return JSON({"name": "nb2svc", "version": __version__, "extensions": extensions})


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
            "status": "alive",  # KServe's model server answers its root so (its SDK reads it)
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
    Route("/v1/models/{name}:predict", V1_PREDICT, methods=["POST"], name="v1_predict"),
    Route("/v1/models/{name}", v1_model, methods=["GET"]),
    Route("/invocations", INVOCATIONS, methods=["POST"], name="invocations"),
    Route("/ping", ping, methods=["GET"]),
    Route("/v2", v2_server, methods=["GET"]),
    Route("/v2/health/live", v2_live, methods=["GET"]),
    Route("/v2/health/ready", v2_ready, methods=["GET"]),
    Route("/v2/models/{name}", v2_model, methods=["GET"]),
    Route("/v2/models/{name}/ready", v2_model_ready, methods=["GET"]),
    Route("/v2/models/{name}/infer", V2_INFER, methods=["POST"], name="v2_infer"),
    Route(
        "/v2/models/{name}/versions/{version}/infer",
        V2_INFER,
        methods=["POST"],
        name="v2_infer_version",
    ),
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs, methods=["GET"]),
]


def create_app(
    settings: Settings | None = None, on_fatal: Callable[[str], None] | None = None
) -> PredictLane:
    """The ASGI app: the predict lane in front of the Starlette app (serve/lane.py); the
    model loads in the background after startup (see /readyz)."""
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
            ACCESS_LOG.flush()

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
    return PredictLane(app)
