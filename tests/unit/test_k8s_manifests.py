"""Rendering: golden YAML for the default, GPU and HPA variants, and the validator on each.

Regenerate the golden files after an intended change with
`NB2SVC_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_k8s_manifests.py`
and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import kubernetes_validate
import pytest
from nb2svc.k8s import RUNTIME_ENDPOINTS, HpaSpec, ManifestSpec, Provenance, render_manifests
from nb2svc.k8s import spec as s
from nb2svc.k8s.manifests import load_yaml, pin_image, render_deployment, to_yaml
from nb2svc.k8s.spec import memory_for, worker_count
from nb2svc.k8s.validate import default_versions, schema_findings, validate_documents
from nb2svc_runtime import contract
from nb2svc_runtime.serve import config as runtime_config

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "k8s"
DIGEST = "sha256:" + "3b" * 32

PROVENANCE = Provenance(
    source_commit="9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6",
    source_url="https://git.example.com/ds/churn.git",
    notebook="notebooks/churn.ipynb",
    notebook_sha256="5e" * 32,
    nb2svc_version="0.1.0",
)


def base_spec(**overrides: object) -> ManifestSpec:
    values: dict[str, object] = {
        "name": "Churn",
        "image": "registry.example.com/ds/churn:3f2a9c1d0b7e",
        "image_digest": DIGEST,
        "version": "3f2a9c1d0b7e",
        "model_load_seconds": 4.2,
        "worker_rss_bytes": 180 * 1024 * 1024,
        "provenance": PROVENANCE,
        "namespace": "models",
    }
    values.update(overrides)
    return ManifestSpec(**values)  # type: ignore[arg-type]


VARIANTS = {
    "default": base_spec(),
    "gpu": base_spec(gpu=1, memory="8Gi", memory_limit="12Gi", cpu="2", model_load_seconds=95.0),
    "hpa": base_spec(
        hpa=HpaSpec(min_replicas=2, max_replicas=6), pdb=True, image_pull_secret="reg"
    ),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_golden_yaml(variant: str) -> None:
    rendered = to_yaml(render_manifests(VARIANTS[variant]))
    golden = GOLDEN / f"{variant}.yaml"
    if os.environ.get("NB2SVC_UPDATE_GOLDEN") == "1":
        golden.write_text(rendered, encoding="utf-8")
    assert rendered == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_passes_schema_and_checks(variant: str) -> None:
    docs = load_yaml((GOLDEN / f"{variant}.yaml").read_text(encoding="utf-8"))
    findings = validate_documents(docs)
    assert [str(f) for f in findings] == []


def test_default_versions_span_oldest_and_newest_bundled() -> None:
    oldest, newest = default_versions()
    assert oldest == "1.30"
    assert newest == ".".join(str(kubernetes_validate.latest_version()).split(".")[:2])


def test_prestop_sleep_needs_130_and_legacy_exec_form_passes_128() -> None:
    modern = [d for d in render_manifests(base_spec()) if d["kind"] == "Deployment"]
    legacy = [
        d for d in render_manifests(base_spec(legacy_prestop=True)) if d["kind"] == "Deployment"
    ]
    rejected = schema_findings(modern, ["1.28"])
    assert len(rejected) == 1
    assert "lifecycle.preStop" in rejected[0].path
    assert schema_findings(legacy, ["1.28"]) == []


def docs_by_kind(spec: ManifestSpec) -> dict[str, dict[str, object]]:
    return {doc["kind"]: doc for doc in render_manifests(spec)}


def test_hpa_owns_replicas_and_pdb_selects_the_same_pods() -> None:
    docs = docs_by_kind(VARIANTS["hpa"])
    assert list(docs) == ["Service", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget"]
    assert "replicas" not in docs["Deployment"]["spec"]  # type: ignore[operator]
    selector = {s.LABEL_NAME: "churn", s.LABEL_INSTANCE: "churn"}
    assert docs["PodDisruptionBudget"]["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": selector},
    }
    assert docs["Service"]["spec"]["selector"] == selector  # type: ignore[index]


def test_gpu_goes_in_limits_with_a_toleration_and_shm() -> None:
    pod = docs_by_kind(VARIANTS["gpu"])["Deployment"]["spec"]["template"]["spec"]  # type: ignore[index]
    container = pod["containers"][0]
    assert container["resources"]["limits"][s.GPU_RESOURCE] == 1
    assert s.GPU_RESOURCE not in container["resources"]["requests"]
    assert pod["tolerations"][0]["key"] == s.GPU_RESOURCE
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]


@pytest.mark.parametrize(
    ("measured", "period", "threshold", "deadline"),
    [
        (None, 5, 60, 600),  # not measured: 300 s
        (4.2, 5, 12, 600),  # 3 x 4.2 + 30 = 42.6 -> at least 60 s
        (95.0, 10, 32, 600),  # 315 s -> 10 s x 32
        (400.0, 10, 123, 1350),  # 1230 s: the rollout deadline grows with it
    ],
)
def test_startup_budget_from_measured_load_time(
    measured: float | None, period: int, threshold: int, deadline: int
) -> None:
    budget = s.startup_budget(measured)
    assert (budget.period_seconds, budget.failure_threshold) == (period, threshold)
    assert budget.progress_deadline_seconds == deadline
    assert budget.progress_deadline_seconds > budget.seconds
    if measured is not None:
        assert budget.seconds >= measured * 3


def test_image_pinned_by_digest_once_without_the_tag() -> None:
    assert base_spec().image_ref == f"registry.example.com/ds/churn@{DIGEST}"
    pinned = base_spec(image=f"r.example.com/churn@{DIGEST}", image_digest=None)
    assert pinned.image_ref == f"r.example.com/churn@{DIGEST}"
    annotations = docs_by_kind(pinned)["Deployment"]["metadata"]["annotations"]  # type: ignore[index]
    assert annotations[s.ANN_IMAGE_DIGEST] == DIGEST


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Churn_Model v2", "churn-model-v2"), ("2024-model", "m-2024-model"), ("x" * 80, "x" * 63)],
)
def test_names_become_rfc1035_labels(raw: str, expected: str) -> None:
    assert s.dns_label(raw) == expected
    assert s.is_dns_label(expected)
    assert ManifestSpec(name=raw, image="i", version="v").name == expected


def test_probes_use_runtime_endpoints_and_grace_covers_drain() -> None:
    spec = base_spec()
    container = docs_by_kind(spec)["Deployment"]["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    paths = {
        container[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    assert paths <= set(RUNTIME_ENDPOINTS)
    assert spec.termination_grace_seconds > spec.prestop_sleep_seconds + spec.drain_seconds


def test_workers_follow_the_cpu_request_and_memory_the_measured_worker() -> None:
    spec = base_spec(cpu="2", worker_rss_bytes=300 * 1024 * 1024)
    (container,) = render_deployment(spec)["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["WORKERS"] == "2"
    assert env[contract.WORKER_RSS_ENV] == str(300 * 1024 * 1024)
    # 2 workers x 300 Mi x 1.5 = 900 Mi, rounded up to 64 Mi
    assert container["resources"]["requests"]["memory"] == "960Mi"
    assert container["resources"]["limits"]["memory"] == "960Mi"


@pytest.mark.parametrize(("cpu", "workers"), [("500m", 1), ("1", 1), ("1500m", 1), ("4", 4)])
def test_a_fraction_of_a_core_is_one_worker(cpu: str, workers: int) -> None:
    assert worker_count(cpu) == workers


def test_memory_has_a_floor_and_a_default_when_nothing_was_measured() -> None:
    assert memory_for(1, 20 * 1024 * 1024) == "256Mi"
    assert memory_for(2, None) == "1Gi"
    assert base_spec(memory="3Gi", worker_rss_bytes=1).memory_request == "3Gi"


def test_the_grace_period_outlasts_the_prestop_sleep_and_the_servers_shutdown_deadline() -> None:
    spec = base_spec()
    pod = render_deployment(spec)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    shutdown = int({e["name"]: e["value"] for e in container["env"]}["SHUTDOWN_TIMEOUT"])
    sleep = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] >= sleep + shutdown + 5


def test_the_memory_rendered_lets_the_server_run_every_worker_it_is_told() -> None:
    """The server keeps WORKERS x RSS within MEMORY_SHARE of its limit (USAGE.md)."""
    for workers in (1, 2, 3, 8):
        for rss_mib in (30, 175, 300, 1000):
            memory = memory_for(workers, rss_mib * 2**20)
            limit_mib = int(memory.removesuffix("Mi"))
            assert runtime_config.MEMORY_SHARE * limit_mib / rss_mib >= workers, memory


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_pinning_rendered_manifests_gives_what_rendering_with_the_digest_gives(
    variant: str,
) -> None:
    pinned_spec = VARIANTS[variant]
    unpinned = render_manifests(ManifestSpec(**{**vars(pinned_spec), "image_digest": None}))
    tag = pinned_spec.image
    assert to_yaml(pin_image(unpinned, tag, DIGEST)) == to_yaml(render_manifests(pinned_spec))
    again = pin_image(pin_image(unpinned, tag, "sha256:" + "77" * 32), tag, DIGEST)
    assert to_yaml(again) == to_yaml(render_manifests(pinned_spec))  # a second push re-pins


def test_pinning_manifests_that_run_another_image_is_refused() -> None:
    with pytest.raises(ValueError, match="no container of these manifests runs"):
        pin_image(render_manifests(base_spec(image_digest=None)), "r.example.com/other:1", DIGEST)
