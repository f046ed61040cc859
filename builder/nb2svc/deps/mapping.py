"""Import path -> PyPI distribution, from the curated table `resources/import_map.toml`.

Lookups are by dotted prefix (`google.cloud.storage` before `google.cloud` before `google`).
Only the table, the curated identity list and `google.cloud.X` naming ever produce a
distribution; an unknown name is never passed through as a PyPI requirement.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from packaging.utils import canonicalize_name

MatchKind = Literal["mapped", "identity", "namespace", "none"]
GOOGLE_CLOUD_VERSION = re.compile(r"_v\d+(?:p\d+)?(?:beta\d*|alpha\d*)?$")


def canonical(name: str) -> str:
    """PEP 503 normalized distribution name (`Scikit_Learn` -> `scikit-learn`)."""
    return str(canonicalize_name(name))


@dataclass(frozen=True)
class Mapping:
    """The result of a lookup: the distributions providing `key`, the first the default."""

    kind: MatchKind
    key: str
    dists: tuple[str, ...] = ()


@dataclass(frozen=True)
class Implicit:
    dist: str
    requires: str
    purpose: str


@dataclass(frozen=True)
class Backend:
    dist: str  # installed when none of `chosen` is imported
    chosen: tuple[str, ...]  # top-level imports that already pick a backend
    purpose: str


@dataclass(frozen=True)
class ImportMap:
    modules: dict[str, tuple[str, ...]]
    identity: frozenset[str]  # canonical names
    runtime_only: dict[str, str]
    python2: dict[str, str]
    deny: dict[str, str]  # canonical squatter name -> replacement dist or ""
    stdlib_moved: dict[str, str]
    stdlib_hints: dict[str, str]
    conda: dict[str, str]
    implicit: dict[str, Implicit]
    backends: dict[str, Backend]

    def lookup(self, dotted: str) -> Mapping:
        """Map an import path to distributions (table, google.cloud.X rule, identity)."""
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            key = ".".join(parts[:end])
            if key == "google.cloud" and end < len(parts):
                return _google_cloud(parts[2])
            if key in self.modules:
                dists = self.modules[key]
                return Mapping("mapped" if dists else "namespace", key, dists)
        top = parts[0]
        if canonical(top) in self.identity:
            return Mapping("identity", top, (canonical(top),))
        return Mapping("none", top)

    def runtime_only_reason(self, dotted: str) -> str | None:
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            reason = self.runtime_only.get(".".join(parts[:end]))
            if reason is not None:
                return reason
        return None

    def denied(self, dist: str) -> str | None:
        """None if `dist` is fine; else the replacement ("" when there is none)."""
        return self.deny.get(canonical(dist))

    def from_conda(self, name: str) -> str | None:
        """PyPI name of a conda package; None when it is not a Python package."""
        mapped = self.conda.get(name.lower(), name)
        return canonical(mapped) if mapped else None


def _google_cloud(sub: str) -> Mapping:
    base = GOOGLE_CLOUD_VERSION.sub("", sub)
    table = load_import_map().modules
    explicit = table.get(f"google.cloud.{base}")
    if explicit:
        return Mapping("mapped", f"google.cloud.{sub}", explicit)
    return Mapping("mapped", f"google.cloud.{sub}", (canonical(f"google-cloud-{base}"),))


def _as_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (canonical(value),)
    return tuple(canonical(v) for v in value)


@cache
def load_import_map() -> ImportMap:
    """Read and validate the packaged table once."""
    text = resources.files("nb2svc.resources").joinpath("import_map.toml").read_text("utf-8")
    raw = tomllib.loads(text)
    implicit = {k: Implicit(canonical(v[0]), v[1], v[2]) for k, v in raw["implicit"].items()}
    return ImportMap(
        modules={k: _as_tuple(v) for k, v in raw["modules"].items()},
        identity=frozenset(canonical(n) for n in raw["identity"]["names"]),
        runtime_only=dict(raw["runtime_only"]),
        python2=dict(raw["python2"]),
        deny={canonical(k): (canonical(v) if v else "") for k, v in raw["deny"].items()},
        stdlib_moved={k: (canonical(v) if v else "") for k, v in raw["stdlib_moved"].items()},
        stdlib_hints=dict(raw["stdlib_hints"]),
        conda={k.lower(): v for k, v in raw["conda"].items()},
        implicit=implicit,
        backends={
            k: Backend(canonical(v[0]), tuple(v[1]), v[2]) for k, v in raw["backends"].items()
        },
    )
