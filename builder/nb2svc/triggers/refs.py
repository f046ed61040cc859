"""Validation of what git and forges send us: object IDs, ref names, post-receive lines.

Ref names are hostile input (git accepts `refs/heads/$(touch x)`): they are checked against
an allow-list and only ever passed as argv elements, never through a shell.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

OID_RE = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")  # always fullmatch: `$` allows "\n"
BRANCH_RE = re.compile(r"[A-Za-z0-9._/-]+")
HEADS = "refs/heads/"
MAX_BRANCH = 255


@dataclass(frozen=True)
class RefUpdate:
    old: str
    new: str
    ref: str

    @property
    def deleted(self) -> bool:
        return is_zero(self.new)

    @property
    def branch(self) -> str | None:
        return branch_of(self.ref)


def is_oid(value: str) -> bool:
    return bool(OID_RE.fullmatch(value))


def is_zero(oid: str) -> bool:
    """All zeros (creation/deletion), for SHA-1 and SHA-256 repositories alike."""
    return bool(oid) and set(oid) == {"0"}


def branch_of(ref: str) -> str | None:
    """`refs/heads/<b>` -> `<b>` if the name is on the allow-list, else None."""
    if not ref.startswith(HEADS):
        return None
    name = ref[len(HEADS) :]
    if len(name) > MAX_BRANCH or not BRANCH_RE.fullmatch(name):
        return None
    if name.startswith(("-", "/")) or ".." in name:
        return None
    return name


def parse_post_receive(lines: Iterable[str]) -> tuple[list[RefUpdate], list[str]]:
    """Parse `<old> SP <new> SP <ref>` lines; return (valid updates, rejection messages)."""
    updates: list[RefUpdate] = []
    rejected: list[str] = []
    for raw in lines:
        line = raw.rstrip("\n")
        if not line:
            continue
        parts = line.split(" ", 2)
        if len(parts) != 3 or (not is_oid(parts[0]) and not is_zero(parts[0])):
            rejected.append(f"malformed update line ignored: {line[:120]!r}")
            continue
        old, new, ref = parts
        if not (is_oid(new) or is_zero(new)):
            rejected.append(f"invalid object id ignored: {new[:80]!r}")
            continue
        updates.append(RefUpdate(old, new, ref))
    return updates, rejected
