"""Render a `ManifestSpec` into plain-dict Kubernetes objects and YAML.

The objects are dicts, not the kubernetes client's model classes: they serialise to YAML
as they are, golden-file tests compare them, and kubernetes-validate reads them directly.
See docs/deploying.md for why each field has its value.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import yaml
from nb2svc_runtime.contract import WORKER_RSS_ENV

from nb2svc.image.refs import by_digest, repository_of
from nb2svc.k8s import spec as s
from nb2svc.k8s.spec import HpaSpec, ManifestSpec

Manifest = dict[str, Any]


def render_manifests(spec: ManifestSpec) -> list[Manifest]:
    """Service, Deployment, then the optional HPA and PDB, in the order they are applied."""
    docs = [render_service(spec), render_deployment(spec)]
    if spec.hpa is not None:
        docs.append(render_hpa(spec))
    if spec.pdb:
        docs.append(render_pdb(spec))
    return docs


def to_yaml(docs: Iterable[Manifest]) -> str:
    """Multi-document YAML, keys in rendering order, strings quoted where YAML would retype them."""
    return yaml.safe_dump_all(list(docs), sort_keys=False, default_flow_style=False, width=1000)


def load_yaml(text: str) -> list[Manifest]:
    """The non-empty documents of a multi-document YAML text."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def labels(spec: ManifestSpec) -> dict[str, str]:
    return {
        s.LABEL_NAME: spec.name,
        s.LABEL_INSTANCE: spec.instance_name,
        s.LABEL_VERSION: spec.version,
        s.LABEL_COMPONENT: s.COMPONENT,
        s.LABEL_PART_OF: spec.part_of or spec.name,
        s.LABEL_MANAGED_BY: s.MANAGED_BY,
    }


def selector(spec: ManifestSpec) -> dict[str, str]:
    """Only name + instance: immutable in a Deployment, so never the version."""
    return {s.LABEL_NAME: spec.name, s.LABEL_INSTANCE: spec.instance_name}


def provenance_annotations(spec: ManifestSpec) -> dict[str, str]:
    prov = spec.provenance
    digest = spec.image_digest or (spec.image.split("@", 1)[1] if "@" in spec.image else None)
    values = {
        s.ANN_SOURCE_URL: prov.source_url,
        s.ANN_SOURCE_COMMIT: prov.source_commit,
        s.ANN_NOTEBOOK: prov.notebook,
        s.ANN_NOTEBOOK_SHA256: prov.notebook_sha256,
        s.ANN_IMAGE_DIGEST: digest,
        s.ANN_NB2SVC_VERSION: prov.nb2svc_version,
    }
    if spec.model_load_seconds is not None:
        values[s.ANN_MODEL_LOAD_SECONDS] = f"{spec.model_load_seconds:.1f}"
    out = {key: value for key, value in values.items() if value}
    out.update(spec.extra_annotations)
    return out


def metadata(spec: ManifestSpec, *, annotations: dict[str, str] | None = None) -> Manifest:
    meta: Manifest = {"name": spec.name}
    if spec.namespace:
        meta["namespace"] = spec.namespace
    meta["labels"] = labels(spec)
    if annotations:
        meta["annotations"] = annotations
    return meta


def render_service(spec: ManifestSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(spec),
        "spec": {
            "type": spec.service_type,
            "selector": selector(spec),
            "ports": [
                {
                    "name": s.PORT_NAME,
                    "port": spec.service_port,
                    "targetPort": s.PORT_NAME,
                    "protocol": "TCP",
                    "appProtocol": "http",
                }
            ],
        },
    }


def render_deployment(spec: ManifestSpec) -> Manifest:
    budget = s.startup_budget(spec.model_load_seconds)
    body: Manifest = {}
    if spec.hpa is None:
        body["replicas"] = spec.replicas
    body.update(
        {
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": budget.progress_deadline_seconds,
            "minReadySeconds": 10,
            "selector": {"matchLabels": selector(spec)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {
                    "maxSurge": spec.max_surge,
                    "maxUnavailable": spec.max_unavailable,
                },
            },
            "template": render_pod_template(spec),
        }
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(spec, annotations=provenance_annotations(spec)),
        "spec": body,
    }


def render_pod_template(spec: ManifestSpec) -> Manifest:
    annotations = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(spec.port),
        "prometheus.io/path": s.METRICS_PATH,
        **provenance_annotations(spec),
    }
    pod: Manifest = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": spec.termination_grace_seconds,
        "securityContext": pod_security_context(spec),
        "containers": [render_container(spec)],
        "volumes": volumes(spec),
    }
    if spec.image_pull_secret:
        pod["imagePullSecrets"] = [{"name": spec.image_pull_secret}]
    if spec.gpu:
        pod["tolerations"] = [{"key": s.GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    return {"metadata": {"labels": labels(spec), "annotations": annotations}, "spec": pod}


def pod_security_context(spec: ManifestSpec) -> Manifest:
    ctx: Manifest = {"runAsNonRoot": True}
    if spec.uid is not None:
        # Group 0: the image's writable paths are group-0-writable (OpenShift convention).
        ctx.update({"runAsUser": spec.uid, "runAsGroup": 0, "fsGroup": 0})
    ctx["seccompProfile"] = {"type": "RuntimeDefault"}
    return ctx


def container_security_context() -> Manifest:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def volumes(spec: ManifestSpec) -> list[Manifest]:
    vols: list[Manifest] = [{"name": "tmp", "emptyDir": {"sizeLimit": spec.tmp_size_limit}}]
    if spec.gpu:
        vols.append({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}})
    return vols


def volume_mounts(spec: ManifestSpec) -> list[Manifest]:
    mounts: list[Manifest] = [{"name": "tmp", "mountPath": "/tmp"}]
    if spec.gpu:
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    return mounts


def resources(spec: ManifestSpec) -> Manifest:
    limits: dict[str, str | int] = {"memory": spec.memory_limit or spec.memory_request}
    if spec.cpu_limit:
        limits["cpu"] = spec.cpu_limit
    if spec.gpu:
        limits[s.GPU_RESOURCE] = spec.gpu  # requests default to limits; GPUs never overcommit
    return {"requests": {"cpu": spec.cpu, "memory": spec.memory_request}, "limits": limits}


def server_env(spec: ManifestSpec) -> list[dict[str, str]]:
    """What the server is told: its worker count and its shutdown deadline (inside the
    termination grace period, see ManifestSpec.termination_grace_seconds)."""
    values = {"WORKERS": str(spec.worker_processes), "SHUTDOWN_TIMEOUT": str(spec.drain_seconds)}
    if spec.worker_rss_bytes:
        values[WORKER_RSS_ENV] = str(spec.worker_rss_bytes)
    return [{"name": key, "value": value} for key, value in values.items()]


def probes(spec: ManifestSpec) -> Manifest:
    budget = s.startup_budget(spec.model_load_seconds)
    port = s.PORT_NAME
    return {
        "startupProbe": {
            "httpGet": {"path": s.READINESS_PATH, "port": port},
            "periodSeconds": budget.period_seconds,
            "timeoutSeconds": 2,
            "failureThreshold": budget.failure_threshold,
        },
        "readinessProbe": {
            "httpGet": {"path": s.READINESS_PATH, "port": port},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": s.LIVENESS_PATH, "port": port},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
    }


def prestop(spec: ManifestSpec) -> Manifest:
    """Keep serving while endpoints and proxies forget the pod, then SIGTERM starts the drain."""
    seconds = spec.prestop_sleep_seconds
    if spec.legacy_prestop:
        return {"exec": {"command": ["sleep", str(seconds)]}}
    return {"sleep": {"seconds": seconds}}


def render_container(spec: ManifestSpec) -> Manifest:
    return {
        "name": s.CONTAINER_NAME,
        "image": spec.image_ref,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": s.PORT_NAME, "containerPort": spec.port, "protocol": "TCP"}],
        "env": server_env(spec),
        **probes(spec),
        "lifecycle": {"preStop": prestop(spec)},
        "resources": resources(spec),
        "securityContext": container_security_context(),
        "volumeMounts": volume_mounts(spec),
    }


def render_hpa(spec: ManifestSpec) -> Manifest:
    assert spec.hpa is not None
    return hpa_object(metadata(spec), spec.hpa)


def render_pdb(spec: ManifestSpec) -> Manifest:
    return pdb_object(metadata(spec), selector(spec))


def hpa_object(meta: Manifest, hpa: HpaSpec) -> Manifest:
    """The HPA scaling the Deployment named in `meta` (its metadata is the Deployment's)."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"]},
            "minReplicas": hpa.min_replicas,
            "maxReplicas": hpa.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": hpa.cpu_utilization,
                        },
                    },
                }
            ],
            "behavior": {
                "scaleDown": {"stabilizationWindowSeconds": hpa.scale_down_window_seconds}
            },
        },
    }


def pdb_object(meta: Manifest, match_labels: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta,
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": match_labels}},
    }


def with_scaling(docs: Iterable[Manifest], hpa: HpaSpec | None, pdb: bool) -> list[Manifest]:
    """`docs` with an HPA and/or PDB for each Deployment, as `nb2svc deploy --hpa/--pdb` adds
    them to a build's manifests: with an HPA the Deployment loses `replicas` (the HPA owns
    it; docs/deploying.md). Objects of those kinds already in `docs` are replaced."""
    wanted = {"HorizontalPodAutoscaler"} if hpa else set()
    wanted |= {"PodDisruptionBudget"} if pdb else set()
    out: list[Manifest] = []
    added: list[Manifest] = []
    for doc in docs:
        if doc.get("kind") in wanted:
            continue
        doc = copy.deepcopy(doc)
        out.append(doc)
        if doc.get("kind") != "Deployment":
            continue
        meta = {
            key: copy.deepcopy(doc["metadata"][key])
            for key in ("name", "namespace", "labels")
            if key in doc["metadata"]
        }
        if hpa is not None:
            doc["spec"].pop("replicas", None)
            added.append(hpa_object(copy.deepcopy(meta), hpa))
        if pdb:
            match = dict(doc["spec"]["selector"]["matchLabels"])
            added.append(pdb_object(copy.deepcopy(meta), match))
    return out + added


def pin_image(docs: Iterable[Manifest], image: str, digest: str) -> list[Manifest]:
    """`docs` with each container that runs `image` (its tag, or an earlier digest of its
    repository) pinned to `repo@digest`, and the digest annotation on each Deployment and
    its pod template: what rendering with `ManifestSpec.image_digest` gives (`nb2svc push
    --report` pins a build's manifests this way). ValueError when no container runs it."""
    pinned = by_digest(image, digest)
    out = [copy.deepcopy(doc) for doc in docs]
    found = 0
    for doc in out:
        if doc.get("kind") != "Deployment":
            continue
        template = doc["spec"]["template"]
        runs = [c for c in template["spec"].get("containers", []) if _runs(c, image)]
        for container in runs:
            container["image"] = pinned
        if runs:
            found += len(runs)
            for meta in (doc["metadata"], template.setdefault("metadata", {})):
                meta["annotations"] = _with_digest(meta.get("annotations") or {}, digest)
    if not found:
        raise ValueError(f"no container of these manifests runs {image}")
    return out


def _runs(container: Manifest, image: str) -> bool:
    ref = str(container.get("image", ""))
    return ref == image or ("@" in ref and repository_of(ref) == repository_of(image))


def _with_digest(annotations: dict[str, str], digest: str) -> dict[str, str]:
    """The annotations with `nb2svc.io/image-digest` where rendering puts it (before
    `nb2svc.io/nb2svc-version`), so a pinned file reads as a freshly rendered one."""
    out: dict[str, str] = {}
    for key, value in annotations.items():
        if key == s.ANN_NB2SVC_VERSION:
            out[s.ANN_IMAGE_DIGEST] = digest
        if key != s.ANN_IMAGE_DIGEST:
            out[key] = value
    out.setdefault(s.ANN_IMAGE_DIGEST, digest)
    return out
