"""A model served with nothing but starlette, uvicorn and orjson (the bare baseline).

What a careful engineer writes by hand without a serving framework: one route,
`POST /predict` with {"instances": [row, ...]}, the rows turned into the DataFrame the
pipeline was fitted on, `model.predict`, {"predictions": [...]} out through orjson; one
uvicorn worker per core, with uvloop and httptools, one library thread per worker (the
model's n_jobs and the OpenMP/OpenBLAS/MKL pools, as nb2svc's server does; the
hand-written BentoML baseline keeps what the notebook fitted and the libraries' default).
It is the yardstick for what nb2svc's own server costs on top of the model.

BARE_MODE=noop serves the same stack answering a constant instead: the machine's HTTP
ceiling. The model, pandas and scikit-learn are then never imported, so that container
is ready in about a second and every cycle goes to HTTP.

Environment: MODEL_PATH, BARE_MODE (predict | noop), HOST (127.0.0.1), PORT (8080),
WORKERS (the cores).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

MODEL_PATH = os.environ.get("MODEL_PATH", "/opt/nb2svc/model/model.joblib")
THREAD_POOLS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
NOOP_ANSWER = orjson.dumps({"predictions": [0]})
Handler = Callable[[Request], Awaitable[Response]]


def json_answer(body: bytes, status: int = 200) -> Response:
    """orjson has already encoded `body`; starlette only frames it."""
    return Response(body, status_code=status, media_type="application/json")


async def readyz(_: Request) -> Response:
    """200 as soon as a worker serves: the app (and so the model) is built before that."""
    return json_answer(b'{"status":"ready"}')


def one_thread(model: Any) -> Any:
    """Every `n_jobs` in the model's parameters that is neither unset nor 1 becomes 1.

    The churn notebook fits its forest with n_jobs=-1: each single-row predict then
    starts a pool over every core, with one worker per core already busy (45 -> 79 ms a
    row in compiled-backends-study.md). Someone writing a fast service by hand sets it
    to 1; the labels do not change.
    """
    many = {key: 1 for key, value in model.get_params().items()
            if key.split("__")[-1] == "n_jobs" and value not in (None, 1)}  # fmt: skip
    return model.set_params(**many) if many else model


def predict_handler(model: Any) -> Handler:
    """The handler of one loaded model.

    It is `async` and calls the model inline on purpose: the work is CPU-bound, so a
    thread pool would only add hand-offs; one request at a time per worker process is
    what the cores can do anyway.
    """
    import pandas as pd

    async def predict(request: Request) -> Response:
        try:
            rows = orjson.loads(await request.body())["instances"]
            labels = model.predict(pd.DataFrame(rows)).tolist()
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            return json_answer(orjson.dumps({"error": str(exc)}), status=400)
        return json_answer(orjson.dumps({"predictions": labels}))

    return predict


async def noop(request: Request) -> Response:
    """Read the whole body as a real endpoint must, then answer a constant."""
    await request.body()
    return json_answer(NOOP_ANSWER)


def create_app() -> Starlette:
    """uvicorn's factory, called once in every worker: the model loads per process."""
    if os.environ.get("BARE_MODE", "predict") == "noop":
        handler: Handler = noop
    else:
        import joblib

        handler = predict_handler(one_thread(joblib.load(MODEL_PATH)))
    routes = [Route("/predict", handler, methods=["POST"]), Route("/readyz", readyz)]
    return Starlette(routes=routes)


def main() -> None:
    """Serve `create_app` from WORKERS processes on one port (uvicorn's supervisor).

    The workers inherit one thread per library pool: with a worker per core, numpy's and
    OpenMP's pools of a thread per core each spin against the other workers (measured
    here at 16 connections: churn 30 -> 62 rows a second, lr30 521 -> 764).
    """
    for name in THREAD_POOLS:
        os.environ.setdefault(name, "1")
    uvicorn.run(
        "bare_service:create_app",
        factory=True,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8080")),
        workers=int(os.environ.get("WORKERS", "0")) or os.cpu_count() or 1,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        server_header=False,
    )


if __name__ == "__main__":
    main()
