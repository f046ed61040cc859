"""Deploy against kmock: a real HTTP API server the real kubernetes client talks to.

kmock (reference §3.2) serves discovery, get, list and patch from memory. It is not an API
server: PATCH is a naive merge, and nothing ever rolls out. `ApplyEmulator` adds the two
apiserver behaviours the tests need (apply creates a missing object; a spec change bumps
`metadata.generation`), and the tests script `status` the way a Deployment controller would.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import kmock
import pytest
import yaml
from kubernetes import client
from nb2svc.errors import DeployError
from nb2svc.k8s import HpaSpec, ManifestSpec, render_manifests, to_yaml
from nb2svc.k8s import spec as s
from nb2svc.k8s.commands import deploy_command
from nb2svc.k8s.deploy import Cluster, Deployer, connect

T = TypeVar("T")
APPLY = "application/apply-patch+yaml"
RESOURCES = {
    "v1/services": "Service",
    "v1/pods": "Pod",
    "apps/v1/deployments": "Deployment",
    "autoscaling/v2/horizontalpodautoscalers": "HorizontalPodAutoscaler",
    "policy/v1/poddisruptionbudgets": "PodDisruptionBudget",
}
DEPLOYMENT = ("apps/v1/deployments", "models", "churn")


class ApplyEmulator(kmock.KubernetesEmulator):
    async def _handle(self, request: Any) -> Any:
        content_type = request.headers.get("Content-Type", "")
        if request.method == kmock.method.PATCH and content_type == APPLY and request.name:
            key = (request.resource, request.namespace, request.name)
            if key not in self.objects:
                self.objects[key] = {"metadata": {"generation": 1}}
            else:
                current = self.objects[key].raw
                if request.data.get("spec") != current.get("spec"):
                    generation = current.get("metadata", {}).get("generation", 1) + 1
                    self.objects[key].patch({"metadata": {"generation": generation}})
        return await super()._handle(request)


class KmockServer:
    """kmock on its own event loop in a thread, so the synchronous client can call it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.km: Any = None
        self.server: Any = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    async def start(self) -> str:
        self.km = ApplyEmulator()
        await self.km.__aenter__()
        for key, kind in RESOURCES.items():
            verbs = {"get", "list", "patch", "create"}
            self.km.resources[key] = kmock.ResourceInfo(kind=kind, namespaced=True, verbs=verbs)
        self.server = kmock.Server(self.km)
        await self.server.__aenter__()
        return str(self.server.url).rstrip("/")

    async def stop(self) -> None:
        await self.server.__aexit__(None, None, None)
        await self.km.__aexit__(None, None, None)

    def close(self) -> None:
        self.run(self.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()

    def patch(self, key: tuple[str, str, str], patch: dict[str, Any]) -> None:
        async def apply() -> None:
            self.km.objects[key].patch(patch)

        self.run(apply())

    def put(self, key: tuple[str, str, str], obj: dict[str, Any]) -> None:
        async def store() -> None:
            self.km.objects[key] = obj

        self.run(store())

    def obj(self, key: tuple[str, str, str]) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            return dict(self.km.objects[key].raw)

        return self.run(read())

    def applies(self) -> list[Any]:
        return [r for r in list(self.km) if r.method == kmock.method.PATCH]


@pytest.fixture
def api() -> Iterator[KmockServer]:
    server = KmockServer()
    server.url = server.run(server.start())  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def cluster(api: KmockServer, tmp_path: Path) -> Cluster:
    configuration = client.Configuration()
    configuration.host = api.url  # type: ignore[attr-defined]
    return Cluster(
        client.ApiClient(configuration),
        default_namespace="models",
        cache_file=tmp_path / "discovery.json",
    )


class Script:
    """Fake time for the waiter; each poll's sleep applies the next scripted status."""

    def __init__(self, api: KmockServer, statuses: list[dict[str, Any]]) -> None:
        self.api, self.statuses, self.now = api, statuses, 0.0
        self.log: list[str] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.statuses:
            status = dict(self.statuses.pop(0))
            generation = self.api.obj(DEPLOYMENT)["metadata"]["generation"]
            status.setdefault("observedGeneration", generation)
            self.api.patch(DEPLOYMENT, {"status": status})

    def deployer(self, cluster: Cluster) -> Deployer:
        return Deployer(cluster, log=self.log.append, clock=self.clock, sleep=self.sleep)


def churn(**options: Any) -> list[dict[str, Any]]:
    spec = ManifestSpec(name="churn", image="r.example.com/churn:1", version="v1", **options)
    return render_manifests(spec)


DONE = {
    "replicas": 2,
    "updatedReplicas": 2,
    "availableReplicas": 2,
    "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}],
}
PROGRESSING: list[dict[str, Any]] = [
    {"observedGeneration": 0},
    {"replicas": 3, "updatedReplicas": 1, "availableReplicas": 2},
    {"replicas": 3, "updatedReplicas": 2, "availableReplicas": 2},
    {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 1},
    DONE,
]
DEADLINE = {
    "replicas": 3,
    "updatedReplicas": 1,
    "availableReplicas": 2,
    "conditions": [
        {
            "type": "Progressing",
            "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": 'ReplicaSet "churn-5c7" has timed out progressing.',
        }
    ],
}


def test_server_side_apply_request_contract(api: KmockServer, cluster: Cluster) -> None:
    docs = churn(hpa=HpaSpec(), pdb=True)
    Deployer(cluster, log=lambda _: None).deploy(docs, namespace="models")
    applies = api.applies()
    assert [r.url.path for r in applies] == [
        "/api/v1/namespaces/models/services/churn",
        "/apis/apps/v1/namespaces/models/deployments/churn",
        "/apis/autoscaling/v2/namespaces/models/horizontalpodautoscalers/churn",
        "/apis/policy/v1/namespaces/models/poddisruptionbudgets/churn",
    ]
    for request, doc in zip(applies, docs, strict=True):
        assert request.headers["Content-Type"] == APPLY
        assert request.params["fieldManager"] == "nb2svc"
        assert request.params["force"] == "false"  # conflicts are refused, not taken over
        assert request.data == doc
    assert "replicas" not in api.obj(DEPLOYMENT)["spec"]  # the HPA owns it


def test_wait_follows_scripted_rollout_and_records_last_good(
    api: KmockServer, cluster: Cluster
) -> None:
    script = Script(api, list(PROGRESSING))
    script.deployer(cluster).deploy(churn(), wait=True, timeout=60)
    assert script.log[-1] == "deployment 'churn' successfully rolled out"
    assert any("1 out of 2 new replicas" in line for line in script.log)
    assert any("old replicas are pending termination" in line for line in script.log)
    recorded = api.obj(DEPLOYMENT)["metadata"]["annotations"][s.ANN_LAST_GOOD]
    assert yaml.safe_load(recorded)["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "r.example.com/churn:1"
    )
    assert api.obj(DEPLOYMENT)["metadata"]["generation"] == 1  # recording started no rollout


def test_wait_times_out(api: KmockServer, cluster: Cluster) -> None:
    script = Script(api, [{"replicas": 2, "updatedReplicas": 1}])
    with pytest.raises(DeployError) as caught:
        script.deployer(cluster).deploy(churn(), wait=True, timeout=10)
    assert caught.value.exit_code == 8
    assert caught.value.message == (
        "Deployment/churn did not roll out within 10 s: "
        "Waiting for rollout to finish: 1 out of 2 new replicas have been updated"
    )
    assert s.ANN_LAST_GOOD not in api.obj(DEPLOYMENT)["metadata"].get("annotations", {})


def image_pull_backoff_pod(api: KmockServer) -> None:
    waiting = {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "r/churn:2"'}
    api.put(
        ("v1/pods", "models", "churn-5c7-x1"),
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "churn-5c7-x1", "namespace": "models"},
            "status": {"containerStatuses": [{"name": "server", "state": {"waiting": waiting}}]},
        },
    )


def test_progress_deadline_exceeded_reports_the_pod_reason(
    api: KmockServer, cluster: Cluster
) -> None:
    image_pull_backoff_pod(api)
    script = Script(api, [DEADLINE])
    with pytest.raises(DeployError) as caught:
        script.deployer(cluster).deploy(churn(), wait=True, timeout=600)
    assert caught.value.message.startswith("deployment 'churn' exceeded its progress deadline")
    assert caught.value.details == (
        'pod churn-5c7-x1: container server: ImagePullBackOff: Back-off pulling image "r/churn:2"',
    )
    assert script.now == 2.0  # failed on the first status with the condition, not at timeout


def test_failed_rollout_rolls_back_to_last_good(api: KmockServer, cluster: Cluster) -> None:
    Script(api, [DONE]).deployer(cluster).deploy(churn(), wait=True)
    image_pull_backoff_pod(api)
    script = Script(api, [DEADLINE, DONE])
    broken = churn()
    broken[1]["spec"]["template"]["spec"]["containers"][0]["image"] = "r.example.com/churn:2"
    with pytest.raises(DeployError) as caught:
        script.deployer(cluster).deploy(broken, wait=True, rollback=True)
    assert caught.value.details[-1] == "rolled back to the last manifest that rolled out", (
        caught.value.render(),
        script.log,
    )
    last = [r for r in api.applies() if "deployments" in r.url.path][-1]
    assert (
        last.data["spec"]["template"]["spec"]["containers"][0]["image"] == "r.example.com/churn:1"
    )
    assert s.ANN_LAST_GOOD in last.data["metadata"]["annotations"]
    assert script.log[-1] == "rolled back Deployment/churn to image r.example.com/churn:1"


def test_a_rewritten_last_good_record_is_refused_and_nothing_is_applied(
    api: KmockServer, cluster: Cluster
) -> None:
    Script(api, [DONE]).deployer(cluster).deploy(churn(), wait=True)
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "churn"}, "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
    }  # fmt: skip
    api.patch(DEPLOYMENT, {"metadata": {"annotations": {s.ANN_LAST_GOOD: json.dumps(binding)}}})
    applied_before = len(api.applies())
    with pytest.raises(DeployError, match=r"refusing to roll back.*ClusterRoleBinding"):
        Script(api, []).deployer(cluster).rollback("churn", "models", timeout=5)
    assert len(api.applies()) == applied_before


def test_rollback_without_a_previous_success_says_so(api: KmockServer, cluster: Cluster) -> None:
    script = Script(api, [DEADLINE])
    with pytest.raises(DeployError) as caught:
        script.deployer(cluster).deploy(churn(), wait=True, rollback=True)
    assert "nothing to roll back to" in caught.value.details[-1]


def kubeconfig(path: Path, url: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kmock", "cluster": {"server": url}}],
        "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
        "contexts": [
            {"name": "other", "context": {"cluster": "kmock", "user": "tester"}},
            {
                "name": "ml",
                "context": {"cluster": "kmock", "user": "tester", "namespace": "models"},
            },
        ],
        "current-context": "other",
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_deploy_command_with_kubeconfig_context(api: KmockServer, tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "kubeconfig", api.url)  # type: ignore[attr-defined]
    assert connect(context="ml", kubeconfig=config).default_namespace == "models"
    assert connect(kubeconfig=config).default_namespace == "default"
    manifests = tmp_path / "manifests.yaml"
    manifests.write_text(to_yaml(churn()), encoding="utf-8")
    code = deploy_command(manifests=manifests, context="ml", kubeconfig=config, out=io.StringIO())
    assert code == 0
    assert api.applies()[-1].url.path == "/apis/apps/v1/namespaces/models/deployments/churn"
    assert api.applies()[-1].headers["Authorization"] == "Bearer not-a-secret"


def test_namespace_conflict_is_a_deploy_error(cluster: Cluster) -> None:
    docs = churn(namespace="models")
    with pytest.raises(DeployError, match="is in namespace 'models'"):
        Deployer(cluster, log=lambda _: None).deploy(docs, namespace="staging")


def test_unreachable_api_server_is_a_deploy_error(tmp_path: Path) -> None:
    configuration = client.Configuration()
    configuration.host = "http://127.0.0.1:9"  # discard port: nothing listens
    configuration.retries = 0
    with pytest.raises(DeployError, match="cannot reach the API server"):
        Cluster(client.ApiClient(configuration), cache_file=tmp_path / "d.json").apply(
            churn()[0], "models"
        )


def test_missing_kubeconfig_is_a_deploy_error(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="cannot load the Kubernetes configuration"):
        connect(kubeconfig=tmp_path / "absent")
