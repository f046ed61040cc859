"""Play the same Deployment locally with `podman kube play` (a podman-compatible rendering).

podman 4.3 plays Deployments but not Services/HPAs/PDBs, publishes every containerPort on
the host, turns a named probe port into `:0`, shares an emptyDir named `tmp` between pods,
and ignores preStop, readiness and startup probes (reference §3.3). `render_local` adjusts
for all of that; `play`/`down` go through the `Podman` engine class, the only podman runner.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nb2svc.errors import DeployError, Nb2svcError
from nb2svc.k8s import spec as s
from nb2svc.k8s.findings import containers, dig
from nb2svc.k8s.manifests import to_yaml

Manifest = dict[str, Any]
PLAYABLE_KINDS = ("Deployment", "Pod", "ConfigMap", "PersistentVolumeClaim")


class KubePlayer(Protocol):
    """What nb2svc needs from `nb2svc.engine.podman.Podman` (which implements it)."""

    def kube_play(self, file: Path, *, start: bool = True) -> object: ...

    def kube_down(self, file: Path) -> object: ...

    def wait_http_ready(self, url: str, timeout: float = 60.0) -> None: ...


@dataclass(frozen=True)
class LocalService:
    """A played manifest: where it answers and the file `podman kube down` needs."""

    url: str
    manifest: Path
    name: str


def render_local(
    docs: Sequence[Mapping[str, Any]], *, host_port: int | None = None
) -> list[Manifest]:
    """The podman-playable subset of `docs`: Deployments with one replica and numeric ports.

    The server's port is published on 127.0.0.1 only, on `host_port` (default: its own port).
    """
    out: list[Manifest] = []
    for doc in docs:
        if doc.get("kind") not in PLAYABLE_KINDS:
            continue  # podman silently ignores Service/HPA/PDB; drop them to say so
        local = copy.deepcopy(dict(doc))
        if local["kind"] == "Deployment":
            local["spec"]["replicas"] = 1  # every replica would publish the same host port
            local["spec"].pop("strategy", None)
            pod = local["spec"]["template"]["spec"]
            _localise_pod(pod, local["metadata"]["name"], host_port)
        out.append(local)
    if not any(doc["kind"] in ("Deployment", "Pod") for doc in out):
        msg = "no Deployment or Pod to play locally"
        raise DeployError(msg, fix="pass the manifests nb2svc wrote (manifests.yaml)")
    return out


def _localise_pod(pod: Manifest, name: str, host_port: int | None) -> None:
    renames = {}
    for volume in pod.get("volumes") or []:
        if "emptyDir" in volume:  # podman 4.3 names the volume after this: keep it per app
            renames[volume["name"]] = f"{name}-{volume['name']}"
            volume["name"] = renames[volume["name"]]
            volume["emptyDir"].pop("sizeLimit", None)
    for _, container in containers(pod, ""):
        assert isinstance(container, dict)
        for mount in container.get("volumeMounts") or []:
            mount["name"] = renames.get(mount["name"], mount["name"])
        ports = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
        for key in ("startupProbe", "readinessProbe", "livenessProbe"):
            http = dig(container, key, "httpGet")
            if isinstance(http, dict) and isinstance(http.get("port"), str):
                http["port"] = ports.get(http["port"], http["port"])
        container.pop("lifecycle", None)  # podman ignores preStop
        for port in container.get("ports") or []:
            if port.get("name") == s.PORT_NAME:
                port.update({"hostIP": "127.0.0.1", "hostPort": host_port or port["containerPort"]})


def server_port(docs: Sequence[Mapping[str, Any]]) -> int:
    """The host port the played server answers on (hostPort, else its containerPort)."""
    for doc in docs:
        for _, container in containers(dig(doc, "spec", "template", "spec") or {}, ""):
            for port in container.get("ports") or []:
                if port.get("name") == s.PORT_NAME or len(container.get("ports") or []) == 1:
                    return int(port.get("hostPort") or port["containerPort"])
    return 8080


def play(
    docs: Sequence[Mapping[str, Any]],
    podman: KubePlayer,
    workdir: Path,
    *,
    host_port: int | None = None,
    ready_path: str = s.READINESS_PATH,
    timeout: float = 120.0,
) -> LocalService:
    """Render for podman, `podman kube play` it, and wait until `ready_path` answers 200."""
    local = render_local(docs, host_port=host_port)
    name = str(dig(local[0], "metadata", "name"))
    workdir.mkdir(parents=True, exist_ok=True)
    manifest = workdir / f"{name}.local.yaml"
    manifest.write_text(to_yaml(local), encoding="utf-8")
    try:
        podman.kube_play(manifest)
    except Nb2svcError as exc:
        # kube play may have made the pod before a container failed (an image that is not
        # there, a port in use): take it down, or the next play finds its name taken
        with contextlib.suppress(Nb2svcError):
            podman.kube_down(manifest)
        raise DeployError(f"podman kube play failed: {exc.message}", details=exc.details) from exc
    url = f"http://127.0.0.1:{server_port(local)}"
    try:
        podman.wait_http_ready(url + ready_path, timeout=timeout)
    except Nb2svcError as exc:
        down(manifest, podman)
        msg = f"the locally played {name} did not become ready: {exc.message}"
        raise DeployError(msg, details=exc.details, fix="see `podman pod logs`") from exc
    return LocalService(url=url, manifest=manifest, name=name)


def down(manifest: Path, podman: KubePlayer) -> None:
    try:
        podman.kube_down(manifest)
    except Nb2svcError as exc:
        raise DeployError(f"podman kube down failed: {exc.message}", details=exc.details) from exc
