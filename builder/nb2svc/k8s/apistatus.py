"""What an API server's refusal says, read from its `Status` body (pure; no client needed).

Two refusals matter to `nb2svc deploy` (docs/deploying.md, "What the API server refuses"):

- a server-side apply conflict (HTTP 409, reason `Conflict`): another field manager owns a
  field nb2svc sets to a different value. Each cause names the manager and the field;
- an admission refusal (HTTP 403, reason `Forbidden`), e.g. Pod Security admission's
  `violates PodSecurity "restricted:latest": ...`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nb2svc.errors import DeployError

POD_SECURITY_MARK = "violates PodSecurity"
_MANAGER = re.compile(r'conflict with "(?P<manager>[^"]+)"')


@dataclass(frozen=True)
class Conflict:
    """One field another manager owns: `.spec.replicas` owned by `kubectl`."""

    field: str
    manager: str

    def __str__(self) -> str:
        return f"{self.field} is owned by field manager {self.manager!r}"


def status_body(raw: object) -> Mapping[str, Any]:
    """The `Status` object of an error response, or {} when the body is not one."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str) or not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) and data.get("kind") == "Status" else {}


def conflicts(status: Mapping[str, Any]) -> list[Conflict]:
    """The conflicting fields of an SSA 409, one per cause (empty for any other status)."""
    if status.get("reason") != "Conflict":
        return []
    found = []
    for cause in (status.get("details") or {}).get("causes") or []:
        if not isinstance(cause, dict) or cause.get("reason") != "FieldManagerConflict":
            continue
        match = _MANAGER.search(str(cause.get("message") or ""))
        manager = match.group("manager") if match else "another manager"
        found.append(Conflict(field=str(cause.get("field") or "?"), manager=manager))
    return found


def conflict_error(what: str, found: list[Conflict]) -> DeployError:
    """The error for an apply that would take fields from another manager."""
    fields = ", ".join(c.field for c in found)
    msg = f"applying {what} conflicts with another field manager on {fields}"
    return DeployError(
        msg,
        details=[str(c) for c in found],
        fix=(
            "nb2svc did not overwrite them; remove the field from the other manager's "
            "configuration (or let nb2svc own it) and deploy again, or pass "
            "--force-conflicts to take the fields over"
        ),
    )


def pod_security_refusal(status: Mapping[str, Any]) -> str | None:
    """Pod Security admission's message when `status` is its refusal, else None."""
    message = str(status.get("message") or "")
    if status.get("reason") == "Forbidden" and POD_SECURITY_MARK in message:
        return message
    return None
