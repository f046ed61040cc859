"""Push events of each forge, reduced to what a build needs (after authentication only)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nb2svc.triggers.refs import is_oid, is_zero
from nb2svc.triggers.signatures import Rejected

MAX_NAME = 1024  # a repository path or ref name longer than this is no real one


@dataclass(frozen=True)
class Push:
    repository: str  # GitHub/Gitea `repository.full_name`, GitLab `project.path_with_namespace`
    ref: str
    after: str

    @property
    def deleted(self) -> bool:
        return is_zero(self.after)


def _text(data: dict[str, Any], *path: str) -> str:
    value: Any = data
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else ""


def parse_push(forge: str, body: bytes) -> Push:
    """The push from a JSON body; 400 if it is not one."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        raise Rejected(400, "body is not JSON") from None
    if not isinstance(data, dict):
        raise Rejected(400, "body is not a JSON object")
    if forge == "gitlab":
        repo = _text(data, "project", "path_with_namespace")
        after = _text(data, "checkout_sha") or _text(data, "after")
    elif forge == "generic":
        repo = _text(data, "repository")
        after = _text(data, "after") or _text(data, "commit")
    else:
        repo = _text(data, "repository", "full_name")
        after = _text(data, "after")
    push = Push(repo, _text(data, "ref"), after)
    if not push.repository or not push.ref or not (is_oid(after) or is_zero(after)):
        raise Rejected(400, "push event without repository, ref or a valid commit ID")
    if len(push.repository) > MAX_NAME or len(push.ref) > MAX_NAME:
        raise Rejected(400, f"repository or ref name over {MAX_NAME} characters")
    return push
