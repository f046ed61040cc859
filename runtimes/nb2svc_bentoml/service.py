"""The BentoML service for an nb2svc model artifact: `bentoml serve nb2svc_bentoml.service`.

Generated from the artifact at import: the model name (in the routes), the signature and
the sample come from MODEL_DIR, the process count from WORKERS (see USAGE.md in
nb2svc_runtime; the same variables apply). Each BentoML worker loads the model once.
"""

from __future__ import annotations

import bentoml
from nb2svc_runtime.serve.config import Settings

from .app import build_app
from .model import BentoModel

SETTINGS = Settings.from_env()
MODEL = BentoModel(SETTINGS)
APP = build_app(MODEL)


@bentoml.service(
    name="nb2svc",
    workers=SETTINGS.workers,
    traffic={"timeout": 60, "max_concurrency": SETTINGS.max_queue},
    logging={"access": {"enabled": False}},
)
@bentoml.asgi_app(APP, path="/")
class ModelServer:
    """One instance per BentoML worker; readiness follows the model's load and shutdown."""

    def __init__(self) -> None:
        MODEL.load()

    async def __is_ready__(self) -> bool:
        return MODEL.ready and not MODEL.draining

    @bentoml.on_shutdown  # type: ignore[untyped-decorator,unused-ignore]
    async def drain(self) -> None:
        MODEL.draining = True
        await MODEL.stop()
