"""Classify one import: stdlib (for the target Python), local, runtime-only, Python 2,
third-party (with the distributions that provide it) or unresolved (with what to do)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from nb2svc.deps.imports import ImportRef
from nb2svc.deps.local import LocalIndex
from nb2svc.deps.mapping import ImportMap, canonical
from nb2svc.deps.report import ImportKind
from nb2svc.deps.stdlib import classify_stdlib

ADD_IT = "add its distribution to requirements.txt next to the notebook, or a `%pip install` line"


@dataclass(frozen=True)
class Verdict:
    kind: ImportKind
    dists: tuple[str, ...] = ()  # candidates, the default first
    key: str = ""  # the import path the table matched (`google.cloud.storage`, `sklearn`)
    message: str | None = None  # why (unresolved) or what was done (warnings)
    warning: str | None = None  # warning code when the user should know


def classify(
    ref: ImportRef,
    target: str,
    local: LocalIndex,
    table: ImportMap,
    declared: Collection[str] = (),
) -> Verdict:
    """`declared`: canonical names the notebook installs or the repo declares."""
    top = ref.top
    if ref.level > 0 or not top:
        return Verdict("local")
    stdlib = classify_stdlib(top, target)
    if stdlib.status == "stdlib":
        return Verdict("stdlib")
    if local.get(top) is not None:
        return Verdict("local")
    if top in table.python2:
        message = f"`{top}` is a Python 2 module (Python 3: {table.python2[top]}); not installed"
        return Verdict("python2", message=message, warning="python2")
    reason = table.runtime_only_reason(ref.path)
    if reason is not None:
        message = f"`{ref.path}` only exists in an interactive runtime ({reason}); dropped"
        return Verdict("runtime-only", message=message, warning="runtime-only")
    if stdlib.status != "no":
        return _moved(top, stdlib.status, stdlib.other_version or "?", target, table)
    return _third_party(ref, table, declared)


def _moved(top: str, status: str, other: str, target: str, table: ImportMap) -> Verdict:
    hint = table.stdlib_hints.get(top, "")
    replacement = table.stdlib_moved.get(top, "")
    if status == "removed":
        what = f"`{top}` was removed from the standard library after Python {other}"
        if replacement:
            message = f"{what}; {hint or f'{replacement} provides it'} (target {target})"
            return Verdict("third-party", (replacement,), top, message, "stdlib-moved")
        message = f"{what} (target {target}); {hint or ADD_IT}"
        return Verdict("unresolved", message=message, warning="stdlib-moved")
    message = f"`{top}` is only in the standard library from Python {other} (target {target})"
    return Verdict("unresolved", message=f"{message}; {hint or ADD_IT}", warning="stdlib-moved")


def _third_party(ref: ImportRef, table: ImportMap, declared: Collection[str]) -> Verdict:
    found = table.lookup(ref.path)
    if found.kind in ("mapped", "identity"):
        return Verdict("third-party", found.dists, key=found.key)
    top = ref.top
    if found.kind == "namespace":
        message = (
            f"`{ref.path}` is a namespace shared by many distributions; import a subpackage "
            f"(e.g. `{found.key}.<name>`) or {ADD_IT}"
        )
        return Verdict("unresolved", message=message)
    for candidate in (canonical(top), canonical(ref.module or top)):
        if candidate in declared:
            return Verdict("third-party", (candidate,), key=ref.top)
    if table.denied(top) is not None:
        replacement = table.denied(top)
        better = f"; did you mean {replacement}?" if replacement else ""
        message = f"`{top}` on PyPI is a placeholder or unrelated project{better} {ADD_IT}"
        return Verdict("unresolved", message=message)
    message = f"no known distribution provides `{top}` (it is not local either); {ADD_IT}"
    return Verdict("unresolved", message=message)
