"""Which top-level import names are the repository's own modules.

Importable roots are the notebook's directory (the working directory when it runs), the
repository root, `src/` beside a project file, and every `sys.path` addition the notebook
makes. A root provides `name` for `name.py`, `name/` holding Python files, and compiled
`name.*.so`. `%%writefile` targets count too. Committed virtualenvs, `site-packages`,
`.ipynb_checkpoints`, `__pycache__` and VCS folders are never roots nor modules.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

IGNORED_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".tox", ".nox", "__pycache__", ".ipynb_checkpoints",
        "site-packages", "dist-packages", "node_modules", ".mypy_cache", ".pytest_cache",
        ".venv", "venv", "env", ".env", "virtualenv", ".eggs",
    }
)  # fmt: skip
PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")


def is_ignored_dir(path: Path) -> bool:
    """A folder that never holds the repository's own importable code."""
    name = path.name
    return (
        name in IGNORED_DIRS
        or name.endswith(".egg-info")
        or (path / "pyvenv.cfg").is_file()
        or (path / "conda-meta").is_dir()
    )


@dataclass(frozen=True)
class LocalModule:
    name: str
    path: str  # file or package directory (or the %%writefile target)
    source: str | None = None  # %%writefile content, when not on disk


@dataclass
class LocalIndex:
    """Top-level names the notebook can import from the repository or its own files."""

    modules: dict[str, LocalModule] = field(default_factory=dict)

    def get(self, top: str) -> LocalModule | None:
        return self.modules.get(top)

    def add_written(self, notebook_dir: Path, target: str, content: str) -> None:
        """A `%%writefile target` cell creates an importable module or package."""
        parts = Path(target).parts
        if not parts or not target.endswith((".py", ".pyx")):
            return
        name = parts[0] if len(parts) > 1 else Path(parts[0]).stem
        if name.isidentifier() and name not in self.modules:
            path = str(notebook_dir / target)
            source = content if len(parts) == 1 else None
            self.modules[name] = LocalModule(name, path, source)

    def add_root(self, root: Path) -> None:
        for name, path in _modules_in(root):
            self.modules.setdefault(name, LocalModule(name, str(path)))


def import_roots(notebook_dir: Path, repo_root: Path, extra: Iterable[str]) -> list[Path]:
    """Directories Python would search for the notebook's local imports."""
    roots = [notebook_dir, repo_root]
    roots += [repo_root / "src"] if any((repo_root / f).is_file() for f in PROJECT_FILES) else []
    for entry in extra:
        candidate = Path(entry) if Path(entry).is_absolute() else notebook_dir / entry
        roots.append(candidate)
    unique: list[Path] = []
    for root in roots:
        resolved = Path(os.path.normpath(root.absolute()))
        if resolved.is_dir() and resolved not in unique and not is_ignored_dir(resolved):
            unique.append(resolved)
    return unique


def build_index(roots: Iterable[Path]) -> LocalIndex:
    index = LocalIndex()
    for root in roots:
        index.add_root(root)
    return index


def _modules_in(root: Path) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return found
    for entry in entries:
        name = entry.name.split(".")[0]
        if not name.isidentifier():
            continue
        if entry.is_file() and entry.suffix in (".py", ".pyx", ".so", ".pyd"):
            found.append((name, entry))
        elif entry.is_dir() and not is_ignored_dir(entry) and _is_package(entry):
            found.append((entry.name, entry))
    return found


def _is_package(directory: Path) -> bool:
    """A regular package, or a namespace package: a folder holding Python files."""
    try:
        return any(p.suffix == ".py" for p in directory.iterdir() if p.is_file())
    except OSError:
        return False
