"""When is a Deployment rolled out? kubectl's answer, on plain dicts (no client needed).

Follows `kubectl rollout status` (`kubectl/pkg/polymorphichelpers/rollout_status.go`), plus a
minimum generation so a status from before our apply is never taken for success, and the
pod-level reasons kubectl users look for when a rollout is stuck.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nb2svc.k8s.apistatus import POD_SECURITY_MARK
from nb2svc.k8s.findings import dig

DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
# Container waiting/terminated reasons that explain a stuck rollout.
FAILURE_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "OOMKilled",
        "Error",
    }
)


@dataclass(frozen=True)
class RolloutState:
    """One observation: done, failed (deadline exceeded), or still waiting (with why)."""

    done: bool
    failed: bool
    message: str


def rollout_state(deployment: Mapping[str, Any], min_generation: int = 0) -> RolloutState:
    """Classify a Deployment's status the way `kubectl rollout status` does."""
    name = dig(deployment, "metadata", "name")
    generation = dig(deployment, "metadata", "generation") or 0
    status = deployment.get("status") or {}
    observed = status.get("observedGeneration") or 0
    if observed < max(generation, min_generation):
        return _waiting(f"waiting for deployment {name!r} spec update to be observed")
    for condition in status.get("conditions") or []:
        if _admission_refused(condition):
            return RolloutState(
                False,
                True,
                f"deployment {name!r} cannot create its pods: {condition.get('message') or ''}",
            )
        if condition.get("type") == "Progressing" and condition.get("reason") == DEADLINE_EXCEEDED:
            message = condition.get("message") or ""
            return RolloutState(
                False, True, f"deployment {name!r} exceeded its progress deadline: {message}"
            )
    wanted = dig(deployment, "spec", "replicas")
    wanted = 1 if wanted is None else wanted
    updated = status.get("updatedReplicas") or 0
    total = status.get("replicas") or 0
    available = status.get("availableReplicas") or 0
    if updated < wanted:
        return _waiting(f"{updated} out of {wanted} new replicas have been updated")
    if total > updated:
        return _waiting(f"{total - updated} old replicas are pending termination")
    if available < updated:
        return _waiting(f"{available} of {updated} updated replicas are available")
    return RolloutState(True, False, f"deployment {name!r} successfully rolled out")


def _admission_refused(condition: Mapping[str, Any]) -> bool:
    """A ReplicaFailure that no retry will cure: Pod Security admission refusing the pods
    (a quota refusal, by contrast, may clear by itself, so it is waited out)."""
    return (
        condition.get("type") == "ReplicaFailure"
        and condition.get("status") == "True"
        and POD_SECURITY_MARK in str(condition.get("message") or "")
    )


def _waiting(message: str) -> RolloutState:
    return RolloutState(False, False, f"Waiting for rollout to finish: {message}")


def pod_failure_reason(pods: Sequence[Mapping[str, Any]]) -> str | None:
    """The first pod-level reason a rollout is stuck: image pull, crash loop, unschedulable."""
    for pod in pods:
        name = dig(pod, "metadata", "name")
        reason = _container_reason(pod) or _scheduling_reason(pod)
        if reason:
            return f"pod {name}: {reason}"
    return None


def _container_reason(pod: Mapping[str, Any]) -> str | None:
    statuses = list(dig(pod, "status", "initContainerStatuses") or [])
    statuses += dig(pod, "status", "containerStatuses") or []
    for status in statuses:
        for state_key in ("state", "lastState"):
            for phase in ("waiting", "terminated"):
                detail = dig(status, state_key, phase) or {}
                reason = detail.get("reason")
                if reason in FAILURE_REASONS:
                    message = detail.get("message") or ""
                    text = f"{reason}: {message}".rstrip(": ")
                    return f"container {status.get('name')}: {text}"
    return None


def _scheduling_reason(pod: Mapping[str, Any]) -> str | None:
    for condition in dig(pod, "status", "conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            reason = condition.get("reason") or "Unschedulable"
            return f"{reason}: {condition.get('message') or ''}".rstrip(": ")
    return None
