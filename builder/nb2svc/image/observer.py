"""Read a build's output as it streams: steps, cache hits, timings, training errors.

buildah prints `[2/4] STEP 3/5: RUN ...` per instruction and `--> Using cache <id>`
when a layer is reused. Stages interleave: a `COPY --from=train` step of a later stage
is announced, then the train stage runs, and only then is that step's cache hit
printed, after the training output. Such a step is "suspended" (the next STEP line
came from another stage before it printed anything); a cache line that cannot belong
to the latest step (which printed output, so it ran) belongs to the latest suspended one.
The training step prints one `NB2SVC-ERROR {json}` line when a notebook cell raises (see
nb2svc_runtime.train.support).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nb2svc_runtime.contract import ERROR_MARKER

from nb2svc.image.containerfile import StepKind, step_kind

_STEP = re.compile(r"^(?:\[(\d+)/(\d+)\] )?STEP (\d+)/(\d+): (.*)$")
_ERROR = re.compile(re.escape(ERROR_MARKER) + r" (\{.*\})\s*$")


@dataclass
class Step:
    stage: int
    number: int
    instruction: str
    started: float
    ended: float | None = None
    cached: bool = False
    lines: int = 0  # output lines printed under this step (a step that prints ran)
    suspended: bool = False

    @property
    def seconds(self) -> float:
        return round((self.ended or time.monotonic()) - self.started, 3)

    @property
    def kind(self) -> StepKind | None:
        return step_kind(self.instruction)


@dataclass
class BuildObserver:
    """Feed it every output line; ask it afterwards what happened."""

    clock: Callable[[], float] = time.monotonic
    steps: list[Step] = field(default_factory=list)
    training_error: dict[str, Any] | None = None
    whole_build_reused: bool = False  # the same context built this image before: no build ran
    install_lines: list[str] = field(default_factory=list)

    def feed(self, line: str) -> None:
        now = self.clock()
        match = _STEP.match(line.strip())
        if match:
            self._close(now)
            stage = int(match[1] or 1)
            self._suspend_if_switching(stage)
            self.steps.append(Step(stage, int(match[3]), match[5], now))
            return
        if line.startswith("--> Using cache") and self.steps:
            step = self._cache_owner()
            if step is not None:
                step.cached = True
            return
        if self.steps and not line.startswith("-->"):
            self.steps[-1].lines += 1
        error = _ERROR.search(line)
        if error:
            self.training_error = _load(error[1])
        elif self._in_install_step():
            self.install_lines.append(line.rstrip())
            del self.install_lines[:-60]

    def _suspend_if_switching(self, stage: int) -> None:
        last = self.steps[-1] if self.steps else None
        if last is not None and last.stage != stage and not last.cached and last.lines == 0:
            last.suspended = True

    def _cache_owner(self) -> Step | None:
        last = self.steps[-1]
        if not last.cached and last.lines == 0:
            return last
        waiting = [s for s in self.steps if s.suspended and not s.cached and s.lines == 0]
        return waiting[-1] if waiting else None

    def finish(self) -> None:
        self._close(self.clock())

    def _close(self, now: float) -> None:
        if self.steps and self.steps[-1].ended is None:
            self.steps[-1].ended = now

    def _in_install_step(self) -> bool:
        return bool(self.steps) and self.steps[-1].kind in (StepKind.DEPS, StepKind.SERVE_DEPS)

    def step_of(self, kind: StepKind) -> Step | None:
        """The first step of this kind (nb2svc.image.containerfile.step_kind)."""
        return next((s for s in self.steps if s.kind is kind), None)

    def step_matching(self, needle: str) -> Step | None:
        return next((s for s in self.steps if needle in s.instruction), None)

    def stage_seconds(self) -> dict[str, float]:
        """Seconds per build stage, named by the stage's FROM ... AS name."""
        names: dict[int, str] = {}
        totals: dict[str, float] = {}
        for step in self.steps:
            if step.instruction.startswith("FROM ") and " AS " in step.instruction:
                names[step.stage] = step.instruction.rsplit(" AS ", 1)[1].strip()
            name = names.get(step.stage, f"stage{step.stage}")
            totals[name] = round(totals.get(name, 0.0) + step.seconds, 3)
        return totals


def _load(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
