"""A package's release history on the index: its versions, when each came out, its wheels.

The one owner of PyPI's JSON API (`https://pypi.org/pypi/NAME/json`). The per-package
era (nb2svc.package_era) asks it which release of a package was current on a day and
which is the oldest with a wheel for the image's Python. Only what those questions need
is kept: per file, its name, upload time, `requires_python` and whether it is yanked.
Answers are cached for a day under the locks cache; what a package published in the past
does not change, so a cached history answers a question about the past correctly.
"""

from __future__ import annotations

import json
import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

INDEX_JSON = "https://pypi.org/pypi/{name}/json"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CACHE_SECONDS = 24 * 3600
# The image platform (Debian 12, glibc 2.36, x86_64) and every manylinux tag it accepts.
PLATFORMS = (
    *(f"manylinux_2_{minor}_x86_64" for minor in range(36, 4, -1)),
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
)


@dataclass(frozen=True)
class File:
    filename: str
    uploaded: datetime
    requires_python: str | None
    yanked: bool


@dataclass(frozen=True)
class Release:
    version: Version
    files: tuple[File, ...]

    @property
    def uploaded(self) -> datetime:
        """When the release came out: its first file."""
        return min(f.uploaded for f in self.files)

    @property
    def yanked(self) -> bool:
        return all(f.yanked for f in self.files)

    @property
    def has_wheels(self) -> bool:
        return any(f.filename.endswith(".whl") for f in self.files)

    def wheel_for(self, python: str) -> File | None:
        """The first-uploaded wheel that installs on `python` (e.g. "3.9") in the image."""
        fits = [f for f in self.files if not f.yanked and _installs(f, python)]
        return min(fits, key=lambda f: f.uploaded) if fits else None


def releases(name: str, cache_dir: Path) -> tuple[Release, ...] | None:
    """Every release of `name` (oldest version first), or None when the index cannot say
    (no such project, no network, a private index configured instead of PyPI)."""
    if _private_index():
        return None
    canonical = canonicalize_name(name)
    path = cache_dir / "releases" / f"{canonical}.json"
    raw = _cached(path)
    if raw is None:
        raw = _download(canonical)
        if raw is None:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(raw))
        tmp.replace(path)
    return _parse(raw)


def many_releases(names: Iterable[str], cache_dir: Path) -> dict[str, tuple[Release, ...]]:
    """`releases` for several packages at once (a few index requests in parallel)."""
    wanted = sorted({canonicalize_name(n) for n in names})
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = pool.map(lambda n: releases(n, cache_dir), wanted)
    return {n: r for n, r in zip(wanted, found, strict=True) if r is not None}


def _private_index() -> bool:
    return any(os.environ.get(v) for v in ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "PIP_INDEX_URL"))


def _cached(path: Path) -> dict[str, list[list[object]]] | None:
    try:
        if time.time() - path.stat().st_mtime > CACHE_SECONDS:
            return None
        data: dict[str, list[list[object]]] = json.loads(path.read_text())
        return data
    except (OSError, ValueError):
        return None


def _download(name: str) -> dict[str, list[list[object]]] | None:
    """{version: [[filename, upload time, requires_python, yanked], ...]} from the index."""
    request = urllib.request.Request(
        INDEX_JSON.format(name=name), headers={"Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30, context=_tls()) as response:
            data = json.load(response)
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return {
        version: [
            [f["filename"], f["upload_time_iso_8601"], f.get("requires_python"), f["yanked"]]
            for f in files
        ]
        for version, files in data.get("releases", {}).items()
    }


@cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(CA_BUNDLE) if CA_BUNDLE.exists() else None)


def _parse(raw: dict[str, list[list[object]]]) -> tuple[Release, ...]:
    out: list[Release] = []
    for text, files in raw.items():
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        parsed = tuple(_file(f) for f in files)
        if parsed:
            out.append(Release(version, parsed))
    return tuple(sorted(out, key=lambda r: r.version))


def _file(row: list[object]) -> File:
    filename, uploaded, requires, yanked = row
    when = datetime.fromisoformat(str(uploaded).replace("Z", "+00:00"))
    return File(str(filename), when, None if requires is None else str(requires), bool(yanked))


def _installs(file: File, python: str) -> bool:
    if not file.filename.endswith(".whl"):
        return False
    try:
        _, _, _, tags = parse_wheel_filename(file.filename)
    except InvalidWheelFilename:
        return False
    if tags.isdisjoint(_supported(python)):
        return False
    return _python_allowed(file.requires_python, python)


def _python_allowed(requires: str | None, python: str) -> bool:
    if not requires:
        return True
    try:
        return SpecifierSet(requires).contains(f"{python}.0", prereleases=True)
    except InvalidSpecifier:
        return True  # pip ignores what it cannot parse; so does this


@cache
def _supported(python: str) -> frozenset[Tag]:
    major, minor = (int(p) for p in python.split(".")[:2])
    cpython = cpython_tags((major, minor), platforms=PLATFORMS)
    return frozenset((*cpython, *compatible_tags((major, minor), platforms=PLATFORMS)))


__all__: Sequence[str] = ("File", "Release", "many_releases", "releases")
