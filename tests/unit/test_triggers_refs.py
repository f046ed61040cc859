"""Parsing and validating what a post-receive hook and forges hand us."""

from __future__ import annotations

import pytest
from nb2svc.triggers.hook import hook_script, image_name, push_options
from nb2svc.triggers.refs import branch_of, is_oid, is_zero, parse_post_receive

A, B = "a" * 40, "b" * 40
Z = "0" * 40


def test_parse_lines_creation_update_deletion_and_sha256() -> None:
    long = "c" * 64
    updates, rejected = parse_post_receive(
        [f"{Z} {A} refs/heads/main\n", f"{A} {B} refs/heads/dev\n", f"{B} {Z} refs/heads/old\n",
         f"{Z} {long} refs/heads/sha256\n", "\n"]
    )  # fmt: skip
    assert rejected == []
    assert [(u.ref, u.deleted) for u in updates] == [
        ("refs/heads/main", False), ("refs/heads/dev", False), ("refs/heads/old", True),
        ("refs/heads/sha256", False),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "line",
    [f"{A} {B}", f"{A[:39]} {B} refs/heads/x", f"{A} $(id) refs/heads/x", f"{A} {B.upper()} r"],
)
def test_malformed_lines_are_rejected(line: str) -> None:
    updates, rejected = parse_post_receive([line])
    assert updates == []
    assert len(rejected) == 1


def test_ref_names_with_spaces_stay_one_ref() -> None:
    (update,), _ = parse_post_receive([f"{A} {B} refs/heads/a b\n"])
    assert update.ref == "refs/heads/a b"
    assert update.branch is None


@pytest.mark.parametrize(
    ("ref", "branch"),
    [
        ("refs/heads/main", "main"),
        ("refs/heads/feature/x-1.2_3", "feature/x-1.2_3"),
        ("refs/heads/$(touch${IFS}pwned)", None),
        ("refs/heads/`id`", None),
        ("refs/heads/a;b", None),
        ("refs/heads/-rf", None),
        ("refs/heads/a/../b", None),
        ("refs/tags/v1", None),
        ("main", None),
    ],
)
def test_branch_allow_list(ref: str, branch: str | None) -> None:
    assert branch_of(ref) == branch


def test_oids() -> None:
    assert is_oid(A)
    assert is_oid("f" * 64)
    assert is_zero(Z)
    assert not is_oid("g" * 40)
    assert not is_oid(A + "\n")
    assert not is_zero("")


def test_image_name_from_repository_path(tmp_path_factory: pytest.TempPathFactory) -> None:
    from pathlib import Path

    assert image_name(Path("/srv/git/Churn-Model.git")) == "localhost/churn-model"
    assert image_name(Path("/srv/a b$(x).git")) == "localhost/a-b-x"
    assert image_name(Path("/srv/.git")) == "localhost/model"


def test_hook_script_quotes_paths_and_reads_nothing_itself() -> None:
    from pathlib import Path

    text = hook_script("/opt/my venv/bin/python", Path("/srv/x's.git/nb2svc/hook.json"))
    assert text.startswith("#!/bin/sh\n")
    exec_line = text.splitlines()[-1]
    assert exec_line.startswith("exec '/opt/my venv/bin/python' -m nb2svc.triggers hook run")
    assert "$" not in exec_line.replace("'\"'\"'", "")


def test_push_options() -> None:
    env = {
        "GIT_PUSH_OPTION_COUNT": "2",
        "GIT_PUSH_OPTION_0": "a",
        "GIT_PUSH_OPTION_1": "nb2svc.skip",
    }
    assert push_options(env) == ["a", "nb2svc.skip"]
    assert push_options({"GIT_PUSH_OPTION_COUNT": "x"}) == []
