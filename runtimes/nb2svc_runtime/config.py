"""Server configuration read from the environment (documented in USAGE.md)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MODEL_DIR = "/opt/nb2svc/model"
READY_DIR_ENV = "NB2SVC_READY_DIR"
WORKERS_ENV = "NB2SVC_WORKERS"


class ConfigError(ValueError):
    """An environment variable has a value the server cannot use."""


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """CPUs allowed by the cgroup CPU quota (v2 `cpu.max`, v1 `cfs_quota_us`), or None."""
    try:
        quota_s, period_s = (root / "cpu.max").read_text().split()[:2]
        if quota_s != "max":
            return max(1, math.ceil(int(quota_s) / int(period_s)))
        return None
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return max(1, math.ceil(quota / period)) if quota > 0 and period > 0 else None


def available_cpus() -> int:
    """CPUs this process may use: the smaller of the affinity mask and the cgroup quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    return max(1, min(count, limit) if limit else count)


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be >= {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < 0 or math.isnan(value):
        raise ConfigError(f"{name}={raw} must be >= 0")
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
            workers=_int(env, "WORKERS", 0, minimum=0) or available_cpus(),
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
        )
