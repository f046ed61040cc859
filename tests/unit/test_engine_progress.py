"""Progress display: step parsing and what a person sees on a terminal and in CI logs."""

from __future__ import annotations

import io

import pytest
from nb2svc.engine.progress import Progress, Step, format_seconds, parse_step


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("STEP 1/3: FROM x AS a", Step(1, 3, "FROM x AS a")),
        ("[2/2] STEP 3/5: RUN cat /x", Step(3, 5, "RUN cat /x", 2, 2)),
        ("\x1b[1mSTEP 2/2: COPY . /src\x1b[0m", Step(2, 2, "COPY . /src")),
        ("STEP 4: RUN true", Step(4, None, "RUN true")),
        ("Copying blob sha256:abc", None),
        ("echo STEP 1/2: inside a RUN", None),
    ],
)
def test_parse_step(line: str, expected: Step | None) -> None:
    assert parse_step(line) == expected


def test_step_label() -> None:
    assert Step(3, 5, "RUN x", 2, 2).label() == "[2/2] STEP 3/5: RUN x"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_mode_prints_every_line_and_times_steps() -> None:
    out, clock = io.StringIO(), Clock()
    with Progress(out, tty=False, title="build x", clock=clock) as progress:
        progress("STEP 1/2: FROM base")
        clock.now += 2.5
        progress("STEP 2/2: RUN make")
        progress("compiling")
        clock.now += 61
    assert out.getvalue().splitlines() == [
        "[   0.0s] STEP 1/2: FROM base",
        "[   2.5s] STEP 2/2: RUN make",
        "compiling",
        "build x finished after 1m03s",
    ]
    assert progress.steps_seen == 2


def test_tty_mode_keeps_one_status_line_and_reports_finished_steps() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress(out, tty=True, title="build", clock=clock)
    with progress:
        progress("STEP 1/2: FROM base")
        clock.now += 1.0
        progress("noise that is not shown")
        progress("STEP 2/2: RUN make")
    progress.finish(ok=False)
    text = out.getvalue()
    assert "\r\x1b[K[   1.0s] STEP 2/2: RUN make" in text
    assert "  done STEP 1/2: FROM base (1.0s)\n" in text
    assert "noise" not in text
    assert "build finished after 1.0s\n" in text
    assert text.endswith("build failed after 1.0s\n")


def test_format_seconds() -> None:
    assert (format_seconds(0.04), format_seconds(59.9), format_seconds(125)) == (
        "0.0s",
        "59.9s",
        "2m05s",
    )
