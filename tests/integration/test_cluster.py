"""The test control plane itself (tests/cluster_support.py): the versions it claims, a node
kwok keeps Ready, and a stop that leaves no process and no port behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cluster_support import NODE_NAME, KubeCluster, running_cluster
from registry_support import listening

pytestmark = pytest.mark.cluster


def test_kubectl_and_the_api_server_are_both_1_37(kube_cluster: KubeCluster) -> None:
    versions = json.loads(kube_cluster.kubectl("version", "-o", "json").stdout)
    assert versions["clientVersion"]["gitVersion"] == "v1.37.2"
    assert versions["serverVersion"]["gitVersion"] == "v1.37.2"


def test_kwok_keeps_one_schedulable_node_ready(kube_cluster: KubeCluster) -> None:
    node = json.loads(kube_cluster.kubectl("get", "node", NODE_NAME, "-o", "json").stdout)
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "True"
    assert not node["spec"].get("unschedulable")
    assert not node["spec"].get("taints")


def test_a_cluster_stops_every_process_it_started_and_frees_its_ports(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "second") as cluster:
        pids = [proc.pid for proc in cluster.processes.values()]
        assert sorted(cluster.processes) == sorted(
            ["etcd", "apiserver", "controller-manager", "scheduler", "kwok"]
        )
        assert all(listening(port) for port in (cluster.ports[0], cluster.ports[2]))
    assert cluster.alive() == []
    assert not any(listening(port) for port in cluster.ports)
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
