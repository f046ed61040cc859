"""The default WORKERS fits the container: the cgroup CPU quota and the memory limit divided
by the build's measured per-worker RSS (USAGE.md, "Worker count").

The cgroup files are real files in a directory laid out like /sys/fs/cgroup (v2 unified, or
v1 with `cpu,cpuacct` and `memory` controllers), named by NB2SVC_CGROUP_ROOT.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import httpx
import pytest
from nb2svc_runtime.serve.config import (
    Settings,
    WorkerSizing,
    cgroup_cpu_limit,
    cgroup_memory_limit,
)
from nb2svc_runtime.serve.process import log_worker_count

from .server import ServerProcess

GIB = 1 << 30
MIB = 1 << 20
V1_UNLIMITED = "9223372036854771712"


def cgroup_v2(root: Path, cpu_max: str | None = None, memory_max: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    if cpu_max is not None:
        (root / "cpu.max").write_text(cpu_max + "\n")
    if memory_max is not None:
        (root / "memory.max").write_text(memory_max + "\n")
    return root


def cgroup_v1(root: Path, quota: str, period: str, memory: str) -> Path:
    """The v1 layout of a container: `cpu` a link to `cpu,cpuacct`, as runc mounts it."""
    cpu = root / "cpu,cpuacct"
    cpu.mkdir(parents=True)
    (root / "cpu").symlink_to("cpu,cpuacct")
    (cpu / "cpu.cfs_quota_us").write_text(quota + "\n")
    (cpu / "cpu.cfs_period_us").write_text(period + "\n")
    (root / "memory").mkdir()
    (root / "memory" / "memory.limit_in_bytes").write_text(memory + "\n")
    return root


def affinity() -> int:
    return len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("cpu_max", "cpus"),
    [("50000 100000", 1), ("100000 100000", 1), ("150000 100000", 2), ("400000 100000", 4)],
)
def test_v2_cpu_max_gives_the_quota_in_whole_cpus_rounded_up(
    tmp_path: Path, cpu_max: str, cpus: int
) -> None:
    assert cgroup_cpu_limit(cgroup_v2(tmp_path, cpu_max=cpu_max)) == cpus


def test_v2_max_and_missing_files_are_no_limit(tmp_path: Path) -> None:
    assert cgroup_cpu_limit(cgroup_v2(tmp_path / "max", "max 100000", "max")) is None
    assert cgroup_memory_limit(tmp_path / "max") is None
    assert cgroup_cpu_limit(cgroup_v2(tmp_path / "empty")) is None
    assert cgroup_memory_limit(tmp_path / "empty") is None
    assert cgroup_cpu_limit(tmp_path / "absent") is None
    assert cgroup_memory_limit(tmp_path / "absent") is None


def test_v2_memory_max_is_the_memory_limit(tmp_path: Path) -> None:
    assert cgroup_memory_limit(cgroup_v2(tmp_path, memory_max=str(GIB))) == GIB


def test_v1_cfs_quota_and_memory_limit_are_read(tmp_path: Path) -> None:
    root = cgroup_v1(tmp_path, "250000", "100000", str(2 * GIB))
    assert cgroup_cpu_limit(root) == 3
    assert cgroup_memory_limit(root) == 2 * GIB


def test_v1_unlimited_quota_and_memory_are_no_limit(tmp_path: Path) -> None:
    root = cgroup_v1(tmp_path, "-1", "100000", V1_UNLIMITED)
    assert cgroup_cpu_limit(root) is None
    assert cgroup_memory_limit(root) is None


def test_workers_are_the_fewer_of_the_cpus_and_the_workers_that_fit_in_memory() -> None:
    # 75% of the memory limit is for the workers; the rest is headroom.
    assert WorkerSizing(cpus=64, cpu_limit=1, memory_limit=GIB, worker_rss=300 * MIB).workers == 1
    assert WorkerSizing(cpus=64, cpu_limit=8, memory_limit=GIB, worker_rss=300 * MIB).workers == 2
    assert WorkerSizing(cpus=64, cpu_limit=8, memory_limit=GIB, worker_rss=100 * MIB).workers == 7
    assert WorkerSizing(cpus=4, cpu_limit=8, memory_limit=8 * GIB, worker_rss=MIB).workers == 4
    assert WorkerSizing(cpus=4, cpu_limit=None, memory_limit=None, worker_rss=MIB).workers == 4
    assert WorkerSizing(cpus=64, cpu_limit=8, memory_limit=GIB, worker_rss=None).workers == 8
    assert WorkerSizing(cpus=8, cpu_limit=8, memory_limit=GIB, worker_rss=4 * GIB).workers == 1


def test_the_default_workers_follow_the_cgroup_files_and_the_measured_rss(tmp_path: Path) -> None:
    half_cpu = cgroup_v2(tmp_path / "a", "50000 100000", str(GIB))
    settings = Settings.from_env({"NB2SVC_CGROUP_ROOT": str(half_cpu)})
    assert settings.workers == 1
    assert not settings.workers_from_env
    many_cpus = cgroup_v2(tmp_path / "b", "6400000 100000", str(GIB))
    env = {"NB2SVC_CGROUP_ROOT": str(many_cpus)}
    assert Settings.from_env(env).workers == affinity()  # never more than the affinity CPUs
    rss = {**env, "NB2SVC_WORKER_RSS_BYTES": str(700 * MIB)}
    assert Settings.from_env(rss).workers == 1  # 700 MiB fits once into 75% of 1 GiB


def test_an_explicit_workers_wins_and_is_logged_when_over_the_quota(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    root = cgroup_v1(tmp_path, "100000", "100000", V1_UNLIMITED)
    monkeypatch.setenv("NB2SVC_CGROUP_ROOT", str(root))
    settings = Settings.from_env({"NB2SVC_CGROUP_ROOT": str(root), "WORKERS": "3"})
    assert settings.workers == 3
    with caplog.at_level(logging.INFO, logger="nb2svc.process"):
        log_worker_count(settings)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "more than the container's CPU quota" in record.getMessage()
    assert record.fields["workers"] == 3  # type: ignore[attr-defined]
    assert record.fields["cpu_limit"] == 1  # type: ignore[attr-defined]


def test_the_server_starts_as_many_workers_as_the_cgroup_quota_allows(
    churn_dir: Path, tmp_path: Path
) -> None:
    root = cgroup_v2(tmp_path / "cgroup", "100000 100000", str(4 * GIB))
    env = {"WORKERS": "", "NB2SVC_CGROUP_ROOT": str(root), "NB2SVC_WORKER_RSS_BYTES": str(GIB)}
    with ServerProcess(churn_dir, tmp_path / "logs", **env) as server:
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        lines = [
            json.loads(line) for line in server.stderr().splitlines() if "worker count" in line
        ]
    assert len(lines) == 1
    assert lines[0]["msg"] == "worker count from cgroup limits"
    assert lines[0]["workers"] == 1
    assert lines[0]["cpu_limit"] == 1
    assert lines[0]["memory_limit"] == 4 * GIB
    assert lines[0]["worker_rss"] == GIB
