"""The Deployment nb2svc renders for the churn image, played with `podman kube play`:
non-root, read-only root filesystem, ready, predicting; then torn down."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from nb2svc.engine.podman import Podman, free_port
from nb2svc.k8s.local import down, play
from nb2svc.k8s.validate import load_manifest_file

from .e2e_support import ChurnBuild

pytestmark = [pytest.mark.slow, pytest.mark.containers]


def churn_containers(podman: Podman, name: str) -> list[dict[str, Any]]:
    return [
        c
        for c in podman.containers()
        if any(n.startswith(f"{name}-pod") and not n.endswith("-infra") for n in c["Names"])
        and not c.get("IsInfra")
    ]


def test_the_rendered_deployment_runs_non_root_read_only_and_predicts(
    churn_build: ChurnBuild, podman: Podman, tmp_path: Path
) -> None:
    report = churn_build.report
    docs = load_manifest_file(Path(report["manifests"]))
    service = play(docs, podman, tmp_path / "local", host_port=free_port(), timeout=120)
    try:
        body = json.dumps(report["example_request"]).encode()
        request = urllib.request.Request(
            f"{service.url}/v1/models/churn:predict", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert len(json.loads(response.read())["predictions"]) == 1
        (container,) = churn_containers(podman, service.name)
        inspected = podman.inspect(container["Id"])
        assert inspected["Config"]["User"].split(":")[0] == "1001"
        assert inspected["HostConfig"]["ReadonlyRootfs"] is True
    finally:
        down(service.manifest, podman)
    assert churn_containers(podman, service.name) == []
