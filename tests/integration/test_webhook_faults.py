"""A webhook build that fails in any way fails alone: the repository's worker builds the next.

Real faults, really run: a git server on 127.0.0.1 that accepts the fetch and never answers
(past a short `git_timeout`), a build command that does not exist. Issue #13, item 2.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from trigger_support import (
    GitServer,
    Server,
    kill_leftovers,
    serving,
    wait_for,
)


@pytest.fixture
def faulty(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    """The server; `churn` fetches from a git server whose first fetch hangs, with the
    `git_timeout` a test gives as the fixture's parameter (none by default)."""
    git_server = GitServer(tmp_path, hang=1)
    timeout = getattr(request, "param", None)
    repos: dict[str, dict[str, object]] = {
        "churn": {"clone_url": git_server.url("churn.git"), "git_timeout": timeout},
        "missing": {"build_command": [str(tmp_path / "no-such-build-command")]},
    }
    try:
        with serving(tmp_path, repos) as server:
            yield server
    finally:
        git_server.stop()


@pytest.mark.parametrize("faulty", [1], indirect=True, ids=["git_timeout=1"])
def test_a_fetch_that_hangs_past_git_timeout_fails_that_build_and_the_next_one_builds(
    faulty: Server,
) -> None:
    first = faulty.deliver(faulty.shas[1])
    wait_for(lambda: faulty.get(f"/builds/{first}")["status"] == "failed", "the hung fetch")
    failed = faulty.get(f"/builds/{first}")
    assert "did not finish within 1 seconds" in failed["error"]
    assert "killed after 1 s" in failed["log"]
    second = faulty.deliver(faulty.shas[2])
    (faulty.tmp / "gate").touch()
    wait_for(lambda: faulty.get(f"/builds/{second}")["status"] == "succeeded", "the next build")
    assert [e["head"] for e in faulty.entries("end")] == [faulty.shas[2]]


def test_a_build_command_that_does_not_exist_fails_each_build_and_never_stalls_the_queue(
    faulty: Server,
) -> None:
    for sha in faulty.shas[1:]:
        build = faulty.deliver(sha, "missing", repo="acme/missing")
        wait_for(lambda b=build: faulty.get(f"/builds/{b}")["status"] == "failed", f"#{build}")
        error = faulty.get(f"/builds/{build}")["error"]
        assert "cannot run" in error
        assert "no-such-build-command" in error


@pytest.mark.parametrize("faulty", [60], indirect=True, ids=["git_timeout=60"])
def test_sigterm_during_a_hung_fetch_ends_git_and_the_build_runs_after_restart(
    faulty: Server,
) -> None:
    build = faulty.deliver(faulty.shas[2])
    wait_for(lambda: "fetch" in faulty.get(f"/builds/{build}").get("log", ""), "the fetch")
    started = time.monotonic()
    faulty.stop()
    assert time.monotonic() - started < 10, "the server waited for the hung git"
    assert not kill_leftovers(str(faulty.tmp)), "git was left running"
    faulty.start()
    (faulty.tmp / "gate").touch()
    wait_for(lambda: faulty.get(f"/builds/{build}")["status"] == "succeeded", "the build")
    assert [e["head"] for e in faulty.entries("end")] == [faulty.shas[2]]
