"""The build source: which files go in, which notebook is built, git URLs and provenance."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from nb2svc.errors import UsageError
from nb2svc.source import is_git_url, list_source_files, open_source, select_notebooks


def make_repo(root: Path) -> Path:
    for rel in ("nb.ipynb", "data/train.csv", "helpers.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    for junk in (".git/HEAD", "__pycache__/h.pyc", ".ipynb_checkpoints/nb-checkpoint.ipynb",
                 "myenv/pyvenv.cfg", "myenv/lib/site.py", "nb2svc-out/report.json"):  # fmt: skip
        (root / junk).parent.mkdir(parents=True, exist_ok=True)
        (root / junk).write_text("x")
    return root


def git(root: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@e", "GIT_COMMITTER_DATE": "2024-05-06T07:08:09Z",
           "GIT_AUTHOR_DATE": "2024-05-06T07:08:09Z", "PATH": "/usr/bin:/bin"}  # fmt: skip
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()  # fmt: skip


def test_vcs_caches_checkpoints_outputs_and_committed_virtualenvs_stay_out(tmp_path: Path) -> None:
    assert list_source_files(make_repo(tmp_path)) == ("data/train.csv", "helpers.py", "nb.ipynb")


def test_a_link_pointing_outside_the_source_is_not_copied(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (tmp_path / "secret.txt").write_text("s3cret")
    (repo / "leak.txt").symlink_to(tmp_path / "secret.txt")
    assert "leak.txt" not in list_source_files(repo)


def test_the_only_notebook_is_chosen_when_none_is_named(tmp_path: Path) -> None:
    assert select_notebooks(make_repo(tmp_path), [], []) == [tmp_path / "nb.ipynb"]


def test_several_notebooks_without_a_choice_is_an_error_listing_them(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo / "other.ipynb").write_text("{}")
    with pytest.raises(UsageError, match="2 notebooks") as caught:
        select_notebooks(repo, [], [])
    assert "other.ipynb" in caught.value.render()


def test_a_named_notebook_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"'nope\.ipynb' not found"):
        select_notebooks(make_repo(tmp_path), ["nope.ipynb"], [])


def test_a_git_repository_gives_revision_and_commit_date(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / ".git").rename(tmp_path / "junk-git")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first")
    with open_source(str(repo)) as source:
        assert source.revision == git(repo, "rev-parse", "HEAD")
        assert source.created == "2024-05-06T07:08:09Z"


def test_a_git_url_with_a_ref_is_cloned_at_that_commit(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "nb.ipynb").write_text("one")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    first = git(repo, "rev-parse", "HEAD")
    (repo / "nb.ipynb").write_text("two")
    git(repo, "commit", "-qam", "two")
    with open_source(f"file://{repo}#{first}") as source:
        assert source.revision == first
        assert (source.root / "nb.ipynb").read_text() == "one"
    assert not source.root.exists()


def test_git_urls_are_told_apart_from_directories(tmp_path: Path) -> None:
    assert is_git_url("https://github.com/me/churn.git")
    assert is_git_url("file:///srv/git/churn")
    assert not is_git_url(str(tmp_path))


def test_a_missing_source_directory_is_a_usage_error(tmp_path: Path) -> None:
    with (
        pytest.raises(UsageError, match="neither a directory nor a git URL"),
        open_source(str(tmp_path / "missing")),
    ):
        pass


@pytest.mark.parametrize(
    "origin",
    [
        "https://gitlab-ci-token:glpat-SECRET@gitlab.example.com/acme/churn.git",
        "https://x-access-token:ghs_SECRET@github.com/acme/churn.git",
        "https://ghs_SECRET@github.com/acme/churn.git",
        "https://github.com/acme/churn.git?private_token=SECRET",
    ],
)
def test_a_token_in_the_origin_url_is_not_recorded(tmp_path: Path, origin: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "remote", "add", "origin", origin)
    with open_source(str(repo)) as source:
        assert source.url is not None
        assert "SECRET" not in source.url
        assert source.url.startswith(("https://gitlab.example.com/", "https://github.com/"))


@pytest.mark.parametrize("origin", [None, "/srv/git/churn.git", "file:///srv/git/churn", "../up"])
def test_a_folder_without_a_public_remote_records_no_source_url(
    tmp_path: Path, origin: str | None
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    if origin:
        git(repo, "remote", "add", "origin", origin)
    with open_source(str(repo)) as source:
        assert source.url is None


def test_a_clone_that_fails_does_not_repeat_the_token(tmp_path: Path) -> None:
    url = f"https://user:SECRET@127.0.0.1:9/{tmp_path.name}.git"
    with pytest.raises(UsageError) as raised, open_source(url):
        pass
    assert "SECRET" not in str(raised.value) + (raised.value.fix or "")
    assert "https://127.0.0.1:9/" in str(raised.value)


@pytest.mark.parametrize("name", ["../outside.ipynb", "/etc/hostname", "data/train.csv"])
def test_a_named_notebook_outside_the_source_or_not_a_notebook_is_refused(
    tmp_path: Path, name: str
) -> None:
    repo = make_repo(tmp_path / "repo")
    (tmp_path / "outside.ipynb").write_text("{}")
    with pytest.raises(UsageError, match=r"outside the source|not found"):
        select_notebooks(repo, [name], [])


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("https://git.example/churn.git#--upload-pack=touch", "not a branch, tag or commit"),
        ("https://git.example/churn.git#main\nx", "control character"),
        ("https://git.example/churn.git#a..b", "not a branch, tag or commit"),
        ("ext::sh -c touch% /tmp/pwned.git", "not a git URL nb2svc fetches"),
        ("fd::3/x.git", "not a git URL nb2svc fetches"),
    ],
)
def test_a_git_spec_that_is_not_a_plain_url_and_ref_is_refused_before_git_runs(
    spec: str, says: str
) -> None:
    with pytest.raises(UsageError, match=says), open_source(spec):
        pass
