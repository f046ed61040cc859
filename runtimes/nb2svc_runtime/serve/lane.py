"""Serve side: the predict lane, the default runtime's outermost ASGI app.

A POST whose path is a predict route's goes straight to that route's `PredictEndpoint`
(serve/predict.py): the same object the Starlette router would reach, minus the middleware
stack, the router's walk over every route and Starlette's request and response objects.
The lane does what `Observe` does for every other request (metrics, the access log, the
client's X-Request-Id echoed, a JSON 500 for what no one answered), with the same route
labels. Everything else, and any request when the lane has no route, goes to Starlette
(docs/architecture.md, "Request path").
"""

from __future__ import annotations

import logging
import time

import orjson
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .bodies import CLIENT_GONE, ClientGone, Reply
from .observe import INTERNAL_ERROR_BODY, client_request_id, record
from .predict import PredictEndpoint

log = logging.getLogger("nb2svc.server")


def route_path(scope: Scope) -> str:
    """The path the routes are matched against: without the root path, as Starlette does."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path


class PredictLane:
    """ASGI app: POSTs to the predict routes of `app`, directly; the rest, through `app`."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.state = app.state  # the service is `state.service`, as on the Starlette app
        self.service = app.state.service
        self.access_log: bool = self.service.settings.access_log
        self.routes = [
            route
            for route in app.routes
            if isinstance(route, Route)
            and isinstance(route.endpoint, PredictEndpoint)
            and route.methods == {"POST"}
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = route_path(scope)
            for route in self.routes:
                match = route.path_regex.match(path)
                if match is not None:
                    await self._serve(route, match.groupdict(), scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _serve(
        self, route: Route, params: dict[str, str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        start = time.perf_counter()
        scope["app"] = self.app
        scope["route"] = route
        scope["path_params"] = params
        rid = client_request_id(scope)
        extra = [(b"x-request-id", rid.encode())] if rid is not None else []
        endpoint: PredictEndpoint = route.endpoint  # type: ignore[assignment]
        status = 500
        try:
            try:
                reply = await endpoint.respond(scope, receive)
            except ClientGone:
                status = CLIENT_GONE
                return
            except Exception as exc:
                log.error("unhandled error", exc_info=exc)
                reply = INTERNAL_ERROR
            status = reply.status
            await send(reply.start(extra))
            await send(reply.message())
        finally:
            record(self.service, self.access_log, scope, route.path, status, start, rid)


INTERNAL_ERROR = Reply(500, orjson.dumps(INTERNAL_ERROR_BODY))
