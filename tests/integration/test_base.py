"""The local Debian base images: contents, labels, reuse, suites on the mirror."""

from __future__ import annotations

import time

import pytest
from nb2svc.engine.buildah import Buildah
from nb2svc.engine.debootstrap import suite_available
from nb2svc.image.base import LABEL_RECIPE, SUITES, BaseImages, ensure_base_image, recipe_hash

pytestmark = pytest.mark.containers


def test_runtime_base_is_slim(buildah: Buildah, base_images: BaseImages) -> None:
    with buildah.working_container(base_images.runtime) as container:
        root = buildah.mount(container)
        assert (root / f"usr/bin/python{base_images.python_version}").exists()
        assert (root / "usr/bin/tini").exists()
        assert (root / "etc/ssl/certs/ca-certificates.crt").is_file()  # Debian's public bundle
        assert not (root / "usr/bin/gcc").exists()
        assert not (root / "usr/local/bin/uv").exists()
        assert not (root / "root/.cache/pip").exists()
        assert list((root / "var/lib/apt/lists").glob("*_Packages")) == []
        assert (
            not (root / "etc/resolv.conf").is_file()
            or (root / "etc/resolv.conf").stat().st_size == 0
        )
        for gone in ("usr/bin/apt-get", "usr/bin/perl", "usr/bin/mount", "usr/sbin/useradd"):
            assert not (root / gone).exists(), gone  # base-runtime-slim.sh
        assert not list(root.glob("usr/lib/*-linux-gnu/gconv"))
        assert (root / "tmp").stat().st_mode & 0o1777 == 0o1777
    config = buildah.inspect(base_images.runtime)["OCIv1"]["config"]
    assert "LANG=C.UTF-8" in config["Env"]
    assert config["Entrypoint"] == ["/usr/bin/tini", "--"]
    assert buildah.image_size(base_images.runtime) < 100_000_000


# Every extension module of the standard library, and what the images' own steps run.
STDLIB_PROBE = """
import importlib, pathlib, sys, sysconfig
dynload = pathlib.Path(sysconfig.get_path("platstdlib")) / "lib-dynload"
names = sorted({p.name.split(".")[0] for p in dynload.glob("*.so")})
failed = []
for name in names:
    try:
        importlib.import_module(name)
    except ImportError as err:
        failed.append(f"{name}: {err}")
import ssl, zoneinfo
ssl.create_default_context()
zoneinfo.ZoneInfo("Europe/Paris")
print(len(names), failed)
"""


def test_the_runtime_base_still_runs_python_and_the_shell_steps_builds_use(
    buildah: Buildah, base_images: BaseImages
) -> None:
    lines: list[str] = []
    with buildah.working_container(base_images.runtime) as container:
        buildah.run(container, ["python3", "-c", STDLIB_PROBE], on_line=lines.append)
        shell = "chgrp -R 0 /tmp && chmod -R g=u /tmp && id -u && dpkg-query -W python3 tini"
        buildah.run(container, ["sh", "-c", shell], on_line=lines.append)
    count, failed = lines[0].split(" ", 1)
    assert int(count) > 30
    assert failed == "[]"
    assert lines[1] == "0"
    assert [line.split("\t")[0] for line in lines[2:]] == ["python3", "tini"]


def test_build_base_has_toolchain_and_uv(buildah: Buildah, base_images: BaseImages) -> None:
    with buildah.working_container(base_images.build) as container:
        root = buildah.mount(container)
        for tool in ("usr/bin/gcc", "usr/bin/g++", "usr/bin/git", "usr/local/bin/uv"):
            assert (root / tool).exists(), tool
        assert list((root / "usr/include").glob("python3*/Python.h"))


def test_labels_record_suite_and_recipe(buildah: Buildah, base_images: BaseImages) -> None:
    suite = SUITES[base_images.python_version]
    for ref, variant in ((base_images.runtime, "runtime"), (base_images.build, "build")):
        labels = buildah.image_labels(ref)
        assert labels["io.nb2svc.base.python"] == base_images.python_version
        assert labels["io.nb2svc.base.suite"] == suite
        assert labels["io.nb2svc.base.variant"] == variant
        assert labels[LABEL_RECIPE] == recipe_hash(suite)
        assert "org.opencontainers.image.created" in labels


def test_existing_base_is_reused(buildah: Buildah, base_images: BaseImages) -> None:
    start = time.monotonic()
    again = ensure_base_image(base_images.python_version, buildah)
    assert again.built is False
    assert (again.runtime, again.build) == (base_images.runtime, base_images.build)
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("suite", sorted(set(SUITES.values())))
def test_suites_exist_on_the_mirror(suite: str) -> None:
    assert suite_available(suite)
