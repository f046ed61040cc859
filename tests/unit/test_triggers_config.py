"""The webhook config file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nb2svc.errors import UsageError
from nb2svc.triggers.config import load_config
from nb2svc.triggers.hook import HookConfig
from nb2svc.triggers.runner import build_argv
from nb2svc.triggers.webhook import push_settings


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


REGISTRY_REPO = f"{REPO}image='registry.example.com/ml/a'\n"


def test_push_settings_are_read_with_paths_relative_to_the_config(tmp_path: Path) -> None:
    text = f"{REGISTRY_REPO}push=true\nauthfile='auth.json'\ntls_verify=false\ncert_dir='ca'\n"
    repo = load_config(write(tmp_path, text + "deploy={namespace='ml'}\n")).repos["a"]
    assert (repo.push, repo.tls_verify) == (True, False)
    assert (repo.authfile, repo.cert_dir) == (tmp_path / "auth.json", tmp_path / "ca")
    argv = build_argv(push_settings(repo) | {"image": f"{repo.image}:abc"}, tmp_path, tmp_path)
    assert argv[-4:] == [
        "--push", f"--authfile={tmp_path / 'auth.json'}", "--no-tls-verify",
        f"--cert-dir={tmp_path / 'ca'}",
    ]  # fmt: skip


def test_without_push_a_build_is_told_nothing_about_registries(tmp_path: Path) -> None:
    repo = load_config(write(tmp_path, REPO)).repos["a"]
    assert (repo.push, repo.authfile, repo.tls_verify) == (False, None, True)
    argv = build_argv(push_settings(repo) | {"image": "localhost/a:abc"}, tmp_path, tmp_path)
    flags = ("--push", "--authfile", "--no-tls-verify", "--cert-dir")
    assert not [a for a in argv if a.startswith(flags)]


def test_deploy_of_a_local_image_needs_no_push(tmp_path: Path) -> None:
    repo = load_config(write(tmp_path, f"{REPO}deploy={{namespace='ml'}}\n")).repos["a"]
    assert repo.deploy == {"namespace": "ml"}
    assert repo.push is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"{REGISTRY_REPO}deploy={{namespace='ml'}}\n",
            "deploy without push: the cluster would pull registry.example.com/ml/a:<sha12> "
            "from registry.example.com, where nothing pushes it",
        ),
        (f"{REPO}push=true\n", "push = true, but image 'localhost/a' names local storage"),
        (f"{REGISTRY_REPO}push='yes'\n", "push must be true or false"),
        (f"{REGISTRY_REPO}push=true\ntls_verify=0\n", "tls_verify must be true or false"),
    ],
)
def test_a_config_that_cannot_push_what_it_deploys_is_refused_when_read(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(UsageError) as err:
        load_config(write(tmp_path, text))
    assert message in err.value.render()
    assert "[repos.a]" in err.value.render()


def hook_settings(tmp_path: Path, **values: object) -> Path:
    settings = {"repo": str(tmp_path), "branches": ["main"], "state_dir": str(tmp_path),
                "image": "registry.example.com/ml/churn", **values}  # fmt: skip
    path = tmp_path / "hook.json"
    path.write_text(json.dumps(settings))
    return path


def test_the_hook_refuses_settings_that_deploy_an_image_nothing_pushes(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="deploy without push"):
        HookConfig.load(hook_settings(tmp_path, deploy={"namespace": "ml"}))
    pushing = HookConfig.load(hook_settings(tmp_path, deploy={}, push=True, authfile="/a.json"))
    assert (pushing.push, pushing.authfile, pushing.tls_verify) == (True, "/a.json", True)
