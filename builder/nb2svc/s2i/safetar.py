"""Untrusted tar streams in, link-free tar streams out.

`save-artifacts` output comes from the *previous* image, so it is untrusted input. Like
s2i's paranoid extractor, `safe_extract` accepts only directories and regular files whose
names stay inside the target: an absolute name, a `..` component, a symbolic or hard link,
a device or a FIFO refuses the whole archive before anything is written.

uv's cache contains relative symlinks (`wheels-*/…/<wheel> -> ../../../archive-v0/<id>`).
`write_tree` records them in a manifest member instead of as links, and `restore_links`
recreates only links that stay inside the target and point at something that exists.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from nb2svc.errors import BuildError

LINKS_MANIFEST = ".nb2svc-links.json"
MAX_TOTAL_BYTES = 8 * 1024**3


class UnsafeArchiveError(BuildError):
    """An artifacts archive or tree that could write outside its target, or holds links."""


def check_name(name: str) -> PurePosixPath:
    """A member name as a safe relative path, or `UnsafeArchiveError`."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or name.startswith("/"):
        raise UnsafeArchiveError(f"artifacts entry {name!r} has an absolute path")
    if any(part == ".." for part in path.parts):
        raise UnsafeArchiveError(f"artifacts entry {name!r} leaves the target directory")
    if "\0" in name:
        raise UnsafeArchiveError(f"artifacts entry {name!r} has a NUL byte")
    return path


def check_members(members: Iterable[tarfile.TarInfo]) -> int:
    """Refuse the first unsafe member; return the total size of the files."""
    total = 0
    for member in members:
        check_name(member.name)
        if not (member.isdir() or member.isreg()):
            kind = "link" if (member.issym() or member.islnk()) else "special file"
            raise UnsafeArchiveError(f"artifacts entry {member.name!r} is a {kind}")
        total += member.size
        if total > MAX_TOTAL_BYTES:
            raise UnsafeArchiveError(f"artifacts are larger than {MAX_TOTAL_BYTES} bytes")
    return total


def safe_extract(archive: Path | IO[bytes], dest: Path) -> int:
    """Extract `archive` into `dest` when every member is safe; return the files' bytes."""
    dest.mkdir(parents=True, exist_ok=True)
    if not isinstance(archive, Path):
        with tarfile.open(fileobj=archive, mode="r|*") as stream:
            return _extract_stream(stream, dest)
    with tarfile.open(archive, mode="r:*") as tar:
        members = tar.getmembers()
        total = check_members(members)
        for member in members:
            _write_member(tar, member, dest)
        return total


def _extract_stream(tar: tarfile.TarFile, dest: Path) -> int:
    """A pipe cannot be read twice: check each member before it is written."""
    total = 0
    for member in tar:
        total += check_members([member])
        _write_member(tar, member, dest)
    return total


def _write_member(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
    """Write a checked member: owner ignored, no set-id bits, never through a link."""
    target = dest / check_name(member.name)
    if target.is_symlink():
        raise UnsafeArchiveError(f"artifacts entry {member.name!r} would write through a link")
    if member.isdir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    source = tar.extractfile(member)
    assert source is not None  # a regular file always has data
    with source, target.open("wb") as handle:
        while chunk := source.read(1024 * 1024):
            handle.write(chunk)
    target.chmod(member.mode & 0o755 | 0o644)
    os.utime(target, (member.mtime, member.mtime))


def check_tree(root: Path) -> None:
    """Refuse a directory (artifacts unpacked by someone else) holding links or devices."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            mode = os.lstat(Path(dirpath) / name).st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                rel = (Path(dirpath) / name).relative_to(root)
                raise UnsafeArchiveError(f"artifacts entry {rel.as_posix()!r} is not a file")


def write_tree(
    root: Path, names: Iterable[str], out: BinaryIO, files: Iterable[tuple[str, Path]] = ()
) -> None:
    """A tar of `root/<name>` trees, then `files` (name in the tar, path) on `out`:
    directories and regular files only, streamed (`out` may be a pipe)."""
    links: dict[str, str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            if (root / name).is_dir():
                _add_tree(tar, root, root / name, links)
        _add_files(tar, files)
        data = json.dumps(links, sort_keys=True).encode()
        info = tarfile.TarInfo(LINKS_MANIFEST)
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))


def _add_tree(tar: tarfile.TarFile, root: Path, top: Path, links: dict[str, str]) -> None:
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        dirnames.sort()
        _add_entry(tar, root, here, links)
        for name in sorted(filenames):
            _add_entry(tar, root, here / name, links)
        for name in dirnames:
            if (here / name).is_symlink():
                _add_entry(tar, root, here / name, links)


def _add_files(tar: tarfile.TarFile, files: Iterable[tuple[str, Path]]) -> None:
    """Regular files under new names, each preceded by its not yet written parents."""
    made: set[PurePosixPath] = set()
    for name, path in files:
        for parent in reversed(check_name(name).parents[:-1]):
            if parent not in made:
                made.add(parent)
                info = tarfile.TarInfo(parent.as_posix())
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
        _add_entry(tar, path.parent, path, {}, name=name)


def _add_entry(
    tar: tarfile.TarFile, root: Path, path: Path, links: dict[str, str], *, name: str = ""
) -> None:
    st = os.lstat(path)
    rel = name or path.relative_to(root).as_posix()
    if stat.S_ISLNK(st.st_mode):
        links[rel] = str(path.readlink())
        return
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        return
    info = tarfile.TarInfo(rel)
    info.mode, info.mtime = stat.S_IMODE(st.st_mode), int(st.st_mtime)
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        return
    info.size = st.st_size
    with path.open("rb") as handle:
        tar.addfile(info, handle)


def restore_links(root: Path) -> int:
    """Recreate the links listed in `root/LINKS_MANIFEST`; return how many."""
    manifest = root / LINKS_MANIFEST
    if not manifest.is_file():
        return 0
    links = json.loads(manifest.read_text())
    manifest.unlink()
    if not isinstance(links, dict):
        raise UnsafeArchiveError("the artifacts' link manifest is not a JSON object")
    for name, target in sorted(links.items()):
        _make_link(root, str(name), str(target))
    return len(links)


def _make_link(root: Path, name: str, target: str) -> None:
    rel = check_name(name)
    link = root / rel
    real_root = root.resolve()
    if link.parent.resolve() != real_root.joinpath(*rel.parts[:-1]):
        raise UnsafeArchiveError(f"artifacts link {name!r} sits under another link")
    if PurePosixPath(target).is_absolute():
        raise UnsafeArchiveError(f"artifacts link {name!r} points at an absolute path")
    resolved = (link.parent / target).resolve()
    if real_root not in resolved.parents or not resolved.exists():
        raise UnsafeArchiveError(f"artifacts link {name!r} points outside the artifacts")
    if link.exists() or link.is_symlink():
        raise UnsafeArchiveError(f"artifacts link {name!r} would replace an entry")
    link.symlink_to(target)
