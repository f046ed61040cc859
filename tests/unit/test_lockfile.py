"""One commit, one lock, whichever path builds it: `nb2svc.lock` travels with the source,
and a source without its git history is dated explicitly. Real uv resolutions against the
package index, always as of a fixed past date, so no test depends on what it serves today."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nb2svc.cli import main
from nb2svc.errors import EXIT_DEPENDENCIES
from nb2svc.lock import Lock
from nb2svc.lockfile import LOCKFILE, LockFile, read_lockfile, render_lockfile
from nb2svc.s2i import assemble
from nb2svc.s2i.settings import s2i_options
from nb2svc.s2i.steps import Layout

ROOT = Path(__file__).resolve().parents[2]
CHURN = ROOT / "sample-notebooks" / "churn"
COMMITTED = "2025-06-02T09:30:00Z"  # the sample's last commit, in these tests


def committed_churn(tmp_path: Path, *, with_lock: bool = False) -> Path:
    """The churn sample committed into a new git repository on COMMITTED."""
    repo = tmp_path / "repo"
    shutil.copytree(CHURN, repo, ignore=shutil.ignore_patterns(*([] if with_lock else [LOCKFILE])))
    env = {**os.environ, "GIT_AUTHOR_DATE": COMMITTED, "GIT_COMMITTER_DATE": COMMITTED}
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for args in (["init", "-q"], ["add", "-A"], [*ident, "commit", "-q", "-m", "churn"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env)
    return repo


def s2i_upload(repo: Path, tmp_path: Path) -> Layout:
    """What s2i hands assemble: the source without `.git`, under <destination>/src."""
    destination = tmp_path / "upload"
    shutil.copytree(repo, destination / "src", ignore=shutil.ignore_patterns(".git"))
    return Layout(
        destination=destination,
        app_src=destination / "src",
        model=tmp_path / "model",
        venv=Path(sys.prefix),
        lib=ROOT / "runtimes",
        cache=tmp_path / "s2i-cache",
        build=tmp_path / "build",
    )


def s2i_lock(layout: Layout, env: dict[str, str]) -> Lock:
    """The lock S2I's assemble resolves for its upload, with `env` as the build's environment."""
    settings = s2i_options(env)
    analysis = assemble._analyze(layout.src, settings)
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return assemble._lock(analysis, layout, settings, io.StringIO())
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_nb2svc_lock_writes_the_lock_that_s2i_then_installs_without_resolving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = committed_churn(tmp_path)
    assert main(["lock", str(repo)]) == 0
    written = read_lockfile(repo / LOCKFILE)
    assert written is not None
    assert written.exclude_newer == "2025-06-02"  # the notebook's commit date
    assert "resolved as of 2025-06-02" in capsys.readouterr().err

    lock = s2i_lock(s2i_upload(repo, tmp_path), {})  # no history, no date: the file decides
    assert lock.source == "lockfile"
    assert lock.text == written.pins
    assert lock.notes == (f"the committed {LOCKFILE} (resolved as of 2025-06-02)",)
    assert not (tmp_path / "s2i-cache" / "locks").exists()  # nothing was resolved


def test_without_a_lock_file_s2i_resolves_like_the_cli_when_told_the_commit_time(
    tmp_path: Path,
) -> None:
    repo = committed_churn(tmp_path)
    assert main(["lock", str(repo)]) == 0
    cli = read_lockfile(repo / LOCKFILE)
    assert cli is not None
    (repo / LOCKFILE).unlink()
    epoch = int(datetime.fromisoformat(COMMITTED).astimezone(UTC).timestamp())

    dated = s2i_lock(s2i_upload(repo, tmp_path), {"SOURCE_DATE_EPOCH": str(epoch)})
    assert dated.text == cli.pins
    assert dated.exclude_newer == "2025-06-02"
    assert "SOURCE_DATE_EPOCH dates the source 2025-06-02" in dated.notes[0]


def test_an_explicit_cutoff_reaches_s2i_through_its_environment(tmp_path: Path) -> None:
    repo = committed_churn(tmp_path)
    lock = s2i_lock(s2i_upload(repo, tmp_path / "a"), {"NB2SVC_EXCLUDE_NEWER": "2025-06-02"})
    assert lock.exclude_newer == "2025-06-02"
    undated = s2i_lock(s2i_upload(repo, tmp_path / "b"), {})  # dated by the notebook itself
    assert "no git history; estimated 2023-10-02 from the notebook" in undated.notes[0]
    assert "its kernel is Python 3.11, current until Python 3.12" in undated.notes[0]


def test_a_lock_for_other_inputs_is_not_used_and_the_build_says_why(tmp_path: Path) -> None:
    repo = committed_churn(tmp_path)
    assert main(["lock", str(repo)]) == 0
    text = (repo / LOCKFILE).read_text()
    (repo / LOCKFILE).write_text(text.replace("# inputs: ", "# inputs: 0"))  # other inputs
    assert main(["lock", "--check", str(repo)]) == EXIT_DEPENDENCIES

    lock = s2i_lock(s2i_upload(repo, tmp_path), {"NB2SVC_EXCLUDE_NEWER": "2025-06-02"})
    assert lock.source != "lockfile"
    assert any("was resolved for other inputs" in note for note in lock.notes)
    assert main(["lock", str(repo)]) == 0  # rewritten for today's inputs
    assert main(["lock", "--check", str(repo)]) == 0


def test_a_file_nb2svc_did_not_write_is_not_a_lock(tmp_path: Path) -> None:
    (tmp_path / LOCKFILE).write_text("numpy==1.26.4\n")
    assert read_lockfile(tmp_path / LOCKFILE) is None
    assert read_lockfile(tmp_path / "absent") is None


def test_a_lock_file_reads_back_as_written(tmp_path: Path) -> None:
    lock = Lock("joblib==1.4.2\n", {"joblib": "1.4.2"}, "uv 0.9", "3.11", "linux", "abc")
    (tmp_path / LOCKFILE).write_text(render_lockfile(lock))
    assert read_lockfile(tmp_path / LOCKFILE) == LockFile(
        inputs="abc", python="3.11", platform="linux", exclude_newer=None, tool="uv 0.9",
        pins="joblib==1.4.2\n",
    )  # fmt: skip


def test_the_committed_sample_lock_matches_its_inputs() -> None:
    """Changing nb2svc_runtime/requirements.txt or the sample means `nb2svc lock` and a commit."""
    assert main(["lock", "--check", str(CHURN)]) == 0
