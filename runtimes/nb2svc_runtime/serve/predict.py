"""Serve side: the predict endpoints (KServe v1, MLflow, Open Inference Protocol v2) as
plain ASGI apps over serve/bodies.py's `Head`, `read_body` and `Reply`.

Each is a `PredictEndpoint` in the Starlette route table (serve/server.py), which is how the
BentoML runtime reaches them; the default runtime's `PredictLane` (serve/lane.py) calls the
same objects for every POST to their paths, ahead of the middleware stack and the router
(docs/architecture.md, "Request path"). Either way an endpoint answers its own `ApiError`s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import Receive, Scope, Send

from . import protocols, v2, v2_binary
from .bodies import Head, Reply, csv_rows, error_reply, json_reply, request_body
from .errors import ApiError
from .service import ModelService

# With the binary tensor data extension, the body is not JSON alone (serve/v2_binary.py).
V2_BINARY_TYPES = ("application/json", "application/octet-stream")

Handler = Callable[[ModelService, Scope, Receive], Awaitable[Reply]]


class Arriving:
    """Marks a request whose rows the batcher will get soon, so that a forming batch may wait
    for them (serve/batching.py, `MicroBatcher.arriving`)."""

    __slots__ = ("batcher",)

    def __init__(self, service: ModelService) -> None:
        self.batcher = service.batcher

    def __enter__(self) -> None:
        if self.batcher is not None:
            self.batcher.arriving += 1

    def __exit__(self, *_: object) -> None:
        if self.batcher is not None:
            self.batcher.arriving -= 1


def _served(service: ModelService, scope: Scope) -> ModelService:
    """The service, once the path names its model (404) and the model is loaded (503)."""
    service.check_name(scope["path_params"]["name"])
    service.require_ready()
    return service


async def v1_predict(service: ModelService, scope: Scope, receive: Receive) -> Reply:
    _served(service, scope)
    with Arriving(service):
        _, raw = await request_body(service, Head.of(scope), receive)
        rows = protocols.v1_rows(protocols.parse_json(raw))
    result = await service.predict(rows, want_proba=True)
    return json_reply(protocols.predictions_body(result.predictions, result.probabilities))


async def invocations(service: ModelService, scope: Scope, receive: Receive) -> Reply:
    service.require_ready()
    with Arriving(service):
        allowed = ("application/json", "text/csv")
        kind, raw = await request_body(service, Head.of(scope), receive, allowed)
        if kind == "text/csv":
            rows = csv_rows(raw, service)
        else:
            rows = protocols.mlflow_rows(protocols.parse_json(raw))
    result = await service.predict(rows, want_proba=False)
    return json_reply({"predictions": result.predictions})


async def v2_infer(service: ModelService, scope: Scope, receive: Receive) -> Reply:
    _served(service, scope)
    head = Head.of(scope)
    with Arriving(service):
        allowed = V2_BINARY_TYPES if head.binary_length is not None else ("application/json",)
        _, raw = await request_body(service, head, receive, allowed)
        text, binary = v2_binary.split_body(raw, head.binary_length)
        body: Any = protocols.parse_json(text)
        v2_binary.attach_inputs(body, binary)
        rows = v2.v2_rows(body, service.signature)
        outputs = v2.requested_outputs(body, service.signature)
    result = await service.predict(rows, want_proba="predict_proba" in outputs)
    request_id = protocols.new_request_id(body)
    document = v2.v2_response(
        service.signature, request_id, outputs, result.predictions, result.probabilities
    )
    content, json_length = v2_binary.encode_response(
        document, v2_binary.binary_outputs(body, [t["name"] for t in document["outputs"]])
    )
    if json_length is None:
        return Reply(200, content)
    headers = {v2_binary.HEADER: str(json_length)}
    return Reply(200, content, "application/octet-stream", headers)


class PredictEndpoint:
    """One predict endpoint as an ASGI app; the service is the app's (`scope["app"]`)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def respond(self, scope: Scope, receive: Receive) -> Reply:
        """The reply to this request; an ApiError becomes its JSON answer. Raises
        bodies.ClientGone when the client left before its body arrived."""
        service: ModelService = scope["app"].state.service
        try:
            return await self.handler(service, scope, receive)
        except ApiError as exc:
            return error_reply(exc)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reply = await self.respond(scope, receive)
        await send(reply.start())
        await send(reply.message())


V1_PREDICT = PredictEndpoint(v1_predict)
INVOCATIONS = PredictEndpoint(invocations)
V2_INFER = PredictEndpoint(v2_infer)
