"""Local wheels (--find-links): pinned when asked for, mounted into the installs, never copied."""

from __future__ import annotations

from pathlib import Path

import pytest
from nb2svc.errors import UsageError
from nb2svc.image.containerfile import render
from nb2svc.image.context import write_context
from nb2svc.wheelhouse import Wheelhouse
from test_containerfile import make_plan

TORCH = "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"


def wheelhouse(tmp_path: Path, *names: str) -> Wheelhouse:
    for name in names:
        (tmp_path / name).write_bytes(b"")
    return Wheelhouse.scan([tmp_path])


def test_the_newest_local_version_of_each_distribution_is_pinned(tmp_path: Path) -> None:
    house = wheelhouse(
        tmp_path, TORCH, "torch-2.12.1+cpu-cp311-cp311-linux_x86_64.whl",
        "My_Pkg-1.0-py3-none-any.whl", "not-a-wheel.txt", "broken.whl",
    )  # fmt: skip
    assert house.pins() == {"my-pkg": "1.0", "torch": "2.13.0+cpu"}
    assert house.constraints() == "my-pkg==1.0\ntorch==2.13.0+cpu\n"


def test_the_cache_key_follows_the_set_of_wheels(tmp_path: Path) -> None:
    assert Wheelhouse.scan([]).key() == ""
    first = wheelhouse(tmp_path, TORCH).key()
    assert first
    assert first != wheelhouse(tmp_path, "x-1.0-py3-none-any.whl").key()


def test_only_the_wheels_the_lock_installs_are_used(tmp_path: Path) -> None:
    house = wheelhouse(tmp_path, TORCH, "x-1.0-py3-none-any.whl")
    used = house.used_by({"torch": "2.13.0+cpu", "x": "2.0"})
    assert [w.path.name for w in used] == [TORCH]


def test_a_missing_directory_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--find-links .*nowhere: no such directory"):
        Wheelhouse.scan([tmp_path / "nowhere"])


def test_installs_mount_the_wheels_and_find_links_there(tmp_path: Path) -> None:
    (tmp_path / TORCH).write_bytes(b"wheel")
    plan = make_plan(wheels=(tmp_path / TORCH,))
    text = render(plan)
    mount = "--mount=type=bind,source=wheels,target=/opt/nb2svc/wheels"
    assert text.count(mount) == 2, "deps and serve-deps"
    assert text.count("UV_FIND_LINKS=/opt/nb2svc/wheels") == 2
    assert "COPY wheels" not in text
    assert mount not in render(make_plan()), "no local wheels: the Containerfile is unchanged"


def test_the_context_links_the_wheels_without_copying(tmp_path: Path) -> None:
    (tmp_path / TORCH).write_bytes(b"wheel")
    plan = make_plan(wheels=(tmp_path / TORCH,), source_files=())
    write_context(plan, tmp_path, tmp_path / "ctx")
    linked = tmp_path / "ctx" / "wheels" / TORCH
    assert linked.read_bytes() == b"wheel"
    assert linked.stat().st_ino == (tmp_path / TORCH).stat().st_ino
