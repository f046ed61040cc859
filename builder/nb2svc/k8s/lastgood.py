"""The last-good record kept on a Deployment for rollback, and what a rollback may restore.

The record lives in an annotation (`nb2svc.io/last-good-manifest`) that anyone allowed to
annotate the Deployment can rewrite. A rollback therefore restores only this Deployment:
same apiVersion, kind, name and namespace, the live selector, a pod template the selector
matches, and only Deployment spec fields. Anything else is refused before anything is
applied (docs/security.md, docs/deploying.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from nb2svc.errors import DeployError
from nb2svc.k8s import spec as s
from nb2svc.k8s.findings import dig

Manifest = dict[str, Any]
SPEC_FIELDS = frozenset(
    {"replicas", "selector", "template", "strategy", "minReadySeconds",
     "revisionHistoryLimit", "progressDeadlineSeconds"}
)  # fmt: skip
METADATA_FIELDS = ("labels", "annotations")


def record(doc: Mapping[str, Any]) -> str:
    """The annotation value for `doc`: the manifest as JSON, without the annotation itself."""
    clean = json.loads(json.dumps(doc))
    clean.get("metadata", {}).get("annotations", {}).pop(s.ANN_LAST_GOOD, None)
    return json.dumps(clean, sort_keys=True, separators=(",", ":"))


def restorable(recorded: str, live: Mapping[str, Any], name: str, namespace: str) -> Manifest:
    """The Deployment manifest to re-apply from `recorded`; DeployError if it is not this one's."""
    where = f"Deployment/{name} in namespace {namespace}"
    fix = (
        "the nb2svc.io/last-good-manifest annotation was changed outside nb2svc: remove it "
        "(kubectl annotate deployment NAME nb2svc.io/last-good-manifest-) and deploy again"
    )
    try:
        doc: Any = json.loads(recorded)
    except ValueError as exc:
        raise DeployError(f"{where}: the last good manifest is not JSON ({exc})", fix=fix) from exc
    problem = _problem(doc, live, name, namespace)
    if problem:
        raise DeployError(f"{where}: refusing to roll back: {problem}", fix=fix)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    for key in METADATA_FIELDS:
        if isinstance(doc["metadata"].get(key), dict):
            metadata[key] = dict(doc["metadata"][key])
    metadata.setdefault("annotations", {})[s.ANN_LAST_GOOD] = recorded
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": dict(doc["spec"]),
    }


def _problem(doc: Any, live: Mapping[str, Any], name: str, namespace: str) -> str | None:
    if not isinstance(doc, dict):
        return f"the record is a JSON {type(doc).__name__}, not a manifest"
    kind = f"{doc.get('apiVersion')}/{doc.get('kind')}"
    if kind != "apps/v1/Deployment":
        return f"the record is a {kind}, not an apps/v1 Deployment"
    metadata, spec = doc.get("metadata"), doc.get("spec")
    if not isinstance(metadata, dict) or not isinstance(spec, dict):
        return "the record has no metadata or spec"
    if metadata.get("name") != name:
        return f"the record is for Deployment/{metadata.get('name')}"
    if metadata.get("namespace") not in (None, namespace):
        return f"the record is for namespace {metadata.get('namespace')!r}"
    extra = sorted(set(spec) - SPEC_FIELDS)
    if extra:
        return f"the record's spec has fields a Deployment rollback does not restore: {extra}"
    selector = dig(live, "spec", "selector")
    if spec.get("selector") != selector:
        return f"the record's selector {spec.get('selector')} is not the live {selector}"
    match = dig(spec, "selector", "matchLabels") or {}
    template_labels = dig(spec, "template", "metadata", "labels") or {}
    if not isinstance(template_labels, dict) or any(
        template_labels.get(k) != v for k, v in match.items()
    ):
        return "the record's pod template does not carry the selector's labels"
    if not isinstance(dig(spec, "template", "spec", "containers"), list):
        return "the record's pod template has no containers"
    return None
