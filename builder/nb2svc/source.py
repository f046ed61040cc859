"""The build source: a directory or a git URL, the files that go into the image,
the notebooks to build, and reproducible provenance (revision, source date)."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from nb2svc.errors import UsageError
from nb2svc.redact import redact_text, redact_url

EXCLUDED_DIRS = {
    ".git", ".hg", ".svn", "__pycache__", ".ipynb_checkpoints", "node_modules", ".tox",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", "nb2svc-out", ".venv", "venv", "env",
}  # fmt: skip
MAX_FILE_BYTES = 512 * 1024 * 1024
_GIT_URL = re.compile(r"^(https?://|git@|ssh://|git://|file://)|\.git(#.*)?$")


@dataclass(frozen=True)
class Source:
    """`url` is the remote it came from, credentials removed (nb2svc.redact); None for a
    folder without a remote: a local path is not a source URL anyone else can use."""

    root: Path
    url: str | None
    revision: str | None
    created: str  # ISO 8601 UTC; the commit date, else the newest file's mtime
    local: bool = True  # a folder of the user's (False: a clone nb2svc made and removes)


def is_git_url(spec: str) -> bool:
    return bool(_GIT_URL.search(spec)) and not Path(spec).is_dir()


@contextmanager
def open_source(spec: str) -> Iterator[Source]:
    """A local directory as is, or a git URL (`URL#REF` for a branch, tag or commit) cloned."""
    if is_git_url(spec):
        with tempfile.TemporaryDirectory(prefix="nb2svc-src-") as tmp:
            url, _, ref = spec.partition("#")
            root = Path(tmp) / "src"
            _clone(url, ref or None, root)
            yield replace(_describe(root, recordable_url(url)), local=False)
        return
    root = Path(spec).resolve()
    if not root.is_dir():
        raise UsageError(
            f"source {spec!r} is neither a directory nor a git URL",
            fix="pass the notebook repository's folder (default: .) or a git URL",
        )
    yield _describe(root, recordable_url(_git(root, "config", "--get", "remote.origin.url")))


def _git(root: Path, *args: str) -> str | None:
    proc = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


_SAFE_REF = re.compile(r"^[A-Za-z0-9._/][A-Za-z0-9._/+@-]*$")
_CLONE_SCHEMES = ("https://", "http://", "ssh://", "git://", "file://")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^:]")


def _check_clone_spec(url: str, ref: str | None) -> None:
    """A URL git may fetch (no `ext::` or `fd::` transports) and a ref that is not an option."""
    if any(ord(c) < 32 or ord(c) == 127 for c in url + (ref or "")):
        raise UsageError(
            "the git URL or ref holds a control character",
            fix="pass the URL as `URL#REF` on one line, without control characters",
        )
    if not (url.startswith(_CLONE_SCHEMES) or _SCP_LIKE.match(url)):
        raise UsageError(
            f"{redact_url(url)!r} is not a git URL nb2svc fetches",
            fix="use https://, ssh://, git://, file:// or user@host:path",
        )
    if ref is not None and (not _SAFE_REF.match(ref) or ".." in ref):
        raise UsageError(
            f"{ref!r} is not a branch, tag or commit name",
            fix="name the ref after '#' with letters, digits and . _ / + @ - (not leading -)",
        )


def _clone(url: str, ref: str | None, root: Path) -> None:
    _check_clone_spec(url, ref)
    argv = ["git", "-c", "protocol.ext.allow=never", "clone", "--quiet", "--", url, str(root)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
    if proc.returncode == 0 and ref:
        proc = subprocess.run(
            ["git", "-C", str(root), "checkout", "--quiet", "--detach", ref, "--"],
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        raise UsageError(
            redact_text(
                f"cannot fetch {url}{'#' + ref if ref else ''}: {proc.stderr.strip()[-400:]}"
            ),
            fix="check the URL and ref, and that git can reach it",
        )


def recordable_url(url: str | None) -> str | None:
    """`url` as it may be recorded: credentials removed; None for none or a local path."""
    if not url or url.startswith(("file:", "/", ".", "~")):
        return None
    return redact_url(url)


def _describe(root: Path, url: str | None) -> Source:
    revision = _git(root, "rev-parse", "HEAD")
    date = _git(root, "log", "-1", "--format=%cI") if revision else None
    if date:
        created = datetime.fromisoformat(date).astimezone(UTC)
    else:
        created = datetime.fromtimestamp(_newest_mtime(root), UTC)
    return Source(root, url, revision, created.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _newest_mtime(root: Path) -> float:
    mtimes = [(root / f).stat().st_mtime for f in list_source_files(root)]
    return max(mtimes, default=0.0)


def list_source_files(root: Path) -> tuple[str, ...]:
    """Files that go into the build context, relative to root, sorted.

    Skips VCS and cache folders, committed virtualenvs (a folder with pyvenv.cfg),
    links that point outside the source, and files over 512 MiB.
    """
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if _keep_dir(here / d))
        for name in filenames:
            path = here / name
            if _keep_file(root, path):
                found.append(path.relative_to(root).as_posix())
    return tuple(sorted(found))


def _keep_dir(path: Path) -> bool:
    return (
        path.name not in EXCLUDED_DIRS
        and not (path / "pyvenv.cfg").exists()
        and not path.is_symlink()
    )


def _keep_file(root: Path, path: Path) -> bool:
    if path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(root) or not target.is_file():
            return False
    return path.is_file() and path.stat().st_size <= MAX_FILE_BYTES


def select_notebooks(root: Path, requested: Sequence[str], configured: Sequence[str]) -> list[Path]:
    """`-n` notebooks, else the configured ones, else the only notebook in the source."""
    names = list(requested) or list(configured)
    if names:
        paths = [(root / n).resolve() for n in names]
        for name, path in zip(names, paths, strict=True):
            if not path.is_relative_to(root.resolve()):
                raise UsageError(
                    f"notebook {name!r} is outside the source {root}",
                    fix="name the notebook relative to the source folder, inside it",
                )
            if not path.is_file() or path.suffix != ".ipynb":
                raise UsageError(f"notebook {name!r} not found in {root}", fix=_listing(root))
        return paths
    candidates = [root / f for f in list_source_files(root) if f.endswith(".ipynb")]
    if len(candidates) == 1:
        return candidates
    if not candidates:
        raise UsageError(f"no notebook (.ipynb) in {root}", fix="pass the folder that holds it")
    raise UsageError(
        f"{len(candidates)} notebooks in {root}; say which to build", fix=_listing(root)
    )


def _listing(root: Path) -> str:
    notebooks = [f for f in list_source_files(root) if f.endswith(".ipynb")]
    shown = ", ".join(notebooks[:10]) or "none"
    return f"pass -n NOTEBOOK (relative to the source); notebooks here: {shown}"
