"""Broken manifests, each caught with its field path (nb2svc's checks and the strict schema)."""

from __future__ import annotations

import io
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from nb2svc.k8s import HpaSpec, ManifestSpec, render_manifests
from nb2svc.k8s.checks import check_documents, parse_quantity
from nb2svc.k8s.commands import manifests_check_command
from nb2svc.k8s.manifests import to_yaml
from nb2svc.k8s.validate import schema_findings

Docs = list[dict[str, Any]]
POD = "spec.template.spec"
C0 = f"{POD}.containers[0]"
SC = f"{C0}.securityContext"


def rendered(**options: Any) -> Docs:
    spec = ManifestSpec(name="churn", image="r.example.com/churn:1", version="v1", **options)
    return render_manifests(spec)


def kind(docs: Docs, name: str) -> dict[str, Any]:
    return next(doc for doc in docs if doc["kind"] == name)


def container(docs: Docs) -> dict[str, Any]:
    found: dict[str, Any] = kind(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return found


def pod(docs: Docs) -> dict[str, Any]:
    found: dict[str, Any] = kind(docs, "Deployment")["spec"]["template"]["spec"]
    return found


def setter(
    get: Callable[[Docs], dict[str, Any]], key: str, value: object
) -> Callable[[Docs], None]:
    def mutate(docs: Docs) -> None:
        get(docs)[key] = value

    return mutate


def security(docs: Docs) -> dict[str, Any]:
    found: dict[str, Any] = container(docs)["securityContext"]
    return found


def resources(section: str) -> Callable[[Docs], dict[str, Any]]:
    def get(docs: Docs) -> dict[str, Any]:
        found: dict[str, Any] = container(docs)["resources"][section]
        return found

    return get


def probe(name: str) -> Callable[[Docs], dict[str, Any]]:
    def get(docs: Docs) -> dict[str, Any]:
        found: dict[str, Any] = container(docs)[name]["httpGet"]
        return found

    return get


def template_label(docs: Docs) -> None:
    kind(docs, "Deployment")["spec"]["template"]["metadata"]["labels"][
        "app.kubernetes.io/instance"
    ] = "other"


def service_selector(docs: Docs) -> None:
    kind(docs, "Service")["spec"]["selector"] = {"app": "churn"}


def pdb_selector(docs: Docs) -> None:
    kind(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"][
        "app.kubernetes.io/name"
    ] = "x"


def zero_surge(docs: Docs) -> None:
    kind(docs, "Deployment")["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = 0


def version_selector(docs: Docs) -> None:
    spec = kind(docs, "Deployment")["spec"]
    spec["selector"]["matchLabels"]["app.kubernetes.io/version"] = "v1"


def host_path(docs: Docs) -> None:
    pod(docs)["volumes"].append({"name": "data", "hostPath": {"path": "/data"}})


def short_deadline(docs: Docs) -> None:
    kind(docs, "Deployment")["spec"]["progressDeadlineSeconds"] = 30


def service_target(docs: Docs) -> None:
    kind(docs, "Service")["spec"]["ports"][0]["targetPort"] = "web"


def pod_root(docs: Docs) -> None:
    pod(docs)["securityContext"]["runAsUser"] = 0


def no_non_root(docs: Docs) -> None:
    del pod(docs)["securityContext"]["runAsNonRoot"]
    del security(docs)["runAsNonRoot"]


def long_label(docs: Docs) -> None:
    kind(docs, "Deployment")["metadata"]["labels"]["app.kubernetes.io/version"] = "v" * 64


def bad_name(docs: Docs) -> None:
    kind(docs, "Deployment")["metadata"]["name"] = "Churn_Model"


def unconfined(docs: Docs) -> None:
    pod(docs)["securityContext"]["seccompProfile"] = {"type": "Unconfined"}


# (case id, mutation, the finding that must be reported, exactly as printed up to its end)
CASES: list[tuple[str, Callable[[Docs], None], str]] = [
    ("privilege-escalation", setter(security, "allowPrivilegeEscalation", True),
     f"Deployment/churn: {SC}.allowPrivilegeEscalation: must be false (Pod Security restricted)"),
    ("privileged", setter(security, "privileged", True),
     f"Deployment/churn: {SC}.privileged: must be false (Pod Security baseline)"),
    ("drop-all-lowercase", setter(security, "capabilities", {"drop": ["all"]}),
     f'Deployment/churn: {SC}.capabilities.drop: must include "ALL" (Pod Security restricted)'),
    ("add-sys-admin", setter(security, "capabilities", {"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
     f"Deployment/churn: {SC}.capabilities.add[0]: SYS_ADMIN may not be added"),
    ("run-as-root", setter(security, "runAsUser", 0),
     f"Deployment/churn: {SC}.runAsUser: must not be 0 (Pod Security restricted)"),
    ("pod-run-as-root", pod_root,
     f"Deployment/churn: {POD}.securityContext.runAsUser: must not be 0"),
    ("no-run-as-non-root", no_non_root,
     f"Deployment/churn: {SC}.runAsNonRoot: must be true here or in the pod"),
    ("seccomp-unconfined", unconfined,
     f"Deployment/churn: {POD}.securityContext.seccompProfile.type: must be RuntimeDefault"),
    ("host-network", setter(pod, "hostNetwork", True),
     f"Deployment/churn: {POD}.hostNetwork: must be false (Pod Security baseline)"),
    ("host-path-volume", host_path,
     f"Deployment/churn: {POD}.volumes[1].hostPath: volume type hostPath is not allowed"),
    ("host-port", lambda d: container(d)["ports"][0].update(hostPort=8080),
     f"Deployment/churn: {C0}.ports[0].hostPort: must not be set"),
    ("probe-host", setter(probe("livenessProbe"), "host", "10.0.0.1"),
     f"Deployment/churn: {C0}.livenessProbe.httpGet.host: must not be set"),
    ("selector-mismatch", template_label,
     "Deployment/churn: spec.selector.matchLabels.app.kubernetes.io/instance: 'churn' does not "
     "match the pod template label 'other'"),
    ("selector-on-version", version_selector,
     "Deployment/churn: spec.selector.matchLabels.app.kubernetes.io/version: the selector is "
     "immutable"),
    ("service-selects-nothing", service_selector,
     "Service/churn: spec.selector: {'app': 'churn'} matches no Deployment's pod template labels"),
    ("pdb-selects-nothing", pdb_selector,
     "PodDisruptionBudget/churn: spec.selector.matchLabels: "),
    ("service-target-port", service_target,
     "Service/churn: spec.ports[0].targetPort: named port 'web' is not a container port"),
    ("memory-2GB", setter(resources("requests"), "memory", "2GB"),
     f"Deployment/churn: {C0}.resources.requests.memory: '2GB' is not a valid quantity"),
    ("cpu-lots", setter(resources("requests"), "cpu", "lots"),
     f"Deployment/churn: {C0}.resources.requests.cpu: 'lots' is not a valid quantity"),
    ("request-over-limit", setter(resources("requests"), "memory", "4Gi"),
     f"Deployment/churn: {C0}.resources.requests.memory: 4Gi exceeds the limit 1Gi"),
    ("port-99999", lambda d: container(d)["ports"][0].update(containerPort=99999),
     f"Deployment/churn: {C0}.ports[0].containerPort: 99999 is not in 1-65535"),
    ("probe-path-unknown", setter(probe("readinessProbe"), "path", "/ready"),
     f"Deployment/churn: {C0}.readinessProbe.httpGet.path: '/ready' is not an endpoint of the "
     "nb2svc runtime"),
    ("probe-port-unknown", setter(probe("startupProbe"), "port", "metrics"),
     f"Deployment/churn: {C0}.startupProbe.httpGet.port: named port 'metrics' is not a port"),
    ("pull-policy", setter(container, "imagePullPolicy", "Sometimes"),
     f"Deployment/churn: {C0}.imagePullPolicy: 'Sometimes' is not one of"),
    ("surge-and-unavailable-zero", zero_surge,
     "Deployment/churn: spec.strategy.rollingUpdate: maxSurge and maxUnavailable cannot both be 0"),
    ("deadline-below-startup", short_deadline,
     "Deployment/churn: spec.progressDeadlineSeconds: 30 s must exceed the startup probe budget"),
    ("grace-below-prestop", setter(pod, "terminationGracePeriodSeconds", 5),
     f"Deployment/churn: {POD}.terminationGracePeriodSeconds: 5 s leaves no time to drain"),
    ("grace-equals-prestop-plus-shutdown", setter(pod, "terminationGracePeriodSeconds", 25),
     f"Deployment/churn: {POD}.terminationGracePeriodSeconds: 25 s leaves no slack after the "
     "5 s preStop sleep and the server's 20 s SHUTDOWN_TIMEOUT"),
    ("label-too-long", long_label,
     "Deployment/churn: metadata.labels.app.kubernetes.io/version: 'vvvv"),
    ("bad-name", bad_name,
     "Deployment/Churn_Model: metadata.name: 'Churn_Model' is not a DNS-1123 name"),
]  # fmt: skip


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_manifest_is_reported_with_its_field_path(
    mutate: Callable[[Docs], None], expected: str
) -> None:
    docs = rendered(pdb=True)
    assert check_documents(docs) == []
    mutate(docs)
    messages = [str(f) for f in check_documents(docs)]
    assert any(m.startswith(expected) for m in messages), messages


@pytest.mark.parametrize(
    ("mutate", "expected_path"),
    [
        (setter(container, "imagePulPolicy", "Always"), C0),  # a typo: strict schema only
        (
            lambda d: kind(d, "Deployment")["metadata"]["labels"].update(tier=1.2),
            "metadata.labels.tier",
        ),
        (setter(lambda d: kind(d, "Deployment")["spec"], "replicas", "2"), "spec.replicas"),
        (lambda d: container(d).pop("name"), C0),
    ],
    ids=["unknown-field", "float-label", "string-replicas", "missing-container-name"],
)
def test_schema_errors_carry_the_field_path(
    mutate: Callable[[Docs], None], expected_path: str
) -> None:
    docs = rendered()
    mutate(docs)
    findings = schema_findings(docs, ["1.30", "1.37"])
    assert {f.path for f in findings} == {expected_path}
    assert len(findings) == 2  # one per Kubernetes version
    assert all(f.kind == "Deployment" and f.name == "churn" for f in findings)


def test_hpa_and_gpu_variants_are_clean() -> None:
    assert check_documents(rendered(hpa=HpaSpec(), pdb=True, gpu=2)) == []


def test_gpu_requests_must_equal_limits() -> None:
    docs = rendered(gpu=1)
    container(docs)["resources"]["requests"]["nvidia.com/gpu"] = 2
    messages = [str(f) for f in check_documents(docs)]
    assert any("requests.nvidia.com/gpu: GPU requests must equal the limits" in m for m in messages)


def test_missing_read_only_root_is_a_warning_only() -> None:
    docs = rendered()
    del security(docs)["readOnlyRootFilesystem"]
    findings = check_documents(docs)
    assert [f.severity for f in findings] == ["warning"]
    assert str(findings[0]).endswith("(warning)")


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", Decimal("0.5")), ("1Gi", Decimal(2**30)), ("2", Decimal(2)),
     ("1e3", Decimal(1000)), ("1.5G", Decimal("1.5e9")), (4, Decimal(4)), ("2GB", None),
     ("lots", None), ("", None), (True, None)],
)  # fmt: skip
def test_parse_quantity(text: object, value: Decimal | None) -> None:
    assert parse_quantity(text) == value


def test_check_command_prints_findings_and_exits_8(tmp_path: Path) -> None:
    docs = rendered()
    security(docs)["allowPrivilegeEscalation"] = True
    path = tmp_path / "manifests.yaml"
    path.write_text(to_yaml(docs), encoding="utf-8")
    out = io.StringIO()
    assert manifests_check_command(path, out=out) == 8
    assert f"Deployment/churn: {SC}.allowPrivilegeEscalation: must be false" in out.getvalue()
    assert out.getvalue().endswith("1 error(s), 0 warning(s)\n")


def test_check_command_passes_rendered_manifests(tmp_path: Path) -> None:
    path = tmp_path / "manifests.yaml"
    path.write_text(to_yaml(rendered(hpa=HpaSpec(), pdb=True)), encoding="utf-8")
    out = io.StringIO()
    assert manifests_check_command(path, out=out) == 0, out.getvalue()
