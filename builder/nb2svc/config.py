"""Project configuration: `[tool.nb2svc]` in `pyproject.toml`, or `nb2svc.toml`.

Looked up from the notebook's folder up to the repository root; in each folder
`nb2svc.toml` comes before `pyproject.toml`, and the first file that has nb2svc
settings wins (files are not merged). In `nb2svc.toml` the keys may sit at the
top level or under `[tool.nb2svc]`. Unknown keys and wrong types are a
`UsageError` that names the file and key, with a "Perhaps you meant" hint.
"""

from __future__ import annotations

import difflib
import keyword
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from nb2svc.errors import UsageError
from nb2svc.image.values import image_ref_problem, unsafe_character

ParamValue = str | int | float | bool | list[Any]
RUNTIMES = ("default", "bentoml")  # the model servers an image can carry
KEYS = ("notebooks", "model", "name", "runtime", "python", "parameters", "base_image")
NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")  # a DNS label: used in URLs and k8s names
PYTHON = re.compile(r"^3\.\d{1,2}$")
EXAMPLES = {
    "notebooks": 'notebooks = ["train.ipynb"]',
    "model": 'model = "clf"',
    "name": 'name = "churn"',
    "runtime": 'runtime = "bentoml"',
    "python": 'python = "3.11"',
    "parameters": "[tool.nb2svc.parameters]\nn_estimators = 200",
    "base_image": 'base_image = "registry.access.redhat.com/ubi9/python-311"',
}


@dataclass(frozen=True)
class ProjectConfig:
    """nb2svc settings of a project; every field is optional. `source` is the file read."""

    notebooks: tuple[str, ...] = ()
    model: str | None = None
    name: str | None = None
    runtime: str | None = None
    python: str | None = None
    parameters: Mapping[str, ParamValue] = field(default_factory=lambda: MappingProxyType({}))
    base_image: str | None = None
    source: Path | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "notebooks": list(self.notebooks),
            "model": self.model,
            "name": self.name,
            "runtime": self.runtime,
            "python": self.python,
            "parameters": dict(self.parameters),
            "base_image": self.base_image,
            "source": str(self.source) if self.source else None,
        }


def load_config(start: Path, repo_root: Path | None = None) -> ProjectConfig:
    """The configuration for a folder or notebook `start`, looking up to `repo_root`.

    Defaults (`ProjectConfig()`) when no file has nb2svc settings.
    """
    folder = start if start.is_dir() else start.parent
    folder = folder.resolve()
    stop = (repo_root or folder).resolve()
    for directory in [folder, *folder.parents]:
        for candidate in (directory / "nb2svc.toml", directory / "pyproject.toml"):
            table = _settings_in(candidate)
            if table is not None:
                return parse_config(table, candidate)
        if directory == stop or stop not in directory.parents:
            break
    return ProjectConfig()


def read_config_file(path: Path) -> ProjectConfig:
    """Read one `nb2svc.toml` or `pyproject.toml`; defaults when it has no nb2svc settings."""
    table = _settings_in(path)
    if table is None:
        if not path.is_file():
            raise UsageError("configuration file not found", path=path)
        return ProjectConfig(source=path)
    return parse_config(table, path)


def parse_config(table: Mapping[str, Any], source: Path | None = None) -> ProjectConfig:
    """Check a `[tool.nb2svc]` table and turn it into a `ProjectConfig`."""
    problems = [_unknown_key(key) for key in table if key not in KEYS]
    problems += [p for key in KEYS if key in table for p in _check(key, table[key])]
    if problems:
        message = (
            problems[0] if len(problems) == 1 else f"{len(problems)} problems in [tool.nb2svc]"
        )
        details = problems if len(problems) > 1 else []
        fix = "see the nb2svc configuration keys: " + ", ".join(KEYS)
        raise UsageError(message, path=source, details=details, fix=fix)
    return ProjectConfig(
        notebooks=tuple(table.get("notebooks", ())),
        model=table.get("model"),
        name=table.get("name"),
        runtime=table.get("runtime"),
        python=table.get("python"),
        parameters=MappingProxyType(dict(table.get("parameters", {}))),
        base_image=table.get("base_image"),
        source=source,
    )


def _settings_in(path: Path) -> Mapping[str, Any] | None:
    """The nb2svc table in a file, or None when the file is absent or has none."""
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"is not valid TOML: {exc}", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot be read: {exc}", path=path) from None
    tool = data.get("tool")
    nested = tool.get("nb2svc") if isinstance(tool, dict) else None
    if path.name == "pyproject.toml" or nested is not None:
        if nested is not None and not isinstance(nested, dict):
            raise UsageError("[tool.nb2svc] must be a table", path=path)
        extra = [k for k in data if k != "tool"] if path.name == "nb2svc.toml" else []
        if extra:
            raise UsageError(_unknown_key(extra[0]), path=path)
        return nested
    return data


def _unknown_key(key: str) -> str:
    message = f"unknown key {key!r}"
    close = difflib.get_close_matches(key.replace("-", "_"), KEYS, n=1, cutoff=0.6)
    if close:
        message += f"; Perhaps you meant {close[0]!r}?"
    return message


def _check(key: str, value: object) -> list[str]:
    if key == "notebooks":
        ok = isinstance(value, list) and all(isinstance(v, str) and v for v in value)
        bad = [v for v in value if unsafe_character(v)] if ok and isinstance(value, list) else []
        if bad:
            return [f"notebooks: {bad[0]!r} contains {unsafe_character(bad[0])}"]
        return [] if ok else [_wrong(key, "a list of notebook paths")]
    if key == "parameters":
        return _check_parameters(value)
    if not isinstance(value, str) or not value.strip():
        return [_wrong(key, "a non-empty string")]
    if key == "model" and not (value.isidentifier() and not keyword.iskeyword(value)):
        return [f"model = {value!r} is not a Python variable name; e.g. {EXAMPLES['model']}"]
    if key == "name" and not NAME.match(value):
        slug = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:63] or "model"
        return [
            f"name = {value!r} must be lower-case letters, digits and '-', starting with a "
            f"letter (it becomes a URL path and a Kubernetes name); e.g. name = {slug!r}"
        ]
    if key == "base_image" and image_ref_problem(value):
        return [f"base_image = {value!r}: {image_ref_problem(value)}; e.g. {EXAMPLES[key]}"]
    if key == "runtime" and value not in RUNTIMES:
        return [
            f"runtime = {value!r} is not a model server; use {' or '.join(map(repr, RUNTIMES))}"
        ]
    if key == "python" and not PYTHON.match(value):
        return [f"python = {value!r} must be a major.minor version; e.g. {EXAMPLES['python']}"]
    return []


def _check_parameters(value: object) -> list[str]:
    if not isinstance(value, dict):
        return [_wrong("parameters", "a table of name = value")]
    problems = []
    for name, item in value.items():
        if not (name.isidentifier() and not keyword.iskeyword(name)):
            problems.append(f"parameters.{name}: not a Python variable name")
        elif not _is_param_value(item):
            problems.append(
                f"parameters.{name}: {type(item).__name__} is not supported; "
                "use a string, number, boolean or a list of them"
            )
    return problems


def _is_param_value(item: object) -> bool:
    if isinstance(item, list):
        return all(_is_param_value(v) and not isinstance(v, list) for v in item)
    return isinstance(item, str | int | float | bool)


def _wrong(key: str, expected: str) -> str:
    return f"{key} must be {expected}; e.g. {EXAMPLES[key]}"
