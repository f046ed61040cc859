"""Offline validation: kubernetes-validate `--strict` for a range of versions + nb2svc's checks.

The schemas ship inside the kubernetes-validate wheel, so this needs no cluster and no
network. kubernetes-validate reports only the first schema error per object and version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

from nb2svc.errors import UsageError
from nb2svc.k8s.checks import check_documents
from nb2svc.k8s.findings import Finding, Reporter

# The oldest Kubernetes nb2svc's manifests target (`preStop.sleep` needs 1.30).
MIN_KUBERNETES = "1.30"


def default_versions() -> tuple[str, ...]:
    """The oldest supported and the newest bundled schema (e.g. `("1.30", "1.37")`)."""
    newest = str(kubernetes_validate.latest_version())
    parts = newest.split(".")
    return (MIN_KUBERNETES, f"{parts[0]}.{parts[1]}")


def schema_findings(
    docs: Sequence[Mapping[str, Any]], versions: Sequence[str] | None = None
) -> list[Finding]:
    """The first strict-schema error of each object for each Kubernetes version."""
    findings: list[Finding] = []
    for doc in docs:
        report = Reporter.for_doc(doc)
        for version in versions or default_versions():
            try:
                kubernetes_validate.validate(dict(doc), version, strict=True)
            except ValidationError as exc:
                path = ".".join(_path_part(part) for part in exc.path).replace(".[", "[")
                report.error(path, f"{exc.message} (Kubernetes {version} schema)")
            except SchemaNotFoundError as exc:
                report.error("", f"{exc.message}")
                break
            except KeyError as exc:
                report.error(str(exc.args[0]), "required field missing")
                break
        findings += report.findings
    return findings


def _path_part(part: object) -> str:
    return f"[{part}]" if isinstance(part, int) else str(part)


def validate_documents(
    docs: Sequence[Mapping[str, Any]], versions: Sequence[str] | None = None
) -> list[Finding]:
    """Schema findings first, then nb2svc's semantic and Pod Security findings."""
    return schema_findings(docs, versions) + check_documents(docs)


def load_manifest_file(path: Path) -> list[dict[str, Any]]:
    """The documents of a YAML manifest file; a usage error when it is not YAML objects."""
    try:
        loaded = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        msg = f"cannot read manifests: {exc}"
        raise UsageError(msg, path=path) from exc
    docs = [doc for doc in loaded if doc is not None]
    bad = [i for i, doc in enumerate(docs) if not isinstance(doc, dict) or "kind" not in doc]
    if not docs or bad:
        msg = "expected Kubernetes objects (mappings with apiVersion and kind)"
        raise UsageError(msg, path=path, details=[f"document {i} is not one" for i in bad])
    return docs


def validate_file(path: Path, versions: Sequence[str] | None = None) -> list[Finding]:
    return validate_documents(load_manifest_file(path), versions)
