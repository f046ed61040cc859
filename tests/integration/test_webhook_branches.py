"""Webhook builds are of the branch's own commits, newest wins (issue #13, item 3).

Real git repositories in tmp folders: a bare origin whose `main` holds three commits, and
deliveries to the real server for commits that are on `main`, only on a pull-request ref,
or older than one already queued.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from trigger_support import (
    Server,
    commit,
    git,
    serving,
    wait_for,
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path, {"churn": {"branches": ["main"]}}) as srv:
        yield srv


def build(server: Server, build_id: int) -> dict[str, object]:
    result: dict[str, object] = server.get(f"/builds/{build_id}")
    return result


def test_a_commit_that_only_a_pull_request_ref_holds_is_not_built(server: Server) -> None:
    work, bare = server.tmp / "work", server.tmp / "churn.git"
    outsider = commit(work, "from a fork")
    git("push", "-q", str(bare), f"{outsider}:refs/pull/1/head", cwd=work)
    refused = server.deliver(outsider)
    wait_for(lambda: build(server, refused)["status"] == "failed", "the refusal")
    error = str(build(server, refused)["error"])
    assert f"commit {outsider} is not on branch main" in error
    assert f"its tip is {server.shas[2]}" in error
    assert server.entries("start") == [], "nothing was built"


def test_an_older_commit_arriving_late_is_superseded_by_the_newer_build(server: Server) -> None:
    oldest, older, newest = server.shas
    running = server.deliver(oldest)
    wait_for(lambda: server.entries("start"), "the first build to start")
    newer_build = server.deliver(newest)
    late = server.deliver(older)  # the delivery of an earlier push, arriving last
    (server.tmp / "gate").touch()
    wait_for(lambda: build(server, late)["status"] == "superseded", "the late one to be dropped")
    wait_for(lambda: build(server, newer_build)["status"] == "succeeded", "the newest build")
    assert build(server, running)["status"] == "succeeded"
    dropped = build(server, late)
    assert dropped["superseded_by"] == newer_build
    assert f"superseded by build #{newer_build} of {newest[:12]}" in str(dropped["error"])
    assert [e["head"] for e in server.entries("end")] == [oldest, newest]


def test_a_queued_older_commit_is_superseded_by_a_newer_push(server: Server) -> None:
    oldest, older, newest = server.shas
    server.deliver(oldest)
    wait_for(lambda: server.entries("start"), "the first build to start")
    queued = server.deliver(older)
    newer_build = server.deliver(newest)
    (server.tmp / "gate").touch()
    wait_for(lambda: build(server, newer_build)["status"] == "succeeded", "the newest build")
    assert (build(server, queued)["status"], build(server, queued)["superseded_by"]) == (
        "superseded", newer_build,
    )  # fmt: skip
    assert [e["head"] for e in server.entries("end")] == [oldest, newest]


def test_a_branch_reset_to_an_older_commit_builds_that_commit(server: Server) -> None:
    _, older, newest = server.shas
    (server.tmp / "gate").touch()
    first = server.deliver(newest)
    wait_for(lambda: build(server, first)["status"] == "succeeded", "the newest build")
    git("push", "-q", "--force", str(server.tmp / "churn.git"), f"{older}:refs/heads/main",
        cwd=server.tmp / "work")  # fmt: skip
    rollback = server.deliver(older)
    wait_for(lambda: build(server, rollback)["status"] == "succeeded", "the rollback build")
    assert [e["head"] for e in server.entries("end")] == [newest, older]
