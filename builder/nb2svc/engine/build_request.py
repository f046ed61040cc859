"""What `buildah build` is told and what it answers, as values: `BuildRequest` (its argv
and the checks made before anything runs) and `BuildResult`. nb2svc.engine.buildah runs it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from nb2svc.errors import UsageError

# Build-arg names that look like credentials: build args end up in the image history.
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|API_?KEY|CREDENTIAL|PRIVATE", re.IGNORECASE)
_SECRET_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class BuildResult:
    """A successful `buildah build`: the image ID (untagged unless `tag` was given)."""

    image_id: str
    seconds: float
    steps: int
    tag: str | None
    output_tail: tuple[str, ...]


@dataclass(frozen=True)
class BuildRequest:
    """Everything `buildah build` is told, as a value (so argv building is testable)."""

    containerfile: Path
    context: Path
    iidfile: Path
    target: str | None = None
    build_args: Mapping[str, str] | None = None
    secrets: Sequence[tuple[str, Path | str]] = ()
    labels: Mapping[str, str] | None = None
    layers: bool = True
    no_cache: bool = False
    isolation: str = "chroot"
    pull: str = "missing"

    def argv(self) -> list[str]:
        args = ["build", f"--isolation={self.isolation}", f"--layers={str(self.layers).lower()}"]
        args += ["--rm", "--force-rm", f"--pull={self.pull}", "--iidfile", str(self.iidfile)]
        # One stage at a time: output lines then belong to the step printed before them
        # (so cache hits are attributable); the stages here depend on each other anyway.
        args.append("--jobs=1")
        args += ["-f", str(self.containerfile)]
        if self.no_cache:
            args.append("--no-cache")
        if self.target:
            args += ["--target", self.target]
        for key, value in (self.build_args or {}).items():
            args += ["--build-arg", f"{key}={value}"]
        for secret_id, src in self.secrets:
            args += ["--secret", f"id={secret_id},src={src}"]
        for key, value in (self.labels or {}).items():
            args += ["--label", f"{key}={value}"]
        return [*args, str(self.context)]

    def validate(self) -> None:
        """Refuse, before running anything, what would fail late or leak a secret."""
        if not self.containerfile.is_file():
            raise UsageError(f"Containerfile not found: {self.containerfile}")
        if not self.context.is_dir():
            raise UsageError(f"build context is not a directory: {self.context}")
        for name in self.build_args or {}:
            if _SECRET_NAME.search(name):
                msg = f"build arg {name!r} looks like a credential; build args stay in the history"
                raise UsageError(
                    msg, fix=f"pass it as a build secret: --secret id={name.lower()},src=FILE"
                )
        for secret_id, src in self.secrets:
            if not _SECRET_ID.match(secret_id):
                raise UsageError(
                    f"invalid secret id {secret_id!r}", fix="use letters, digits, . _ -"
                )
            if not Path(src).is_file():
                raise UsageError(f"secret {secret_id!r}: file not found: {src}")


@dataclass(frozen=True)
class VolumeBuildRequest(BuildRequest):
    """A `BuildRequest` with bind mounts for every RUN (`buildah build -v SRC:DEST[:OPTS]`).

    Used where the Containerfile must stay as another tool wrote it (S2I
    `--as-dockerfile`): a CA bundle mounted this way is never part of a layer.
    """

    volumes: Sequence[str] = ()

    def argv(self) -> list[str]:
        args = super().argv()
        return [*args[:-1], *(f"--volume={v}" for v in self.volumes), args[-1]]


def bare_id(text: str) -> str:
    """`sha256:abc...` (iidfile) as the bare hex ID `buildah images` and inspect use."""
    return text.strip().removeprefix("sha256:")
