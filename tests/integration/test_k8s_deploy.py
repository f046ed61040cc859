"""`nb2svc deploy` against a real control plane (tests/cluster: kube-apiserver,
kube-controller-manager and kube-scheduler 1.37, etcd, and kwok standing in for the kubelet).

What is real here: API validation, Pod Security admission, server-side apply and its field
ownership, the Deployment and ReplicaSet controllers, the scheduler. What is not: no kubelet
runs a container (kwok marks scheduled pods Ready, or, for a pod template annotated
`nb2svc.test/kwok-fail: <reason>`, leaves it waiting with that reason); docs/deploying.md.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster_support import FAIL_ANNOTATION, KubeCluster
from kubernetes import client
from nb2svc.cli import main
from nb2svc.errors import DeployError
from nb2svc.k8s import HpaSpec, ManifestSpec, render_manifests, to_yaml
from nb2svc.k8s import spec as s
from nb2svc.k8s.commands import deploy_command
from nb2svc.k8s.deploy import Cluster, Deployer, connect
from nb2svc.k8s.manifests import with_scaling

pytestmark = pytest.mark.cluster

DIGEST_V1 = "sha256:" + "1" * 64
DIGEST_V2 = "sha256:" + "2" * 64


def churn(digest: str = DIGEST_V1, **options: Any) -> list[dict[str, Any]]:
    """The manifests a pushed churn build renders: the image pinned by digest."""
    spec = ManifestSpec(
        name="churn",
        image=f"127.0.0.1:5000/models/churn@{digest}",
        version=digest[7:19],
        **options,
    )
    return render_manifests(spec)


def deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == "Deployment")


@pytest.fixture
def namespace(kube_cluster: KubeCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace enforcing Pod Security `restricted`, one per test."""
    name = "t-" + request.node.name.removeprefix("test_").replace("_", "-")[:40].rstrip("-")
    kube_cluster.namespace(name, restricted=True)
    yield name
    kube_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def deployer(kube_cluster: KubeCluster) -> Deployer:
    logs: list[str] = []
    return Deployer(connect(kubeconfig=kube_cluster.kubeconfig), log=logs.append, poll_seconds=0.25)


def live(kube_cluster: KubeCluster, namespace: str, *what: str) -> dict[str, Any]:
    done = kube_cluster.kubectl(
        "get", *what, "-n", namespace, "-o", "json", "--show-managed-fields"
    )
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def replica_sets(kube_cluster: KubeCluster, namespace: str) -> list[dict[str, Any]]:
    items = live(kube_cluster, namespace, "replicasets")["items"]
    return sorted(items, key=lambda rs: rs["metadata"]["creationTimestamp"])


def test_a_build_rolls_out_in_a_restricted_namespace_and_kubectl_agrees(
    kube_cluster: KubeCluster, namespace: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifests = tmp_path / "manifests.yaml"
    manifests.write_text(to_yaml(churn()))
    argv = ["deploy", "-f", str(manifests), "--namespace", namespace, "--wait"]
    assert main([*argv, "--kubeconfig", str(kube_cluster.kubeconfig), "--timeout", "120"]) == 0
    assert "successfully rolled out" in capsys.readouterr().err

    status = kube_cluster.kubectl("rollout", "status", "deployment/churn", "-n", namespace)
    assert "successfully rolled out" in status.stdout
    shown = kube_cluster.kubectl("get", "deploy", "churn", "-n", namespace, "-o", "yaml")
    got = yaml.safe_load(shown.stdout)
    assert got["metadata"]["annotations"][s.ANN_LAST_GOOD]  # what nb2svc recorded as rolled out
    container = got["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"127.0.0.1:5000/models/churn@{DIGEST_V1}"
    assert got["status"]["readyReplicas"] == got["spec"]["replicas"] == 2
    (rs,) = replica_sets(kube_cluster, namespace)  # made by the real Deployment controller
    assert rs["metadata"]["ownerReferences"][0]["name"] == "churn"
    pods = live(kube_cluster, namespace, "pods")["items"]
    assert len(pods) == 2
    assert all(p["spec"]["nodeName"] for p in pods)  # bound by the real scheduler
    managed = live(kube_cluster, namespace, "deployment", "churn")["metadata"]["managedFields"]
    managers = {m["manager"] for m in managed}
    assert s.FIELD_MANAGER in managers


def test_a_weakened_pod_template_is_refused_by_pod_security_and_nothing_is_applied(
    kube_cluster: KubeCluster, namespace: str, deployer: Deployer
) -> None:
    docs = churn()
    container = deployment(docs)["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["allowPrivilegeEscalation"] = True
    container["securityContext"]["capabilities"] = {"add": ["NET_ADMIN"]}
    with pytest.raises(DeployError) as caught:
        deployer.deploy(docs, namespace=namespace)
    text = caught.value.render()
    assert 'violates PodSecurity "restricted:latest"' in text
    assert "allowPrivilegeEscalation" in text
    assert "nothing was applied" in text
    found = kube_cluster.kubectl("get", "deploy,svc", "-n", namespace, "-o", "name")
    assert found.stdout.strip() == ""


def test_a_second_build_rolls_out_a_new_replica_set_with_zero_unavailable(
    kube_cluster: KubeCluster, namespace: str, deployer: Deployer
) -> None:
    deployer.deploy(churn(DIGEST_V1), namespace=namespace, wait=True, timeout=120)
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            status = live(kube_cluster, namespace, "deployment", "churn")["status"]
            seen.append(int(status.get("availableReplicas") or 0))
            stop.wait(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        deployer.deploy(churn(DIGEST_V2), namespace=namespace, wait=True, timeout=120)
    finally:
        stop.set()
        watcher.join()
    old, new = replica_sets(kube_cluster, namespace)
    assert DIGEST_V2 in new["spec"]["template"]["spec"]["containers"][0]["image"]
    assert (new["status"].get("readyReplicas"), old["spec"]["replicas"]) == (2, 0)
    assert seen
    assert min(seen) >= 2  # maxUnavailable 0: never fewer than two pods serving


def test_a_rollout_that_never_becomes_ready_fails_with_the_pod_reason_and_rolls_back(
    kube_cluster: KubeCluster, namespace: str, deployer: Deployer
) -> None:
    deployer.deploy(churn(DIGEST_V1), namespace=namespace, wait=True, timeout=120)
    broken = churn(DIGEST_V2)
    spec = deployment(broken)["spec"]
    spec["progressDeadlineSeconds"] = 12  # > minReadySeconds (10), or it is invalid
    spec["template"]["metadata"].setdefault("annotations", {})[FAIL_ANNOTATION] = "ImagePullBackOff"
    with pytest.raises(DeployError) as caught:
        deployer.deploy(broken, namespace=namespace, wait=True, rollback=True, timeout=120)
    text = caught.value.render()
    assert "exceeded its progress deadline" in text
    assert "ImagePullBackOff" in text
    assert "rolled back to the last manifest that rolled out" in text
    got = live(kube_cluster, namespace, "deployment", "churn")
    assert DIGEST_V1 in got["spec"]["template"]["spec"]["containers"][0]["image"]
    status = kube_cluster.kubectl("rollout", "status", "deployment/churn", "-n", namespace)
    assert "successfully rolled out" in status.stdout
    active = [rs for rs in replica_sets(kube_cluster, namespace) if rs["spec"]["replicas"]]
    assert len(active) == 1
    assert DIGEST_V1 in active[0]["spec"]["template"]["spec"]["containers"][0]["image"]


def test_a_field_another_manager_owns_is_a_conflict_unless_forced(
    kube_cluster: KubeCluster, namespace: str, deployer: Deployer, tmp_path: Path
) -> None:
    deployer.deploy(churn(), namespace=namespace)
    scale = tmp_path / "scale.yaml"
    scale.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: churn\nspec:\n  replicas: 3\n"
    )
    kube_cluster.kubectl(
        "apply", "--server-side", "--field-manager=ops-team", "--force-conflicts",
        "-n", namespace, "-f", str(scale),
    )  # fmt: skip
    with pytest.raises(DeployError) as caught:
        deployer.deploy(churn(), namespace=namespace)
    assert ".spec.replicas" in caught.value.message
    assert "field manager 'ops-team'" in caught.value.render()
    assert live(kube_cluster, namespace, "deployment", "churn")["spec"]["replicas"] == 3

    forced = Deployer(deployer.cluster, log=lambda _: None, force=True)
    forced.deploy(churn(), namespace=namespace)
    assert live(kube_cluster, namespace, "deployment", "churn")["spec"]["replicas"] == 2


def test_hpa_and_pdb_are_accepted_and_the_deployment_leaves_replicas_to_the_hpa(
    kube_cluster: KubeCluster, namespace: str, deployer: Deployer
) -> None:
    docs = with_scaling(churn(), HpaSpec(min_replicas=2, max_replicas=4), pdb=True)
    deployer.deploy(docs, namespace=namespace, wait=True, timeout=120)
    hpa = live(kube_cluster, namespace, "hpa", "churn")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "churn"
    pdb = live(kube_cluster, namespace, "pdb", "churn")
    assert pdb["spec"]["maxUnavailable"] == 1
    got = live(kube_cluster, namespace, "deployment", "churn")
    owned = [m for m in got["metadata"]["managedFields"] if m["manager"] == s.FIELD_MANAGER]
    assert all("f:replicas" not in json.dumps(m["fieldsV1"].get("f:spec", {})) for m in owned)


def test_a_rewritten_last_good_record_is_refused_and_nothing_is_applied(
    kube_cluster: KubeCluster, namespace: str, deployer: Deployer
) -> None:
    deployer.deploy(churn(), namespace=namespace, wait=True, timeout=120)
    hostile = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{namespace}-pwned"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "x"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}],
    }
    kube_cluster.kubectl(
        "annotate", "deployment/churn", "-n", namespace, "--overwrite",
        f"{s.ANN_LAST_GOOD}={json.dumps(hostile)}",
    )  # fmt: skip
    with pytest.raises(DeployError):
        deployer.rollback("churn", namespace, timeout=30)
    found = kube_cluster.kubectl("get", "clusterrolebinding", f"{namespace}-pwned", check=False)
    assert found.returncode != 0
    assert "NotFound" in found.stderr


def test_rollback_without_a_previous_success_says_so(namespace: str, deployer: Deployer) -> None:
    broken = churn()
    spec = deployment(broken)["spec"]
    spec["progressDeadlineSeconds"] = 12
    spec["template"]["metadata"].setdefault("annotations", {})[FAIL_ANNOTATION] = "CrashLoopBackOff"
    with pytest.raises(DeployError) as caught:
        deployer.deploy(broken, namespace=namespace, wait=True, rollback=True, timeout=60)
    text = caught.value.render()
    assert "CrashLoopBackOff" in text
    assert "nothing to roll back to" in text


def test_the_kubeconfig_context_names_the_namespace_and_the_credentials(
    kube_cluster: KubeCluster, namespace: str, tmp_path: Path
) -> None:
    config = yaml.safe_load(kube_cluster.kubeconfig.read_text())
    base = config["contexts"][0]["context"]
    config["contexts"].append({"name": "ml", "context": {**base, "namespace": namespace}})
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    assert connect(context="ml", kubeconfig=path).default_namespace == namespace
    assert connect(kubeconfig=path).default_namespace == "default"
    manifests = tmp_path / "manifests.yaml"
    manifests.write_text(to_yaml(churn()))
    assert deploy_command(manifests=manifests, context="ml", kubeconfig=path) == 0
    assert live(kube_cluster, namespace, "deployment", "churn")["metadata"]["name"] == "churn"

    config["users"][0]["user"] = {"token": "not-a-valid-token"}
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(DeployError, match="HTTP 401"):
        deploy_command(manifests=manifests, context="ml", kubeconfig=path)


def test_a_namespace_that_contradicts_the_manifest_is_refused_before_any_request(
    deployer: Deployer,
) -> None:
    with pytest.raises(DeployError, match="is in namespace 'models'"):
        deployer.deploy(churn(namespace="models"), namespace="staging")


def test_a_rollout_that_outlasts_the_timeout_fails_with_the_pod_reason(
    namespace: str, deployer: Deployer
) -> None:
    stuck = churn()
    template = deployment(stuck)["spec"]["template"]
    template["metadata"].setdefault("annotations", {})[FAIL_ANNOTATION] = "ErrImagePull"
    with pytest.raises(DeployError) as caught:
        deployer.deploy(stuck, namespace=namespace, wait=True, timeout=4)
    assert "did not roll out within 4 s" in caught.value.message
    assert "ErrImagePull" in caught.value.render()


def test_an_api_server_that_is_not_there_is_a_deploy_error(tmp_path: Path) -> None:
    configuration = client.Configuration()
    configuration.host = f"https://127.0.0.1:{free_port()}"  # nothing listens
    configuration.retries = 0
    with pytest.raises(DeployError, match="cannot reach the API server"):
        Cluster(client.ApiClient(configuration), cache_file=tmp_path / "d.json")


def test_a_missing_kubeconfig_is_a_deploy_error(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="cannot load the Kubernetes configuration"):
        connect(kubeconfig=tmp_path / "absent")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
