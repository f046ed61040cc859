"""Phases of long jobs: which debootstrap/buildah lines a person sees, and the display of them.

`tests/fixtures/debootstrap/bookworm-minbase.txt` is the real output of
`debootstrap --variant=minbase --include=python3,libgomp1,ca-certificates,tini bookworm`.
"""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest
from nb2svc.engine.debootstrap import debootstrap_phase
from nb2svc.engine.progress import Phase, PhaseDisplay, step_phase

REAL_RUN = Path(__file__).parents[1] / "fixtures" / "debootstrap" / "bookworm-minbase.txt"
INDEX = Phase("reading the package index")
RESOLVING = Phase("resolving packages")
DOWNLOADING = Phase("downloading packages")
EXTRACTING = Phase("extracting packages")
WARNING = "W: Cannot check Release signature; keyring file not available /usr/share/keyrings/x"
ERROR = "E: Failed getting release file http://deb.debian.org/debian/dists/nosuch/Release"


@pytest.mark.parametrize(
    ("line", "phase"),
    [
        ("I: Target architecture can be executed", None),
        ("I: Retrieving InRelease ", INDEX),
        ("I: Checking Release signature", INDEX),
        ("I: Valid Release signature (key id 4D64FEC119C2029067D6E791F8D2585B8783D481)", INDEX),
        ("I: Retrieving Packages ", INDEX),
        ("I: Validating Packages ", INDEX),
        ("I: Resolving dependencies of required packages...", RESOLVING),
        ("I: Resolving dependencies of base packages...", RESOLVING),
        ("I: Found additional required dependencies: libaudit1 libcap-ng0", RESOLVING),
        ("I: Checking component main on http://deb.debian.org/debian...", RESOLVING),
        ("I: Retrieving libc6 2.36-9+deb12u14", DOWNLOADING),
        ("I: Validating python3 3.11.2-1+b1", DOWNLOADING),
        ("I: Chosen extractor for .deb packages: dpkg-deb", EXTRACTING),
        ("I: Extracting libc6...", EXTRACTING),
        ("I: Installing core packages...", Phase("installing core packages")),
        ("I: Unpacking required packages...", Phase("unpacking required packages")),
        ("I: Unpacking libc6:amd64...", None),
        ("I: Configuring required packages...", Phase("configuring required packages")),
        ("I: Configuring libc6:amd64...", None),
        ("I: Unpacking the base system...", Phase("unpacking the base system")),
        ("I: Unpacking tini...", None),
        ("I: Configuring the base system...", Phase("configuring the base system")),
        ("I: Configuring python3...", None),
        ("I: Base system installed successfully.", Phase("done")),
        (WARNING, Phase(WARNING, notice=True)),
        (ERROR, Phase(ERROR, notice=True)),
    ],
)
def test_debootstrap_phase_of_a_line(line: str, phase: Phase | None) -> None:
    assert debootstrap_phase(line) == phase


def test_a_real_debootstrap_run_is_ten_phases_instead_of_553_lines() -> None:
    lines = REAL_RUN.read_text().splitlines()
    phases = [p.text for p in map(debootstrap_phase, lines) if p is not None]
    assert len(lines) == 553
    assert [text for text, _ in itertools.groupby(phases)] == [
        "reading the package index",
        "resolving packages",
        "downloading packages",
        "extracting packages",
        "installing core packages",
        "unpacking required packages",
        "configuring required packages",
        "unpacking the base system",
        "configuring the base system",
        "done",
    ]


def test_buildah_steps_are_the_phases_of_a_build() -> None:
    assert step_phase("STEP 4/6: RUN apt-get update") == Phase("STEP 4/6: RUN apt-get update")
    assert step_phase("[2/2] STEP 1/3: FROM x") == Phase("[2/2] STEP 1/3: FROM x")


@pytest.mark.parametrize(
    "line",
    [
        "Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]",
        "(Reading database ... 5%",
        "Setting up tini (0.19.0-1+b3) ...",
        "COMMIT",
        "--> 3f2a1b",
        'STEP 7/17: LABEL "io.nb2svc.base.python"="3.11"',
        "STEP 3/17: ENV LANG=C.UTF-8",
        'STEP 5/17: ENTRYPOINT ["/usr/bin/tini", "--"]',
    ],
)
def test_other_buildah_lines_are_detail(line: str) -> None:
    assert step_phase(line) is None


class Clock:
    """Advances a tenth of a second each time it is read."""

    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        self.now += 0.1
        return self.now


def display(out: io.StringIO | None, log: io.StringIO) -> PhaseDisplay:
    return PhaseDisplay(out, log, title="making x", log_path=Path("/s/logs/x.log"), clock=Clock())


def test_shows_phase_changes_and_every_notice_and_logs_every_line() -> None:
    out, log = io.StringIO(), io.StringIO()
    lines = [
        "I: Retrieving adduser 3.134",
        "W: Cannot check Release signature",
        "I: Validating adduser 3.134",
        "I: Extracting adduser...",
        "I: Base system installed successfully.",
    ]
    with display(out, log) as shown:
        feed = shown.hook("debootstrap bookworm:", debootstrap_phase)
        for line in lines:
            feed(line)
    assert out.getvalue().splitlines() == [
        "nb2svc: making x; full log: /s/logs/x.log",
        "[   0.1s] debootstrap bookworm: downloading packages",
        "[   0.2s] debootstrap bookworm: W: Cannot check Release signature",
        "[   0.3s] debootstrap bookworm: extracting packages",
        "[   0.4s] debootstrap bookworm: done",
        "[   0.5s] finished",
    ]
    logged = log.getvalue().splitlines()
    assert [line for line in logged if line not in out.getvalue().splitlines()] == lines
    assert logged.index("[   0.1s] debootstrap bookworm: downloading packages") == 1
    assert logged.index("I: Retrieving adduser 3.134") == 2


def test_long_phases_are_cut_but_notices_are_not() -> None:
    out, long_text = io.StringIO(), "RUN apt-get update && " + "x" * 200
    with display(out, io.StringIO()) as shown:
        shown.hook("runtime image", step_phase)(f"STEP 4/6: {long_text}")
        shown.notice("E: " + "y" * 200)
    phase_line, notice_line = out.getvalue().splitlines()[1:3]
    assert len(phase_line) == 100
    assert phase_line.startswith("[   0.1s] runtime image STEP 4/6: RUN apt-get update && xxx")
    assert phase_line.endswith("...")
    assert notice_line == "[   0.2s] E: " + "y" * 200


def test_a_failure_names_the_log_again() -> None:
    out = io.StringIO()
    with pytest.raises(RuntimeError), display(out, io.StringIO()):
        raise RuntimeError
    assert out.getvalue().splitlines()[-1] == "[   0.1s] failed; full log: /s/logs/x.log"


def test_without_a_stream_only_the_log_is_written() -> None:
    log = io.StringIO()
    with display(None, log) as shown:
        shown.hook("build image", step_phase)("STEP 1/2: FROM base")
    assert log.getvalue().splitlines() == [
        "nb2svc: making x; full log: /s/logs/x.log",
        "[   0.1s] build image STEP 1/2: FROM base",
        "STEP 1/2: FROM base",
        "[   0.2s] finished",
    ]
