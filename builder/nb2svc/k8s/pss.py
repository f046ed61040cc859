"""Pod Security Standards "restricted" (and the baseline rules it includes), checked offline.

The rules follow the upstream admission checks (`pod-security-admission/policy/check_*.go`):
a container-level value overrides the pod-level one, and a container-level nil is fine when
the pod sets the value. kubernetes-validate knows none of this; this module does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nb2svc.k8s.findings import Reporter, containers, dig, pod_spec

RESTRICTED = "(Pod Security restricted)"
BASELINE = "(Pod Security baseline)"
ALLOWED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
ALLOWED_ADDED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
SECCOMP_OK = frozenset({"RuntimeDefault", "Localhost"})
_PROBE_KEYS = ("startupProbe", "readinessProbe", "livenessProbe")


def check_pod_security(doc: Mapping[str, Any], report: Reporter) -> None:
    """Add a finding per Pod Security restricted rule the object's pod spec breaks."""
    found = pod_spec(doc)
    if found is None:
        return
    base, pod = found
    _check_host_namespaces(pod, base, report)
    _check_volumes(pod, base, report)
    pod_ctx = pod.get("securityContext") or {}
    _check_pod_context(pod_ctx, base, report)
    for path, container in containers(pod, base):
        ctx = container.get("securityContext") or {}
        cpath = f"{path}.securityContext"
        _check_container_context(ctx, pod_ctx, cpath, report)
        _check_capabilities(ctx, cpath, report)
        _check_host_fields(container, path, report)


def _check_host_namespaces(pod: Mapping[str, Any], base: str, report: Reporter) -> None:
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key) is True:
            report.error(f"{base}.{key}", f"must be false {BASELINE}")


def _check_volumes(pod: Mapping[str, Any], base: str, report: Reporter) -> None:
    for index, volume in enumerate(pod.get("volumes") or []):
        if not isinstance(volume, Mapping):
            continue
        kinds = [key for key in volume if key != "name"]
        for kind in kinds:
            if kind not in ALLOWED_VOLUME_TYPES:
                report.error(
                    f"{base}.volumes[{index}].{kind}",
                    f"volume type {kind} is not allowed {RESTRICTED}",
                )


def _check_pod_context(ctx: Mapping[str, Any], base: str, report: Reporter) -> None:
    path = f"{base}.securityContext"
    if ctx.get("runAsUser") == 0:
        report.error(f"{path}.runAsUser", f"must not be 0 {RESTRICTED}")
    if ctx.get("runAsNonRoot") is False:
        report.error(f"{path}.runAsNonRoot", f"must be true {RESTRICTED}")
    seccomp = dig(ctx, "seccompProfile", "type")
    if seccomp is not None and seccomp not in SECCOMP_OK:
        report.error(
            f"{path}.seccompProfile.type", f"must be RuntimeDefault or Localhost {RESTRICTED}"
        )
    for index, sysctl in enumerate(ctx.get("sysctls") or []):
        report.warning(f"{path}.sysctls[{index}]", f"{dig(sysctl, 'name')}: check it is safe")


def _check_container_context(
    ctx: Mapping[str, Any], pod_ctx: Mapping[str, Any], path: str, report: Reporter
) -> None:
    if ctx.get("privileged") is True:
        report.error(f"{path}.privileged", f"must be false {BASELINE}")
    if ctx.get("allowPrivilegeEscalation") is not False:
        report.error(f"{path}.allowPrivilegeEscalation", f"must be false {RESTRICTED}")
    if ctx.get("runAsUser") == 0:
        report.error(f"{path}.runAsUser", f"must not be 0 {RESTRICTED}")
    non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
    if non_root is not True:
        report.error(f"{path}.runAsNonRoot", f"must be true here or in the pod {RESTRICTED}")
    seccomp = dig(ctx, "seccompProfile", "type")
    if seccomp is None:
        seccomp = dig(pod_ctx, "seccompProfile", "type")
    if seccomp not in SECCOMP_OK:
        report.error(
            f"{path}.seccompProfile.type",
            f"must be RuntimeDefault or Localhost here or in the pod {RESTRICTED}",
        )
    proc_mount = ctx.get("procMount")
    if proc_mount not in (None, "Default"):
        report.error(f"{path}.procMount", f"must be Default {BASELINE}")
    if ctx.get("readOnlyRootFilesystem") is not True:
        report.warning(
            f"{path}.readOnlyRootFilesystem", "should be true (nb2svc default, not required by PSS)"
        )


def _check_capabilities(ctx: Mapping[str, Any], path: str, report: Reporter) -> None:
    drop = dig(ctx, "capabilities", "drop") or []
    if "ALL" not in drop:
        report.error(f"{path}.capabilities.drop", f'must include "ALL" {RESTRICTED}')
    for index, cap in enumerate(dig(ctx, "capabilities", "add") or []):
        if cap not in ALLOWED_ADDED_CAPABILITIES:
            report.error(
                f"{path}.capabilities.add[{index}]",
                f"{cap} may not be added; only NET_BIND_SERVICE {RESTRICTED}",
            )


def _check_host_fields(container: Mapping[str, Any], path: str, report: Reporter) -> None:
    for index, port in enumerate(container.get("ports") or []):
        if isinstance(port, Mapping) and port.get("hostPort"):
            report.error(f"{path}.ports[{index}].hostPort", f"must not be set {BASELINE}")
    handlers = [(key, container.get(key)) for key in _PROBE_KEYS]
    lifecycle = container.get("lifecycle") or {}
    handlers += [(f"lifecycle.{key}", lifecycle.get(key)) for key in ("preStop", "postStart")]
    for key, handler in handlers:
        for action in ("httpGet", "tcpSocket"):
            if dig(handler, action, "host"):
                report.error(f"{path}.{key}.{action}.host", f"must not be set {BASELINE}")
