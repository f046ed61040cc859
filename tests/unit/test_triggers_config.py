"""The webhook config file."""

from __future__ import annotations

from pathlib import Path

import pytest
from nb2svc.errors import UsageError
from nb2svc.triggers.config import load_config


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "secret").write_text("s3cret\n")
    path = tmp_path / "webhook.toml"
    path.write_text(text)
    return path


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
[repos.churn]
name = "acme/Churn"
clone_url = "https://example.invalid/acme/churn.git"
secret_file = "secret"
"""))  # fmt: skip
    assert (config.bind, config.port) == ("127.0.0.1", 8808)
    assert config.state_dir == tmp_path / "nb2svc-webhook"
    repo = config.repos["churn"]
    assert (repo.forge, repo.branches, repo.image) == ("github", ("main",), "localhost/churn")
    assert repo.secret == b"s3cret"
    assert "s3cret" not in repr(repo)
    assert config.with_listen("0.0.0.0", 9).port == 9


REPO = "[repos.a]\nname='a'\nclone_url='u'\nsecret_file='secret'\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "prot = 1\n[repos.a]\nname='a'\nclone_url='u'\nsecret_file='secret'",
            "perhaps you meant 'port'",
        ),
        ("[repos.a]\nname='a'\nclone_url='u'", "secret_file or secret_env"),
        ("[repos.a]\nname='a'\nclone_url='u'\nsecret_env='NB2SVC_TEST_UNSET_VAR'", "empty"),
        ("[repos.a]\nforge='bitbucket'\nname='a'\nclone_url='u'\nsecret_file='secret'", "forge"),
        ("[repos.a]\nclone_url='u'\nsecret_file='secret'", "name is required"),
        ("port = 1", "no [repos.NAME]"),
        (f"{REPO}branches = 'main'", "branches must be a list"),
        (f"{REPO}branches = ['main', '-rf']", "'-rf' is not a branch name"),
        (f"{REPO}branches = ['a..b']", "is not a branch name"),
        (f"{REPO}git_timeout = 0", "git_timeout must be seconds"),
        (f"{REPO}timeout = 'soon'", "timeout must be seconds"),
        (f"port = 'http'\n{REPO}", "port must be a whole number"),
        (f"port = 70000\n{REPO}", "port must be a whole number"),
        (f"max_connections = 0\n{REPO}", "max_connections must be a whole number"),
        (f"read_timeout = -1\n{REPO}", "read_timeout must be seconds"),
        (f"max_body_bytes = true\n{REPO}", "max_body_bytes must be a whole number"),
        ("not toml [", "cannot read"),
    ],
)
def test_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        load_config(write(tmp_path, text))
    assert message in err.value.render()
