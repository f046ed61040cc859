"""The nb2svc HTTP surface mounted into the BentoML server.

The prediction, metadata and documentation routes are the default runtime's own handlers
(`nb2svc_runtime.serve.server`, `nb2svc_runtime.serve.observe`), so request and response
bodies are the same byte for byte.
BentoML answers /livez, /readyz, /healthz and /metrics itself; everything else that no
route matches gets the contract's JSON 404/405 instead of BentoML's plain-text ones.
"""

from __future__ import annotations

from nb2svc_runtime.serve import observe, server
from nb2svc_runtime.serve.errors import ApiError
from nb2svc_runtime.serve.service import ModelService
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route

BENTOML_ROUTES = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def contract_routes() -> list[BaseRoute]:
    """The default runtime's routes minus the probes and metrics BentoML serves."""
    return [r for r in server.ROUTES if getattr(r, "path", None) not in BENTOML_ROUTES]


def _fallback(routes: list[BaseRoute]) -> Route:
    async def unmatched(request: Request) -> Response:
        path = request.url.path
        # The first route whose path matches answers, as in Starlette's own router.
        partial = (r for r in routes if r.matches(request.scope)[0] == Match.PARTIAL)
        route = next(partial, None)
        allowed = {"GET", "HEAD"} if path in BENTOML_ROUTES else getattr(route, "methods", None)
        if allowed:
            headers = {"Allow": ", ".join(sorted(allowed))}
            raise ApiError(405, f"method {request.method} not allowed on {path}", headers=headers)
        raise ApiError(404, f"not found: {path}")

    return Route("/{path:path}", unmatched, methods=METHODS, name="unmatched")


def build_app(service: ModelService) -> Starlette:
    """A Starlette app for `bentoml.asgi_app(..., path="/")` serving `service`."""
    routes = contract_routes()
    app = Starlette(
        routes=[*routes, _fallback(routes)],
        exception_handlers={
            ApiError: observe.on_api_error,
            HTTPException: observe.on_http_error,
            Exception: observe.on_unexpected,
        },
    )
    app.state.service = service
    app.add_middleware(observe.Observe, service=service, access_log=service.settings.access_log)
    return app
