"""Server configuration read from the environment (documented in USAGE.md)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from ..contract import WORKER_RSS_ENV

DEFAULT_MODEL_DIR = "/opt/nb2svc/model"
READY_DIR_ENV = "NB2SVC_READY_DIR"
WORKERS_ENV = "NB2SVC_WORKERS"
_N = TypeVar("_N", int, float)


class ConfigError(ValueError):
    """An environment variable has a value the server cannot use."""


CGROUP_ROOT_ENV = "NB2SVC_CGROUP_ROOT"
DEFAULT_CGROUP_ROOT = "/sys/fs/cgroup"
MEMORY_SHARE = 0.75
"""Share of the memory limit the workers may fill; the rest is headroom (the supervisor,
request buffers, RSS growth under load)."""
UNLIMITED_BYTES = 1 << 62  # cgroup v1 writes "no limit" as a page-rounded 2**63 - 1


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _positive_int(text: str | None) -> int | None:
    try:
        value = int(text) if text is not None else 0
    except ValueError:
        return None
    return value if value > 0 else None


def cgroup_cpu_limit(root: Path = Path(DEFAULT_CGROUP_ROOT)) -> int | None:
    """Whole CPUs the cgroup CPU quota allows (ceil of quota/period, at least 1), or None:
    v2 `cpu.max` ("max" is no limit), else v1 `cpu/cpu.cfs_quota_us` ("-1" is no limit)."""
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        quota_s, _, period_s = v2.partition(" ")
        quota, period = _positive_int(quota_s), _positive_int(period_s or "100000")
    else:
        quota = period = None
        for folder in ("cpu", "cpu,cpuacct"):
            quota = _positive_int(_read(root / folder / "cpu.cfs_quota_us"))
            period = _positive_int(_read(root / folder / "cpu.cfs_period_us"))
            if quota and period:
                break
    if quota is None or period is None:
        return None
    return max(1, math.ceil(quota / period))


def cgroup_memory_limit(root: Path = Path(DEFAULT_CGROUP_ROOT)) -> int | None:
    """Bytes the cgroup may use, or None: v2 `memory.max` ("max" is no limit), else v1
    `memory/memory.limit_in_bytes` (a value near 2**63 is no limit)."""
    text = _read(root / "memory.max")
    if text is None:
        text = _read(root / "memory" / "memory.limit_in_bytes")
    limit = _positive_int(text)
    return limit if limit is not None and limit < UNLIMITED_BYTES else None


def affinity_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class WorkerSizing:
    """What the default WORKERS is sized from (USAGE.md, "Worker count")."""

    cpus: int
    cpu_limit: int | None = None
    memory_limit: int | None = None
    worker_rss: int | None = None

    @property
    def cpu_workers(self) -> int:
        """Workers the CPUs allow: the affinity CPUs, capped by the quota."""
        return max(1, min(self.cpus, self.cpu_limit or self.cpus))

    @property
    def memory_workers(self) -> int | None:
        """Workers whose measured RSS fits in MEMORY_SHARE of the memory limit (at least 1)."""
        if self.memory_limit is None or self.worker_rss is None:
            return None
        return max(1, int(self.memory_limit * MEMORY_SHARE) // self.worker_rss)

    @property
    def workers(self) -> int:
        memory = self.memory_workers
        return self.cpu_workers if memory is None else min(self.cpu_workers, memory)

    def fields(self) -> dict[str, int | None]:
        """For the log line that says how the worker count came about."""
        return {
            "cpus": self.cpus,
            "cpu_limit": self.cpu_limit,
            "memory_limit": self.memory_limit,
            "worker_rss": self.worker_rss,
            "sized_workers": self.workers,
        }


def worker_sizing(env: Mapping[str, str] | None = None) -> WorkerSizing:
    """The container's CPU and memory limits (cgroup files under NB2SVC_CGROUP_ROOT) and the
    per-worker RSS the build measured (NB2SVC_WORKER_RSS_BYTES)."""
    env = os.environ if env is None else env
    root = Path(env.get(CGROUP_ROOT_ENV, "").strip() or DEFAULT_CGROUP_ROOT)
    rss = _int(env, WORKER_RSS_ENV, 0, minimum=0) or None
    return WorkerSizing(affinity_cpus(), cgroup_cpu_limit(root), cgroup_memory_limit(root), rss)


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    return _number(env, name, default, int, minimum)


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float, 0)


def _number(
    env: Mapping[str, str], name: str, default: _N, parse: Callable[[str], _N], minimum: _N
) -> _N:
    """`name` in `env` read by `parse` (int or float), `default` when unset or blank; a
    ConfigError when it is not a number or not >= `minimum` (NaN is not)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError:
        what = "an integer" if parse is int else "a number"
        raise ConfigError(f"{name}={raw!r} is not {what}") from None
    if not value >= minimum:
        raise ConfigError(f"{name}={raw} must be >= {minimum}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true/false)")


LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class Settings:
    """Everything the server reads from the environment, validated."""

    model_dir: Path = Path(DEFAULT_MODEL_DIR)
    model_name: str | None = None
    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 1
    max_batch: int = 64
    max_batch_wait_ms: float = 2.0
    max_queue: int = 512
    max_body_bytes: int = 1 << 20
    max_rows: int = 1000
    log_level: str = "info"
    access_log: bool = True
    shutdown_timeout: float = 25.0
    drain_delay: float = 0.0
    keep_alive: int = 5
    read_timeout: float = 30.0
    workers_from_env: bool = False
    """WORKERS was set (else `workers` is the sized default, see worker_sizing)."""
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        level = env.get("LOG_LEVEL", "info").strip().lower() or "info"
        if level not in LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL={level!r} is not one of {', '.join(LOG_LEVELS)}")
        return cls(
            model_dir=Path(env.get("MODEL_DIR", "").strip() or DEFAULT_MODEL_DIR),
            model_name=env.get("MODEL_NAME", "").strip() or None,
            host=env.get("HOST", "").strip() or "0.0.0.0",
            port=_int(env, "PORT", 8080, minimum=0),
            workers=_int(env, "WORKERS", 0, minimum=0) or worker_sizing(env).workers,
            max_batch=_int(env, "MAX_BATCH", 64, minimum=1),
            max_batch_wait_ms=_float(env, "MAX_BATCH_WAIT_MS", 2.0),
            max_queue=_int(env, "MAX_QUEUE", 512, minimum=1),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 1 << 20, minimum=1),
            max_rows=_int(env, "MAX_ROWS", 1000, minimum=1),
            log_level=level,
            access_log=_bool(env, "ACCESS_LOG", True),
            shutdown_timeout=_float(env, "SHUTDOWN_TIMEOUT", 25.0),
            drain_delay=_float(env, "DRAIN_DELAY", 0.0),
            keep_alive=_int(env, "KEEP_ALIVE", 5, minimum=1),
            read_timeout=_float(env, "READ_TIMEOUT", 30.0) or 30.0,
            workers_from_env=_int(env, "WORKERS", 0, minimum=0) > 0,
        )
