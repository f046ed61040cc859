"""Provenance labels for the S2I application image, through s2i's image metadata file.

assemble cannot label the image it runs in. s2i reads `/tmp/.s2i/image_metadata.json`
(`{"labels": [{"key": "value"}, ...]}`, s2i `docs/new_labels.md`) after assemble and
applies the labels last, over the builder's and its own. assemble writes there the same
provenance `nb2svc build` puts on its images: the plan's labels (nb2svc.plan). The source
URL and revision come from OpenShift's build environment (`OPENSHIFT_BUILD_SOURCE`,
`OPENSHIFT_BUILD_COMMIT`) when present: s2i uploads the source without `.git`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nb2svc.analyze import Analysis
from nb2svc.plan import BuildPlan, NotebookRef, SourceFacts
from nb2svc.source import list_source_files

IMAGE_METADATA = "/tmp/.s2i/image_metadata.json"  # fixed by s2i, whatever the destination
MAX_LABEL_BYTES = 10240  # s2i's checkLabelSize


def source_facts(analysis: Analysis, app_src: Path, env: Mapping[str, str]) -> SourceFacts:
    """What the plan needs of S2I's upload (no `.git`: the URL and revision come from
    OpenShift's build environment, the date from the newest file)."""
    root = app_src.resolve()
    refs = tuple(
        NotebookRef(n.notebook.path.resolve().relative_to(root).as_posix(), n.notebook.sha256)
        for n in analysis.notebooks
    )
    files = list_source_files(root)
    return SourceFacts(
        notebooks=refs,
        files=files,
        url=env.get("OPENSHIFT_BUILD_SOURCE", "").strip() or None,
        revision=env.get("OPENSHIFT_BUILD_COMMIT", "").strip() or None,
        created=_created(root, files),
    )


def image_labels(plan: BuildPlan) -> dict[str, str]:
    """The plan's provenance labels, as s2i applies them (no empty values)."""
    return {key: value for key, value in plan.labels.items() if value}


def _created(root: Path, files: tuple[str, ...]) -> str:
    """The newest source file's time (the commit date is not uploaded by s2i)."""
    newest = max(((root / f).stat().st_mtime for f in files), default=0.0)
    return datetime.fromtimestamp(newest, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(values: Mapping[str, str]) -> str:
    return json.dumps({"labels": [{k: v} for k, v in values.items()]}, indent=2) + "\n"


def write(path: Path, values: Mapping[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(values))


def parse(text: str) -> dict[str, str]:
    """The labels of an image metadata file; `ValueError` when it is not s2i's format."""
    data: Any = json.loads(text)
    entries = data.get("labels") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError('image metadata must be {"labels": [{"key": "value"}, ...]}')
    found: dict[str, str] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in entry.items()
        ):
            raise ValueError(f"image metadata label {entry!r} is not a string map")
        found.update(entry)
    size = sum(len(k) + len(v) for k, v in found.items())
    if size > MAX_LABEL_BYTES:
        raise ValueError(f"image metadata labels take {size} bytes (s2i allows {MAX_LABEL_BYTES})")
    return found
