"""A build progress display a person can follow.

On a terminal: one live status line (`[ 12s] STEP 3/7: RUN ...`) refreshed every second,
and one permanent line per finished step with its duration. Elsewhere (CI, pipes): every
output line, plain, with `STEP` lines prefixed by the elapsed time.

`PhaseDisplay` is for long jobs whose output nobody reads line by line (making the base
images): one line per phase, everywhere, and every output line in a log file.
"""

from __future__ import annotations

import re
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TextIO

_STEP = re.compile(
    r"^(?:\[(?P<stage>\d+)/(?P<stages>\d+)\] )?STEP (?P<n>\d+)(?:/(?P<m>\d+))?: (?P<text>.*)$"
)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass(frozen=True)
class Step:
    """A `STEP n/m: ...` line of `buildah build` (stage numbers when multi-stage)."""

    number: int
    total: int | None
    text: str
    stage: int | None = None
    stages: int | None = None

    def label(self) -> str:
        total = f"/{self.total}" if self.total is not None else ""
        stage = f"[{self.stage}/{self.stages}] " if self.stage is not None else ""
        return f"{stage}STEP {self.number}{total}: {self.text}"


def parse_step(line: str) -> Step | None:
    """The step a buildah output line starts, or None for any other line."""
    match = _STEP.match(strip_ansi(line).strip())
    if match is None:
        return None
    stage, stages, total = match["stage"], match["stages"], match["m"]
    return Step(
        number=int(match["n"]),
        total=int(total) if total else None,
        text=match["text"],
        stage=int(stage) if stage else None,
        stages=int(stages) if stages else None,
    )


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


class Progress:
    """Feed it output lines (`progress(line)`); use as a context manager around the build."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        tty: bool | None = None,
        verbose: bool = False,
        title: str = "build",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.verbose = verbose
        self.title = title
        self._clock = clock
        self._start = clock()
        self._step: Step | None = None
        self._last = ""
        self._step_start = self._start
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.steps_seen = 0

    def elapsed(self) -> float:
        return self._clock() - self._start

    def __call__(self, line: str) -> None:
        step = parse_step(line)
        with self._lock:
            if line.strip():
                self._last = strip_ansi(line).strip()
            if step is not None:
                self._enter_step(step)
            if self.tty:
                if self.verbose and step is None:
                    self._write_above(line)
                self._draw_status()
            elif step is not None:
                self._write(f"[{format_seconds(self.elapsed()):>7}] {step.label()}\n")
            else:
                self._write(line + "\n")

    def _enter_step(self, step: Step) -> None:
        now = self._clock()
        if self.tty and self._step is not None:
            done = f"  done {self._step.label()} ({format_seconds(now - self._step_start)})"
            self._write_above(done)
        self._step, self._step_start = step, now
        self.steps_seen += 1

    def _status_text(self) -> str:
        label = self._step.label() if self._step else f"{self.title}: {self._last or 'starting'}"
        text = f"[{format_seconds(self.elapsed()):>7}] {label}"
        width = shutil.get_terminal_size((100, 20)).columns - 1
        return text if len(text) <= width else text[: max(width - 3, 10)] + "..."

    def _draw_status(self) -> None:
        self._write("\r\x1b[K" + self._status_text())

    def _write_above(self, text: str) -> None:
        self._write("\r\x1b[K" + text + "\n")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def finish(self, ok: bool) -> None:
        """Print the closing line (duration and outcome)."""
        self._stop.set()
        word = "finished" if ok else "failed"
        with self._lock:
            if self.tty:
                if ok and self._step is not None:
                    took = format_seconds(self._clock() - self._step_start)
                    self._write_above(f"  done {self._step.label()} ({took})")
                self._write("\r\x1b[K")
            self._write(f"{self.title} {word} after {format_seconds(self.elapsed())}\n")

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                self._draw_status()

    def __enter__(self) -> Progress:
        self._start = self._step_start = self._clock()
        if self.tty:
            self._ticker = threading.Thread(target=self._tick, name="nb2svc-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish(ok=exc_type is None)
        if self._ticker is not None:
            self._ticker.join(timeout=2)


@dataclass(frozen=True)
class Phase:
    """What a job is doing, as a person reads it. A `notice` (warning, error) is shown every
    time it comes; any other phase only when it differs from the one shown before."""

    text: str
    notice: bool = False


_METADATA = ("LABEL", "ENV", "CMD", "ENTRYPOINT", "EXPOSE", "USER", "WORKDIR", "ARG")


def step_phase(line: str) -> Phase | None:
    """A buildah `STEP` that does work (FROM, ADD, COPY, RUN) as a phase; metadata steps
    (LABEL, ENV, ...) and every other line of a build are detail."""
    step = parse_step(line)
    if step is None or step.text.split(" ", 1)[0].upper() in _METADATA:
        return None
    return Phase(step.label())


@dataclass(eq=False)
class PhaseDisplay:
    """One line per phase (`[  3.1s] debootstrap bookworm: downloading packages`), all in a log.

    `hook(prefix, classify)` is the line hook for one command: each line goes to `log`, and
    when `classify` makes it a phase, `[elapsed] prefix text` is shown (cut to `width`
    characters; notices are never cut). Shown lines go to the log too, so it reads as a
    timeline. Use as a context manager: a header naming `log_path` on entry, the outcome on
    exit (naming the log again on failure). `stream=None` shows nothing, the log is written.
    """

    stream: TextIO | None
    log: TextIO
    _: KW_ONLY
    title: str
    log_path: Path
    width: int = 100
    clock: Callable[[], float] = time.monotonic
    _start: float = field(init=False)
    _phase: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._start = self.clock()

    def hook(self, prefix: str, classify: Callable[[str], Phase | None]) -> Callable[[str], None]:
        def feed(line: str) -> None:
            found = classify(line)
            if found is not None:
                show = self.notice if found.notice else self.phase
                show(f"{prefix} {found.text}")
            self.log.write(line + "\n")

        return feed

    def phase(self, text: str) -> None:
        """Show `text` as the current phase, unless it already is."""
        if text != self._phase:
            self._phase = text
            line = self._stamped(text)
            self._show(line if len(line) <= self.width else line[: self.width - 3] + "...")

    def notice(self, text: str) -> None:
        self._show(self._stamped(text))

    def _stamped(self, text: str) -> str:
        return f"[{format_seconds(self.clock() - self._start):>7}] {text}"

    def _show(self, line: str) -> None:
        self.log.write(line + "\n")
        if self.stream is not None:
            self.stream.write(line + "\n")
            self.stream.flush()

    def __enter__(self) -> PhaseDisplay:
        self._start = self.clock()
        self._show(f"nb2svc: {self.title}; full log: {self.log_path}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._show(
            self._stamped("finished" if exc_type is None else f"failed; full log: {self.log_path}")
        )
