"""Local wheels (`--find-links DIR`): files the index does not have, or must not win.

The machine's CPU build of PyTorch is the typical case: the index's newest `torch`
pulls gigabytes of CUDA packages, the local file does not. A distribution with a
local wheel is therefore pinned to it (a constraint: it is not added when nothing asks
for it). The wheels a lock uses are hard-linked into the build context and bind-mounted
into the install steps, never copied into a layer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from nb2svc.errors import UsageError


@dataclass(frozen=True)
class Wheel:
    path: Path
    name: str  # canonical
    version: Version


@dataclass(frozen=True)
class Wheelhouse:
    directories: tuple[Path, ...] = ()
    wheels: tuple[Wheel, ...] = ()

    @classmethod
    def scan(cls, directories: Sequence[Path]) -> Wheelhouse:
        found: list[Wheel] = []
        for directory in directories:
            if not directory.is_dir():
                raise UsageError(
                    f"--find-links {directory}: no such directory",
                    fix="pass a directory that holds .whl files",
                )
            for path in sorted(directory.glob("*.whl")):
                try:
                    name, version, _, _ = parse_wheel_filename(path.name)
                except InvalidWheelFilename:
                    continue
                found.append(Wheel(path.resolve(), canonicalize_name(name), version))
        return cls(tuple(d.resolve() for d in directories), tuple(found))

    def pins(self) -> dict[str, str]:
        """The newest local version of each distribution."""
        best: dict[str, Version] = {}
        for wheel in self.wheels:
            if wheel.name not in best or wheel.version > best[wheel.name]:
                best[wheel.name] = wheel.version
        return {name: str(version) for name, version in sorted(best.items())}

    def constraints(self) -> str:
        return "".join(f"{name}=={version}\n" for name, version in self.pins().items())

    def key(self) -> str:
        """Changes when the set of local wheels does (part of the lock's cache key)."""
        names = sorted(w.path.name for w in self.wheels)
        return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16] if names else ""

    def used_by(self, packages: Mapping[str, str]) -> tuple[Wheel, ...]:
        """The local wheels a lock installs (same name and version)."""
        return tuple(w for w in self.wheels if packages.get(w.name) == str(w.version))


NO_WHEELS = Wheelhouse()
