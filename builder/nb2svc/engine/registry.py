"""What `buildah push` is told about a registry, and what its failures mean.

`RegistryAccess` holds the auth file's *path* (containers-auth.json, as `buildah login` and
`podman login` write it), never its content: nb2svc does not read credentials, so it cannot
print or record them. A failed push becomes a `PushError` (exit 10) naming the registry and
what failed, with a fix: the credentials refused (`RegistryAuthError`), a certificate not
trusted (`RegistryTLSError`), the registry not reachable (`RegistryUnreachableError`).
buildah's output is redacted (nb2svc.redact) before it is shown.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from nb2svc.engine.process import quote
from nb2svc.errors import PushError, UsageError
from nb2svc.image.refs import registry_of
from nb2svc.redact import redact_text

AUTH_FILE_ENV = "REGISTRY_AUTH_FILE"


@dataclass(frozen=True)
class RegistryAccess:
    """How to reach the registry: the auth file (None: buildah's own default, e.g.
    `${XDG_RUNTIME_DIR}/containers/auth.json`), TLS verification, and a folder with the CA
    of a private registry (`ca.crt`, as in /etc/containers/certs.d/HOST/)."""

    authfile: Path | None = None
    tls_verify: bool = True
    cert_dir: Path | None = None

    @classmethod
    def given(
        cls,
        authfile: Path | None,
        tls_verify: bool,
        cert_dir: Path | None,
        env: Mapping[str, str] | None = None,
    ) -> RegistryAccess:
        """`--authfile` over `REGISTRY_AUTH_FILE`; each path checked to exist now, before
        any build runs (a typo would otherwise fail only after training)."""
        env = os.environ if env is None else env
        chosen = authfile or (Path(env[AUTH_FILE_ENV]) if env.get(AUTH_FILE_ENV) else None)
        if chosen is not None and not chosen.is_file():
            origin = "--authfile" if authfile else AUTH_FILE_ENV
            raise UsageError(
                f"{origin} names {chosen}, which is not a file",
                fix="write it with `buildah login --authfile FILE REGISTRY` (containers-auth.json)",
            )
        if cert_dir is not None and not cert_dir.is_dir():
            raise UsageError(
                f"--cert-dir {cert_dir} is not a folder",
                fix="pass the folder that holds the registry's CA certificate (ca.crt)",
            )
        return cls(chosen, tls_verify, cert_dir)

    def argv(self) -> list[str]:
        """buildah's flags for this access (paths only: nothing secret is on a command line)."""
        args = [f"--authfile={self.authfile}"] if self.authfile else []
        args.append(f"--tls-verify={'true' if self.tls_verify else 'false'}")
        return args + ([f"--cert-dir={self.cert_dir}"] if self.cert_dir else [])


class RegistryAuthError(PushError):
    """The registry refused the credentials (401/403), or the auth file cannot be read."""


class RegistryTLSError(PushError):
    """The registry's certificate is not trusted, or it does not speak TLS."""


class RegistryUnreachableError(PushError):
    """Nothing answered at the registry's address."""


_AUTH_FILE = re.compile(r"getting username and password|reading JSON file|credential helper")
_AUTH = re.compile(
    r"unauthorized|authentication required|denied|status 40[13]|invalid username/password",
    re.IGNORECASE,
)
_TLS = re.compile(
    r"x509:|certificate|tls: |server gave HTTP response to HTTPS client", re.IGNORECASE
)
_UNREACHABLE = re.compile(
    r"connection refused|no such host|i/o timeout|network is unreachable|no route to host|"
    r"connection reset|dial tcp|timed out after",
    re.IGNORECASE,
)


def classify_push_failure(
    image: str, access: RegistryAccess, argv: Sequence[str], returncode: int, tail: Sequence[str]
) -> PushError:
    """The `PushError` a failed `buildah push` of `image` (`host/repo:tag`) is."""
    registry = registry_of(image) or image
    lines = tuple(redact_text(line) for line in tail)
    text = "\n".join(lines)
    details = (f"command: {redact_text(quote(argv))}", *lines)
    auth = f"the auth file {access.authfile}" if access.authfile else "buildah's default auth file"
    kind: type[PushError] = PushError
    if _AUTH_FILE.search(text):
        kind, what = RegistryAuthError, f"cannot read the credentials for {registry} ({auth})"
        fix = f"check {auth}: containers-auth.json (`buildah login --authfile FILE {registry}`)"
    elif _AUTH.search(text):
        kind, what = RegistryAuthError, f"registry {registry} refused the credentials"
        fix = (
            f"log in again (`buildah login --authfile FILE {registry}`) and pass --authfile FILE "
            f"(now: {auth}); the account needs push access to {image.split('@')[0]}"
        )
    elif _TLS.search(text):
        kind, what = RegistryTLSError, f"registry {registry}'s TLS certificate is not trusted"
        fix = (
            f"pass --cert-dir DIR with the CA that signed it (DIR/ca.crt), or install it in "
            f"/etc/containers/certs.d/{registry}/ca.crt; --no-tls-verify only for a registry "
            "on a network you trust"
        )
    elif _UNREACHABLE.search(text):
        kind, what = RegistryUnreachableError, f"registry {registry} is not reachable"
        fix = f"check that {registry} is up and that this machine reaches it (host and port in -t)"
    else:
        what = f"pushing to {registry} failed (buildah push exit code {returncode})"
        fix = "see buildah's output above; the local tag is unchanged"
    return kind(f"cannot push {image}: {what}{_cause(lines)}", fix=fix, details=details)


def _cause(lines: Sequence[str], width: int = 200) -> str:
    """`: <the end of buildah's error line>`, where it says why (`...: connection refused`)."""
    said = [line.strip() for line in lines if line.strip()]
    errors = [line for line in said if line.startswith("Error:")] or said
    if not errors:
        return ""
    last = errors[-1]
    return f": {last if len(last) <= width else '...' + last[-width:]}"
