"""The previous build's bytecode is reused only for the very files it was compiled from."""

from __future__ import annotations

import io
import os
from pathlib import Path

from nb2svc.s2i import artifacts, bytecode
from nb2svc.s2i.safetar import safe_extract

PYC = "mod.cpython-311.pyc"


def installed(root: Path) -> tuple[Path, Path]:
    """A uv cache archive and a venv whose module is a hard link to it, compiled."""
    cache, venv = root / "cache", root / "venv"
    archive = cache / "uv" / "archive-v0" / "abc" / "pkg"
    archive.mkdir(parents=True)
    (archive / "mod.py").write_text("x = 1\n")
    site = venv / "lib" / "python3.11" / "site-packages" / "pkg"
    (site / "__pycache__").mkdir(parents=True)
    os.link(archive / "mod.py", site / "mod.py")
    (site / "__pycache__" / PYC).write_bytes(b"compiled")
    (site / "__pycache__" / "other.cpython-311.pyc").write_bytes(b"no source in the cache")
    return cache, venv


def round_trip(old: Path, new: Path) -> Path:
    """save-artifacts in the old image, restore of the caches in the new one."""
    cache, venv = installed(old)
    stream = io.BytesIO()
    out = io.TextIOWrapper(stream)
    artifacts.save(cache, out, venv)
    safe_extract(io.BytesIO(stream.getvalue()), new / "upload")
    assert artifacts.restore(new / "upload", new / "cache", io.StringIO())
    return new / "cache"


def test_only_bytecode_of_cache_files_is_saved(tmp_path: Path) -> None:
    cache, venv = installed(tmp_path)
    names = [name for name, _ in bytecode.saved_files(cache, venv)]
    assert names == [f"pycache/abc/pkg/__pycache__/{PYC}"]


def test_bytecode_comes_back_next_to_the_same_file(tmp_path: Path) -> None:
    cache = round_trip(tmp_path / "old", tmp_path / "new")
    venv = tmp_path / "new" / "venv"
    site = venv / "lib" / "python3.11" / "site-packages" / "pkg"
    site.mkdir(parents=True)
    os.link(cache / "uv" / "archive-v0" / "abc" / "pkg" / "mod.py", site / "mod.py")
    assert bytecode.restore(cache, venv) == 1
    assert (site / "__pycache__" / PYC).read_bytes() == b"compiled"
    assert not (cache / bytecode.BYTECODE).exists()


def test_bytecode_is_not_reused_for_another_file(tmp_path: Path) -> None:
    cache = round_trip(tmp_path / "old", tmp_path / "new")
    venv = tmp_path / "new" / "venv"
    site = venv / "lib" / "python3.11" / "site-packages" / "pkg"
    site.mkdir(parents=True)
    (site / "mod.py").write_text("x = 1\n")  # same text, another file (another install)
    assert bytecode.restore(cache, venv) == 0
    assert not (site / "__pycache__").exists()


def test_bytecode_is_never_written_through_a_link(tmp_path: Path) -> None:
    cache = round_trip(tmp_path / "old", tmp_path / "new")
    venv = tmp_path / "new" / "venv"
    site = venv / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.link(cache / "uv" / "archive-v0" / "abc" / "pkg" / "mod.py", elsewhere / "mod.py")
    (site / "pkg").symlink_to(elsewhere)
    assert bytecode.restore(cache, venv) == 0
    assert not (elsewhere / "__pycache__").exists()
