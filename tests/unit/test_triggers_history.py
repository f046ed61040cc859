"""The SQLite history as a queue: supersede, dedup, claim, crash recovery, persistence."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from nb2svc.triggers.history import History
from nb2svc.triggers.queue import RepoLock


def spec(sha: str, *, repo: str = "r", ref: str = "refs/heads/main") -> dict[str, Any]:
    return {"repo": repo, "ref": ref, "sha": sha * 40, "image": f"img:{sha * 12}", "source": "/x"}


@pytest.fixture
def history(tmp_path: Path) -> History:
    return History(tmp_path / "h.sqlite")


def test_queueing_supersedes_nothing_and_same_ref_lists_the_candidates(
    history: History,
) -> None:
    """Arrival order says nothing about which commit is newer: the worker decides with git."""
    one = history.enqueue(spec("a")).build_id
    running = history.claim_next("r")
    assert running is not None
    assert running.id == one
    two = history.enqueue(spec("b")).build_id
    other_ref = history.enqueue(spec("c", ref="refs/heads/dev")).build_id
    three = history.enqueue(spec("d")).build_id
    assert {b.id: b.status for b in history.recent()} == {
        one: "running", two: "queued", other_ref: "queued", three: "queued",
    }  # fmt: skip
    history.finish(one, "failed", exit_code=None, error="cannot fetch")
    two_build = history.get(two)
    assert two_build is not None
    # Newest first; #1 never ran its build (no exit code), so it contains nothing.
    assert [b.id for b in history.same_ref(two_build)] == [three]
    claimed = history.claim_next("r")
    assert claimed is not None
    history.finish(claimed.id, "superseded", exit_code=None, superseded_by=three)
    done = history.get(two)
    assert done is not None
    assert (done.status, done.superseded_by) == ("superseded", three)


def test_same_commit_is_not_queued_twice_and_deliveries_deduplicate(history: History) -> None:
    first = history.enqueue(spec("a"), delivery="github:1:x", mac="m1")
    assert not first.duplicate
    again = history.enqueue(spec("a"), delivery="github:1:x", mac="m1")
    assert (again.build_id, again.duplicate) == (first.build_id, True)
    same_commit = history.enqueue(spec("a"), delivery="github:1:y", mac="m2")
    assert (same_commit.build_id, same_commit.duplicate) == (first.build_id, True)
    assert history.seen_delivery("github:1:y") == first.build_id
    assert history.mac_owner("m1") == "github:1:x"
    assert history.mac_owner("nope") is None
    assert len(history.recent()) == 1


def test_history_and_interrupted_builds_survive_reopening(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite")
    one = history.enqueue(spec("a"), delivery="d1").build_id
    history.claim_next("r")
    history.enqueue(spec("b"), delivery="d2")
    reopened = History(tmp_path / "h.sqlite")
    assert reopened.repos_with_work() == ["r"]
    stale = reopened.requeue_running("r")
    assert [b.id for b in stale] == [one]
    assert [b.status for b in reopened.recent()] == ["queued", "queued"]
    assert reopened.seen_delivery("d1") == one
    build = reopened.claim_next("r")
    assert build is not None
    reopened.finish(build.id, "succeeded", exit_code=0, image_id="sha256:abc")
    done = reopened.get(build.id)
    assert done is not None
    assert (done.status, done.image_id) == ("succeeded", "sha256:abc")
    assert done.to_json()["notebooks"] == []


def test_repo_lock_is_exclusive_across_open_files(tmp_path: Path) -> None:
    first, second = RepoLock(tmp_path, "repo"), RepoLock(tmp_path, "repo")
    assert first.acquire(block=False)
    assert not second.acquire(block=False)
    assert RepoLock(tmp_path, "other").acquire(block=False)
    first.release()
    assert second.acquire(block=False)
    second.release()


def test_credentials_in_rows_of_older_versions_are_redacted_on_open(tmp_path: Path) -> None:
    token = "glpat-OLDtoken123"
    path = tmp_path / "h.sqlite"
    history = History(path)
    leaky = dict(spec("a"), source=f"https://oauth2:{token}@gitlab.example/acme/churn.git")
    build_id = history.enqueue(leaky).build_id
    with sqlite3.connect(path) as db:  # as an older version wrote them
        db.execute(
            "UPDATE builds SET status='failed', error=? WHERE id=?",
            (f"cannot clone https://oauth2:{token}@gitlab.example/acme/churn.git", build_id),
        )
    db.close()
    assert token.encode() in path.read_bytes() + _wal(path)
    reopened = History(path)
    build = reopened.get(build_id)
    assert build is not None
    assert build.spec["source"] == "https://gitlab.example/acme/churn.git"
    assert build.error == "cannot clone https://gitlab.example/acme/churn.git"
    assert token.encode() not in path.read_bytes() + _wal(path)


def _wal(path: Path) -> bytes:
    wal = path.with_name(path.name + "-wal")
    return wal.read_bytes() if wal.exists() else b""
