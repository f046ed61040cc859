"""Serve side: the per-process model service: loading, warm-up, readiness, predict."""

from __future__ import annotations

import asyncio
import csv
import gc
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..artifact.format import ArtifactError, Signature, load_artifact, read_metadata
from ..artifact.inference import NATIVE, read_inference
from .batching import MicroBatcher, ModelEscaped, Overloaded, Result
from .config import READY_DIR_ENV, WORKERS_ENV, Settings
from .errors import ApiError
from .metrics import Metrics
from .schema import Validator, validator_for
from .threads import pin_threads

if TYPE_CHECKING:  # pandas is imported only when the native model serves
    from .adapters import Adapter

log = logging.getLogger("nb2svc.service")
MODEL_ERRORS = (ValueError, TypeError, KeyError, IndexError)


class ModelService:
    """Holds the model of one worker; `ready` only after load and a warm-up predict."""

    def __init__(self, settings: Settings, on_fatal: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        signature, sample = read_metadata(settings.model_dir)
        self.signature: Signature = replace(signature, name=settings.model_name or signature.name)
        self.sample = sample
        self.validator = validator_for(self.signature, settings.max_rows)
        self.metrics = Metrics(
            self.signature.task, self.signature.classes, self.signature.quantiles
        )
        self.adapter: Adapter | None = None
        self.backend = NATIVE
        self.takes_rows = False
        self.batcher: MicroBatcher | None = None
        self.ready = False
        self.draining = False
        self.load_error: str | None = None
        self._on_fatal = on_fatal
        # A CSV field may be as long as a body may be (MAX_BODY_BYTES), not the csv default.
        csv.field_size_limit(max(csv.field_size_limit(), settings.max_body_bytes))

    @property
    def name(self) -> str:
        return self.signature.name

    def check_name(self, name: str) -> None:
        if name != self.name:
            raise ApiError(404, f"model {name!r} not found", [f"this server serves {self.name!r}"])

    def require_ready(self) -> None:
        if not self.ready:
            reason = self.load_error or "the model is still loading"
            raise ApiError(503, f"model not ready: {reason}", headers={"Retry-After": "1"})

    async def start(self) -> None:
        """Load the model in a thread and warm it up; the server answers meanwhile."""
        loop = asyncio.get_running_loop()
        try:
            self.adapter = await loop.run_in_executor(None, self._load)
            self.batcher = self.start_batcher(self.adapter)
            await self._warm_up()
        except (ArtifactError, ApiError, OSError, *MODEL_ERRORS) as exc:
            self._fail(f"{type(exc).__name__}: {exc}")
            return
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # SystemExit from unpickling is a load failure too
            log.error("model load failed", exc_info=exc)
            self._fail(f"{type(exc).__name__}: {exc}")
            return
        # What loading made (the model, the libraries' objects) never becomes garbage: out
        # of the collector's reach, a full collection no longer walks it in the middle of a
        # request (p99 at 16 connections 56 -> 20 ms; docs/architecture.md, "Request path").
        gc.collect()
        gc.freeze()
        self.ready = True
        self.metrics.ready.set(1)
        _mark_ready()
        log.info(
            "model ready",
            extra={"fields": {"model": self.name, "framework": self.signature.framework}},
        )

    def _load(self) -> Adapter:
        adapter, self.backend = load_backend(self.settings.model_dir, self.signature)
        # A compiled model fed one matrix gets the validated rows as they are (no columns).
        self.takes_rows = bool(getattr(adapter, "takes_rows", False)) and (
            type(self.validator) is Validator
        )
        return adapter

    def _fail(self, reason: str) -> None:
        self.load_error = reason
        log.error("model failed to load", extra={"fields": {"reason": reason}})
        if self._on_fatal is not None:
            self._on_fatal(reason)

    def start_batcher(self, adapter: Adapter) -> MicroBatcher:
        """The micro-batcher for this worker, started in the running event loop."""
        batcher = MicroBatcher(
            adapter,
            max_batch=self.settings.max_batch,
            max_wait=self.settings.max_batch_wait_ms / 1000,
            max_queue=self.settings.max_queue,
            on_batch=self.metrics.batch.observe,
            inline=self.backend != NATIVE,
        )
        batcher.start()
        return batcher

    async def _warm_up(self) -> None:
        rows = self.sample.get("inputs") or []
        if not rows:
            return
        result = await self._predict_rows(rows, want_proba=True)
        expected = self.sample.get("predictions")
        if expected is not None and result.predictions != expected:
            log.warning("warm-up predictions differ from the training sample")

    async def stop(self) -> None:
        self.ready = False
        if self.batcher is not None:
            await self.batcher.stop()

    async def _predict_rows(self, rows: Sequence[Any], want_proba: bool) -> Result:
        assert self.batcher is not None
        if self.takes_rows:
            checked: Any = self.validator.checked_rows(rows)
        else:
            checked = self.validator.columns(rows)
        try:
            return await self.batcher.predict(checked, len(rows), want_proba)
        except Overloaded:
            self.metrics.rejected.inc()
            raise ApiError(
                503, "server overloaded: the prediction queue is full", headers={"Retry-After": "1"}
            ) from None
        except ModelEscaped as exc:
            log.error("the model raised %s", type(exc.raised).__name__, exc_info=exc.raised)
            raise ApiError(
                500,
                f"prediction failed: the model raised {type(exc.raised).__name__}; "
                "see the server log",
            ) from None
        except MODEL_ERRORS as exc:
            message = (
                str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            )
            raise ApiError(422, f"the model rejected the input: {message}") from None
        except Exception:
            log.exception("prediction failed")
            raise ApiError(500, "prediction failed; see the server log") from None

    async def predict(self, rows: Sequence[Any], want_proba: bool) -> Result:
        """Validate, batch, predict; record the prediction distribution."""
        self.require_ready()
        result = await self._predict_rows(rows, want_proba)
        self.metrics.observe_predictions(result.predictions)
        return result


def load_backend(model_dir: Path, signature: Signature) -> tuple[Adapter, str]:
    """The adapter of the backend the build chose (inference.json; ARTIFACT.md) and its
    name: the compiled model, loaded without the notebook's libraries or pandas, or the
    native model with its library threads pinned to one per worker."""
    choice = read_inference(model_dir)
    if choice.compiled:
        from ..compiled.onnx_model import OnnxModel

        model = OnnxModel(model_dir / str(choice.file), signature, choice.feeds)
        return model, choice.backend  # type: ignore[return-value]
    from .adapters import make_adapter

    artifact = load_artifact(model_dir)
    pinned = pin_threads(artifact.model)
    if pinned:
        log.info("model threads pinned to one", extra={"fields": {"was": pinned}})
    return make_adapter(artifact.model, signature), choice.backend


def _mark_ready() -> None:
    directory = os.environ.get(READY_DIR_ENV)
    if directory:
        Path(directory, f"ready-{os.getpid()}").touch()


def all_workers_ready() -> bool:
    """With several workers, /readyz is 200 only once every worker has warmed up."""
    directory = os.environ.get(READY_DIR_ENV)
    if not directory:
        return True
    expected = int(os.environ.get(WORKERS_ENV, "1"))
    try:
        count = sum(1 for path in Path(directory).iterdir() if path.name.startswith("ready-"))
    except OSError:
        return True
    return count >= expected


def fatal_exit_hook() -> tuple[Callable[[str], None], threading.Event]:
    """An on_fatal callback and the event it sets (the worker runner watches it)."""
    event = threading.Event()
    return (lambda _reason: event.set()), event
