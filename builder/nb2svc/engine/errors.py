"""Typed errors of the container-engine boundary (buildah, podman, debootstrap).

Every failed command becomes one of these, carrying the command and the last lines of
its output; `subprocess.CalledProcessError` never reaches callers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from nb2svc.engine.process import quote
from nb2svc.errors import BuildError, VerificationError


def failure_message(tool: str, argv: Sequence[str], returncode: int) -> str:
    """`buildah rmi failed with exit code 125` (the subcommand, not the whole command)."""
    words = [a for a in argv[1:] if not a.startswith("-")][:1]
    return f"{' '.join([tool, *words])} failed with exit code {returncode}"


_WRAPPERS = re.compile(
    r"^(?:error:? )?(?:building at STEP|subprocess exited with status|exit status \d+$)",
    re.IGNORECASE,
)


def with_cause(message: str, tail: Sequence[str]) -> str:
    """`message: <the command's last own output line>`: what the tool said went wrong.
    Without it, `str(error)` (what pytest, logs and callers that catch show) names no cause.
    buildah's wrapper lines (`Error: building at STEP ...`, `subprocess exited ...`) are
    skipped: they say where, the line above them says why."""
    lines = [line.strip() for line in tail if line.strip()]
    said = next((line for line in reversed(lines) if not _WRAPPERS.match(line)), "")[:300]
    return f"{message}: {said}" if said and said not in message else message


class EngineCommandError(BuildError):
    """A buildah/podman/debootstrap command failed; `details` holds its output tail."""

    tool = "engine"

    def __init__(
        self,
        argv: Sequence[str],
        returncode: int,
        stderr_tail: Sequence[str],
        *,
        message: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr_tail = tuple(stderr_tail)
        head = with_cause(message or failure_message(self.tool, argv, returncode), stderr_tail)
        super().__init__(head, fix=fix, details=(f"command: {quote(self.argv)}", *self.stderr_tail))


class BuildahError(EngineCommandError):
    tool = "buildah"


class BuildahMissingError(BuildError):
    """buildah is not installed or not usable (preflight)."""


class BuildahTooOldError(BuildahMissingError):
    pass


class ImageNotFoundError(BuildahError):
    pass


class StorageFullError(BuildahError):
    pass


class DebootstrapError(EngineCommandError):
    tool = "debootstrap"


class PodmanError(VerificationError):
    """A podman command failed, or a container did not become ready."""

    def __init__(
        self,
        message: str,
        *,
        argv: Sequence[str] = (),
        returncode: int | None = None,
        tail: Sequence[str] = (),
        fix: str | None = None,
    ) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr_tail = tuple(tail)
        details = ([f"command: {quote(self.argv)}"] if self.argv else []) + list(tail)
        super().__init__(with_cause(message, tail) if argv else message, fix=fix, details=details)


class PodmanMissingError(PodmanError):
    pass


_NOT_FOUND = re.compile(
    r"image not known|no such image|image .* not found|"
    r"initializing source .*: (?:reading manifest|pinging container registry)|"
    r"repository .* not found|manifest unknown",
    re.IGNORECASE,
)
_NO_SPACE = re.compile(r"no space left on device", re.IGNORECASE)


def classify_buildah_failure(
    argv: Sequence[str], returncode: int, tail: Sequence[str]
) -> BuildahError:
    """Turn a failed buildah command into the most specific error, with a fix when known."""
    text = "\n".join(tail)
    if _NO_SPACE.search(text):
        return StorageFullError(
            argv,
            returncode,
            tail,
            message="buildah ran out of disk space",
            fix="free space under /var/lib/containers (e.g. `buildah rmi --prune`)",
        )
    if _NOT_FOUND.search(text):
        return ImageNotFoundError(
            argv,
            returncode,
            tail,
            message="buildah could not find or pull an image",
            fix="no registry is reachable? run `nb2svc base` to build the local base image "
            "offline, or pass --base-image with an image in local storage (`buildah images`)",
        )
    return BuildahError(argv, returncode, tail)
