"""After `s2i build --as-dockerfile`: apply assemble's labels, which s2i cannot there.

assemble writes the provenance labels to `/tmp/.s2i/image_metadata.json`; s2i applies that
file in its Docker-API mode only. For an image built from s2i's generated Dockerfile (as
OpenShift 4 and Tekton do), `apply_image_metadata` reads the file from the image, applies
its labels and removes it, in one small extra layer (docs/s2i.md, "Labels").
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Protocol

from nb2svc.engine.buildah import Buildah
from nb2svc.s2i import metadata
from nb2svc.s2i.metadata import IMAGE_METADATA


class _Mounts(Protocol):
    def mount(self, container: str) -> Path: ...
    def umount(self, container: str) -> None: ...


def take_image_metadata(buildah: _Mounts, container: str) -> dict[str, str]:
    """The labels of the container's s2i image metadata file, which is then removed
    (it holds labels only, and the app needs nothing in /tmp)."""
    root = buildah.mount(container)
    try:
        path = root / IMAGE_METADATA.lstrip("/")
        if path.resolve() != root.resolve() / IMAGE_METADATA.lstrip("/") or not path.is_file():
            return {}  # missing, or a link (it would be followed on this host, not inside)
        found = metadata.parse(path.read_text())
        shutil.rmtree(path.parent)
        return found
    finally:
        buildah.umount(container)


def apply_image_metadata(buildah: Buildah, image: str, tag: str | None = None) -> str:
    """For an `--as-dockerfile` image: apply its image metadata labels the way s2i does
    in Docker-API mode (s2i cannot in a Dockerfile); return the new image ID."""
    with buildah.working_container(image) as container:
        labels = take_image_metadata(buildah, container)
        buildah.config(container, labels=labels)
        return buildah.commit(container, tag)
