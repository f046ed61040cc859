"""Shared fixtures: the engine boundaries, ONE local base image, and cleanup of what tests create.

The base images (`localhost/nb2svc/python:3.11` and `:3.11-build`) are built once per
machine (about a minute, offline from Debian packages) and reused by later runs; they are
never removed by tests. Everything else a test creates goes through `created`, which
removes it after the test, passed or failed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import go_tools
import pytest
import python_peers
from cluster_support import KubeCluster, running_cluster
from nb2svc.engine.buildah import Buildah
from nb2svc.engine.podman import Podman
from nb2svc.errors import Nb2svcError
from nb2svc.image.base import BaseImages, ensure_base_image
from registry_support import Registry, missing_tools, running_registry

BASE_PYTHON = os.environ.get("NB2SVC_TEST_PYTHON", "3.11")


Engine = TypeVar("Engine", Buildah, Podman)


def checked(engine: Engine) -> Engine:
    """`engine` once its `check()` passes; skips the test when the tool is unusable here."""
    try:
        engine.check()
    except Nb2svcError as err:
        pytest.skip(f"{engine.binary} unusable: {err.render()}")
    return engine


@pytest.fixture(scope="session")
def buildah() -> Buildah:
    """A checked `Buildah` without the progress display."""
    return checked(Buildah(progress=False))


@pytest.fixture(scope="session")
def podman() -> Podman:
    return checked(Podman())


@pytest.fixture(scope="session")
def base_images(buildah: Buildah) -> BaseImages:
    """The local base images for NB2SVC_TEST_PYTHON (default 3.11), built if missing."""
    if os.geteuid() != 0:
        pytest.skip("making the local base image needs root (debootstrap)")
    return ensure_base_image(BASE_PYTHON, buildah)


@dataclass
class Created:
    """What a test made in container storage, removed (newest first) after the test."""

    buildah: Buildah
    podman: Podman | None = None
    images: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    pod_containers: list[str] = field(default_factory=list)

    def image(self, ref: str) -> str:
        if ref.startswith("localhost/nb2svc/python:"):
            msg = f"{ref} is a shared base image; tests must not remove it"
            raise ValueError(msg)
        self.images.append(ref)
        return ref

    def container(self, name: str) -> str:
        self.containers.append(name)
        return name

    def podman_container(self, name: str) -> str:
        self.pod_containers.append(name)
        return name

    def cleanup(self) -> None:
        for name in reversed(self.pod_containers):
            if self.podman is not None and self.podman.exists(name):
                self.podman.rm(name, force=True)
        for name in reversed(self.containers):
            if any(
                name in (c.get("id"), c.get("containername")) for c in self.buildah.containers()
            ):
                self.buildah.rm(name)
        for ref in reversed(self.images):
            if self.buildah.image_exists(ref):
                self.buildah.rmi(ref, force=True)


@pytest.fixture
def created(buildah: Buildah) -> Iterator[Created]:
    """Register images/containers a test creates; they are removed after the test."""
    record = Created(buildah)
    try:
        yield record
    finally:
        record.cleanup()


@pytest.fixture
def created_podman(created: Created, podman: Podman) -> Created:
    created.podman = podman
    return created


@pytest.fixture
def test_image(buildah: Buildah, request: pytest.FixtureRequest) -> Iterator[str]:
    """A unique image reference for this test, removed afterwards."""
    name = request.node.name.replace("_", "-")[:40].lower().strip("-")
    ref = f"localhost/nb2svc-e2e-{name}:test"
    yield ref
    if buildah.image_exists(ref):
        buildah.rmi(ref, force=True)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A real registry on 127.0.0.1 (TLS from a CA of its own, htpasswd), once per session;
    stopped, and checked to listen no more, at the end (tests/registry_support.py)."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (scripts/setup.sh installs them)")
    with running_registry(tmp_path_factory.mktemp("registry")) as running:
        print(f"\nregistry {running.host} up in {running.started_seconds:.2f} s", file=sys.stderr)
        yield running


# The peers that are Go programs (tests/go_tools.py). The control plane's binary takes ~15 min
# to build on a fresh machine, so when any collected test needs a Go tool, the missing ones
# are built in the background from collection time on, at nice 19, overlapping the image
# builds that run first. A fixture that needs one before it is done builds or waits for it.
_SESSION_STARTED = time.time()
_PREFETCH: list[subprocess.Popen[bytes]] = []
_PEERS: dict[str, str] = {}  # what the summary prints: each real peer and its version
GO_TOOL_FIXTURES = {
    "kube_cluster": go_tools.KUBE,
    "s2i_cli": go_tools.S2I,
    "tekton_check_cli": go_tools.TEKTON_CHECK,
    "actionlint_cli": go_tools.ACTIONLINT,
    "act_cli": go_tools.ACT,
}


def _go_rank(item: pytest.Item) -> int:
    names = set(getattr(item, "fixturenames", ()))
    if "kube_cluster" in names:
        return 2
    return 1 if names & GO_TOOL_FIXTURES.keys() else 0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules whose tests need a Go-built peer run after all the others, the control plane's
    last: its cold build (~15 min at nice 19 beside the image builds) then has the whole run
    to finish in the background instead of a test waiting for it. A module moves as a whole,
    so its module-scoped fixtures (an image, a registry) are still set up once; within a rank
    the collected order stays (a stable sort)."""
    rank: dict[Path, int] = {}
    for item in items:
        rank[item.path] = max(rank.get(item.path, 0), _go_rank(item))
    items.sort(key=lambda item: rank[item.path])


def pytest_collection_finish(session: pytest.Session) -> None:
    wanted = {
        tool.name
        for item in session.items
        for fixture, tool in GO_TOOL_FIXTURES.items()
        if fixture in getattr(item, "fixturenames", ())
    }
    proc = go_tools.start_builds(t for t in go_tools.ALL.values() if t.name in wanted)
    if proc is not None:
        _PREFETCH.append(proc)


def pytest_sessionfinish(session: pytest.Session) -> None:
    for proc in _PREFETCH:
        if proc.poll() is None:  # an interrupted or finished run: stop the builds and compilers
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name in sorted(_PEERS):
        terminalreporter.write_line(f"peer {name}: {_PEERS[name]}")


def go_tool(tool: go_tools.GoTool) -> Path:
    """The tool's binary (built now, or by the prefetch, when not cached), noted for the
    summary with its version and what its build cost; fails under CI when Go is missing."""
    if shutil.which("go") is None and tool.cached() is None:
        if os.environ.get("CI"):
            pytest.fail(f"Go is needed to build {tool.about}; install it")
        pytest.skip(f"Go is not installed: {tool.about} cannot be built")
    asked = time.time()
    path, _ = go_tools.binary(tool)
    waited = time.time() - asked
    record = tool.build_record()
    if record and record["finished"] >= _SESSION_STARTED:
        cost = f"built in this run in {record['seconds']:.0f} s (cached for later runs)"
        into = asked - _SESSION_STARTED
        cost += f"; the first test needing it waited {waited:.0f} s, {into:.0f} s into the run"
    else:
        cost = "cached" + (f" (its first build took {record['seconds']:.0f} s)" if record else "")
    _PEERS[tool.name] = f"{tool.version}, {tool.about}, {cost}"
    return path


@pytest.fixture(scope="session")
def client_python() -> Path:
    """The Python of the protocol clients' own venv (tests/python_peers.py), pinned."""
    python = python_peers.client_python()
    for name, version in python_peers.versions(python).items():
        _PEERS[name] = f"{version} (PyPI, tests/peers/clients.lock)"
    return python


@pytest.fixture(scope="session")
def s2i_cli() -> Path:
    """The real `s2i` CLI (openshift/source-to-image), built from the Go module proxy."""
    return go_tool(go_tools.S2I)


@pytest.fixture(scope="session")
def tekton_check_cli() -> Path:
    """`tekton-check` (tools/tekton-check): Tekton Pipelines' own v1 types, defaulting and
    validation, built from the Go module proxy."""
    return go_tool(go_tools.TEKTON_CHECK)


@pytest.fixture(scope="session")
def actionlint_cli() -> Path:
    """The real `actionlint` (rhysd/actionlint), built from the Go module proxy."""
    return go_tool(go_tools.ACTIONLINT)


@pytest.fixture(scope="session")
def act_cli() -> Path:
    """The real `act` (nektos/act), built from the Go module proxy."""
    return go_tool(go_tools.ACT)


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """kube-apiserver, controller manager, scheduler, etcd and kwok on 127.0.0.1, once per
    session; every process stopped, and checked gone, at the end."""
    go_tool(go_tools.KUBE)
    with running_cluster(tmp_path_factory.mktemp("cluster")) as cluster:
        _PEERS["kube (start)"] = (
            f"control plane started in {cluster.started_seconds:.1f} s "
            f"(etcd, kube-apiserver, controller manager, scheduler, kwok; {cluster.server})"
        )
        print(f"\n{_PEERS['kube (start)']}", file=sys.stderr)
        yield cluster
