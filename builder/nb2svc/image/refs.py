"""Image references read for what they name: the registry, the repository, a digest.

Pure string work on references `nb2svc.options.check_image_ref` has accepted
(`[host[:port]/]path[:tag][@sha256:hex]`). A reference whose first component is not a
host (no `.` or `:`), or is `localhost` itself, names local container storage: buildah and
podman keep `churn:v1` as `localhost/churn:v1`, and nothing can pull it from elsewhere.
"""

from __future__ import annotations

import re

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def registry_of(ref: str) -> str | None:
    """The registry `host[:port]` that `ref` names, or None for local storage.

    >>> registry_of("registry.example.com:5000/team/churn:v1")
    'registry.example.com:5000'
    >>> registry_of("localhost/churn:latest") is None
    True
    """
    first, sep, _ = ref.partition("/")
    if not sep or first == "localhost" or not ("." in first or ":" in first):
        return None
    return first


def is_local(ref: str) -> bool:
    """`ref` names local storage only (`localhost/...` or no host): no cluster can pull it."""
    return registry_of(ref) is None


def repository_of(ref: str) -> str:
    """`ref` without its tag and digest: `host:5000/team/churn:v1@sha256:..` ->
    `host:5000/team/churn` (a `:` before the last `/` is the registry's port, kept)."""
    name = ref.split("@", 1)[0]
    head, slash, last = name.rpartition("/")
    return f"{head}{slash}{last.split(':', 1)[0]}"


def is_digest(value: str) -> bool:
    return _DIGEST.match(value) is not None


def by_digest(ref: str, digest: str) -> str:
    """`repo@sha256:...`: the reference a rollout pins, without the tag.

    Kubernetes accepts `repo:tag@sha256:...` as well, but pulls by the digest alone and
    ignores the tag, which then only misleads a reader into thinking the tag decides what
    runs; `repo@sha256:...` says exactly what is pulled (the tag stays in report.json's
    `image` and in the image's own labels).
    """
    if not is_digest(digest):
        raise ValueError(f"{digest!r} is not a sha256 digest")
    return f"{repository_of(ref)}@{digest}"
