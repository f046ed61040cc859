"""The runner with real git and real processes: whatever fails, fails that build only, with
its reason in the history, and `drain` goes on with the repository's next build."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from nb2svc.triggers.history import History
from nb2svc.triggers.queue import drain
from nb2svc.triggers.runner import Runner


def git(*args: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@e")  # fmt: skip
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def origin(tmp_path: Path) -> tuple[Path, list[str]]:
    """A repository whose `main` has two commits; `feature` holds the first."""
    repo = tmp_path / "origin"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    shas = []
    for i in range(2):
        (repo / "nb.ipynb").write_text(str(i))
        git("add", "-A", cwd=repo)
        git("commit", "-qm", str(i), cwd=repo)
        shas.append(git("rev-parse", "HEAD", cwd=repo))
    git("branch", "feature", shas[0], cwd=repo)
    return repo, shas


def spec(source: Path, sha: str, ref: str = "refs/heads/main", **extra: Any) -> dict[str, Any]:
    return {"repo": "r", "source": str(source), "ref": ref, "sha": sha, "image": "img:x",
            "build_command": [sys.executable, "-c", "pass"], **extra}  # fmt: skip


def outcome(history: History) -> list[tuple[str, str | None]]:
    return [(b.status, b.error) for b in reversed(history.recent())]


def test_an_unwritable_build_folder_fails_that_build_and_the_next_one_builds(
    tmp_path: Path, origin: tuple[Path, list[str]]
) -> None:
    repo, (first, second) = origin
    state = tmp_path / "state"
    history = History(state / "history.sqlite")
    (state / "builds").mkdir()
    (state / "builds" / "1").write_text("a file where the build's folder goes")
    history.enqueue(spec(repo, first, ref="refs/heads/feature"))
    history.enqueue(spec(repo, second, ref="refs/heads/other"))  # a branch that does not exist
    history.enqueue(spec(repo, second))
    drain(Runner(history, state), "r")
    (status1, error1), (status2, error2), (status3, error3) = outcome(history)
    assert status1 == "failed"
    assert error1 is not None
    assert "NotADirectoryError" in error1 or "FileExistsError" in error1
    assert status2 == "failed"
    assert (error2 or "").startswith("cannot fetch branch other from")
    assert (status3, error3) == ("succeeded", None)


def test_a_missing_git_fails_the_build_with_what_to_do(
    tmp_path: Path, origin: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, (first, _) = origin
    history = History(tmp_path / "state" / "history.sqlite")
    history.enqueue(spec(repo, first))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no git on this PATH
    drain(Runner(history, tmp_path / "state"), "r")
    ((status, error),) = outcome(history)
    assert status == "failed"
    assert error is not None
    assert "cannot run git" in error
    assert "install git" in error
