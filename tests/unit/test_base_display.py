"""What a person sees while the base images are made: phases on screen, every line in a log.

Stand-ins replace the engines: debootstrap replays a real run's output
(tests/fixtures/debootstrap/), buildah replays STEP lines and apt-get noise.
"""

from __future__ import annotations

import io
import re
import stat
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nb2svc.engine.buildah import Buildah, BuildRequest
from nb2svc.engine.debootstrap import DEFAULT_MIRROR, Debootstrap
from nb2svc.engine.errors import DebootstrapError
from nb2svc.image import base
from nb2svc.state import StateDir

REAL_RUN = Path(__file__).parents[1] / "fixtures" / "debootstrap" / "bookworm-minbase.txt"
APT_NOISE = [
    "Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]",
    "(Reading database ... 5%",
    "Setting up gcc (4:12.2.0-3) ...",
]
STAMP = re.compile(r"^\[ *[0-9.ms]+\] ")


class ReplayedDebootstrap(Debootstrap):
    def __init__(self, lines: Sequence[str], *, fail: bool = False) -> None:
        super().__init__()
        self.lines, self.fail = lines, fail

    def check(self) -> str:
        return "/usr/sbin/debootstrap"

    def create(
        self,
        suite: str,
        target: Path,
        *,
        include: Sequence[str],
        mirror: str = DEFAULT_MIRROR,
        variant: str = "minbase",
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        assert on_line is not None
        for line in self.lines:
            on_line(line)
        if self.fail:
            raise DebootstrapError(["debootstrap", suite], 1, self.lines[-3:])
        for rel in ("usr/bin", "etc/apt/apt.conf.d", "etc/dpkg/dpkg.cfg.d"):
            (target / rel).mkdir(parents=True)
        (target / "usr/bin/python3.11").touch()

    def pack(self, rootfs: Path, tarball: Path) -> None:
        tarball.touch()


class ReplayedBuildah(Buildah):
    """`build()` as it is, with `buildah build` itself replaced by STEP lines and noise."""

    def __init__(self, *, progress: bool = True) -> None:
        super().__init__(progress=progress, stream=io.StringIO())
        self.quiet: list[bool] = []
        self.removed: list[str] = []

    def _build_streamed(
        self, request: BuildRequest, on_line: Callable[[str], None] | None, quiet: bool
    ) -> tuple[int, tuple[str, ...]]:
        self.quiet.append(quiet)
        assert on_line is not None
        for line in ["STEP 1/2: FROM scratch", *APT_NOISE, "STEP 2/2: RUN apt-get update"]:
            on_line(line)
        request.iidfile.write_text("sha256:abc")
        return 2, ()

    def image_exists(self, ref: str) -> bool:
        return False

    def image_id(self, ref: str) -> str:
        return "abc"

    def tag(self, image: str, *refs: str) -> None:
        pass

    def rmi(self, *refs: str, force: bool = False) -> None:
        self.removed.extend(refs)

    def shown(self) -> list[str]:
        assert isinstance(self.stream, io.StringIO)
        return [STAMP.sub("", line) for line in self.stream.getvalue().splitlines()]


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No network, no real uv, locks and logs under tmp_path."""
    uv = tmp_path / "uv"
    uv.touch()
    monkeypatch.setattr(base, "WORK_DIR", tmp_path)
    monkeypatch.setattr(base, "suite_available", lambda suite, mirror: True)
    monkeypatch.setattr(base, "find_uv", lambda: uv)
    monkeypatch.setenv("NB2SVC_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def only_log(state: Path) -> Path:
    (log,) = (state / "logs").glob("base-3.11-*.log")
    return log


def test_making_the_base_images_shows_one_line_per_phase(state: Path) -> None:
    buildah = ReplayedBuildah()
    debootstrap = ReplayedDebootstrap(REAL_RUN.read_text().splitlines())
    images = base.ensure_base_image("3.11", buildah, debootstrap=debootstrap)
    assert images.built
    log = only_log(state)
    assert buildah.shown() == [
        "nb2svc: making the base images localhost/nb2svc/python:3.11 (Debian bookworm); "
        f"full log: {log}",
        "debootstrap bookworm: reading the package index",
        "debootstrap bookworm: resolving packages",
        "debootstrap bookworm: downloading packages",
        "debootstrap bookworm: extracting packages",
        "debootstrap bookworm: installing core packages",
        "debootstrap bookworm: unpacking required packages",
        "debootstrap bookworm: configuring required packages",
        "debootstrap bookworm: unpacking the base system",
        "debootstrap bookworm: configuring the base system",
        "debootstrap bookworm: done",
        "root filesystem: trimming and packing",
        "debian image STEP 1/2: FROM scratch",
        "debian image STEP 2/2: RUN apt-get update",
        "runtime image STEP 1/2: FROM scratch",
        "runtime image STEP 2/2: RUN apt-get update",
        "build image STEP 1/2: FROM scratch",
        "build image STEP 2/2: RUN apt-get update",
        "finished",
    ]
    assert buildah.quiet == [True] * 3, "buildah's own display would repeat every line"
    assert buildah.removed == ["abc"], "the Debian image both bases come from is not kept"


def test_the_log_has_every_line_and_is_private(state: Path) -> None:
    buildah = ReplayedBuildah()
    lines = REAL_RUN.read_text().splitlines()
    base.ensure_base_image("3.11", buildah, debootstrap=ReplayedDebootstrap(lines))
    log = only_log(state)
    logged = log.read_text().splitlines()
    raw = [line for line in logged if not line.startswith(("[", "nb2svc: "))]
    step_lines = ["STEP 1/2: FROM scratch", *APT_NOISE, "STEP 2/2: RUN apt-get update"]
    assert raw == [*lines, *step_lines * 3]  # the Debian image, the runtime and build bases
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700


def test_a_failed_debootstrap_keeps_its_tail_and_names_the_log(state: Path) -> None:
    buildah = ReplayedBuildah()
    lines = REAL_RUN.read_text().splitlines()[:20]
    lines += ["W: Failure trying to run: chroot /x dpkg --install adduser.deb", "W: See log"]
    with pytest.raises(DebootstrapError) as info:
        base.ensure_base_image("3.11", buildah, debootstrap=ReplayedDebootstrap(lines, fail=True))
    log = only_log(state)
    assert info.value.stderr_tail == tuple(lines[-3:])
    assert info.value.details[-1] == f"full log: {log}"
    assert buildah.shown()[-3:] == [
        "debootstrap bookworm: W: Failure trying to run: chroot /x dpkg --install adduser.deb",
        "debootstrap bookworm: W: See log",
        f"failed; full log: {log}",
    ]
    assert set(lines) <= set(log.read_text().splitlines())


def test_without_progress_nothing_is_shown_but_the_log_is_written(state: Path) -> None:
    buildah = ReplayedBuildah(progress=False)
    lines = REAL_RUN.read_text().splitlines()
    base.ensure_base_image("3.11", buildah, debootstrap=ReplayedDebootstrap(lines))
    assert buildah.shown() == []
    assert set(lines) <= set(only_log(state).read_text().splitlines())


def test_logs_are_named_by_job_and_utc_time(tmp_path: Path) -> None:
    when = datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC)
    path = StateDir(tmp_path).new_log("base-3.11", now=when)
    assert path == tmp_path / "logs" / "base-3.11-20261201T235959Z.log"
    assert path.read_text() == ""
