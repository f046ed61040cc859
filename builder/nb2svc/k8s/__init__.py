"""Kubernetes manifests for a served model: render, check, deploy, play locally.

Only `nb2svc.k8s.deploy` imports the kubernetes client.
"""

from nb2svc.k8s.manifests import render_manifests, to_yaml
from nb2svc.k8s.spec import RUNTIME_ENDPOINTS, HpaSpec, ManifestSpec, Provenance

__all__ = [
    "RUNTIME_ENDPOINTS",
    "HpaSpec",
    "ManifestSpec",
    "Provenance",
    "render_manifests",
    "to_yaml",
]
