"""What the Kubernetes manifests are rendered from: `ManifestSpec`, its options, and constants.

Everything here is pure data. The build fills a `ManifestSpec`; `manifests.render_manifests`
turns it into plain dicts. Constants other parts cross-check (the runtime's endpoints, the
annotation keys) live here so there is one place to change them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from nb2svc import __version__
from nb2svc.image.refs import by_digest

# The runtime's GET endpoints (docs/architecture.md, "Contracts").
# Probe paths must be in this list; the runtime owner cross-checks it against the server.
RUNTIME_ENDPOINTS: tuple[str, ...] = (
    "/livez",
    "/readyz",
    "/healthz",
    "/v2/health/live",
    "/v2/health/ready",
    "/metrics",
)
LIVENESS_PATH = "/livez"  # process up; never depends on the model
READINESS_PATH = "/readyz"  # 503 until loaded and while draining
METRICS_PATH = "/metrics"

PORT_NAME = "http"
CONTAINER_NAME = "server"
COMPONENT = "model-server"
MANAGED_BY = "nb2svc"
FIELD_MANAGER = "nb2svc"

# Labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/)
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_VERSION = "app.kubernetes.io/version"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
REQUIRED_LABELS: tuple[str, ...] = (
    LABEL_NAME,
    LABEL_INSTANCE,
    LABEL_VERSION,
    LABEL_COMPONENT,
    LABEL_PART_OF,
    LABEL_MANAGED_BY,
)
SELECTOR_LABELS: tuple[str, ...] = (LABEL_NAME, LABEL_INSTANCE)

# Provenance annotations (not labels: values are free text and may exceed 63 characters).
ANN_SOURCE_COMMIT = "nb2svc.io/source-commit"
ANN_SOURCE_URL = "nb2svc.io/source-url"
ANN_NOTEBOOK = "nb2svc.io/notebook"
ANN_NOTEBOOK_SHA256 = "nb2svc.io/notebook-sha256"
ANN_IMAGE_DIGEST = "nb2svc.io/image-digest"
ANN_NB2SVC_VERSION = "nb2svc.io/nb2svc-version"
ANN_MODEL_LOAD_SECONDS = "nb2svc.io/model-load-seconds"
# On the Deployment only: the last Deployment manifest that rolled out (JSON), for rollback.
ANN_LAST_GOOD = "nb2svc.io/last-good-manifest"

GPU_RESOURCE = "nvidia.com/gpu"

# Startup budget: how long the startup probe lets a pod load its model.
DEFAULT_STARTUP_BUDGET_SECONDS = 300  # when the build did not measure the load time
STARTUP_MARGIN_FACTOR = 3.0  # cluster nodes can be slower than the build machine
STARTUP_MARGIN_SECONDS = 30
MIN_STARTUP_BUDGET_SECONDS = 60
DEFAULT_PROGRESS_DEADLINE_SECONDS = 600

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def dns_label(text: str, *, max_length: int = 63) -> str:
    """`text` as an RFC 1035 label (what Service names need): lower case, `-`, starts with a letter.

    >>> dns_label("Churn_Model v2")
    'churn-model-v2'
    """
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = f"m-{name}".rstrip("-")
    return name[:max_length].rstrip("-")


def is_dns_label(text: str) -> bool:
    return len(text) <= 63 and _DNS_LABEL.match(text) is not None


@dataclass(frozen=True)
class HpaSpec:
    """An `autoscaling/v2` HorizontalPodAutoscaler on CPU utilisation."""

    min_replicas: int = 2
    max_replicas: int = 5
    cpu_utilization: int = 70
    scale_down_window_seconds: int = 300


@dataclass(frozen=True)
class Provenance:
    """Where the image came from; rendered as `nb2svc.io/*` annotations (empty ones omitted)."""

    source_commit: str | None = None
    source_url: str | None = None
    notebook: str | None = None
    notebook_sha256: str | None = None
    nb2svc_version: str = __version__


@dataclass(frozen=True)
class StartupBudget:
    """The startup probe's period x failureThreshold, and the rollout deadline around it."""

    period_seconds: int
    failure_threshold: int
    progress_deadline_seconds: int

    @property
    def seconds(self) -> int:
        return self.period_seconds * self.failure_threshold


def startup_budget(model_load_seconds: float | None) -> StartupBudget:
    """Size the startup probe from the measured container-start-to-ready time.

    Budget = 3 x measured + 30 s (at least 60 s); 300 s when nothing was measured. The
    Deployment's progress deadline is at least 600 s and at least budget + 120 s, so one
    slow pod fits inside it.
    """
    if model_load_seconds is None:
        budget = DEFAULT_STARTUP_BUDGET_SECONDS
    else:
        margin = model_load_seconds * STARTUP_MARGIN_FACTOR + STARTUP_MARGIN_SECONDS
        budget = max(MIN_STARTUP_BUDGET_SECONDS, math.ceil(margin))
    period = 5 if budget <= 300 else 10
    threshold = math.ceil(budget / period)
    deadline = max(DEFAULT_PROGRESS_DEADLINE_SECONDS, period * threshold + 120)
    return StartupBudget(period, threshold, deadline)


MIB = 1024 * 1024
DEFAULT_MEMORY = "1Gi"  # when the build measured nothing
MIN_MEMORY_MIB = 256
MEMORY_HEADROOM = 1.5  # request-time allocations and batches on top of the idle worker
GRACE_SLACK_SECONDS = 10  # between the server's own shutdown deadline and SIGKILL


def cpu_cores(quantity: str) -> float:
    """`500m` -> 0.5, `2` -> 2.0 (the forms nb2svc renders; Kubernetes allows more)."""
    text = quantity.strip()
    if text.endswith("m"):
        return int(text[:-1]) / 1000
    return float(text)


def worker_count(cpu: str) -> int:
    """Server processes for a CPU request: one per whole core, at least one (docs/deploying.md).

    The server would size itself from its cgroup quota too; rendering `WORKERS` makes the
    number visible in the manifest and keeps it within the memory sized below.
    """
    return max(1, math.floor(cpu_cores(cpu)))


def memory_for(workers: int, worker_rss_bytes: int | None) -> str:
    """The pod's memory request and limit: measured RSS of one worker x workers x 1.5,
    rounded up to 64 Mi, at least 256 Mi; 1Gi when the build measured nothing."""
    if not worker_rss_bytes:
        return DEFAULT_MEMORY
    need = workers * worker_rss_bytes * MEMORY_HEADROOM / MIB
    return f"{max(MIN_MEMORY_MIB, math.ceil(need / 64) * 64)}Mi"


@dataclass(frozen=True)
class ManifestSpec:
    """Everything the Deployment/Service/HPA/PDB are rendered from.

    `name` is normalised to an RFC 1035 label (the Service needs one); `instance` defaults
    to the name. With `hpa` set, the Deployment has no `replicas` (the HPA owns it).
    """

    name: str
    image: str
    version: str
    image_digest: str | None = None
    port: int = 8080
    uid: int | None = 1001  # None: leave the UID to the platform (OpenShift restricted SCC)
    model_load_seconds: float | None = None
    provenance: Provenance = field(default_factory=Provenance)
    extra_annotations: Mapping[str, str] = field(default_factory=dict)
    replicas: int = 2
    cpu: str = "500m"
    memory: str | None = None  # None: sized from worker_rss_bytes (memory_for)
    memory_limit: str | None = None  # defaults to the memory request
    workers: int | None = None  # None: one per whole core of `cpu` (worker_count)
    worker_rss_bytes: int | None = None  # one worker's RSS, measured when the image was verified
    cpu_limit: str | None = None  # none by default: CFS throttling hurts Python servers
    gpu: int = 0
    hpa: HpaSpec | None = None
    pdb: bool = False
    namespace: str | None = None
    service_type: str = "ClusterIP"
    service_port: int = 80
    image_pull_secret: str | None = None
    instance: str | None = None
    part_of: str | None = None
    max_surge: int = 1
    max_unavailable: int = 0
    prestop_sleep_seconds: int = 5
    drain_seconds: int = 20  # the server's own drain budget after SIGTERM
    tmp_size_limit: str = "256Mi"
    legacy_prestop: bool = False  # `exec: [sleep, N]` for clusters older than 1.30

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", dns_label(self.name))
        instance = dns_label(self.instance) if self.instance else self.name
        object.__setattr__(self, "instance", instance)

    @property
    def instance_name(self) -> str:
        return self.instance or self.name

    @property
    def image_ref(self) -> str:
        """The image pinned by digest when the digest is known: `repo@sha256:...`, without
        the tag, which a digest makes meaningless (nb2svc.image.refs.by_digest says why)."""
        if self.image_digest and "@" not in self.image:
            return by_digest(self.image, self.image_digest)
        return self.image

    @property
    def worker_processes(self) -> int:
        return self.workers or worker_count(self.cpu)

    @property
    def memory_request(self) -> str:
        return self.memory or memory_for(self.worker_processes, self.worker_rss_bytes)

    @property
    def termination_grace_seconds(self) -> int:
        """preStop sleep + the server's SHUTDOWN_TIMEOUT (`drain_seconds`, rendered) + slack,
        so SIGKILL never cuts a drain short."""
        return self.prestop_sleep_seconds + self.drain_seconds + GRACE_SLACK_SECONDS
