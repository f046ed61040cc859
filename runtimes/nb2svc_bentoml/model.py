"""The per-worker model service for BentoML: nb2svc's ModelService, loaded synchronously.

BentoML owns the processes; this class loads the artifact once per worker (synchronously,
from the BentoML service's constructor). Requests go through nb2svc's micro-batcher (the
same MAX_BATCH, MAX_BATCH_WAIT_MS and MAX_QUEUE as the default runtime), which starts in
the worker's event loop on the first prediction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from nb2svc_runtime.artifact.format import load_artifact
from nb2svc_runtime.serve.adapters import Adapter, Columns, make_adapter
from nb2svc_runtime.serve.batching import Result
from nb2svc_runtime.serve.service import ModelService

log = logging.getLogger("nb2svc.bentoml")


class BentoModel(ModelService):
    """ModelService with a synchronous load (BentoML calls the constructor, not `start`)."""

    def load(self) -> None:
        """Load the artifact and predict the training sample once; then `ready`."""
        artifact = load_artifact(self.settings.model_dir)
        self.adapter = make_adapter(artifact.model, self.signature)
        rows = self.sample.get("inputs") or []
        if rows:
            result = compute(self.adapter, self.validator.columns(rows), want_proba=True)
            if result.predictions != self.sample.get("predictions", result.predictions):
                log.warning("warm-up predictions differ from the training sample")
        self.ready = True
        self.metrics.ready.set(1)
        log.info("model ready: %s (%s)", self.name, self.signature.framework)

    async def _predict_rows(self, rows: Sequence[Any], want_proba: bool) -> Result:
        """ModelService's path: the micro-batcher, started in this worker's event loop."""
        if self.batcher is None:
            assert self.adapter is not None, "load() runs before the server answers"
            self.batcher = self.start_batcher(self.adapter)
        return await super()._predict_rows(rows, want_proba)


def compute(adapter: Adapter, columns: Columns, want_proba: bool) -> Result:
    predictions, probabilities = adapter.predict_both(adapter.make_input(columns), want_proba)
    return Result(predictions, probabilities)
