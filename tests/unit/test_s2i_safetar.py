"""Artifacts from a previous image are untrusted: only files and directories inside the
target are accepted; uv's cache links travel as a checked manifest."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from nb2svc.s2i import artifacts
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
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchiveError):
        safe_extract(archive, dest)
    assert list(dest.rglob("*")) == []


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
