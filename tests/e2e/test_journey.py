"""The whole journey: `git push` of the churn sample to a bare repository whose hook builds
with `--push --deploy`, to a model answering a prediction.

Real at every step: git and the post-receive hook, `nb2svc build` with buildah (training in
the image, verification), the push to the test registry (TLS, htpasswd), `nb2svc deploy
--wait` against the test control plane (the Deployment controller rolls it out; kwok marks
the pods Ready), then the Deployment read back from the API server is played with `podman
kube play` after podman pulled the image from the registry by the digest the Deployment
names, and it answers. Each stage's time is printed; the total is the README's headline.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cluster_support import KubeCluster
from nb2svc.engine.podman import Podman, free_port
from nb2svc.k8s.local import down, play
from registry_support import Registry

pytestmark = [pytest.mark.slow, pytest.mark.containers, pytest.mark.cluster]

REPO_ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run(
        list(argv), cwd=cwd, env=env, capture_output=True, text=True, check=True, timeout=timeout
    )


def test_git_push_to_a_prediction_from_the_model_the_cluster_rolled_out(
    kube_cluster: KubeCluster, registry: Registry, podman: Podman, tmp_path: Path
) -> None:
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed")
    namespace = kube_cluster.namespace("journey")
    bare, work = tmp_path / "churn.git", tmp_path / "work"
    shutil.copytree(REPO_ROOT / "sample-notebooks" / "churn", work)
    run("git", "init", "-q", "--bare", "-b", "main", str(bare))
    for argv in (
        ("git", "init", "-q", "-b", "main"),
        ("git", "add", "-A"),
        ("git", "-c", "user.name=ds", "-c", "user.email=ds@example.com", "commit", "-qm", "churn"),
        ("git", "remote", "add", "origin", str(bare)),
    ):
        run(*argv, cwd=work)
    repo = f"{registry.host}/models/churn"
    run(
        sys.executable, "-m", "nb2svc.triggers", "hook", "install", str(bare), "--wait",
        "--image", repo, "--push", f"--authfile={registry.authfile}",
        f"--cert-dir={registry.cert_dir}", "--deploy", f"--namespace={namespace}",
    )  # fmt: skip
    env = {**os.environ, "KUBECONFIG": str(kube_cluster.kubeconfig)}
    times: dict[str, float] = {}
    started = time.monotonic()
    pushed = run("git", "push", "origin", "main", cwd=work, env=env, timeout=1800)
    times["git push -> built, verified, pushed, rolled out"] = time.monotonic() - started
    log = (bare / "nb2svc" / "builds" / "1" / "build.log").read_text()
    assert "build #1: succeeded" in pushed.stderr, log[-4000:]
    report = json.loads((bare / "nb2svc" / "builds" / "1" / "out" / "report.json").read_text())
    assert report["image_pushed"] == f"{repo}@{report['image_digest']}"
    assert registry.password not in log + pushed.stderr + json.dumps(report)

    mark = time.monotonic()
    live = json.loads(
        kube_cluster.kubectl("get", "deployment", "churn", "-n", namespace, "-o", "json").stdout
    )
    (container,) = live["spec"]["template"]["spec"]["containers"]
    assert container["image"] == report["image_pushed"]  # pinned by digest, no tag
    status = kube_cluster.kubectl("rollout", "status", "deployment/churn", "-n", namespace)
    assert "successfully rolled out" in status.stdout
    assert live["status"]["readyReplicas"] == live["spec"]["replicas"]

    run(
        "podman", "pull", "--quiet", f"--authfile={registry.authfile}",
        f"--cert-dir={registry.cert_dir}", container["image"], timeout=600,
    )  # fmt: skip
    times["podman pull by digest"] = time.monotonic() - mark
    mark = time.monotonic()
    live.pop("status", None)
    service = play([live], podman, tmp_path / "local", host_port=free_port(), timeout=180)
    try:
        times["podman kube play of the live Deployment -> ready"] = time.monotonic() - mark
        mark = time.monotonic()
        body = json.dumps(report["example_request"]).encode()
        request = urllib.request.Request(
            f"{service.url}/v1/models/churn:predict", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            predictions = json.loads(response.read())["predictions"]
        times["first prediction"] = time.monotonic() - mark
    finally:
        down(service.manifest, podman)
        for ref in (container["image"], report["image"]):
            subprocess.run(["podman", "rmi", "--force", ref], capture_output=True, check=False)
    assert len(predictions) == 1
    total = time.monotonic() - started
    lines = [f"  {what}: {seconds:.1f} s" for what, seconds in times.items()]
    print("\njourney, git push to a served prediction:", *lines, f"  total: {total:.1f} s",
          sep="\n", file=sys.stderr)  # fmt: skip
