"""The podman-compatible rendering, and (opt-in) a real `podman kube play` of a tiny server."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import pytest
from nb2svc.errors import DeployError, Nb2svcError
from nb2svc.k8s import HpaSpec, ManifestSpec, render_manifests
from nb2svc.k8s.checks import check_documents
from nb2svc.k8s.local import play, render_local, server_port
from nb2svc.k8s.spec import startup_budget

BASE_IMAGE = "localhost/nb2svc/python:3.11"


def churn(**options: Any) -> list[dict[str, Any]]:
    spec = ManifestSpec(name="churn", image="r.example.com/churn:1", version="v1", **options)
    return render_manifests(spec)


def test_local_rendering_is_one_replica_with_numeric_ports_on_localhost() -> None:
    local = render_local(churn(hpa=HpaSpec(), pdb=True), host_port=18080)
    assert [doc["kind"] for doc in local] == ["Deployment"]  # podman ignores the rest
    deployment = local[0]
    assert deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] == 8080
    assert container["ports"] == [
        {
            "name": "http",
            "containerPort": 8080,
            "protocol": "TCP",
            "hostIP": "127.0.0.1",
            "hostPort": 18080,
        }
    ]
    assert "lifecycle" not in container
    assert pod["volumes"] == [{"name": "churn-tmp", "emptyDir": {}}]
    assert container["volumeMounts"] == [{"name": "churn-tmp", "mountPath": "/tmp"}]
    assert server_port(local) == 18080


def test_local_rendering_keeps_the_security_context_and_leaves_input_alone() -> None:
    docs = churn()
    local = render_local(docs)
    original = docs[1]["spec"]["template"]["spec"]
    played = local[0]["spec"]["template"]["spec"]
    assert played["securityContext"] == original["securityContext"]
    assert (
        played["containers"][0]["securityContext"] == original["containers"][0]["securityContext"]
    )
    assert original["containers"][0]["startupProbe"]["httpGet"]["port"] == "http"
    assert server_port(local) == 8080
    # Publishing a host port is a deliberate local-only break of Pod Security baseline.
    assert [f.path for f in check_documents(local)] == [
        "spec.template.spec.containers[0].ports[0].hostPort"
    ]


def test_nothing_playable_is_a_deploy_error() -> None:
    with pytest.raises(DeployError, match="no Deployment or Pod"):
        render_local([churn()[0]])


def tiny_server_docs(port: int) -> list[dict[str, Any]]:
    """The same rendering, for an image that only runs `python3 -m http.server`."""
    spec = ManifestSpec(name="nb2svc-k8s-smoke", image=BASE_IMAGE, version="test", port=port)
    docs = render_manifests(spec)
    container = docs[1]["spec"]["template"]["spec"]["containers"][0]
    script = (
        "id -u > /tmp/uid; touch /not-writable 2> /tmp/rootfs; "
        f"exec python3 -m http.server {port} --directory /tmp"
    )
    container["command"] = ["sh", "-c", script]
    container["imagePullPolicy"] = "Never"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        container.pop(probe)  # http.server has no /livez; the smoke test polls "/" instead
    return docs


@pytest.mark.containers
def test_podman_kube_play_serves_as_uid_1001_on_read_only_root(tmp_path: Path) -> None:
    from nb2svc.engine.podman import Podman, free_port

    podman = Podman()
    try:
        podman.check()
    except Nb2svcError as exc:
        pytest.skip(f"podman unusable: {exc.message}")
    port = free_port()
    try:
        service = play(tiny_server_docs(8080), podman, tmp_path, host_port=port, ready_path="/")
    except DeployError as exc:
        if "image" in exc.render() and ("not known" in exc.render() or "unable to" in exc.render()):
            pytest.skip(f"{BASE_IMAGE} is not in local storage (build it with `nb2svc base`)")
        raise
    try:
        assert service.url == f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(service.url + "/uid", timeout=5) as response:
            assert response.read().decode().strip() == "1001"
        with urllib.request.urlopen(service.url + "/rootfs", timeout=5) as response:
            assert "Read-only file system" in response.read().decode()
    finally:
        podman.kube_down(service.manifest)


def test_startup_budget_is_unchanged_by_local_rendering() -> None:
    deployment = render_local(churn(model_load_seconds=30.0))[0]
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
    budget = startup_budget(30.0)
    assert probe["failureThreshold"] == budget.failure_threshold


@pytest.mark.containers
def test_a_play_that_fails_leaves_no_pod_behind(tmp_path: Path) -> None:
    """An image that is not there: kube play makes the pod, then fails to start it; the
    pod is taken down, so the next play of the same name is not refused."""
    from nb2svc.engine.podman import Podman, free_port

    podman = Podman()
    docs = tiny_server_docs(8080)
    docs[1]["spec"]["template"]["spec"]["containers"][0]["image"] = "localhost/nb2svc-absent:1"
    for _ in range(2):  # the second play would find "pod already exists" if one was left
        with pytest.raises(DeployError) as info:
            play(docs, podman, tmp_path, host_port=free_port(), ready_path="/")
        assert "already exists" not in info.value.render()
    pods = podman._run("pod", "ps", "--format", "{{.Name}}")
    assert "nb2svc-k8s-smoke" not in pods
