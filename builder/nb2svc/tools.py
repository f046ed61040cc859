"""The peers a build talks to, passed into nb2svc.pipeline: the image builder, the base
images, the verifier and the state folder (docs/architecture.md, "Boundaries: one owner each").

`Tools.real` gives the real ones (buildah, podman, `~/.cache/nb2svc`); the orchestration's
unit tests give a scripted builder in their place, as a test of a resolver gives it a
fake index: everything between the boundaries (failure explanations, reuse, tagging,
reports) runs for real.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

from nb2svc.engine.buildah import Buildah, BuildResult
from nb2svc.engine.podman import Podman
from nb2svc.engine.registry import RegistryAccess
from nb2svc.image.base import select_base_images
from nb2svc.image.verify import Verification, read_trained, verify_image
from nb2svc.state import StateDir


class ImageBuilder(Protocol):
    """What the pipeline asks of buildah (nb2svc.engine.buildah.Buildah is the real one)."""

    def check(self) -> tuple[int, int, int]: ...

    def build(
        self,
        containerfile: Path,
        context: Path,
        *,
        target: str | None = ...,
        secrets: Sequence[tuple[str, Path]] = ...,
        no_cache: bool = ...,
        on_line: Callable[[str], None] | None = ...,
    ) -> BuildResult: ...

    def image_id(self, ref: str) -> str: ...

    def image_exists(self, ref: str) -> bool: ...

    def image_size(self, ref: str) -> int: ...

    def tag(self, image: str, *refs: str) -> None: ...

    def push_to_registry(self, image: str, dest: str, access: RegistryAccess) -> str: ...


@dataclass(frozen=True)
class Tools:
    builder: ImageBuilder
    base_images: Callable[[str], tuple[str, str]]
    """Python X.Y -> (runtime base, build base), made on demand."""
    verify: Callable[[str, str, int], Verification]
    """(image id, model name, port) -> what serving the image showed."""
    read_trained: Callable[[str], tuple[dict[str, Any], dict[str, Any]]]
    """A train-stage image id -> (signature, sample) (`--train-only`)."""
    state: StateDir

    @classmethod
    def real(cls, out: TextIO) -> Tools:
        buildah = Buildah(stream=out)

        def bases(python: str) -> tuple[str, str]:
            buildah.check()
            found = select_base_images(python, buildah)
            return found.runtime, found.build

        def verify(image_id: str, name: str, port: int) -> Verification:
            return verify_image(Podman(), image_id, name=name, port=port)

        return cls(
            builder=buildah,
            base_images=bases,
            verify=verify,
            read_trained=lambda image_id: read_trained(buildah, image_id),
            state=StateDir.default(),
        )
