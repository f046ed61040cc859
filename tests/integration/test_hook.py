"""The post-receive hook with real `git push` to a real bare repository.

Builds run a small real stand-in for `nb2svc build` (it records its argv and the checkout's
HEAD, then waits for a gate file), so queueing, superseding and hostile ref names are tested
in seconds. One slow test runs the real `nb2svc build` on the churn sample.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from trigger_support import STANDIN, git, kill_leftovers, standin_entries, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Site:
    tmp: Path
    bare: Path
    work: Path
    record: Path
    gate: Path

    @property
    def state(self) -> Path:
        return self.bare / "nb2svc"

    def commit(self, text: str) -> str:
        (self.work / "notebook.ipynb").write_text(text)
        git("add", "-A", cwd=self.work)
        git("commit", "-qm", text, cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work).stdout.strip()

    def push(self, refspec: str = "HEAD:refs/heads/main") -> str:
        return git("push", "--quiet", "--force", "origin", refspec, cwd=self.work).stderr

    def entries(self, event: str = "end") -> list[dict[str, Any]]:
        return standin_entries(self.record, event)

    def builds(self) -> list[tuple[int, str, str]]:
        db = self.state / "history.sqlite"
        if not db.exists():
            return []
        with sqlite3.connect(db) as con:
            return list(con.execute("SELECT id, status, sha FROM builds ORDER BY id"))

    def install(self, *extra: str) -> None:
        command = f"{sys.executable} {self.tmp / 'standin.py'} {self.record} {self.gate}"
        trigger("hook", "install", str(self.bare), "--build-command", command, *extra)


def trigger(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`python -m nb2svc.triggers ARGS`, output captured; raises on failure unless not `check`."""
    argv = [sys.executable, "-m", "nb2svc.triggers", *args]
    return subprocess.run(argv, capture_output=True, text=True, check=check)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    bare, work = tmp_path / "churn.git", tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    git("remote", "add", "origin", str(bare), cwd=work)
    (tmp_path / "standin.py").write_text(STANDIN)
    s = Site(tmp_path, bare, work, tmp_path / "record.jsonl", tmp_path / "gate")
    yield s
    s.gate.touch()  # release anything still waiting, then make sure nothing is left running
    left = kill_leftovers(str(tmp_path), grace=30)
    assert not left, f"processes left running: {left}"


def test_push_builds_the_pushed_commit_in_the_background(site: Site) -> None:
    site.install("-n", "notebook.ipynb", "--image", "localhost/churn-model")
    sha = site.commit("v1")
    started = time.monotonic()
    output = site.push()
    assert time.monotonic() - started < 10, "the push waited for the build"
    assert f"build #1 of main at {sha[:12]}" in output
    wait_for(lambda: site.entries("start"), "the build to start")
    site.gate.touch()
    wait_for(lambda: site.builds() == [(1, "succeeded", sha)], "the build to succeed")
    (entry,) = site.entries()
    assert entry["head"] == sha
    checkout, *rest = entry["argv"]
    assert rest == [
        f"--tag=localhost/churn-model:{sha[:12]}",
        f"--outdir={site.state / 'builds' / '1' / 'out'}",
        "--notebook=notebook.ipynb",
    ]
    assert not Path(checkout).exists(), "the checkout is removed after the build"
    log = (site.state / "builds" / "1" / "build.log").read_text()
    assert "standin.py" in log


def test_builds_are_serialized_and_a_queued_build_is_superseded_by_a_newer_one(site: Site) -> None:
    site.install()
    first = site.commit("v1")
    site.push()
    wait_for(lambda: site.entries("start"), "the first build to start")
    second = site.commit("v2")
    site.push()
    wait_for(lambda: [b[1] for b in site.builds()] == ["running", "queued"], "#2 queued")
    third = site.commit("v3")
    site.push()
    wait_for(lambda: [b[1] for b in site.builds()] == ["running", "queued", "queued"], "#3")
    assert len(site.entries("start")) == 1, "only one build of the repository at a time"
    site.gate.touch()
    expected = [(1, "succeeded", first), (2, "superseded", second), (3, "succeeded", third)]
    wait_for(lambda: site.builds() == expected, "builds #1 and #3 to finish")
    done = site.entries()
    assert [e["head"] for e in done] == [first, third]
    assert done[1]["start"] >= done[0]["end"], "the second build overlapped the first"


def test_hostile_ref_names_reach_no_shell_and_build_nothing(site: Site) -> None:
    site.install()
    site.commit("v1")
    hostile = [
        "refs/heads/$(touch${IFS}pwned)",
        "refs/heads/`touch${IFS}pwned`",
        "refs/heads/x;touch${IFS}pwned",
        "refs/heads/-rf",
        "refs/tags/$(touch${IFS}pwned)",
    ]
    outputs = [site.push(f"HEAD:{ref}") for ref in hostile]
    # A name with a space is refused by git itself; make sure of that, too.
    refused = subprocess.run(
        ["git", "push", "origin", "HEAD:refs/heads/$(touch pwned)"],
        cwd=site.work, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert all("ignored" in out for out in outputs), outputs
    assert not list(site.tmp.rglob("pwned")), "a ref name was run by a shell"
    assert not Path("pwned").exists()
    assert site.builds() == []
    assert site.entries("start") == []


def test_configured_branch_only_and_deletions_are_ignored(site: Site) -> None:
    site.install("--branch", "release")
    site.commit("v1")
    assert "not a configured branch" in site.push("HEAD:refs/heads/main")
    out = site.push("HEAD:refs/heads/release")
    assert "build #1 of release" in out
    site.gate.touch()
    wait_for(lambda: [b[1] for b in site.builds()] == ["succeeded"], "the release build")
    deleted = git("push", "origin", "--delete", "release", cwd=site.work).stderr
    assert "deleted" in deleted
    assert len(site.builds()) == 1


def test_wait_makes_the_push_wait_for_the_build_and_builds_lists_it(site: Site) -> None:
    site.install("--wait")
    site.gate.touch()
    sha = site.commit("v1")
    output = site.push()
    assert "build #1: succeeded" in output
    assert site.builds() == [(1, "succeeded", sha)]
    listing = trigger("hook", "builds", "--config", str(site.state / "hook.json")).stdout
    assert listing.split()[:5] == ["#1", "succeeded", str(site.bare), "main", sha[:12]]


def test_install_refuses_a_foreign_hook_and_a_non_bare_repo(site: Site) -> None:
    hook = site.bare / "hooks" / "post-receive"
    hook.write_text("#!/bin/sh\necho mine\n")
    failed = trigger("hook", "install", str(site.bare), check=False)
    assert failed.returncode == 9
    assert "not installed by nb2svc" in failed.stderr
    assert hook.read_text() == "#!/bin/sh\necho mine\n"
    not_bare = trigger("hook", "install", str(site.work), check=False)
    assert not_bare.returncode == 9
    assert "not a bare git repository" in not_bare.stderr


@pytest.mark.slow
def test_real_nb2svc_build_of_the_churn_sample(tmp_path: Path) -> None:
    """The default build command on sample-notebooks/churn pushed to a bare repository."""
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed")
    bare, work = tmp_path / "churn.git", tmp_path / "work"
    shutil.copytree(REPO_ROOT / "sample-notebooks" / "churn", work)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    git("init", "-q", "-b", "main", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-qm", "churn", cwd=work)
    git("remote", "add", "origin", str(bare), cwd=work)
    sha = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    trigger("hook", "install", str(bare), "--wait")
    image = f"localhost/churn:{sha[:12]}"
    try:
        output = git("push", "origin", "main", cwd=work, timeout=1800).stderr
        log = (bare / "nb2svc" / "builds" / "1" / "build.log").read_text()
        assert "build #1: succeeded" in output, log[-4000:]
        exists = subprocess.run(["buildah", "inspect", "--type", "image", image], check=False)
        assert exists.returncode == 0, f"{image} not found"
    finally:
        subprocess.run(["buildah", "rmi", "-f", image], capture_output=True, check=False)
