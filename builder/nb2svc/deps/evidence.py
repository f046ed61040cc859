"""Declared requirements next to the notebook: requirements.txt, pyproject.toml, environment.yml.

They are evidence, not truth: they are often scoped to an app (Streamlit, Flask), list extras
the notebook never imports, or are not even text. The caller only uses a declared
distribution when it provides a module the notebook imports. Nothing here raises on bad input.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement

from nb2svc.deps.installs import InstallSpec, parse_requirement
from nb2svc.deps.mapping import canonical, load_import_map

MAX_BYTES = 1_000_000
EVIDENCE_FILES = ("requirements.txt", "pyproject.toml", "environment.yml", "environment.yaml")


@dataclass(frozen=True)
class Declared:
    """A distribution declared in a file, with where it was declared."""

    spec: InstallSpec
    source: str  # "requirements.txt" | "pyproject.toml" | "environment.yml"
    path: Path
    line: int | None = None


@dataclass
class DeclaredSet:
    items: list[Declared] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    python_hint: str | None = None  # from environment.yml `python=3.8` or requires-python


def read_text(path: Path, problems: list[str]) -> str | None:
    """The file as text, or None with a reason (binary, too large, unreadable)."""
    try:
        raw = path.read_bytes()[: MAX_BYTES + 1]
    except OSError as exc:
        problems.append(f"{path}: cannot read ({exc.strerror}); ignored")
        return None
    if len(raw) > MAX_BYTES or b"\x00" in raw[:4096] or raw.startswith(b"PK\x03\x04"):
        problems.append(f"{path}: is not a text file (binary or too large); ignored")
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        problems.append(f"{path}: is not UTF-8 text; ignored")
        return None


def collect_declared(directories: Iterable[Path], python_version: str) -> DeclaredSet:
    """Read every evidence file in `directories` (notebook dir, repo root), each once."""
    out = DeclaredSet()
    seen: set[Path] = set()
    for directory in directories:
        for name in EVIDENCE_FILES:
            path = (directory / name).resolve()
            if path in seen or not path.is_file():
                continue
            seen.add(path)
            if name == "requirements.txt":
                read_requirements(path, python_version, out, depth=0)
            elif name == "pyproject.toml":
                _read_pyproject(path, python_version, out)
            else:
                _read_environment(path, python_version, out)
    return out


def read_requirements(path: Path, python_version: str, out: DeclaredSet, depth: int) -> None:
    """pip requirements file; follows `-r other.txt` up to 3 levels."""
    text = read_text(path, out.warnings)
    if text is None:
        return
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")) and depth < 3:
            nested = path.parent / line.split(None, 1)[1].strip()
            if nested.is_file():
                read_requirements(nested, python_version, out, depth + 1)
            continue
        if line.startswith("-"):
            continue
        _add_requirement(line, python_version, out, "requirements.txt", path, number)


def _add_requirement(
    text: str, python_version: str, out: DeclaredSet, source: str, path: Path, line: int | None
) -> None:
    notes: list[str] = []
    if not _marker_applies(text, python_version):
        return
    spec = parse_requirement(text.split(";", 1)[0].strip(), notes)
    out.warnings += [f"{path}:{line or ''} {n}" for n in notes]
    if spec is not None:
        out.items.append(Declared(spec, source, path, line))


def _marker_applies(text: str, python_version: str) -> bool:
    if ";" not in text:
        return True
    try:
        marker = Marker(text.split(";", 1)[1].strip())
        env = {"python_version": python_version, "sys_platform": "linux", "os_name": "posix"}
        return marker.evaluate({**env, "platform_system": "Linux"})
    except (InvalidMarker, Exception):  # unknown marker variables raise UndefinedEnvironmentName
        return True


def _read_data(
    path: Path, out: DeclaredSet, parse: Callable[[str], Any], invalid: type[Exception], kind: str
) -> Any:
    """The file's data as `parse` reads it, or None (with a warning) when it cannot be read or
    `parse` raises `invalid`."""
    text = read_text(path, out.warnings)
    if text is None:
        return None
    try:
        return parse(text)
    except invalid as exc:
        reason = str(exc).partition("\n")[0]
        out.warnings.append(f"{path}: not valid {kind} ({reason}); ignored")
        return None


def _read_pyproject(path: Path, python_version: str, out: DeclaredSet) -> None:
    data = _read_data(path, out, tomllib.loads, tomllib.TOMLDecodeError, "TOML")
    if not isinstance(data, dict):
        return
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    assert isinstance(project, dict)
    for req in _strings(project.get("dependencies")):
        _add_requirement(req, python_version, out, "pyproject.toml", path, None)
    poetry = data.get("tool", {}).get("poetry", {}) if isinstance(data.get("tool"), dict) else {}
    deps = poetry.get("dependencies", {}) if isinstance(poetry, dict) else {}
    for name, constraint in deps.items() if isinstance(deps, dict) else []:
        if name.lower() != "python":
            req = _poetry_req(name, constraint)
            _add_requirement(req, python_version, out, "pyproject.toml", path, None)


def _poetry_req(name: str, constraint: Any) -> str:
    version = constraint.get("version") if isinstance(constraint, dict) else constraint
    if isinstance(version, str) and version[:1].isdigit():
        return f"{name}=={version}"
    return name


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _read_environment(path: Path, python_version: str, out: DeclaredSet) -> None:
    data = _read_data(path, out, yaml.safe_load, yaml.YAMLError, "YAML")
    deps = data.get("dependencies") if isinstance(data, dict) else None
    for item in deps if isinstance(deps, list) else []:
        if isinstance(item, dict):
            for req in _strings(item.get("pip")):
                _add_requirement(req, python_version, out, "environment.yml", path, None)
        elif isinstance(item, str):
            _add_conda(item, path, out)


def _add_conda(item: str, path: Path, out: DeclaredSet) -> None:
    name, _, version = item.split("::")[-1].partition("=")
    name = name.strip()
    if canonical(name) == "python":
        out.python_hint = version.strip("=").strip() or None
        return
    pypi = load_import_map().from_conda(name)
    if pypi is None:
        return
    version = version.strip("=").strip()
    specifier = f"=={version}" if version and version[:1].isdigit() else ""
    try:
        Requirement(f"{pypi}{specifier}")
    except InvalidRequirement:
        specifier = ""
    spec = InstallSpec(pypi, specifier, raw=item, tool="conda")
    out.items.append(Declared(spec, "environment.yml", path, None))
