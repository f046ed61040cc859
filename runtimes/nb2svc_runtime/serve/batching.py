"""Serve side: adaptive micro-batching of concurrent requests within one worker process.

Requests are queued; one task takes everything queued (up to `max_batch` rows), merges
the columns, runs one vectorized predict in a dedicated thread, and routes each slice of
the result back to its caller. While a batch runs, new requests accumulate for the next
one, so batches grow with load and a lone request is not delayed. The batcher waits (at
most `max_wait` seconds) only when other requests are known to be on their way. A full
queue raises `Overloaded` instead of growing.

A native model runs in a predict thread of its own, so a long call leaves the event loop
free; a compiled model (ONNX Runtime on a graph the build proved, no notebook code) runs
`inline` in the batcher's task: its batches take microseconds, less than the hand-off to a
thread and back costs, and with one worker per core a thread would only contend for the
GIL (docs/architecture.md, "Request path").

Model code cannot stop the worker: whatever it raises,
`SystemExit` and `KeyboardInterrupt` included, becomes that request's error (a
`BaseException` that is not an `Exception` arrives as `ModelEscaped`). Only the supervisor
decides to stop (process.py). The predict thread is a daemon: a model call that never
returns cannot keep the process from exiting after SIGTERM and SHUTDOWN_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:  # the native adapter imports pandas; a compiled model serves without it
    from .adapters import Adapter, Columns


log = logging.getLogger("nb2svc.batching")


class Overloaded(Exception):
    """The queue is full: the caller should answer 503 with Retry-After."""


class ModelEscaped(Exception):
    """The model raised a BaseException that is not an Exception (SystemExit,
    KeyboardInterrupt, GeneratorExit, ...): held here so it fails one request only."""

    def __init__(self, raised: BaseException) -> None:
        super().__init__(f"{type(raised).__name__}: {raised}")
        self.raised = raised


@dataclass
class Result:
    predictions: list[Any]
    probabilities: list[list[float]] | None


@dataclass
class _Job:
    columns: Columns | list[Any]  # or the validated rows (ModelService.takes_rows)
    rows: int
    want_proba: bool
    future: asyncio.Future[Result]


Outcome = Union[Result, BaseException]  # evaluated at import: no `|` (Python 3.9)
Call = Callable[[], list[Outcome]]


class PredictThread:
    """One daemon thread that runs the model calls, in order."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[tuple[Future[list[Outcome]], Call] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._serve, name="nb2svc-predict", daemon=True)
        self._thread.start()

    def submit(self, call: Call) -> Future[list[Outcome]]:
        future: Future[list[Outcome]] = Future()
        self._calls.put((future, call))
        return future

    def _serve(self) -> None:
        while (item := self._calls.get()) is not None:
            future, call = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as exc:  # kept for the awaiting request, not raised here
                future.set_exception(exc)

    def stop(self) -> None:
        """Ends the thread after the call it runs now (it does not wait for that call)."""
        self._calls.put(None)


class MicroBatcher:
    def __init__(
        self,
        adapter: Adapter,
        *,
        max_batch: int,
        max_wait: float,
        max_queue: int,
        on_batch: Callable[[int], None] | None = None,
        inline: bool = False,
    ) -> None:
        self.adapter = adapter
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.max_queue = max_queue
        self.on_batch = on_batch
        self.arriving = 0  # requests that will submit soon (serve/predict.py, Arriving)
        self._queue: deque[_Job] = deque()
        self._wakeup = asyncio.Event()
        self._thread = None if inline else PredictThread()
        self._task: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="nb2svc-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for job in self._queue:
            if not job.future.done():
                job.future.set_exception(Overloaded())
        if self._thread is not None:
            self._thread.stop()

    async def predict(self, columns: Columns | list[Any], rows: int, want_proba: bool) -> Result:
        if len(self._queue) >= self.max_queue:
            raise Overloaded
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append(_Job(columns, rows, want_proba, future))
        self._wakeup.set()
        return await future

    async def _gather_wait(self) -> None:
        deadline = time.monotonic() + self.max_wait
        while self.arriving > 0 and time.monotonic() < deadline:
            if sum(job.rows for job in self._queue) >= self.max_batch:
                return
            await asyncio.sleep(0.0002)

    def _take(self) -> list[_Job]:
        batch = [self._queue.popleft()]
        rows = batch[0].rows
        while self._queue and rows + self._queue[0].rows <= self.max_batch:
            job = self._queue.popleft()
            rows += job.rows
            batch.append(job)
        return [job for job in batch if not job.future.done()]

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self.max_wait > 0 and self.arriving > 0:
                await self._gather_wait()
            batch = self._take()
            if not batch:
                continue
            try:
                if self._thread is None:
                    outcomes = self._run_batch(batch)
                else:
                    call = self._thread.submit(functools.partial(self._run_batch, batch))
                    outcomes = await asyncio.wrap_future(call)
            except Exception as exc:  # the batcher's own failure: fail this batch, go on
                log.exception("a batch failed outside the model")
                outcomes = [exc] * len(batch)
            for job, outcome in zip(batch, outcomes):
                if job.future.done():
                    continue
                if isinstance(outcome, BaseException):
                    job.future.set_exception(outcome)
                else:
                    job.future.set_result(outcome)

    def _compute(self, columns: Columns | list[Any], want_proba: bool) -> Result:
        data = self.adapter.make_input(columns)  # type: ignore[arg-type]  # rows: OnnxModel
        predictions, proba = self.adapter.predict_both(data, want_proba)
        return Result(predictions, proba)

    def _one(self, job: _Job) -> Outcome:
        try:
            return self._compute(job.columns, job.want_proba)
        except Exception as exc:
            return exc
        except BaseException as exc:  # model code may not end the worker
            return ModelEscaped(exc)

    def _run_batch(self, batch: list[_Job]) -> list[Outcome]:
        if self.on_batch is not None:
            self.on_batch(sum(job.rows for job in batch))
        if len(batch) == 1:
            return [self._one(batch[0])]
        merged: Columns | list[Any]
        if isinstance(batch[0].columns, list):  # rows (ModelService.takes_rows): one list
            merged = [row for job in batch for row in job.columns]
        else:
            columns: Columns = {name: [] for name in batch[0].columns}
            for job in batch:
                assert isinstance(job.columns, dict)
                for name, values in job.columns.items():
                    columns[name].extend(values)
            merged = columns
        try:
            result = self._compute(merged, any(job.want_proba for job in batch))
        except BaseException:  # each request then gets its own outcome
            return [self._one(job) for job in batch]
        outcomes: list[Outcome] = []
        start = 0
        for job in batch:
            end = start + job.rows
            proba = (
                result.probabilities[start:end] if result.probabilities and job.want_proba else None
            )
            outcomes.append(Result(result.predictions[start:end], proba))
            start = end
        return outcomes
