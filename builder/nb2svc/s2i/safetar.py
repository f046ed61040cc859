"""Untrusted tar streams in, link-free tar streams out.

`save-artifacts` output comes from the *previous* image, so it is untrusted input. Like
s2i's paranoid extractor, `safe_extract` accepts only directories and regular files whose
names stay inside the target: an absolute name, a `..` component, a symbolic or hard link,
a device or a FIFO refuses the whole archive, and so do more than `MAX_MEMBERS` entries,
more than `MAX_TOTAL_BYTES` of file data, and a corrupt or truncated tar. Members are
written into a temporary folder beside the target and moved into it only when the whole
archive was read: a refused archive leaves nothing behind (docs/s2i.md, "Incremental
builds and save-artifacts").

uv's cache contains relative symlinks (`wheels-*/…/<wheel> -> ../../../archive-v0/<id>`).
`write_tree` records them in a manifest member instead of as links, and `restore_links`
recreates only links that stay inside the target and point at something that exists.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from nb2svc.errors import BuildError

LINKS_MANIFEST = ".nb2svc-links.json"
MAX_TOTAL_BYTES = 8 * 1024**3
MAX_MEMBERS = 500_000  # a large uv cache (torch, tensorflow, ...) is tens of thousands


class UnsafeArchiveError(BuildError):
    """An artifacts archive or tree that is refused: it could write outside its target,
    holds links, is too large, or is not a complete tar."""


class CorruptArchiveError(UnsafeArchiveError):
    """An artifacts archive that is not a complete, readable tar."""


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


@dataclass
class Tally:
    """Entries and file bytes seen so far, against the limits."""

    members: int = 0
    size: int = 0

    def add(self, member: tarfile.TarInfo) -> None:
        self.members += 1
        self.size += max(member.size, 0)
        if self.members > MAX_MEMBERS:
            raise UnsafeArchiveError(f"artifacts have more than {MAX_MEMBERS} entries")
        if self.size > MAX_TOTAL_BYTES:
            raise UnsafeArchiveError(f"artifacts are larger than {MAX_TOTAL_BYTES} bytes")


def check_members(members: Iterable[tarfile.TarInfo], tally: Tally | None = None) -> int:
    """Refuse the first unsafe member, or the one past a limit; return the files' total
    size. Pass one `tally` for every call on the same archive (a stream is checked
    member by member)."""
    tally = Tally() if tally is None else tally
    for member in members:
        check_name(member.name)
        if not (member.isdir() or member.isreg()):
            kind = "link" if (member.issym() or member.islnk()) else "special file"
            raise UnsafeArchiveError(f"artifacts entry {member.name!r} is a {kind}")
        tally.add(member)
    return tally.size


def safe_extract(archive: Path | IO[bytes], dest: Path) -> int:
    """Extract `archive` (an uncompressed tar: a file, or a stream read once) into `dest`
    when every member is safe and the tar is complete; return the files' bytes.

    Refused (`UnsafeArchiveError`, `CorruptArchiveError`): nothing is added to `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    with _scratch(dest) as scratch:
        try:
            if isinstance(archive, Path):
                with tarfile.open(archive, mode="r:") as tar:
                    total = _extract_file(tar, scratch)
            else:
                with tarfile.open(fileobj=archive, mode="r|") as stream:
                    total = _extract_stream(stream, scratch)
        except (tarfile.TarError, EOFError) as exc:
            raise CorruptArchiveError(
                f"{_what(archive)} is not a complete tar, corrupt or truncated ({exc})"
            ) from None
        except OSError as exc:  # e.g. a file, then a folder of the same name; a full disk
            raise UnsafeArchiveError(f"{_what(archive)} could not be extracted ({exc})") from None
        _move_into(scratch, dest)
        return total


def _what(archive: Path | IO[bytes]) -> str:
    return archive.name if isinstance(archive, Path) else "the artifacts stream"


@contextmanager
def _scratch(dest: Path) -> Iterator[Path]:
    """A temporary folder beside `dest` (same filesystem: moved by rename), always removed."""
    scratch = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract-", dir=dest.parent))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _extract_file(tar: tarfile.TarFile, dest: Path) -> int:
    """A file can be read twice: every member is checked before any is written (one by
    one as the headers are read, so a huge archive stops at the limit)."""
    tally = Tally()
    members: list[tarfile.TarInfo] = []
    for member in tar:
        check_members([member], tally)
        members.append(member)
    total = tally.size
    for member in members:
        _write_member(tar, member, dest)
    return total


def _extract_stream(tar: tarfile.TarFile, dest: Path) -> int:
    """A pipe cannot be read twice: check each member before it is written."""
    tally = Tally()
    for member in tar:
        check_members([member], tally)
        _write_member(tar, member, dest)
    return tally.size


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


def _move_into(scratch: Path, dest: Path) -> None:
    """The extracted tree into `dest`: checked first (no entry of `dest` on the way is a
    link, no file replaces a folder or the reverse), then renamed entry by entry."""
    folders: list[Path] = []
    moves: list[tuple[Path, Path]] = []
    for dirpath, dirnames, filenames in os.walk(scratch):
        here = Path(dirpath)
        for name in dirnames:
            rel = (here / name).relative_to(scratch)
            if (dest / rel).is_symlink() or ((dest / rel).exists() and not (dest / rel).is_dir()):
                raise UnsafeArchiveError(
                    f"artifacts folder {rel.as_posix()!r} would replace a file"
                )
            folders.append(dest / rel)
        for name in filenames:
            rel = (here / name).relative_to(scratch)
            if (dest / rel).is_symlink() or (dest / rel).is_dir():
                raise UnsafeArchiveError(
                    f"artifacts file {rel.as_posix()!r} would replace a folder or a link"
                )
            moves.append((here / name, dest / rel))
    for folder in folders:
        folder.mkdir(exist_ok=True)
    for source, target in moves:
        source.replace(target)


def check_tree(root: Path) -> None:
    """Refuse a directory (artifacts unpacked by someone else) holding links or devices,
    or more entries or bytes than an archive may have."""
    tally = Tally()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            st = os.lstat(Path(dirpath) / name)
            if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                rel = (Path(dirpath) / name).relative_to(root)
                raise UnsafeArchiveError(f"artifacts entry {rel.as_posix()!r} is not a file")
            info = tarfile.TarInfo(name)
            info.size = st.st_size if stat.S_ISREG(st.st_mode) else 0
            tally.add(info)


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
    if len(links) > MAX_MEMBERS:
        raise UnsafeArchiveError(f"the artifacts' link manifest has more than {MAX_MEMBERS} links")
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
