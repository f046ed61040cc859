"""Artifacts from a previous image are untrusted: only files and directories inside the
target are accepted; uv's cache links travel as a checked manifest."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest
from nb2svc.s2i import artifacts, safetar
from nb2svc.s2i.safetar import (
    LINKS_MANIFEST,
    UnsafeArchiveError,
    check_tree,
    restore_links,
    safe_extract,
    write_tree,
)


def tar_with(path: Path, *members: tuple[tarfile.TarInfo, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, *, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    return info


def assert_refused_leaving_nothing(
    archive: Path | IO[bytes], dest: Path, match: str | None = None
) -> None:
    """`safe_extract` refuses `archive` (with an error matching `match`) and `dest` holds
    nothing of it."""
    with pytest.raises(UnsafeArchiveError, match=match):
        safe_extract(archive, dest)
    assert list(dest.rglob("*")) == []


MALICIOUS = {
    "absolute path": member("/etc/cron.d/evil"),
    "parent directory": member("uv/../../evil"),
    "symlink": member("uv/link", tarfile.SYMTYPE, link="/etc"),
    "relative symlink": member("uv/link", tarfile.SYMTYPE, link="archive"),
    "hard link": member("uv/hard", tarfile.LNKTYPE, link="/etc/passwd"),
    "device": member("uv/dev", tarfile.CHRTYPE),
    "fifo": member("uv/fifo", tarfile.FIFOTYPE),
}


@pytest.mark.parametrize("evil", MALICIOUS.values(), ids=MALICIOUS.keys())
def test_a_malicious_archive_is_refused_before_anything_is_written(
    tmp_path: Path, evil: tarfile.TarInfo
) -> None:
    archive = tar_with(tmp_path / "a.tar", (member("uv/ok.txt"), b"fine"), (evil, b"x"))
    assert_refused_leaving_nothing(archive, tmp_path / "dest")


def test_a_streamed_archive_is_checked_member_by_member(tmp_path: Path) -> None:
    archive = tar_with(tmp_path / "a.tar", (member("/abs"), b"x"))
    with archive.open("rb") as stream, pytest.raises(UnsafeArchiveError, match="absolute"):
        safe_extract(stream, tmp_path / "dest")


def test_extracted_files_lose_set_id_bits(tmp_path: Path) -> None:
    info = member("uv/tool")
    info.mode = 0o4755
    safe_extract(tar_with(tmp_path / "a.tar", (info, b"#!")), tmp_path / "d")
    assert (tmp_path / "d" / "uv" / "tool").stat().st_mode & 0o7777 == 0o755


def make_cache(root: Path) -> None:
    archive = root / "uv" / "archive-v0" / "abc"
    archive.mkdir(parents=True)
    (archive / "module.py").write_text("x = 1\n")
    wheels = root / "uv" / "wheels-v8" / "pypi" / "pkg"
    wheels.mkdir(parents=True)
    (wheels / "1.0-py3-none-any").symlink_to("../../../archive-v0/abc")
    (wheels / "1.0-py3-none-any.msgpack").write_bytes(b"\x80")
    (root / "locks").mkdir()
    (root / "locks" / "key.lock").write_text("pkg==1.0\n")


def test_save_and_restore_round_trip_keeps_the_cache_links(tmp_path: Path) -> None:
    make_cache(tmp_path / "old")
    stream = io.BytesIO()
    write_tree(tmp_path / "old", ["uv", "locks", "missing"], stream)
    with tarfile.open(fileobj=io.BytesIO(stream.getvalue())) as tar:
        assert all(m.isdir() or m.isreg() for m in tar.getmembers())
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "artifacts.tar").write_bytes(stream.getvalue())
    log = io.StringIO()
    assert artifacts.restore(tmp_path / "artifacts", tmp_path / "cache", log)
    link = tmp_path / "cache" / "uv" / "wheels-v8" / "pypi" / "pkg" / "1.0-py3-none-any"
    assert link.is_symlink()
    assert (link / "module.py").read_text() == "x = 1\n"
    assert (tmp_path / "cache" / "locks" / "key.lock").read_text() == "pkg==1.0\n"
    assert "restored uv, locks" in log.getvalue()


def test_a_tree_unpacked_by_s2i_is_restored_too(tmp_path: Path) -> None:
    make_cache(tmp_path / "old")
    stream = io.BytesIO()
    write_tree(tmp_path / "old", ["uv", "locks"], stream)
    stream.seek(0)
    safe_extract(stream, tmp_path / "artifacts")  # what s2i's paranoid untar leaves
    assert artifacts.restore(tmp_path / "artifacts", tmp_path / "cache", io.StringIO())
    assert (tmp_path / "cache" / "uv" / "wheels-v8" / "pypi" / "pkg").is_dir()


def test_a_tree_with_a_link_is_refused_and_the_build_is_clean(tmp_path: Path) -> None:
    (tmp_path / "artifacts" / "uv").mkdir(parents=True)
    (tmp_path / "artifacts" / "uv" / "passwd").symlink_to("/etc/passwd")
    log = io.StringIO()
    assert not artifacts.restore(tmp_path / "artifacts", tmp_path / "cache", log)
    assert "refusing the artifacts" in log.getvalue()
    assert not (tmp_path / "cache" / "uv").exists()
    with pytest.raises(UnsafeArchiveError):
        check_tree(tmp_path / "artifacts")


def test_a_malicious_tar_in_artifacts_means_a_clean_build(tmp_path: Path) -> None:
    (tmp_path / "artifacts").mkdir()
    tar_with(tmp_path / "artifacts" / "a.tar", (member("uv/../../escape"), b"x"))
    log = io.StringIO()
    assert not artifacts.restore(tmp_path / "artifacts", tmp_path / "cache", log)
    assert not (tmp_path / "escape").exists()
    assert "clean build" in log.getvalue()


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("uv/l", "/etc"),  # absolute target
        ("uv/l", "../../../etc"),  # leaves the root
        ("uv/l", "nowhere"),  # dangling
        ("../l", "uv"),  # link outside the root
        ("uv/existing", "x"),  # would replace a file
    ],
)
def test_a_link_manifest_cannot_escape_or_overwrite(tmp_path: Path, name: str, target: str) -> None:
    root = tmp_path / "root"
    (root / "uv").mkdir(parents=True)
    (root / "uv" / "x").write_text("")
    (root / "uv" / "existing").write_text("")
    (root / LINKS_MANIFEST).write_text(json.dumps({name: target}))
    with pytest.raises(UnsafeArchiveError):
        restore_links(root)


def test_no_artifacts_means_a_clean_build(tmp_path: Path) -> None:
    log = io.StringIO()
    assert not artifacts.restore(tmp_path / "none", tmp_path / "cache", log)
    assert "clean build" in log.getvalue()


def saved_artifacts(tmp_path: Path) -> bytes:
    """What save-artifacts writes for a small cache: uv/, locks/, then the link manifest."""
    make_cache(tmp_path / "old")
    stream = io.BytesIO()
    write_tree(tmp_path / "old", ["uv", "locks"], stream)
    return stream.getvalue()


def cut_inside_a_header(data: bytes) -> bytes:
    return data[:100]


def cut_inside_file_data(data: bytes) -> bytes:
    """Cut in the middle of the first regular file's data."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        first = next(m for m in tar.getmembers() if m.isreg() and m.size)
    return data[: first.offset_data + first.size // 2]


def cut_between_members(data: bytes) -> bytes:
    """A stream cut exactly before its last member (the link manifest): a valid tar prefix."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        last = tar.getmembers()[-1]
    assert last.name == LINKS_MANIFEST
    return data[: last.offset]


CORRUPT = {
    "empty": lambda data: b"",
    "cut inside a header": cut_inside_a_header,
    "cut inside a file's data": cut_inside_file_data,
    "cut between members": cut_between_members,
    "not a tar": lambda data: b"\x89PNG" + bytes(1020),
    "gzip, not a tar": lambda data: b"\x1f\x8b\x08" + data[:509],
}


@pytest.mark.parametrize("damage", CORRUPT.values(), ids=CORRUPT.keys())
def test_a_corrupt_or_truncated_artifacts_tar_means_a_clean_build_with_a_warning(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "artifacts.tar").write_bytes(damage(saved_artifacts(tmp_path)))
    log = io.StringIO()
    assert not artifacts.restore(tmp_path / "artifacts", tmp_path / "cache", log)
    warning = log.getvalue()
    assert "warning: refusing the artifacts of the previous build" in warning
    assert "clean build" in warning
    assert "artifacts.tar" in warning  # says which file, and what was wrong with it
    assert any(word in warning for word in ("truncated", "cut short"))
    assert list((tmp_path / "cache").rglob("*")) == []


def test_a_tree_without_the_link_manifest_was_cut_short_and_is_refused(tmp_path: Path) -> None:
    (tmp_path / "artifacts" / "uv").mkdir(parents=True)
    (tmp_path / "artifacts" / "uv" / "half.whl").write_bytes(b"PK")
    log = io.StringIO()
    assert not artifacts.restore(tmp_path / "artifacts", tmp_path / "cache", log)
    assert "cut short" in log.getvalue()
    assert not (tmp_path / "cache" / "uv").exists()


def stream_of(*members: tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    """A tar read as a pipe is: once, front to back."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    out.seek(0)
    return out


@pytest.mark.parametrize("evil", MALICIOUS.values(), ids=MALICIOUS.keys())
def test_a_stream_refused_late_leaves_nothing_of_what_came_before(
    tmp_path: Path, evil: tarfile.TarInfo
) -> None:
    dest = tmp_path / "dest"
    (dest / "uv").mkdir(parents=True)
    (dest / "uv" / "kept.txt").write_text("before")
    stream = stream_of(
        (member("uv", tarfile.DIRTYPE), b""), (member("uv/new.txt"), b"written first"), (evil, b"x")
    )
    with pytest.raises(UnsafeArchiveError):
        safe_extract(stream, dest)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == ["uv", "uv/kept.txt"]
    assert (dest / "uv" / "kept.txt").read_text() == "before"
    assert [p.name for p in tmp_path.iterdir()] == ["dest"]  # no scratch folder left either


def test_a_stream_cut_short_leaves_nothing(tmp_path: Path) -> None:
    data = stream_of((member("uv/a.txt"), b"a" * 4096), (member("uv/b.txt"), b"b" * 4096))
    cut = io.BytesIO(data.getvalue()[:3000])
    assert_refused_leaving_nothing(cut, tmp_path / "dest", "truncated")


def test_an_archive_is_added_to_what_the_target_holds(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    (dest / "uv").mkdir(parents=True)
    (dest / "uv" / "old.txt").write_text("old")
    safe_extract(
        stream_of((member("uv/new.txt"), b"new"), (member("locks", tarfile.DIRTYPE), b"")), dest
    )
    assert (dest / "uv" / "old.txt").read_text() == "old"
    assert (dest / "uv" / "new.txt").read_text() == "new"
    assert (dest / "locks").is_dir()


@pytest.mark.parametrize("as_stream", [False, True], ids=["file", "stream"])
def test_more_members_than_the_limit_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_stream: bool
) -> None:
    monkeypatch.setattr(safetar, "MAX_MEMBERS", 5)
    files = [(member(f"uv/{i}.txt"), b"x") for i in range(6)]
    archive: Path | io.BytesIO = (
        stream_of(*files) if as_stream else tar_with(tmp_path / "a.tar", *files)
    )
    assert_refused_leaving_nothing(archive, tmp_path / "dest", "more than 5 entries")


def test_exactly_the_member_limit_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(safetar, "MAX_MEMBERS", 5)
    safe_extract(stream_of(*[(member(f"uv/{i}.txt"), b"x") for i in range(5)]), tmp_path / "d")
    assert len(list((tmp_path / "d" / "uv").iterdir())) == 5


def test_more_bytes_than_the_limit_are_refused_in_a_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(safetar, "MAX_TOTAL_BYTES", 1000)
    stream = stream_of((member("uv/a"), b"a" * 600), (member("uv/b"), b"b" * 600))
    assert_refused_leaving_nothing(stream, tmp_path / "dest", "larger than 1000 bytes")


def test_a_tree_with_more_entries_than_the_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(safetar, "MAX_MEMBERS", 3)
    (tmp_path / "tree" / "uv").mkdir(parents=True)
    for i in range(3):
        (tmp_path / "tree" / "uv" / f"{i}.txt").write_text("x")
    with pytest.raises(UnsafeArchiveError, match="more than 3 entries"):
        check_tree(tmp_path / "tree")


def test_a_file_and_then_a_folder_of_the_same_name_is_refused(tmp_path: Path) -> None:
    stream = stream_of(
        (member("uv/x"), b"file"), (member("uv/x", tarfile.DIRTYPE), b""), (member("uv/x/y"), b"")
    )
    assert_refused_leaving_nothing(stream, tmp_path / "dest", "could not be extracted")


def test_a_file_that_would_replace_a_folder_of_the_target_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dest" / "uv" / "x").mkdir(parents=True)
    stream = stream_of((member("uv/a"), b"a"), (member("uv/x"), b"file"))
    with pytest.raises(UnsafeArchiveError, match="would replace a folder"):
        safe_extract(stream, tmp_path / "dest")
    assert sorted(p.name for p in (tmp_path / "dest").rglob("*")) == ["uv", "x"]


def test_a_link_manifest_with_more_links_than_the_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(safetar, "MAX_MEMBERS", 2)
    (tmp_path / "uv" / "a").mkdir(parents=True)
    (tmp_path / LINKS_MANIFEST).write_text(json.dumps({f"uv/l{i}": "a" for i in range(3)}))
    with pytest.raises(UnsafeArchiveError, match="more than 2 links"):
        restore_links(tmp_path)
    assert sorted(p.name for p in (tmp_path / "uv").iterdir()) == ["a"]
