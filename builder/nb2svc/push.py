"""Pushing a verified image: `nb2svc build --push` and `nb2svc push --report FILE`.

Both push the image ID that report.json names (the image that was verified, whatever the
tag points at by now) to the registry reference of its tag, then record what the registry
holds: report.json `image_digest` and `image_pushed` (`repo@sha256:...`), and manifests.yaml
pinned to that reference, so a rollout runs exactly the verified image. A failed push is a
`PushError` (exit 10); the local tag, report.json and the unpinned manifests stay, and
`nb2svc push --report` pushes again without a rebuild.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

from nb2svc.engine.registry import RegistryAccess
from nb2svc.errors import PushError, UsageError
from nb2svc.image.refs import by_digest, registry_of
from nb2svc.k8s.manifests import load_yaml, pin_image, to_yaml
from nb2svc.report import write_report_file


class Pusher(Protocol):
    """What pushing needs of buildah (nb2svc.engine.buildah.Buildah.push_to_registry)."""

    def push_to_registry(self, image: str, dest: str, access: RegistryAccess) -> str: ...


@dataclass(frozen=True)
class Pushed:
    digest: str  # sha256:<hex> of the manifest in the registry
    reference: str  # repo@sha256:<hex>, what the manifests run

    def report_keys(self) -> dict[str, str]:
        return {"image_digest": self.digest, "image_pushed": self.reference}


def check_pushable(image: str) -> str:
    """The registry `image` names; a UsageError before anything is built when it names
    local storage (`localhost/...`), which nothing can push to or pull from."""
    registry = registry_of(image)
    if registry is None:
        raise UsageError(
            f"--push: {image} names local container storage, not a registry",
            fix="pass -t with the registry and repository, e.g. "
            "-t registry.example.com/team/churn:v1",
        )
    return registry


def push_image(
    pusher: Pusher, image_id: str, image: str, access: RegistryAccess, out: TextIO
) -> Pushed:
    """Push `image_id` to `image` (`host/repo:tag`); what the registry now holds."""
    registry = check_pushable(image)
    out.write(f"nb2svc: pushing {image} to {registry}\n")
    out.flush()
    digest = pusher.push_to_registry(image_id, image, access)
    pushed = Pushed(digest, by_digest(image, digest))
    out.write(f"nb2svc: pushed {image}; the manifests run {pushed.reference}\n")
    out.flush()
    return pushed


def pin_manifests_file(path: Path, image: str, pushed: Pushed) -> None:
    """Rewrite a build's manifests.yaml with its image pinned to the pushed digest."""
    try:
        docs = pin_image(load_yaml(path.read_text()), image, pushed.digest)
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"cannot pin {path} to {pushed.reference}: {exc}",
            fix="pass the report.json of an `nb2svc build`, next to its manifests.yaml",
        ) from None
    path.write_text(to_yaml(docs))


def push_report(
    report_path: Path, access: RegistryAccess, pusher: Pusher, out: TextIO = sys.stderr
) -> dict[str, Any]:
    """`nb2svc push --report FILE`: push the build's image, pin its manifests, update
    report.json; returns the updated report."""
    report = read_report(report_path)
    image, image_id = str(report["image"]), str(report["image_id"])
    check_pushable(image)
    manifests = _manifests_of(report, report_path)
    try:
        pushed = push_image(pusher, image_id, image, access, out)
    except PushError as exc:
        raise again_later(exc, report_path) from None
    pin_manifests_file(manifests, image, pushed)
    report.update(pushed.report_keys())
    write_report_file(report, report_path)
    return report


def again_later(exc: PushError, report_path: Path) -> PushError:
    """`exc` with how to push again once its cause is fixed (no rebuild needed)."""
    fix = f"{exc.fix}; then push again with `nb2svc push --report {report_path}`"
    return type(exc)(exc.message, fix=fix, details=exc.details)


def read_report(path: Path) -> dict[str, Any]:
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}", fix="pass OUT/report.json") from None
    if not isinstance(report, dict) or report.get("train_only"):
        raise UsageError(
            f"{path} is not the report of a built image (a --train-only build tags nothing)",
            fix="build without --train-only, then push its report.json",
        )
    if not report.get("image") or not report.get("image_id"):
        raise UsageError(f"{path} names no image and image_id", fix="pass OUT/report.json")
    return report


def _manifests_of(report: dict[str, Any], report_path: Path) -> Path:
    """The report's manifests.yaml, else the one beside it (an output folder moved)."""
    named = Path(str(report.get("manifests") or ""))
    beside = report_path.parent / "manifests.yaml"
    found = named if report.get("manifests") and named.is_file() else beside
    if not found.is_file():
        raise UsageError(f"{report_path}: manifests.yaml not found", fix="pass OUT/report.json")
    return found
