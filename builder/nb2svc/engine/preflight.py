"""Preflight helpers shared by the buildah and podman boundaries: versions and binaries."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: str) -> tuple[int, int, int]:
    """`1.28.2` (or any text containing a dotted version) as a comparable tuple."""
    match = _VERSION.search(text)
    if match is None:
        msg = f"no version number in {text!r}"
        raise ValueError(msg)
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def version_from_json(text: str, *path: str) -> tuple[int, int, int]:
    """Read a version from `buildah version --json` / `podman version --format json` output.

    `path` names the nested keys to follow (e.g. `("Client", "Version")` for podman).
    """
    data: object = json.loads(text)
    for key in path:
        if not isinstance(data, dict) or key not in data:
            msg = f"key {key!r} missing in version output"
            raise ValueError(msg)
        data = data[key]
    if not isinstance(data, str):
        msg = f"version is not a string: {data!r}"
        raise ValueError(msg)
    return parse_version(data)


def format_version(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def find_binary(name: str, env: Mapping[str, str]) -> str | None:
    """The absolute path of `name` on the PATH of `env` (the environment it will run in)."""
    return shutil.which(name, path=env.get("PATH"))
