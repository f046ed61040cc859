"""A failed `buildah push` read for what failed; the lines are buildah 1.28.2's own, as it
printed them against the test registry (tests/integration/test_push.py runs them for real)."""

from __future__ import annotations

from pathlib import Path

import pytest
from nb2svc.engine.registry import (
    RegistryAccess,
    RegistryAuthError,
    RegistryTLSError,
    RegistryUnreachableError,
    classify_push_failure,
)
from nb2svc.errors import PushError, UsageError

IMAGE = "127.0.0.1:5511/proto/hello:1"
HEAD = (
    f'Error: pushing image "localhost/x:1" to "docker://{IMAGE}": '
    "trying to reuse blob sha256:dac4 at destination: "
)
PING = 'pinging container registry 127.0.0.1:5511: Get "https://127.0.0.1:5511/v2/": '
UNAUTHORIZED = (
    f"{HEAD}checking whether a blob sha256:dac4 exists in 127.0.0.1:5511/proto/hello: "
    "unauthorized: authentication required"
)
UNTRUSTED = f"{HEAD}{PING}x509: certificate signed by unknown authority"
REFUSED = f"{HEAD}{PING}dial tcp 127.0.0.1:5511: connect: connection refused"
NO_HOST = (
    f'{HEAD}pinging container registry r.invalid:5000: Get "https://r.invalid:5000/v2/": '
    "dial tcp: lookup r.invalid on 10.0.0.53:53: no such host"
)
BAD_AUTH_FILE = (
    f'Error: pushing image "localhost/x:1" to "docker://{IMAGE}": initializing destination '
    f"docker://{IMAGE}: getting username and password: 1 error occurred:"
)


@pytest.mark.parametrize(
    ("line", "kind", "what", "fix"),
    [
        (UNAUTHORIZED, RegistryAuthError, "refused the credentials", "buildah login"),
        (BAD_AUTH_FILE, RegistryAuthError, "cannot read the credentials", "containers-auth.json"),
        (UNTRUSTED, RegistryTLSError, "TLS certificate is not trusted", "--cert-dir"),
        (REFUSED, RegistryUnreachableError, "is not reachable", "is up"),
        (NO_HOST, RegistryUnreachableError, "is not reachable", "host and port"),
        ("Error: something else entirely", PushError, "failed (buildah push exit code 125)", ""),
    ],
)
def test_a_failed_push_says_which_registry_and_what_failed(
    line: str, kind: type[PushError], what: str, fix: str
) -> None:
    error = classify_push_failure(IMAGE, RegistryAccess(), ["buildah", "push"], 125, [line])
    assert type(error) is kind
    assert error.exit_code == 10
    assert error.stage == "push"
    assert error.message.startswith(f"cannot push {IMAGE}: ")
    assert what in error.message
    assert "127.0.0.1:5511" in error.message
    assert fix in str(error.fix)


def test_the_cause_shown_is_the_end_of_buildahs_error_line() -> None:
    error = classify_push_failure(IMAGE, RegistryAccess(), ["buildah"], 125, ["noise", UNTRUSTED])
    assert error.message.endswith("x509: certificate signed by unknown authority")


def test_a_url_with_credentials_in_buildahs_output_is_redacted() -> None:
    line = "Error: Get https://robot:hunter2@r.example.com/v2/: unauthorized"
    error = classify_push_failure("r.example.com/a:1", RegistryAccess(), ["buildah"], 1, [line])
    assert "hunter2" not in error.render()


def test_access_is_paths_and_a_switch_on_the_command_line(tmp_path: Path) -> None:
    auth = tmp_path / "auth.json"
    auth.write_text("{}")
    access = RegistryAccess.given(auth, False, tmp_path, env={})
    assert access.argv() == [f"--authfile={auth}", "--tls-verify=false", f"--cert-dir={tmp_path}"]
    assert RegistryAccess().argv() == ["--tls-verify=true"]


def test_the_auth_file_defaults_to_registry_auth_file(tmp_path: Path) -> None:
    auth = tmp_path / "auth.json"
    auth.write_text("{}")
    env = {"REGISTRY_AUTH_FILE": str(auth)}
    assert RegistryAccess.given(None, True, None, env=env).authfile == auth
    other = tmp_path / "other.json"
    other.write_text("{}")
    assert RegistryAccess.given(other, True, None, env=env).authfile == other


@pytest.mark.parametrize(
    ("authfile", "cert_dir", "env", "message"),
    [
        ("missing.json", None, {}, "--authfile names"),
        (None, None, {"REGISTRY_AUTH_FILE": "missing.json"}, "REGISTRY_AUTH_FILE names"),
        (None, "missing-dir", {}, "--cert-dir"),
    ],
)
def test_paths_that_are_not_there_are_refused_before_any_build(
    tmp_path: Path, authfile: str | None, cert_dir: str | None, env: dict[str, str], message: str
) -> None:
    env = {k: str(tmp_path / v) for k, v in env.items()}
    with pytest.raises(UsageError, match=message):
        RegistryAccess.given(
            tmp_path / authfile if authfile else None,
            True,
            tmp_path / cert_dir if cert_dir else None,
            env=env,
        )
