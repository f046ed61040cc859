"""The repository's files as the data-path analysis matches them, and the matching of one
path as a notebook wrote it (Colab, Kaggle, Windows, a case mismatch, a wrong folder)
with them. Pure: `RepoFiles.scan` lists a folder, nothing else touches the disk.
Used by nb2svc.analysis.data_files.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

Found = Literal["exact", "repo-root", "case", "basename", "colab", "kaggle", "windows", "absolute"]
Unresolved = Literal["generated", "secret", "ambiguous", "missing", "remote", "dynamic"]
How = Found | Unresolved

SKIP_DIRS = frozenset(
    ".git .hg .svn .venv venv env node_modules __pycache__ .ipynb_checkpoints site-packages "  # noqa: SIM905
    ".tox .mypy_cache .pytest_cache .ruff_cache nb2svc-out".split()
)
MAX_PATHS = 50_000


@dataclass(frozen=True)
class RepoFiles:
    """Repository paths (files and folders; POSIX, relative to the root) indexed for matching."""

    paths: frozenset[str]
    by_name: Mapping[str, tuple[str, ...]]  # lower-cased last part -> paths

    @classmethod
    def scan(cls, root: Path) -> RepoFiles:
        """Walk `root`, skipping VCS folders, virtualenvs and caches; at most MAX_PATHS entries."""
        paths: list[str] = []
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            dirnames[:] = sorted(
                d for d in dirnames if d not in SKIP_DIRS and not (here / d / "pyvenv.cfg").exists()
            )
            rel = here.relative_to(root)
            paths += [(rel / name).as_posix() for name in [*dirnames, *sorted(filenames)]]
            if len(paths) > MAX_PATHS:
                break
        return cls.of(paths)

    @classmethod
    def of(cls, paths: Sequence[str]) -> RepoFiles:
        by_name: dict[str, list[str]] = {}
        for path in paths:
            by_name.setdefault(path.rsplit("/", 1)[-1].lower(), []).append(path)
        return cls(frozenset(paths), {k: tuple(v) for k, v in by_name.items()})

    def case_insensitive(self, path: str) -> list[str]:
        lowered = path.lower()
        same = self.by_name.get(lowered.rsplit("/", 1)[-1], ())
        return sorted(p for p in same if p.lower() == lowered)

    def match_tail(self, parts: Sequence[str], nb_dir: str) -> list[str]:
        """Paths ending with the longest possible tail of `parts` (any case), nearest first."""
        if not parts:
            return []
        lowered = [p.lower() for p in parts]
        named = self.by_name.get(lowered[-1], ())
        for k in range(len(parts), 0, -1):
            local = posixpath.join(nb_dir, *parts[-k:])
            if local in self.paths:
                return [local]
            hits = sorted(p for p in named if p.lower().split("/")[-k:] == lowered[-k:])
            near = [h for h in hits if nb_dir and h.startswith(nb_dir + "/")]
            if hits:
                return near if len(near) == 1 else hits
        return []


def match_path(reference: str, files: RepoFiles, nb_dir: str) -> tuple[str | None, How, list[str]]:
    """Match one path as written in a notebook with the repository's files."""
    kind, parts = classify(reference)
    if kind == "relative":
        target = posixpath.normpath(posixpath.join(nb_dir, *parts)) if parts else nb_dir
        if target in files.paths:
            return target, "exact", []
        at_root = posixpath.normpath(posixpath.join(*parts)) if parts else ""
        if nb_dir and at_root in files.paths:
            return at_root, "repo-root", []
        same = files.case_insensitive(target)
        if len(same) == 1:
            return same[0], "case", []
        kind = "basename"
    matches = files.match_tail([p for p in parts if p not in ("", ".", "..")], nb_dir)
    if len(matches) == 1:
        return matches[0], kind, []
    if matches:
        return None, "ambiguous", matches
    return None, "missing", []


def classify(reference: str) -> tuple[How | Literal["relative"], list[str]]:
    """Where a path comes from (Colab, Kaggle, Windows...) and its meaningful parts."""
    text = "/" + reference[1:].lstrip("/\\") if reference.startswith("~") else reference
    if re.match(r"^[A-Za-z]:[\\/]|^\\\\", text) or "\\" in text:
        parts = re.split(r"[\\/]+", re.sub(r"^[A-Za-z]:", "", text))
        return "windows", [p for p in parts if p]
    posix = PurePosixPath(text)
    parts = [p for p in posix.parts if p != "/"]
    if not posix.is_absolute():
        return "relative", parts
    colab = re.match(r"^/content/(?:g?drive/(?:MyDrive|My Drive)/)?(.*)$", text)
    if colab:
        return "colab", [p for p in colab[1].split("/") if p]
    kaggle = re.match(r"^/kaggle/(?:input|working)/(.*)$", text)
    if kaggle:
        return "kaggle", [p for p in kaggle[1].split("/") if p]
    return "absolute", parts
