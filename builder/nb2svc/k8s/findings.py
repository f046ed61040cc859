"""A problem found in a manifest, named by object and field path, and helpers to walk pods."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]

# Kinds whose pod spec nb2svc checks, and where that pod spec lives.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


@dataclass(frozen=True)
class Finding:
    """`Deployment/churn: spec.replicas: must be >= 1` (what `nb2svc manifests --check` prints)."""

    kind: str
    name: str
    path: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.kind}/{self.name}"
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return text if self.severity == "error" else f"{text} (warning)"


@dataclass
class Reporter:
    """Collects findings for one object."""

    kind: str
    name: str
    findings: list[Finding] = field(default_factory=list)

    @classmethod
    def for_doc(cls, doc: Mapping[str, Any]) -> Reporter:
        meta = doc.get("metadata")
        name = meta.get("name") if isinstance(meta, Mapping) else None
        return cls(str(doc.get("kind", "?")), str(name or "?"))

    def error(self, path: str, message: str) -> None:
        self.findings.append(Finding(self.kind, self.name, path, message))

    def warning(self, path: str, message: str) -> None:
        self.findings.append(Finding(self.kind, self.name, path, message, "warning"))


def dig(obj: Any, *keys: str) -> Any:
    """`obj[k1][k2]...`, or None when any step is missing or not a mapping."""
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def pod_spec(doc: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """(`spec.template.spec`, the pod spec) of a workload, or None for other kinds."""
    keys = POD_SPEC_PATHS.get(str(doc.get("kind")))
    if keys is None:
        return None
    found = dig(doc, *keys)
    if not isinstance(found, Mapping):
        return None
    return ".".join(keys), found


def containers(pod: Mapping[str, Any], base: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(`<base>.containers[0]`, container) for every container, init and ephemeral ones too."""
    for list_name in CONTAINER_LISTS:
        items = pod.get(list_name)
        if not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            if isinstance(item, Mapping):
                yield f"{base}.{list_name}[{index}]", item
