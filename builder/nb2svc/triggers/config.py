"""The webhook server's config file (TOML). Secrets are read from a file or an environment
variable, never written in the config itself. Relative paths are relative to the file.

    bind = "127.0.0.1"            # default; put a TLS reverse proxy in front to expose it
    port = 8808
    state_dir = "state"           # history.sqlite, builds/<id>/build.log, locks
    max_body_bytes = 5242880      # larger requests get 413
    max_connections = 32          # requests handled at once; one more gets 503
    read_timeout = 30             # seconds for a whole request to arrive
    build_command = ["nb2svc", "build"]   # optional argv prefix

    [repos.churn]                 # webhook URL: POST /hooks/churn
    forge = "github"              # github | gitlab | gitea | forgejo | generic
    name = "acme/churn"           # the repository the payload must name
    clone_url = "https://github.com/acme/churn.git"   # what is cloned (never the payload's URL)
    branches = ["main"]
    secret_file = "/run/secrets/churn-webhook"        # or secret_env = "CHURN_WEBHOOK_SECRET"
    notebooks = ["churn.ipynb"]
    image = "localhost/churn"     # tagged :<sha12>
    timeout = 3600                # seconds a build may take; git_timeout: one git command
    push = true                   # push to the registry `image` names (needed for deploy)
    authfile = "/run/secrets/registry-auth.json"  # containers-auth.json; tls_verify, cert_dir
    deploy = { namespace = "ml" } # nb2svc deploy after a good build
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb2svc.errors import UsageError
from nb2svc.image.refs import is_local, registry_of
from nb2svc.triggers.httpguard import DEFAULT_MAX_CONNECTIONS, DEFAULT_READ_TIMEOUT
from nb2svc.triggers.refs import branch_of
from nb2svc.triggers.signatures import FORGES

DEFAULT_PORT = 8808
DEFAULT_MAX_BODY = 5 * 1024 * 1024
WEEK = 7 * 86400
_TOP = {
    "bind", "port", "state_dir", "max_body_bytes", "build_command", "repos", "max_connections",
    "read_timeout",
}  # fmt: skip
_REPO = {
    "forge", "name", "clone_url", "branches", "secret_file", "secret_env", "notebooks",
    "image", "build_command", "timeout", "git_timeout", "deploy", "push", "authfile",
    "tls_verify", "cert_dir",
}  # fmt: skip


@dataclass(frozen=True)
class RepoConfig:
    id: str
    forge: str
    name: str
    clone_url: str
    branches: tuple[str, ...]
    secret: bytes = field(repr=False)
    image: str
    notebooks: tuple[str, ...] = ()
    build_command: tuple[str, ...] | None = None
    timeout: float | None = None
    git_timeout: float | None = None  # seconds for one git command (default 600)
    deploy: dict[str, Any] | None = None
    secret_env: str | None = None  # the variable the secret came from, kept from builds
    push: bool = False
    authfile: Path | None = None  # its path only: nb2svc never reads credentials
    tls_verify: bool = True
    cert_dir: Path | None = None


@dataclass(frozen=True)
class WebhookConfig:
    state_dir: Path
    repos: dict[str, RepoConfig]
    bind: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_body_bytes: int = DEFAULT_MAX_BODY
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    read_timeout: float = DEFAULT_READ_TIMEOUT

    def with_listen(self, bind: str, port: int) -> WebhookConfig:
        return dataclasses.replace(self, bind=bind, port=port)


def load_config(path: Path, *, secrets: bool = True) -> WebhookConfig:
    """The config at `path`; with `secrets=False` (to list builds) no secret is read."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read webhook config {path}: {exc}") from exc
    _check_keys(data, _TOP, str(path))
    base = path.resolve().parent
    command = data.get("build_command")
    repos = {
        rid: _repo(rid, spec, base, command, secrets)
        for rid, spec in dict(data.get("repos", {})).items()
    }
    if not repos:
        raise UsageError(f"{path}: no [repos.NAME] table", fix="see docs/triggers.md")
    return WebhookConfig(
        state_dir=base / str(data.get("state_dir", "nb2svc-webhook")),
        repos=repos,
        bind=str(data.get("bind", "127.0.0.1")),
        port=_port(data.get("port", DEFAULT_PORT), str(path)),
        max_body_bytes=_count(data, "max_body_bytes", DEFAULT_MAX_BODY, 1 << 30, str(path)),
        max_connections=_count(data, "max_connections", DEFAULT_MAX_CONNECTIONS, 4096, str(path)),
        read_timeout=_seconds(data, "read_timeout", str(path)) or DEFAULT_READ_TIMEOUT,
    )


def _check_keys(data: dict[str, Any], allowed: set[str], where: str) -> None:
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"perhaps you meant {close[0]!r}" if close else f"known: {sorted(allowed)}"
            raise UsageError(f"{where}: unknown key {key!r}", fix=hint)


def _repo(
    rid: str, spec: dict[str, Any], base: Path, command: list[str] | None, secrets: bool
) -> RepoConfig:
    where = f"[repos.{rid}]"
    _check_keys(spec, _REPO, where)
    forge = spec.get("forge", "github")
    if forge not in FORGES:
        raise UsageError(f"{where}: forge {forge!r} is not one of {', '.join(FORGES)}")
    for key in ("name", "clone_url"):
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise UsageError(f"{where}: {key} is required")
    repo_command = spec.get("build_command", command)
    image = spec.get("image") or f"localhost/{spec['name'].rsplit('/', 1)[-1].lower()}"
    push, tls_verify = _switch(spec, "push", False, where), _switch(spec, "tls_verify", True, where)
    check_push_settings(image, push, spec.get("deploy"), where)
    return RepoConfig(
        id=rid,
        forge=forge,
        name=spec["name"],
        clone_url=spec["clone_url"],
        branches=_branches(spec.get("branches", ["main"]), where),
        secret=_secret(spec, base, where) if secrets else b"",
        image=image,
        notebooks=tuple(spec.get("notebooks", ())),
        build_command=tuple(repo_command) if repo_command else None,
        timeout=_seconds(spec, "timeout", where),
        git_timeout=_seconds(spec, "git_timeout", where),
        deploy=spec.get("deploy"),
        secret_env=str(spec["secret_env"]) if "secret_env" in spec else None,
        push=push,
        authfile=base / str(spec["authfile"]) if "authfile" in spec else None,
        tls_verify=tls_verify,
        cert_dir=base / str(spec["cert_dir"]) if "cert_dir" in spec else None,
    )


def check_push_settings(image: str, push: bool, deploy: object, where: str) -> None:
    """A trigger that deploys an image no cluster can pull is refused when its config is
    read, not after a build: `deploy` of a registry image needs `push` (the cluster pulls
    from the registry), and `push` needs an image that names a registry."""
    if push and is_local(image):
        raise UsageError(
            f"{where}: push = true, but image {image!r} names local storage, not a registry",
            fix='set image to the registry and repository, e.g. "registry.example.com/ml/churn"',
        )
    if deploy and not push and not is_local(image):
        raise UsageError(
            f"{where}: deploy without push: the cluster would pull {image}:<sha12> from "
            f"{registry_of(image)}, where nothing pushes it",
            fix="set push = true (with authfile for the registry's credentials), or drop deploy",
        )


def _switch(spec: dict[str, Any], key: str, default: bool, where: str) -> bool:
    value = spec.get(key, default)
    if not isinstance(value, bool):
        raise UsageError(f"{where}: {key} must be true or false")
    return value


def _port(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise UsageError(f"{where}: port must be a whole number from 0 to 65535")
    return value


def _branches(value: Any, where: str) -> tuple[str, ...]:
    """A list of branch names that `refs.branch_of` accepts (a bare string is refused: it
    would read as a list of one-letter branches)."""
    if not isinstance(value, list) or not value:
        raise UsageError(f"{where}: branches must be a list of branch names", fix='["main"]')
    for name in value:
        if not isinstance(name, str) or branch_of(f"refs/heads/{name}") != name:
            raise UsageError(
                f"{where}: {name!r} is not a branch name nb2svc builds",
                fix="letters, digits and . _ / -, not starting with - or /, no ..",
            )
    return tuple(value)


def _count(data: dict[str, Any], key: str, default: int, most: int, where: str) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= most:
        raise UsageError(f"{where}: {key} must be a whole number from 1 to {most}")
    return value


def _seconds(spec: dict[str, Any], key: str, where: str) -> float | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= WEEK:
        raise UsageError(f"{where}: {key} must be seconds, above 0 and at most {WEEK} (a week)")
    return float(value)


def _secret(spec: dict[str, Any], base: Path, where: str) -> bytes:
    if "secret_file" in spec:
        try:
            value = (base / str(spec["secret_file"])).read_bytes().strip()
        except OSError as exc:
            raise UsageError(f"{where}: cannot read secret_file: {exc}") from exc
    elif "secret_env" in spec:
        value = os.environ.get(str(spec["secret_env"]), "").strip().encode()
    else:
        raise UsageError(f"{where}: set secret_file or secret_env (unsigned hooks are refused)")
    if not value:
        raise UsageError(f"{where}: the webhook secret is empty")
    return value
