"""Incremental builds: what `save-artifacts` saves and how `assemble` takes it back.

Saved: the uv cache (downloaded and built wheels) and the resolved locks, i.e.
`CACHE_DIR/{uv,locks}`, and the venv's compiled modules (`pycache/`, see `bytecode`).
Never the model, the source, the venv's files or anything secret.
`python -m nb2svc.s2i.artifacts` is `save-artifacts`: a pure tar on stdout, messages on
stderr. `restore` accepts what s2i hands over in `<destination>/artifacts`: a tree s2i
unpacked already, or tar files (`*.tar`) dropped there; either is checked before use.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from nb2svc.plan import VENV
from nb2svc.s2i import CACHE_DIR, bytecode
from nb2svc.s2i.safetar import (
    LINKS_MANIFEST,
    CorruptArchiveError,
    UnsafeArchiveError,
    check_tree,
    restore_links,
    safe_extract,
)
from nb2svc.s2i.safetar import write_tree as _write_tree

CACHES = ("uv", "locks")
SAVED = (*CACHES, bytecode.BYTECODE)


def save(cache_dir: Path, out: TextIO, venv: Path | None = None) -> None:
    """Write the tar of the reusable caches (and the venv's bytecode) to `out`'s buffer."""
    pyc = bytecode.saved_files(cache_dir, venv) if venv is not None else ()
    _write_tree(cache_dir, CACHES, out.buffer, pyc)
    out.flush()


def restore(artifacts: Path, cache_dir: Path, log: TextIO) -> bool:
    """Move checked artifacts into `cache_dir`; False (and a clean build) when refused.

    Any problem with them (unsafe, corrupt, truncated, unreadable) is said in one warning
    and leaves `cache_dir` as it was: the build then starts clean."""
    if not artifacts.is_dir() or not any(artifacts.iterdir()):
        _say(log, "no artifacts from a previous build: clean build")
        return False
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=cache_dir) as tmp:
        staging = Path(tmp)
        try:
            _stage(artifacts, staging)
            links = restore_links(staging)
        except (UnsafeArchiveError, OSError, ValueError) as exc:
            _say(log, f"warning: refusing the artifacts of the previous build ({exc}): clean build")
            return False
        try:
            moved = [_merge(staging / name, cache_dir / name) for name in SAVED]
        except OSError as exc:
            for name in SAVED:  # caches only: dropping them costs a download, never a wrong build
                shutil.rmtree(cache_dir / name, ignore_errors=True)
            _say(log, f"warning: the artifacts could not be restored ({exc}): clean build")
            return False
    _say(log, f"restored {', '.join(n for n, ok in zip(SAVED, moved, strict=True) if ok)} "
         f"from the previous build ({links} cache links)")  # fmt: skip
    return any(ok for name, ok in zip(SAVED, moved, strict=True) if name in CACHES)


def _stage(artifacts: Path, staging: Path) -> None:
    """The artifacts into `staging`, each archive (or the tree) checked, and complete:
    `save-artifacts` writes the link manifest last, so a stream cut short lacks it."""
    archives = sorted(p for p in artifacts.iterdir() if p.suffix == ".tar" and p.is_file())
    if archives:
        links: dict[str, object] = {}
        for archive in archives:
            safe_extract(archive, staging)
            links.update(_take_manifest(staging, archive.name))
        (staging / LINKS_MANIFEST).write_text(json.dumps(links))
        return
    check_tree(artifacts)
    if not (artifacts / LINKS_MANIFEST).is_file():
        raise CorruptArchiveError(_incomplete("the artifacts folder"))
    for name in SAVED:
        if (artifacts / name).is_dir():
            _move(artifacts / name, staging / name)
    shutil.copy2(artifacts / LINKS_MANIFEST, staging / LINKS_MANIFEST)


def _take_manifest(staging: Path, archive: str) -> dict[str, object]:
    manifest = staging / LINKS_MANIFEST
    if not manifest.is_file():
        raise CorruptArchiveError(_incomplete(archive))
    links = json.loads(manifest.read_text())
    manifest.unlink()
    if not isinstance(links, dict):
        raise UnsafeArchiveError("the artifacts' link manifest is not a JSON object")
    return links


def _incomplete(what: str) -> str:
    return (
        f"{what} has no {LINKS_MANIFEST}, the entry save-artifacts writes last: "
        "the stream was cut short"
    )


def _move(src: Path, dest: Path) -> None:
    """Rename when the filesystem allows (same layer), else copy: the upload is removed anyway."""
    try:
        src.rename(dest)
    except OSError:
        shutil.copytree(src, dest, symlinks=False)


def _merge(src: Path, dest: Path) -> bool:
    if not src.is_dir():
        return False
    if dest.exists():
        shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)
    else:
        src.rename(dest)
    return True


def _say(log: TextIO, message: str) -> None:
    log.write(f"nb2svc-s2i: {message}\n")
    log.flush()


def main(argv: list[str] | None = None) -> int:
    """`save-artifacts`: stdout carries the tar and nothing else."""
    cache = Path(CACHE_DIR)
    if not cache.is_dir():
        _say(sys.stderr, f"{cache} is missing: nothing to save")
        _write_tree(cache, (), sys.stdout.buffer)
        return 0
    save(cache, sys.stdout, Path(VENV))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
