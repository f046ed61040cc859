"""Real podman: serve HTTP from the base image on 127.0.0.1, readiness errors, kube play."""

from __future__ import annotations

import json
import secrets
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from nb2svc.engine.errors import PodmanError
from nb2svc.engine.podman import Podman, free_port
from nb2svc.image.base import BaseImages

if TYPE_CHECKING:
    from conftest import Created

pytestmark = pytest.mark.containers

HTTP_SERVER = ["python3", "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", "/etc"]


def test_container_serves_on_localhost_and_is_removed(
    podman: Podman, base_images: BaseImages
) -> None:
    with podman.running(
        base_images.runtime, command=HTTP_SERVER, read_only=True, user="10001"
    ) as ctr:
        assert ctr.url.startswith("http://127.0.0.1:")
        podman.wait_http_ready(f"{ctr.url}/hostname", timeout=30, container=ctr)
        with urllib.request.urlopen(f"{ctr.url}/os-release", timeout=5) as response:
            assert b"Debian" in response.read()
        info = podman.inspect(ctr)
        assert info["Config"]["User"] == "10001"
        assert info["HostConfig"]["ReadonlyRootfs"] is True
        bindings = info["HostConfig"]["PortBindings"]["8080/tcp"]
        assert bindings[0]["HostIp"] == "127.0.0.1"
        assert "GET /os-release" in podman.logs(ctr)
    assert not podman.exists(ctr)


def test_host_network_passes_port(podman: Podman, base_images: BaseImages) -> None:
    port = free_port()
    command = ["sh", "-c", 'exec python3 -m http.server "$PORT" --bind 127.0.0.1 --directory /etc']
    with podman.running(
        base_images.runtime, command=command, network="host", port_host=port
    ) as ctr:
        assert ctr.url == f"http://127.0.0.1:{port}"
        podman.wait_http_ready(f"{ctr.url}/hostname", timeout=30, container=ctr)
    assert not podman.exists(ctr)


def test_exited_container_fails_fast_with_logs(podman: Podman, base_images: BaseImages) -> None:
    marker = secrets.token_hex(4)
    command = ["python3", "-c", f"print('boom-{marker}', flush=True); raise SystemExit(3)"]
    with podman.running(base_images.runtime, command=command) as ctr:
        with pytest.raises(PodmanError) as info:
            podman.wait_http_ready(ctr.url, timeout=30, container=ctr)
        assert "exited" in info.value.message
        assert f"boom-{marker}" in info.value.render()
    assert not podman.exists(ctr)


def test_run_unknown_image_is_typed(podman: Podman) -> None:
    with pytest.raises(PodmanError) as info:
        podman.run_detached(
            "localhost/nb2svc-test/missing:1", name=f"nb2svc-test-{secrets.token_hex(3)}"
        )
    assert info.value.returncode not in (None, 0)
    assert "run" in info.value.argv


def _pause_images(created: Created) -> set[str]:
    names = {n for image in created.buildah.images() for n in image.get("names") or []}
    return {n for n in names if n.startswith("localhost/podman-pause:")}


def test_kube_play_and_down(
    podman: Podman, base_images: BaseImages, created_podman: Created, tmp_path: Path
) -> None:
    port = free_port()
    name = f"nb2svc-test-{secrets.token_hex(3)}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": base_images.runtime,
                    "command": ["python3", "-m", "http.server", str(port), "--directory", "/etc"],
                    "ports": [{"containerPort": port, "hostPort": port, "hostIP": "127.0.0.1"}],
                    "securityContext": {"runAsUser": 10001, "readOnlyRootFilesystem": True},
                }
            ]
        },
    }
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(json.dumps(pod))  # JSON is YAML
    created_podman.podman_container(f"{name}-web")
    pause_before = _pause_images(created_podman)
    podman.kube_play(manifest)
    for ref in _pause_images(created_podman) - pause_before:  # podman builds it for pods
        created_podman.image(ref)
    try:
        podman.wait_http_ready(
            f"http://127.0.0.1:{port}/hostname", timeout=30, container=f"{name}-web"
        )
    finally:
        podman.kube_down(manifest)
    assert not podman.exists(f"{name}-web")
