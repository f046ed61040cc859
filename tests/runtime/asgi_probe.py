"""Drives the default runtime's ASGI app in-process, in a process of its own (a service's
metrics live in the process-wide Prometheus registry, so one service per process).

    python asgi_probe.py MODEL_DIR SCENARIO < requests.json   ->  JSON on stdout

Scenarios:
- `compare`: each request (method, path, body, headers) to the predict lane and to the
  Starlette app behind it; the answers as [[status, headers, body], ...] pairs;
- `leave`: a client that disconnects mid-body, to the lane and to the app: what each sent
  and the 499 count of the v1 route afterwards;
- `threads`: how many predict threads the started service runs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sys
import threading
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

from nb2svc_runtime.serve.config import Settings
from nb2svc_runtime.serve.lane import PredictLane
from nb2svc_runtime.serve.server import create_app
from prometheus_client import REGISTRY

V1_ROUTE = "/v1/models/{name}:predict"


async def call(app: Any, method: str, path: str, headers: dict[str, str], chunks: list[Any]) -> Any:
    """One request: [status, headers, body (base64)], or None when nothing was sent."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
    }
    messages = list(chunks)

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)  # type: ignore[no-any-return]
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    if not sent:
        return None
    body = b"".join(m.get("body", b"") for m in sent[1:])
    headers_sent = [[k.decode(), v.decode()] for k, v in sent[0]["headers"]]
    return [sent[0]["status"], headers_sent, base64.b64encode(body).decode()]


@contextlib.asynccontextmanager
async def started(model_dir: Path) -> AsyncIterator[PredictLane]:
    """The app with its model loaded (its lifespan started), shut down afterwards."""
    lane = create_app(Settings.from_env({"MODEL_DIR": str(model_dir), "ACCESS_LOG": "0"}))
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await events.put({"type": "lifespan.startup"})

    async def send(message: MutableMapping[str, Any]) -> None:
        pass

    life = asyncio.ensure_future(lane({"type": "lifespan", "state": {}}, events.get, send))
    for _ in range(1200):
        if lane.service.ready or lane.service.load_error:
            break
        await asyncio.sleep(0.05)
    if not lane.service.ready:
        raise SystemExit(f"the model did not load: {lane.service.load_error}")
    try:
        yield lane
    finally:
        await events.put({"type": "lifespan.shutdown"})
        await life


def whole(body: str) -> list[dict[str, Any]]:
    return [{"type": "http.request", "body": body.encode(), "more_body": False}]


async def compare(model_dir: Path, requests: list[dict[str, Any]]) -> Any:
    pairs = []
    async with started(model_dir) as lane:
        for r in requests:
            args = (r["method"], r["path"], r["headers"])
            lane_answer = await call(lane, *args, whole(r["body"]))
            app_answer = await call(lane.app, *args, whole(r["body"]))
            pairs.append([lane_answer, app_answer])
    return pairs


async def leave(model_dir: Path, path: str) -> Any:
    part = {"type": "http.request", "body": b'{"instances": [', "more_body": True}
    async with started(model_dir) as lane:
        sent = [
            await call(app, "POST", path, {}, [part, {"type": "http.disconnect"}])
            for app in (lane, lane.app)
        ]
    labels = {"route": V1_ROUTE, "method": "POST", "status": "499"}
    return {"sent": sent, "count_499": REGISTRY.get_sample_value("nb2svc_requests_total", labels)}


async def threads(model_dir: Path) -> Any:
    async with started(model_dir):
        return sum(t.name == "nb2svc-predict" for t in threading.enumerate())


def main() -> None:
    model_dir, scenario = Path(sys.argv[1]), sys.argv[2]
    given = json.load(sys.stdin)
    if scenario == "compare":
        result = asyncio.run(compare(model_dir, given))
    elif scenario == "leave":
        result = asyncio.run(leave(model_dir, given))
    else:
        result = asyncio.run(threads(model_dir))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
