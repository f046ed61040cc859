"""Real buildah builds on the local base image: secrets, cache mounts, failures, interrupts."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import secrets
import shutil
import signal
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from nb2svc.engine.buildah import Buildah
from nb2svc.engine.errors import BuildahError
from nb2svc.image.base import BaseImages

if TYPE_CHECKING:
    from conftest import Created

pytestmark = pytest.mark.containers

SECRET_BUILD = """\
FROM {build} AS train
RUN --mount=type=secret,id=token,target=/run/secrets/token \\
    --mount=type=cache,id={cache_id},target=/var/cache/nb2svc-test \\
    mkdir -p /out \\
 && sha256sum /run/secrets/token | cut -d' ' -f1 > /out/token.sha256 \\
 && echo x >> /var/cache/nb2svc-test/runs && wc -l < /var/cache/nb2svc-test/runs > /out/runs
FROM {runtime}
COPY --from=train /out /opt/out
USER 10001
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "Containerfile"
    path.write_text(text)
    return path


def extract(buildah: Buildah, ref: str, created: Created, path: str) -> str:
    """Read one file of an image (through a working container that is always removed)."""
    with buildah.working_container(ref) as container:
        created.container(container)
        return (buildah.mount(container) / path.lstrip("/")).read_text()


def layer_blobs(archive: Path, into: Path) -> list[bytes]:
    """Every blob of an OCI archive, gzip layers decompressed."""
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    blobs = []
    for blob in (into / "blobs" / "sha256").iterdir():
        data = blob.read_bytes()
        blobs.append(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    return blobs


@pytest.fixture
def token(tmp_path: Path) -> tuple[str, Path]:
    value = f"nb2svc-test-secret-{secrets.token_hex(16)}"
    path = tmp_path / "token.txt"
    path.write_text(value)
    return value, path


@pytest.fixture
def cache_id() -> Iterator[str]:
    """A cache-mount id unique to the test; its directory is removed afterwards."""
    name = f"nb2svc-test-{secrets.token_hex(4)}"
    yield name
    shutil.rmtree(Path("/var/tmp/buildah-cache") / name, ignore_errors=True)


def test_secret_is_used_but_in_no_layer_and_cache_mount_persists(
    buildah: Buildah,
    base_images: BaseImages,
    created: Created,
    tmp_path: Path,
    token: tuple[str, Path],
    cache_id: str,
) -> None:
    value, token_file = token
    text = SECRET_BUILD.format(
        build=base_images.build, runtime=base_images.runtime, cache_id=cache_id
    )
    containerfile = write(tmp_path, text)
    args = {"secrets": [("token", token_file)], "layers": False}
    first = buildah.build(containerfile, tmp_path, **args)  # type: ignore[arg-type]
    created.image(first.image_id)
    second = buildah.build(containerfile, tmp_path, no_cache=True, **args)  # type: ignore[arg-type]
    created.image(second.image_id)

    digest = extract(buildah, second.image_id, created, "/opt/out/token.sha256").strip()
    assert digest == hashlib.sha256(value.encode()).hexdigest()  # the RUN step read it
    assert extract(buildah, second.image_id, created, "/opt/out/runs").strip() == "2"

    archive = tmp_path / "image.tar"
    buildah.push(second.image_id, f"oci-archive:{archive}")
    blobs = layer_blobs(archive, tmp_path / "oci")
    assert len(blobs) >= 3  # config, manifest, layers
    assert not [b for b in blobs if value.encode() in b]
    assert value not in json.dumps(buildah.inspect(second.image_id))


def test_failing_run_raises_with_tail_and_leaves_nothing(
    buildah: Buildah, base_images: BaseImages, tmp_path: Path
) -> None:
    marker = secrets.token_hex(4)
    text = (
        f"FROM {base_images.runtime}\n"
        f"RUN echo before-{marker} && echo 'NB2SVC-ERROR {{\"cell\": 3}}' && exit 3\n"
    )
    containerfile = write(tmp_path, text)
    containers_before = {c["id"] for c in buildah.containers()}
    images_before = {i["id"] for i in buildah.images()}
    seen: list[str] = []

    with pytest.raises(BuildahError) as info:
        buildah.build(
            containerfile, tmp_path, tag=f"localhost/nb2svc-test/fail:{marker}", on_line=seen.append
        )

    err = info.value
    assert err.returncode != 0
    assert "build" in err.argv
    assert any(f"before-{marker}" in line for line in err.stderr_tail)
    assert any(line.startswith("NB2SVC-ERROR ") for line in seen)
    assert f"before-{marker}" in err.render()
    assert {c["id"] for c in buildah.containers()} <= containers_before
    assert {i["id"] for i in buildah.images()} <= images_before
    assert not buildah.image_exists(f"localhost/nb2svc-test/fail:{marker}")


def _sleep_processes(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if marker.encode() in cmdline and b"sleep" in cmdline:
                found.append(int(proc.name))
    return found


@pytest.mark.parametrize("how", ["hook-raises", "sigint"])
def test_interrupted_build_leaves_nothing(
    buildah: Buildah, base_images: BaseImages, tmp_path: Path, how: str
) -> None:
    seconds = 4000 + secrets.randbelow(900)  # a unique `sleep N` to look for afterwards
    text = f"FROM {base_images.runtime}\nRUN echo sleeping-now && sleep {seconds}\n"
    containerfile = write(tmp_path, text)
    before = {c["id"] for c in buildah.containers()}

    def on_line(line: str) -> None:
        if line.strip() != "sleeping-now":
            return
        if how == "hook-raises":
            raise KeyboardInterrupt
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()

    with pytest.raises(KeyboardInterrupt):
        buildah.build(containerfile, tmp_path, layers=False, on_line=on_line)

    assert {c["id"] for c in buildah.containers()} <= before
    assert _sleep_processes(f"sleep {seconds}") == []


def test_tag_inspect_and_rmi(
    buildah: Buildah, base_images: BaseImages, tmp_path: Path, created: Created
) -> None:
    containerfile = write(tmp_path, f"FROM {base_images.runtime}\nLABEL io.nb2svc.test=yes\n")
    result = buildah.build(
        containerfile, tmp_path, labels={"io.nb2svc.test.run": "1"}, layers=False
    )
    created.image(result.image_id)
    ref = created.image(f"localhost/nb2svc-test/tagged:{secrets.token_hex(4)}")
    buildah.tag(result.image_id, ref)
    assert buildah.image_exists(ref)
    assert buildah.image_id(ref) == result.image_id
    assert buildah.image_labels(ref)["io.nb2svc.test.run"] == "1"
    assert buildah.image_size(ref) > 10_000_000
    buildah.rmi(ref)
    assert not buildah.image_exists(ref)


def test_working_container_is_removed_on_error(buildah: Buildah, base_images: BaseImages) -> None:
    before = {c["id"] for c in buildah.containers()}
    seen: list[str] = []

    def use_and_fail() -> None:
        with buildah.working_container(base_images.runtime) as ctr:
            seen.append(ctr)
            assert (buildah.mount(ctr) / "usr/bin/python3").exists()
            raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        use_and_fail()
    assert len(seen) == 1
    assert {c["id"] for c in buildah.containers()} <= before


def test_missing_base_image_is_a_typed_error(buildah: Buildah, tmp_path: Path) -> None:
    containerfile = write(tmp_path, "FROM localhost/nb2svc-test/does-not-exist:1\n")
    with pytest.raises(BuildahError) as info:
        buildah.build(containerfile, tmp_path, pull="never")
    assert info.value.fix is not None
    assert "nb2svc base" in info.value.fix


def test_a_failed_command_says_what_the_tool_said(buildah: Buildah) -> None:
    with pytest.raises(BuildahError) as info:
        buildah.rmi(f"localhost/nb2svc-test/absent:{secrets.token_hex(4)}")
    assert "image not known" in str(info.value)  # what pytest and logs show, not only details
