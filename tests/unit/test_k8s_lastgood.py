"""Rollback restores this Deployment's own last good manifest, and nothing else."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from nb2svc.errors import DeployError
from nb2svc.k8s import ManifestSpec, render_manifests
from nb2svc.k8s import spec as s
from nb2svc.k8s.lastgood import record, restorable


def deployment() -> dict[str, Any]:
    docs = render_manifests(ManifestSpec(name="churn", image="r.example.com/churn:1", version="v1"))
    (found,) = [d for d in docs if d["kind"] == "Deployment"]
    return found


def test_the_recorded_deployment_is_restored_with_its_record() -> None:
    good = deployment()
    restored = restorable(record(good), good, "churn", "models")
    assert restored["spec"] == good["spec"]
    assert restored["metadata"]["namespace"] == "models"
    assert restored["metadata"]["annotations"][s.ANN_LAST_GOOD] == record(good)


def hostile(change: str) -> Any:
    doc = deployment()
    if change == "kind":
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "churn"}, "roleRef": {"kind": "ClusterRole", "name": "admin"},
        }  # fmt: skip
    if change == "name":
        doc["metadata"]["name"] = "payments"
    elif change == "namespace":
        doc["metadata"]["namespace"] = "kube-system"
    elif change == "selector":
        doc["spec"]["selector"] = {"matchLabels": {"app": "payments"}}
    elif change == "template-labels":
        doc["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    elif change == "extra-spec":
        doc["spec"]["paused"] = True
    elif change == "list":
        return [doc]
    elif change == "no-containers":
        del doc["spec"]["template"]["spec"]["containers"]
    return doc


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ("kind", "ClusterRoleBinding, not an apps/v1 Deployment"),
        ("name", "for Deployment/payments"),
        ("namespace", "for namespace 'kube-system'"),
        ("selector", "is not the live"),
        ("template-labels", "does not carry the selector's labels"),
        ("extra-spec", "['paused']"),
        ("list", "JSON list"),
        ("no-containers", "no containers"),
    ],
)
def test_a_record_that_is_not_this_deployment_is_refused(change: str, says: str) -> None:
    live = deployment()
    with pytest.raises(DeployError) as caught:
        restorable(json.dumps(hostile(change)), live, "churn", "models")
    assert says in caught.value.message
    assert "refusing to roll back" in caught.value.message
    assert "kubectl annotate" in (caught.value.fix or "")


def test_a_record_that_is_not_json_is_refused() -> None:
    with pytest.raises(DeployError, match="not JSON"):
        restorable("{not json", deployment(), "churn", "models")


def test_only_deployment_metadata_that_belongs_to_it_is_restored() -> None:
    doc = deployment()
    doc["metadata"]["ownerReferences"] = [{"kind": "Secret", "name": "x"}]
    doc["metadata"]["finalizers"] = ["example.com/hold"]
    restored = restorable(json.dumps(doc), copy.deepcopy(doc), "churn", "models")
    assert set(restored["metadata"]) <= {"name", "namespace", "labels", "annotations"}
