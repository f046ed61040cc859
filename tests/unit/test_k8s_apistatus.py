"""Reading an API server's refusals: SSA conflicts and Pod Security admission.

The bodies are the `Status` objects kube-apiserver 1.37 sends (the same shapes the
real-cluster tests in tests/integration/test_k8s_deploy.py provoke).
"""

from __future__ import annotations

import json

import pytest
from nb2svc.errors import DeployError, UsageError
from nb2svc.k8s import HpaSpec, ManifestSpec, render_manifests
from nb2svc.k8s.apistatus import (
    Conflict,
    conflict_error,
    conflicts,
    pod_security_refusal,
    status_body,
)
from nb2svc.k8s.commands import parse_hpa
from nb2svc.k8s.manifests import with_scaling
from nb2svc.k8s.rollout import rollout_state

CONFLICT = {
    "kind": "Status",
    "apiVersion": "v1",
    "status": "Failure",
    "message": 'Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: '
    ".spec.replicas",
    "reason": "Conflict",
    "details": {
        "name": "churn",
        "group": "apps",
        "kind": "deployments",
        "causes": [
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "kubectl" using apps/v1',
                "field": ".spec.replicas",
            }
        ],
    },
    "code": 409,
}
FORBIDDEN = {
    "kind": "Status",
    "status": "Failure",
    "reason": "Forbidden",
    "code": 403,
    "message": 'pods "churn-x" is forbidden: violates PodSecurity "restricted:latest": '
    'allowPrivilegeEscalation != false (container "server" must set '
    "securityContext.allowPrivilegeEscalation=false)",
}


def test_a_conflict_names_the_field_and_the_manager_that_owns_it() -> None:
    found = conflicts(status_body(json.dumps(CONFLICT).encode()))
    assert found == [Conflict(field=".spec.replicas", manager="kubectl")]
    error = conflict_error("Deployment/churn", found)
    assert isinstance(error, DeployError)
    assert ".spec.replicas" in error.message
    assert "field manager 'kubectl'" in error.details[0]
    assert error.fix is not None
    assert "--force-conflicts" in error.fix


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", json.dumps(FORBIDDEN).encode(), None])
def test_anything_but_a_conflict_status_has_no_conflicts(body: bytes | None) -> None:
    assert conflicts(status_body(body)) == []


def test_pod_security_refusal_is_recognised_by_its_admission_message() -> None:
    message = pod_security_refusal(status_body(json.dumps(FORBIDDEN)))
    assert message is not None
    assert 'violates PodSecurity "restricted:latest"' in message
    rbac = {**FORBIDDEN, "message": 'pods is forbidden: User "x" cannot create resource "pods"'}
    assert pod_security_refusal(rbac) is None


def test_a_rollout_whose_pods_admission_refuses_fails_at_once() -> None:
    live = {
        "metadata": {"name": "churn", "generation": 1},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "conditions": [
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetCreated"},
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "reason": "FailedCreate",
                    "message": FORBIDDEN["message"],
                },
            ],
        },
    }
    state = rollout_state(live, 1)
    assert state.failed
    assert "violates PodSecurity" in state.message
    quota = json.loads(json.dumps(live))
    quota["status"]["conditions"][1]["message"] = "exceeded quota: compute"
    assert not rollout_state(quota, 1).failed  # may clear by itself: waited out


def test_hpa_and_pdb_added_at_deploy_time_take_replicas_off_the_deployment() -> None:
    docs = render_manifests(
        ManifestSpec(name="churn", image="r/churn@sha256:" + "a" * 64, version="v1")
    )
    scaled = with_scaling(docs, HpaSpec(min_replicas=2, max_replicas=4), pdb=True)
    kinds = [d["kind"] for d in scaled]
    assert kinds == ["Service", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget"]
    deployment, hpa, pdb = scaled[1], scaled[2], scaled[3]
    assert "replicas" not in deployment["spec"]
    assert "replicas" in docs[1]["spec"]  # the input is left as it was
    assert hpa["spec"]["scaleTargetRef"]["name"] == "churn"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 4)
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert with_scaling(scaled, HpaSpec(), pdb=True) == with_scaling(docs, HpaSpec(), pdb=True)


def test_hpa_flag_is_min_max_and_an_optional_cpu_target() -> None:
    assert parse_hpa("2:5") == HpaSpec(min_replicas=2, max_replicas=5)
    assert parse_hpa("1:10:60") == HpaSpec(min_replicas=1, max_replicas=10, cpu_utilization=60)


@pytest.mark.parametrize("text", ["5", "5:2", "0:3", "a:b", "2:5:0", "2:5:101", "1:2:3:4"])
def test_a_bad_hpa_flag_says_what_form_it_takes(text: str) -> None:
    with pytest.raises(UsageError, match="--hpa"):
        parse_hpa(text)
