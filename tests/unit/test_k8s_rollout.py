"""kubectl's rollout-status logic on scripted Deployment statuses, and stuck-pod reasons."""

from __future__ import annotations

from typing import Any

import pytest
from nb2svc.k8s.rollout import pod_failure_reason, rollout_state


def deployment(generation: int = 2, wanted: int = 2, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "churn", "generation": generation},
        "spec": {"replicas": wanted},
        "status": status,
    }


DEADLINE = {
    "type": "Progressing",
    "status": "False",
    "reason": "ProgressDeadlineExceeded",
    "message": 'ReplicaSet "churn-7d9" has timed out progressing.',
}


@pytest.mark.parametrize(
    ("doc", "min_generation", "expected"),
    [
        (deployment(observedGeneration=1), 0, "spec update to be observed"),
        (deployment(observedGeneration=2), 3, "spec update to be observed"),
        (deployment(observedGeneration=2, updatedReplicas=1), 0, "1 out of 2 new replicas"),
        (
            deployment(observedGeneration=2, updatedReplicas=2, replicas=3),
            0,
            "1 old replicas are pending termination",
        ),
        (
            deployment(observedGeneration=2, updatedReplicas=2, replicas=2, availableReplicas=1),
            0,
            "1 of 2 updated replicas are available",
        ),
    ],
    ids=["stale", "before-our-apply", "updating", "old-pending", "unavailable"],
)
def test_waiting_states(doc: dict[str, Any], min_generation: int, expected: str) -> None:
    state = rollout_state(doc, min_generation)
    assert (state.done, state.failed) == (False, False)
    assert expected in state.message


def test_done_when_all_updated_and_available() -> None:
    doc = deployment(observedGeneration=2, updatedReplicas=2, replicas=2, availableReplicas=2)
    state = rollout_state(doc, 2)
    assert state.done
    assert state.message == "deployment 'churn' successfully rolled out"


def test_progress_deadline_exceeded_fails_at_once() -> None:
    doc = deployment(observedGeneration=2, updatedReplicas=1, conditions=[DEADLINE])
    state = rollout_state(doc)
    assert state.failed
    assert "exceeded its progress deadline" in state.message
    assert "timed out progressing" in state.message


def test_pod_failure_reasons() -> None:
    pulling = {
        "metadata": {"name": "churn-7d9-abc"},
        "status": {
            "containerStatuses": [
                {
                    "name": "server",
                    "state": {
                        "waiting": {
                            "reason": "ImagePullBackOff",
                            "message": 'Back-off pulling image "r/churn@sha256:00"',
                        }
                    },
                }
            ]
        },
    }
    unschedulable = {
        "metadata": {"name": "churn-7d9-def"},
        "status": {
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
                }
            ]
        },
    }
    healthy = {"metadata": {"name": "ok"}, "status": {"containerStatuses": [{"name": "server"}]}}
    assert pod_failure_reason([healthy, pulling]) == (
        "pod churn-7d9-abc: container server: ImagePullBackOff: "
        'Back-off pulling image "r/churn@sha256:00"'
    )
    assert pod_failure_reason([unschedulable]) == (
        "pod churn-7d9-def: Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    )
    assert pod_failure_reason([healthy]) is None
