"""Serve side: Prometheus metrics (multi-process aware via PROMETHEUS_MULTIPROC_DIR)."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
DEFAULT_VALUE_BUCKETS = (-1000.0, -100.0, -10.0, -1.0, 0.0, 1.0, 10.0, 100.0, 1000.0)
MAX_CLASS_LABELS = 100
MAX_CACHED_CHILDREN = 256  # label sets whose metric children are kept (Metrics.child)


class Metrics:
    """All metrics of one process; prediction metrics depend on the model's task."""

    def __init__(
        self, task: str, classes: tuple[Any, ...] | None, quantiles: tuple[float, ...]
    ) -> None:
        self.requests = Counter(
            "nb2svc_requests", "HTTP requests served", ["route", "method", "status"]
        )
        self.latency = Histogram(
            "nb2svc_request_duration_seconds",
            "HTTP request latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
        )
        self.rows = Counter("nb2svc_predicted_rows", "Rows predicted")
        self.batch = Histogram("nb2svc_batch_rows", "Rows per model call", buckets=BATCH_BUCKETS)
        self.rejected = Counter("nb2svc_rejected", "Requests refused because the queue was full")
        self.ready = Gauge(
            "nb2svc_model_ready", "1 when the model is loaded and warmed", multiprocess_mode="min"
        )
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.task = task
        self.classes = {str(c) for c in classes or ()}
        if task == "classification":
            self.by_class = Counter(
                "nb2svc_predictions", "Predictions per predicted class", ["class"]
            )
        else:
            buckets = tuple(quantiles) if len(quantiles) >= 2 else DEFAULT_VALUE_BUCKETS
            self.values = Histogram(
                "nb2svc_prediction_value", "Distribution of predicted values", buckets=buckets
            )

    def child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, looked up in prometheus_client once per label set (its
        `labels()` locks and builds a key); at most MAX_CACHED_CHILDREN sets are kept, since a
        client picks a request's method."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = metric.labels(*labels)
            if len(self._children) < MAX_CACHED_CHILDREN:
                self._children[key] = found
        return found

    def observe_predictions(self, predictions: list[Any]) -> None:
        self.rows.inc(len(predictions))
        if self.task == "classification":
            for value in predictions:
                label = str(value)
                if label not in self.classes and len(self.classes) >= MAX_CLASS_LABELS:
                    label = "other"
                self.child(self.by_class, label).inc()
            return
        for value in predictions:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.values.observe(value)


def exposition() -> tuple[bytes, str]:
    """The text exposition format for this server (all workers in multi-process mode)."""
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
