"""image/base.py without building: suites, refs, recipe hash, rootfs trimming, registry probe."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from nb2svc.errors import UsageError
from nb2svc.image.base import (
    BaseImages,
    prepare_rootfs,
    recipe_hash,
    refs_for,
    registry_for,
    registry_reachable,
    select_base_images,
    suite_for,
)


def test_suites() -> None:
    assert [suite_for(v) for v in ("3.9", "3.11", "3.13")] == ["bullseye", "bookworm", "trixie"]


def test_unsupported_python_says_what_to_do() -> None:
    with pytest.raises(UsageError) as info:
        suite_for("3.7")
    err = info.value
    assert "Debian provides Python 3.9/3.11/3.13 offline; the notebook asks for 3.7" in err.message
    assert err.fix is not None
    assert "--python 3.9" in err.fix
    assert "--base-image REF" in err.fix
    with pytest.raises(UsageError) as newer:
        suite_for("3.12")
    assert newer.value.fix is not None
    assert "--python 3.13" in newer.value.fix


def test_refs_and_recipe() -> None:
    assert refs_for("3.11") == (
        "localhost/nb2svc/python:3.11",
        "localhost/nb2svc/python:3.11-build",
    )
    assert recipe_hash("bookworm") == recipe_hash("bookworm") != recipe_hash("trixie")


@pytest.mark.parametrize(
    ("ref", "host"),
    [
        ("python:3.11-slim", "registry-1.docker.io"),
        ("library/python:3.11", "registry-1.docker.io"),
        ("docker.io/library/python:3.11", "registry-1.docker.io"),
        ("quay.io/org/img:1", "quay.io"),
        ("registry.local:5000/img", "registry.local:5000"),
        ("localhost/nb2svc/python:3.11", None),
    ],
)
def test_registry_for(ref: str, host: str | None) -> None:
    assert registry_for(ref) == host


def test_registry_probe_is_quick_when_nothing_answers() -> None:
    start = time.monotonic()
    assert registry_reachable("127.0.0.1:9/img:1", timeout=1.0) is False
    assert registry_reachable("localhost/x:1") is False
    assert time.monotonic() - start < 3


def test_user_base_image_wins() -> None:
    images = select_base_images("3.11", buildah=None, base_image="quay.io/me/py:3.11")  # type: ignore[arg-type]
    assert images == BaseImages("quay.io/me/py:3.11", "quay.io/me/py:3.11", "3.11", "user")


def make_tree(root: Path) -> None:
    files = (
        "usr/bin/python3.11", "usr/share/doc/pkg/copyright", "usr/share/doc/pkg/changelog.gz",
        "usr/share/locale/de/LC_MESSAGES/x.mo", "usr/share/locale/locale.alias",
        "var/cache/apt/archives/x.deb", "var/lib/apt/lists/x_Packages", "dev/null",
        "etc/resolv.conf", "etc/apt/sources.list", "usr/share/man/man1/x.1",
    )  # fmt: skip
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    for rel in ("etc/dpkg/dpkg.cfg.d", "etc/apt/apt.conf.d", "var/cache/apt/archives/partial"):
        (root / rel).mkdir(parents=True, exist_ok=True)


def test_prepare_rootfs_trims_and_configures(tmp_path: Path) -> None:
    make_tree(tmp_path)
    prepare_rootfs(tmp_path, "3.11", "bookworm", "http://deb.debian.org/debian")
    remaining = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert "usr/share/doc/pkg/copyright" in remaining
    assert "usr/share/locale/locale.alias" in remaining
    for gone in ("changelog.gz", "x.mo", "x.deb", "x_Packages", "dev/null", "resolv.conf", "x.1"):
        assert not any(gone in p for p in remaining), gone
    sources = (tmp_path / "etc/apt/sources.list").read_text()
    assert "bookworm-security" in sources
    assert "bookworm-updates" in sources
    assert (
        "path-exclude /usr/share/doc/*"
        in (tmp_path / "etc/dpkg/dpkg.cfg.d/nb2svc-slim").read_text()
    )


def test_prepare_rootfs_checks_the_python_version(tmp_path: Path) -> None:
    make_tree(tmp_path)
    with pytest.raises(Exception, match=r"did not install python3\.13 \(found: python3\.11\)"):
        prepare_rootfs(tmp_path, "3.13", "bookworm", "http://deb.debian.org/debian")
