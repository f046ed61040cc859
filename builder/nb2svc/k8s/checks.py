"""nb2svc's own checks: what the JSON schema cannot see (and Pod Security, via `pss`).

kubernetes-validate checks types, required and unknown fields. It accepts a selector that
matches no pod, `memory: 2GB`, port 99999, a probe on a path the server does not serve, and
every Pod Security violation (reference §3.1). `check_documents` catches those.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from nb2svc.k8s import spec as s
from nb2svc.k8s.findings import Finding, Reporter, containers, dig, pod_spec
from nb2svc.k8s.pss import check_pod_security

_QUANTITY = re.compile(
    r"^(?P<num>[+-]?(?:\d+\.?\d*|\.\d+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$"
)
_SUFFIX = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12),
    "P": Decimal(10**15), "E": Decimal(10**18), "Ki": Decimal(2**10), "Mi": Decimal(2**20),
    "Gi": Decimal(2**30), "Ti": Decimal(2**40), "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}  # fmt: skip
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_STRATEGIES = ("RollingUpdate", "Recreate")
_SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
_PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


def parse_quantity(value: object) -> Decimal | None:
    """A Kubernetes quantity (`500m`, `1Gi`, `2`, `1e3`) as a number, or None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value)
    if match is None:
        return None
    try:
        number = Decimal(match["num"])
    except InvalidOperation:
        return None
    suffix = match["suffix"] or ""
    if suffix[:1] in ("e", "E"):
        return number * Decimal(10) ** int(suffix[1:])
    return number * _SUFFIX[suffix]


def check_documents(docs: Sequence[Mapping[str, Any]]) -> list[Finding]:
    """Every semantic and Pod Security finding in a set of manifests, cross-object ones too."""
    findings: list[Finding] = []
    for doc in docs:
        report = Reporter.for_doc(doc)
        check_metadata(doc, report)
        check_pod_security(doc, report)
        found = pod_spec(doc)
        if found is not None:
            check_pod(found[1], found[0], report)
        if doc.get("kind") == "Deployment":
            check_deployment(doc, report)
        if doc.get("kind") == "Service":
            check_service(doc, report)
        findings += report.findings
    findings += check_cross_references(docs)
    return findings


def check_metadata(doc: Mapping[str, Any], report: Reporter) -> None:
    name = dig(doc, "metadata", "name")
    if not isinstance(name, str) or not _DNS_SUBDOMAIN.match(name) or len(name) > 253:
        report.error("metadata.name", f"{name!r} is not a DNS-1123 name (lower case, digits, -)")
    elif doc.get("kind") == "Service" and not s.is_dns_label(name):
        report.error("metadata.name", f"{name!r} is not an RFC 1035 label (Service names)")
    check_labels(dig(doc, "metadata", "labels"), "metadata.labels", report)
    if doc.get("kind") in ("Deployment", "Service"):
        missing = [
            key for key in s.REQUIRED_LABELS if key not in (dig(doc, "metadata", "labels") or {})
        ]
        if missing:
            report.warning("metadata.labels", f"missing recommended labels: {', '.join(missing)}")


def check_labels(labels: object, path: str, report: Reporter) -> None:
    if not isinstance(labels, Mapping):
        return
    for key, value in labels.items():
        if not isinstance(value, str):
            report.error(f"{path}.{key}", f"label value must be a string, got {value!r}")
        elif len(value) > 63 or not _LABEL_VALUE.match(value):
            report.error(f"{path}.{key}", f"{value!r} is not a valid label value (<= 63 chars)")


def check_deployment(doc: Mapping[str, Any], report: Reporter) -> None:
    spec = doc.get("spec") or {}
    match_labels = dig(spec, "selector", "matchLabels") or {}
    template_labels = dig(spec, "template", "metadata", "labels") or {}
    check_labels(template_labels, "spec.template.metadata.labels", report)
    for key, value in match_labels.items():
        if template_labels.get(key) != value:
            report.error(
                f"spec.selector.matchLabels.{key}",
                f"{value!r} does not match the pod template label {template_labels.get(key)!r}",
            )
    if s.LABEL_VERSION in match_labels:
        report.error(
            f"spec.selector.matchLabels.{s.LABEL_VERSION}",
            "the selector is immutable; never select on the version",
        )
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 1:
        report.warning("spec.replicas", "0 replicas serve nothing")
    check_strategy(spec.get("strategy") or {}, report)
    check_startup_fits_deadline(spec, report)


def check_strategy(strategy: Mapping[str, Any], report: Reporter) -> None:
    kind = strategy.get("type", "RollingUpdate")
    if kind not in _STRATEGIES:
        report.error("spec.strategy.type", f"{kind!r} is not one of {', '.join(_STRATEGIES)}")
    rolling = strategy.get("rollingUpdate") or {}
    surge, unavailable = rolling.get("maxSurge"), rolling.get("maxUnavailable")
    if surge in (0, "0%") and unavailable in (0, "0%"):
        report.error("spec.strategy.rollingUpdate", "maxSurge and maxUnavailable cannot both be 0")


def check_startup_fits_deadline(spec: Mapping[str, Any], report: Reporter) -> None:
    deadline = spec.get("progressDeadlineSeconds", s.DEFAULT_PROGRESS_DEADLINE_SECONDS)
    for path, container in containers(dig(spec, "template", "spec") or {}, "spec.template.spec"):
        probe = container.get("startupProbe")
        if not isinstance(probe, Mapping) or not isinstance(deadline, int):
            continue
        budget = probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
        if budget >= deadline:
            report.error(
                "spec.progressDeadlineSeconds",
                f"{deadline} s must exceed the startup probe budget of {path} ({budget} s)",
            )


def check_pod(pod: Mapping[str, Any], base: str, report: Reporter) -> None:
    grace = pod.get("terminationGracePeriodSeconds", 30)
    for path, container in containers(pod, base):
        ports = check_ports(container, path, report)
        check_probes(container, ports, path, report)
        check_resources(container.get("resources") or {}, f"{path}.resources", report)
        policy = container.get("imagePullPolicy")
        if policy is not None and policy not in _PULL_POLICIES:
            report.error(f"{path}.imagePullPolicy", f"{policy!r} is not one of {_PULL_POLICIES}")
        sleep = dig(container, "lifecycle", "preStop", "sleep", "seconds")
        if isinstance(sleep, int) and isinstance(grace, int) and sleep >= grace:
            report.error(
                f"{base}.terminationGracePeriodSeconds",
                f"{grace} s leaves no time to drain after the {sleep} s preStop sleep",
            )
        check_shutdown(container, grace, sleep if isinstance(sleep, int) else 0, base, report)


def check_shutdown(
    container: Mapping[str, Any], grace: object, sleep: int, base: str, report: Reporter
) -> None:
    """The server's SHUTDOWN_TIMEOUT must end before SIGKILL: preStop + timeout < grace."""
    env = {e.get("name"): e.get("value") for e in container.get("env") or [] if isinstance(e, dict)}
    try:
        timeout = float(str(env["SHUTDOWN_TIMEOUT"]))
    except (KeyError, TypeError, ValueError):
        return
    if isinstance(grace, int) and sleep + timeout >= grace:
        report.error(
            f"{base}.terminationGracePeriodSeconds",
            f"{grace} s leaves no slack after the {sleep} s preStop sleep and the server's "
            f"{timeout:g} s SHUTDOWN_TIMEOUT: SIGKILL would cut the drain short",
        )


def check_ports(container: Mapping[str, Any], path: str, report: Reporter) -> dict[str, int]:
    """Check containerPorts; return {name: number} for resolving named probe ports."""
    named: dict[str, int] = {}
    for index, port in enumerate(container.get("ports") or []):
        number = port.get("containerPort") if isinstance(port, Mapping) else None
        if not isinstance(number, int) or not 1 <= number <= 65535:
            report.error(f"{path}.ports[{index}].containerPort", f"{number!r} is not in 1-65535")
        elif isinstance(port.get("name"), str):
            named[port["name"]] = number
    return named


def check_probes(
    container: Mapping[str, Any], ports: Mapping[str, int], path: str, report: Reporter
) -> None:
    for key in _PROBES:
        http = dig(container, key, "httpGet")
        if not isinstance(http, Mapping):
            continue
        where = f"{path}.{key}.httpGet"
        probe_path = http.get("path", "/")
        if probe_path not in s.RUNTIME_ENDPOINTS:
            report.error(
                f"{where}.path",
                f"{probe_path!r} is not an endpoint of the nb2svc runtime "
                f"({', '.join(s.RUNTIME_ENDPOINTS)})",
            )
        check_port_ref(http.get("port"), ports, f"{where}.port", report)


def check_port_ref(port: object, ports: Mapping[str, int], path: str, report: Reporter) -> None:
    if isinstance(port, str) and not port.isdigit():
        if port not in ports:
            report.error(path, f"named port {port!r} is not a port of the container")
    elif not isinstance(port, int | str) or not 1 <= int(port) <= 65535:
        report.error(path, f"{port!r} is not in 1-65535")


def check_resources(resources: Mapping[str, Any], path: str, report: Reporter) -> None:
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    for section, values in (("requests", requests), ("limits", limits)):
        for name, value in values.items():
            if parse_quantity(value) is None:
                report.error(f"{path}.{section}.{name}", f"{value!r} is not a valid quantity")
    for name, request in requests.items():
        req, lim = parse_quantity(request), parse_quantity(limits.get(name))
        if req is not None and lim is not None and req > lim:
            report.error(f"{path}.requests.{name}", f"{request} exceeds the limit {limits[name]}")
        if name == s.GPU_RESOURCE and name in limits and req != lim:
            report.error(f"{path}.requests.{name}", "GPU requests must equal the limits")
    if "memory" not in limits:
        report.warning(f"{path}.limits.memory", "no memory limit: an OOM can take the node")


def check_service(doc: Mapping[str, Any], report: Reporter) -> None:
    kind = dig(doc, "spec", "type") or "ClusterIP"
    if kind not in _SERVICE_TYPES:
        report.error("spec.type", f"{kind!r} is not one of {', '.join(_SERVICE_TYPES)}")
    for index, port in enumerate(dig(doc, "spec", "ports") or []):
        number = port.get("port") if isinstance(port, Mapping) else None
        if not isinstance(number, int) or not 1 <= number <= 65535:
            report.error(f"spec.ports[{index}].port", f"{number!r} is not in 1-65535")


def check_cross_references(docs: Sequence[Mapping[str, Any]]) -> list[Finding]:
    """Service/PDB selectors and Service target ports against the Deployments' pods."""
    pods = [
        (dig(d, "spec", "template", "metadata", "labels") or {}, dig(d, "spec", "template", "spec"))
        for d in docs
        if d.get("kind") == "Deployment"
    ]
    findings: list[Finding] = []
    if not pods:
        return findings
    for doc in docs:
        report = Reporter.for_doc(doc)
        if doc.get("kind") == "Service":
            _check_selects_a_pod(dig(doc, "spec", "selector"), "spec.selector", pods, report)
            _check_target_ports(doc, pods, report)
        if doc.get("kind") == "PodDisruptionBudget":
            path = "spec.selector.matchLabels"
            _check_selects_a_pod(dig(doc, *path.split(".")), path, pods, report)
        findings += report.findings
    return findings


def _check_selects_a_pod(
    selector: object, path: str, pods: list[tuple[Any, Any]], report: Reporter
) -> None:
    if not isinstance(selector, Mapping) or not selector:
        report.error(path, "must select the Deployment's pods (name + instance labels)")
        return
    if not any(all(labels.get(k) == v for k, v in selector.items()) for labels, _ in pods):
        report.error(path, f"{dict(selector)} matches no Deployment's pod template labels")


def _check_target_ports(
    doc: Mapping[str, Any], pods: list[tuple[Any, Any]], report: Reporter
) -> None:
    names = {
        port.get("name")
        for _, pod in pods
        for _, container in containers(pod or {}, "")
        for port in container.get("ports") or []
        if isinstance(port, Mapping)
    }
    for index, port in enumerate(dig(doc, "spec", "ports") or []):
        target = port.get("targetPort") if isinstance(port, Mapping) else None
        if isinstance(target, str) and not target.isdigit() and target not in names:
            report.error(
                f"spec.ports[{index}].targetPort", f"named port {target!r} is not a container port"
            )
