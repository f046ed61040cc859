"""Compiled modules (`__pycache__/*.pyc`) travel with the artifacts of an incremental build.

Training imports pandas, scikit-learn, matplotlib ...; without bytecode Python compiles
every imported module first (about 4 s of the churn sample's training step). uv installs
no bytecode, so a cold build compiles while training; an incremental build takes the
previous build's `.pyc` files back.

A `.pyc` is only trusted for the exact file it was compiled from. It is saved under the
uv archive (`archive-v0/<id>`, one per wheel content) whose file the venv's module is a
hard link to, and put back only when the new venv's module is a hard link to that same
archive file again (same inode): never for another version, never through a link.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

BYTECODE = "pycache"  # the artifacts' folder, also where assemble stages it in the cache
_Inode = tuple[int, int]


def site_packages(venv: Path) -> Path | None:
    return next(iter(sorted(venv.glob("lib/python3*/site-packages"))), None)


def saved_files(cache_dir: Path, venv: Path) -> Iterator[tuple[str, Path]]:
    """(name in the artifacts, path) of each venv `.pyc` whose source is a uv archive file."""
    site = site_packages(venv)
    if site is None:
        return
    origin = _archive_sources(cache_dir / "uv" / "archive-v0")
    for dirpath, dirnames, filenames in os.walk(site):
        dirnames.sort()
        here = Path(dirpath)
        if here.name != "__pycache__":
            continue
        for name in sorted(n for n in filenames if n.endswith(".pyc")):
            source = _source_of(here / name)
            key = origin.get(_inode(source)) if source.is_file() else None
            if key is not None:
                yield f"{BYTECODE}/{key}/__pycache__/{name}", here / name


def _archive_sources(archives: Path) -> dict[_Inode, str]:
    """inode of each `.py` in uv's archives -> `<id>/<folder inside the archive>`."""
    found: dict[_Inode, str] = {}
    for dirpath, _, filenames in os.walk(archives):
        rel = Path(dirpath).relative_to(archives).as_posix()
        for name in filenames:
            if name.endswith(".py"):
                found[_inode(Path(dirpath) / name)] = rel
    return found


def _source_of(pyc: Path) -> Path:
    """`pkg/__pycache__/mod.cpython-311.pyc` -> `pkg/mod.py`."""
    return pyc.parent.parent / (pyc.name.split(".", 1)[0] + ".py")


def _inode(path: Path) -> _Inode:
    st = os.lstat(path)
    return st.st_dev, st.st_ino


def restore(cache_dir: Path, venv: Path) -> int:
    """Put staged `.pyc` files next to the venv modules they were compiled from; return
    how many. The staged folder is removed whatever happens (it is not part of the app)."""
    staged, site = cache_dir / BYTECODE, site_packages(venv)
    try:
        if site is None or not staged.is_dir():
            return 0
        archives = cache_dir / "uv" / "archive-v0"
        return sum(_place(pyc, staged, archives, site) for pyc in sorted(staged.rglob("*.pyc")))
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _place(pyc: Path, staged: Path, archives: Path, site: Path) -> bool:
    rel = PurePosixPath(pyc.relative_to(staged).as_posix())  # <id>/<folder>/__pycache__/<name>
    if len(rel.parts) < 3 or rel.parts[-2] != "__pycache__" or pyc.is_symlink():
        return False
    folder = PurePosixPath(*rel.parts[1:-2])
    target = site.joinpath(*folder.parts, "__pycache__", rel.name)
    source = _source_of(target)
    cached = _source_of(archives.joinpath(rel.parts[0], *rel.parts[1:]))
    if not _same_file(source, cached) or source.parent.resolve() != site.resolve().joinpath(
        *folder.parts
    ):
        return False
    if target.parent.is_symlink() or target.exists() or target.is_symlink():
        return False
    target.parent.mkdir(exist_ok=True)
    try:
        pyc.rename(target)
    except OSError:
        shutil.copyfile(pyc, target)
    return True


def _same_file(a: Path, b: Path) -> bool:
    try:
        return not a.is_symlink() and not b.is_symlink() and _inode(a) == _inode(b)
    except OSError:
        return False
