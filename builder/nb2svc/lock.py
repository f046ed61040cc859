"""Resolve requirements to a pinned lock for the image's Python and platform (uv).

The lock is cached by the hash of its inputs, so an unchanged repo gets the same
lock (and the same deps layer) without asking the index again; `refresh=True`
re-resolves. Resolution failures name the requirement and where it came from.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from nb2svc.deps.releases import releases
from nb2svc.errors import DependencyError
from nb2svc.wheelhouse import NO_WHEELS, Wheelhouse

PLATFORM = "x86_64-manylinux_2_36"  # Debian 12 (glibc 2.36), the base image's platform
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;]+)")


@dataclass(frozen=True)
class LockInput:
    """One requirement line with the evidence that asked for it (for error messages)."""

    requirement: str
    origin: str  # e.g. "import xgboost in churn.ipynb cell 7", "runtime"
    constraint: bool = False  # limits the version if something needs it; installs nothing

    @property
    def key(self) -> str:
        return f"-c {self.requirement}" if self.constraint else self.requirement


@dataclass(frozen=True)
class Lock:
    text: str
    packages: Mapping[str, str]  # canonical name -> pinned version
    tool: str  # "uv 0.13.9"
    python_version: str
    platform: str
    inputs_sha256: str
    exclude_newer: str | None = None
    notes: tuple[str, ...] = field(default=())
    source: str = "resolved"  # "resolved", "cache" (the host's lock cache), "lockfile"
    # Packages given their own cut-off (nb2svc.package_era): name -> why.
    package_notes: Mapping[str, str] = field(default_factory=dict)

    @property
    def reused(self) -> bool:
        """Pins taken as they were (the lock cache or the committed file), not resolved now."""
        return self.source != "resolved"

    def reasons(self) -> dict[str, dict[str, str]]:
        """Per pinned package, its version and why that one (report.json versions.packages)."""
        if self.source == "lockfile":
            default = "as pinned in the committed nb2svc.lock"
        elif self.exclude_newer:
            default = f"the newest release before {self.exclude_newer} that fits the others"
        else:
            default = "the newest release that fits the requirements"
        return {
            name: {"version": version, "why": self.package_notes.get(name, default)}
            for name, version in sorted(self.packages.items())
        }

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def diff(self, previous: Lock | Mapping[str, str] | None) -> dict[str, list[str]]:
        """What changed against a previous lock (or its pins): added, removed, changed."""
        old = dict(previous.packages if isinstance(previous, Lock) else previous or {})
        new = dict(self.packages)
        return {
            "added": sorted(f"{n}=={v}" for n, v in new.items() if n not in old),
            "removed": sorted(f"{n}=={v}" for n, v in old.items() if n not in new),
            "changed": sorted(
                f"{n} {old[n]} -> {v}" for n, v in new.items() if n in old and old[n] != v
            ),
        }


def uv_binary() -> str:
    """The uv executable: next to this interpreter (the project venv) or on PATH."""
    here = Path(sys.executable).parent / "uv"
    found = str(here) if here.exists() else shutil.which("uv")
    if not found:
        raise DependencyError(
            "uv is not installed; nb2svc resolves dependencies with uv",
            fix="pip install uv (or run `make setup`)",
        )
    return found


@functools.cache
def uv_version() -> str:
    """`uv --version`, asked once per process (a build may resolve several locks)."""
    out = subprocess.run([uv_binary(), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "uv (unknown version)"


def resolve_lock(
    inputs: Sequence[LockInput],
    *,
    python_version: str,
    cache_dir: Path,
    exclude_newer: str | None = None,
    refresh: bool = False,
    only_binary: bool = False,
    wheelhouse: Wheelhouse = NO_WHEELS,
    exclude_newer_package: Mapping[str, str] | None = None,
) -> Lock:
    """Pin `inputs` for `python_version` on the image platform, reusing a cached lock.

    `only_binary` accepts only versions with a wheel for that Python and platform;
    distributions in `wheelhouse` are pinned to their local wheels;
    `exclude_newer_package` gives single packages their own cut-off ({name: time}).
    """
    _check_requirements(inputs)
    per_package = dict(exclude_newer_package or {})
    key = inputs_key(
        inputs,
        python_version,
        exclude_newer=exclude_newer,
        only_binary=only_binary,
        local_wheels=wheelhouse.key(),
        exclude_newer_package=per_package,
    )
    cached = cache_dir / f"{key}.lock"
    tool = uv_version()
    notes_file = cached.with_suffix(".notes")
    if cached.exists() and not refresh:
        notes = notes_file.read_text().splitlines() if notes_file.exists() else []
        return _make_lock(cached.read_text(), tool, python_version, key, exclude_newer, notes, True)
    cutoffs = Cutoffs(exclude_newer, per_package)
    text, source_only = _compile(
        inputs, python_version, cutoffs, only_binary, wheelhouse, cache_dir
    )
    notes = [
        f"{name} is published only as source: it is built from its sdist in the deps stage"
        for name in source_only
    ]
    cache_dir.mkdir(parents=True, exist_ok=True)
    if notes:
        notes_file.write_text("".join(f"{n}\n" for n in notes))
    tmp = cached.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(cached)
    return _make_lock(text, tool, python_version, key, exclude_newer, notes, False)


def parse_lock(text: str) -> dict[str, str]:
    """`name==version` lines of a lock -> {canonical name: version}."""
    pins: dict[str, str] = {}
    for line in text.splitlines():
        match = _PIN.match(line.strip())
        if match:
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def _make_lock(
    text: str,
    tool: str,
    python: str,
    key: str,
    exclude_newer: str | None,
    notes: Sequence[str],
    cached: bool,
) -> Lock:
    return Lock(
        text=text,
        packages=parse_lock(text),
        tool=tool,
        python_version=python,
        platform=PLATFORM,
        inputs_sha256=key,
        exclude_newer=exclude_newer,
        notes=tuple(notes),
        source="cache" if cached else "resolved",
    )


def _check_requirements(inputs: Sequence[LockInput]) -> None:
    for item in inputs:
        try:
            Requirement(item.requirement)
        except InvalidRequirement as exc:
            raise DependencyError(
                f"invalid requirement {item.requirement!r} (from {item.origin}): {exc}",
                fix="correct the requirement where it is declared",
            ) from None


def inputs_key(
    inputs: Sequence[LockInput],
    python: str,
    *,
    exclude_newer: str | None = None,
    only_binary: bool = False,
    local_wheels: str = "",
    exclude_newer_package: Mapping[str, str] | None = None,
) -> str:
    """A hash of what decides a lock. Without `exclude_newer` it names the inputs alone:
    the key a committed `nb2svc.lock` is checked against (nb2svc.lockfile)."""
    payload: dict[str, object] = {
        "requirements": sorted(i.key for i in inputs),
        "python": python,
        "platform": PLATFORM,
        "exclude_newer": exclude_newer,
    }
    if only_binary:  # only when set, so existing cache keys stay valid
        payload["only_binary"] = True
    if local_wheels:  # likewise
        payload["local_wheels"] = local_wheels
    if exclude_newer_package:  # likewise
        payload["exclude_newer_package"] = dict(sorted(exclude_newer_package.items()))
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Cutoffs:
    """`--exclude-newer` for every package and `--exclude-newer-package` for some."""

    every: str | None
    per_package: Mapping[str, str] = field(default_factory=dict)

    def argv(self) -> list[str]:
        out = ["--exclude-newer", self.every] if self.every else []
        for name, cutoff in sorted(self.per_package.items()):
            out += ["--exclude-newer-package", f"{name}={cutoff}"]
        return out


def _compile(
    inputs: Sequence[LockInput],
    python: str,
    cutoffs: Cutoffs,
    only_binary: bool,
    wheelhouse: Wheelhouse,
    cache_dir: Path,
) -> tuple[str, tuple[str, ...]]:
    """The lock text, and the packages that had to be allowed as source distributions.

    `only_binary` is for the era search's probing (a version without a wheel for this
    Python would not install); a package that was only ever published as an sdist is
    let through (`--no-binary NAME`) and built in the deps stage, as pip would.
    """
    source_only: list[str] = []
    for _ in range(MAX_SOURCE_ONLY + 1):
        proc = _run_compile(inputs, python, cutoffs, only_binary, wheelhouse, source_only)
        if proc.returncode == 0:
            return proc.stdout, tuple(source_only)
        sdist = _NO_WHEELS.search(" ".join(proc.stderr.split())) if only_binary else None
        if sdist is None or canonicalize_name(sdist[1]) in source_only:
            break
        if _has_wheels(sdist[1], cache_dir):  # wheels, just none for this Python on this date
            break
        source_only.append(canonicalize_name(sdist[1]))
    raise _resolution_error(inputs, proc.stderr)


def _has_wheels(name: str, cache_dir: Path) -> bool:
    """True when the index shows a wheel for some release of `name` (False if it cannot say)."""
    history = releases(name, cache_dir)
    return history is not None and any(r.has_wheels for r in history)


MAX_SOURCE_ONLY = 5
_NO_WHEELS = re.compile(r"all versions of ([A-Za-z0-9][A-Za-z0-9._-]*) have no usable wheels")


def _run_compile(
    inputs: Sequence[LockInput],
    python: str,
    cutoffs: Cutoffs,
    only_binary: bool,
    wheelhouse: Wheelhouse,
    source_only: Sequence[str],
) -> subprocess.CompletedProcess[str]:
    argv = _compile_argv(python, *cutoffs.argv())
    if only_binary:
        argv += ["--only-binary", ":all:"]
        for name in source_only:
            argv += ["--no-binary", name]
    stdin = "\n".join(sorted({i.requirement for i in inputs if not i.constraint})) + "\n"
    limits = "".join(f"{i.requirement}\n" for i in inputs if i.constraint)
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as constraints:
        if wheelhouse.wheels or limits:
            constraints.write(wheelhouse.constraints() + limits)
            constraints.flush()
            argv += ["-c", constraints.name, "--no-annotate"]  # no temporary path in the lock
        for directory in wheelhouse.directories:
            argv += ["--find-links", str(directory)]
        return _uv_compile(argv, stdin)


def lowest_pins(requirements: Sequence[str], python: str) -> dict[str, str]:
    """The lowest versions (with wheels for `python`) that `requirements` and everything they
    depend on accept: the floors their dependencies set. Empty when that does not resolve."""
    argv = _compile_argv(
        python, "--no-annotate", "--resolution", "lowest", "--only-binary", ":all:"
    )
    proc = _uv_compile(argv, "\n".join(requirements) + "\n")
    return parse_lock(proc.stdout) if proc.returncode == 0 else {}


def _compile_argv(python: str, *extra: str) -> list[str]:
    """`uv pip compile` reading requirements from stdin, for the image's Python and platform."""
    argv = [uv_binary(), "pip", "compile", "-", "--quiet", "--no-header"]
    return [*argv, "--python-version", python, "--python-platform", PLATFORM, *extra]


def _uv_compile(argv: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "UV_SYSTEM_CERTS": "1"}
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, check=False, env=env, timeout=600
    )


class ResolutionError(DependencyError):
    """The resolver found no solution; `output` is its whole explanation (the message keeps
    the end of it), for callers that read which packages it names (nb2svc.package_era)."""

    def __init__(self, message: str, *, output: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.output = output


def _resolution_error(inputs: Sequence[LockInput], stderr: str) -> ResolutionError:
    text = " ".join(stderr.split())
    culprits = [i for i in inputs if _mentions(text, Requirement(i.requirement).name)]
    details = [f"{i.requirement}: asked for by {i.origin}" for i in culprits]
    not_found = re.findall(r"Because ([A-Za-z0-9._-]+) was not found in the package registry", text)
    if not_found:
        message = f"no package named {not_found[0]!r} on the package index"
    else:
        message = "the dependencies cannot be resolved together"
    return ResolutionError(
        message,
        output=stderr,
        details=[*details, *[line for line in stderr.strip().splitlines()[-8:]]],
        fix="correct the name or version where it is declared (a `%pip install` line or "
        "requirements.txt), or pin a compatible version",
    )


def _mentions(text: str, name: str) -> bool:
    tokens = {canonicalize_name(t) for t in re.findall(r"[A-Za-z0-9][A-Za-z0-9._-]*", text)}
    return canonicalize_name(name) in tokens
