"""Pushing to a real registry (tests/registry_support.py: distribution 2.8 on 127.0.0.1, TLS
from the tests' own CA, htpasswd): the digest is what the registry holds, podman pulls the
same image by it, and every refusal (wrong password, untrusted CA, registry down) is exit 10
naming the registry, with no credential in what nb2svc says or writes, and the local tag kept.

The image is a tiny one (`buildah from scratch` + one file), not an nb2svc build: what is
tested is the push, and a build's push is the same call (nb2svc.pipeline -> nb2svc.push).
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from nb2svc.cli import main
from nb2svc.engine.buildah import Buildah
from nb2svc.engine.registry import (
    RegistryAccess,
    RegistryAuthError,
    RegistryTLSError,
    RegistryUnreachableError,
)
from nb2svc.errors import PushError
from nb2svc.k8s.manifests import load_yaml, render_manifests, to_yaml
from nb2svc.k8s.spec import ManifestSpec
from registry_support import Registry, free_port

pytestmark = pytest.mark.containers


@dataclass(frozen=True)
class Tiny:
    image_id: str
    local: str  # the tag in local storage


@pytest.fixture(scope="module")
def tiny(buildah: Buildah, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tiny]:
    """A one-file image with content of its own (so its digest is new to the registry)."""
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "hello.txt").write_text(f"hello {secrets.token_hex(8)}\n")
    local = f"localhost/nb2svc-push-test:{secrets.token_hex(4)}"
    with buildah.working_container("scratch") as container:
        buildah.copy(container, [folder / "hello.txt"], "/hello.txt")
        image_id = buildah.commit(container, local)
    yield Tiny(image_id, local)
    buildah.rmi(local, force=True)


def access(registry: Registry, **changes: object) -> RegistryAccess:
    values: dict[str, object] = {"authfile": registry.authfile, "cert_dir": registry.cert_dir}
    values.update(changes)
    return RegistryAccess(**values)  # type: ignore[arg-type]


def credentials(registry: Registry) -> list[str]:
    """Every form a credential of `registry` could leak in: the password, the auth token."""
    token = base64.b64encode(f"{registry.user}:{registry.password}".encode()).decode()
    return [registry.password, token]


def manifest_digest(registry: Registry, repository: str, reference: str) -> str:
    """The digest the registry itself gives for `repository:reference` (its API, not buildah)."""
    request = urllib.request.Request(
        f"https://{registry.host}/v2/{repository}/manifests/{reference}",
        method="HEAD",
        headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json, "
            "application/vnd.docker.distribution.manifest.v2+json",
            "Authorization": "Basic " + credentials(registry)[1],
        },
    )
    context = ssl.create_default_context(cafile=str(registry.ca))
    with urllib.request.urlopen(request, context=context, timeout=10) as answer:
        return str(answer.headers["Docker-Content-Digest"])


def test_a_push_returns_the_digest_the_registry_holds(
    buildah: Buildah, registry: Registry, tiny: Tiny
) -> None:
    dest = f"{registry.host}/tiny/hello:ok"
    digest = buildah.push_to_registry(tiny.image_id, dest, access(registry))
    assert digest == manifest_digest(registry, "tiny/hello", "ok")
    assert buildah.image_exists(tiny.local)


def test_podman_pulls_the_same_image_by_its_digest(
    buildah: Buildah, registry: Registry, tiny: Tiny
) -> None:
    digest = buildah.push_to_registry(
        tiny.image_id, f"{registry.host}/tiny/hello:pull", access(registry)
    )
    by_digest = f"{registry.host}/tiny/hello@{digest}"
    # An empty storage of its own (podman wants a runroot under 50 characters): a real pull.
    with tempfile.TemporaryDirectory(prefix="nb2svc-pull-", dir="/tmp") as tmp:
        storage = ["--root", f"{tmp}/root", "--runroot", f"{tmp}/run", "--storage-driver=vfs"]
        pulled = subprocess.run(
            ["podman", *storage, "pull", "--quiet", f"--authfile={registry.authfile}",
             f"--cert-dir={registry.cert_dir}", by_digest],
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.strip() == tiny.image_id


def test_a_wrong_password_is_refused_naming_the_registry_and_showing_no_credential(
    buildah: Buildah, registry: Registry, tiny: Tiny, tmp_path: Path
) -> None:
    wrong = registry.auth_file(tmp_path / "wrong.json", "not-" + registry.password)
    with pytest.raises(RegistryAuthError) as info:
        buildah.push_to_registry(
            tiny.image_id, f"{registry.host}/tiny/hello:wrong", access(registry, authfile=wrong)
        )
    error = info.value
    assert error.exit_code == 10
    assert f"registry {registry.host} refused the credentials" in error.message
    said = error.render() + json.dumps(error.to_json())
    assert "unauthorized" in said
    for secret in [*credentials(registry), "not-" + registry.password]:
        assert secret not in said
    assert buildah.image_exists(tiny.local)


def test_a_registry_whose_ca_is_not_given_is_a_tls_error(
    buildah: Buildah, registry: Registry, tiny: Tiny
) -> None:
    with pytest.raises(RegistryTLSError) as info:
        buildah.push_to_registry(
            tiny.image_id, f"{registry.host}/tiny/hello:tls", access(registry, cert_dir=None)
        )
    assert "TLS certificate is not trusted" in info.value.message
    assert "x509: certificate signed by unknown authority" in info.value.message
    assert "--cert-dir" in str(info.value.fix)
    assert buildah.image_exists(tiny.local)


def test_a_registry_that_is_down_is_unreachable(
    buildah: Buildah, registry: Registry, tiny: Tiny
) -> None:
    """buildah retries a refused connection 3 times, 2 s apart (1.28.2 ignores --retry on
    push): this test takes about 6 s."""
    down = f"127.0.0.1:{free_port()}"
    with pytest.raises(RegistryUnreachableError) as info:
        buildah.push_to_registry(tiny.image_id, f"{down}/tiny/hello:down", access(registry))
    assert f"registry {down} is not reachable" in info.value.message
    assert "connection refused" in info.value.message
    assert buildah.image_exists(tiny.local)


def build_output(folder: Path, image: str, image_id: str) -> Path:
    """report.json and manifests.yaml as `nb2svc build -t IMAGE` leaves them."""
    manifests = folder / "manifests.yaml"
    spec = ManifestSpec(name="hello", image=image, version="1")
    manifests.write_text(to_yaml(render_manifests(spec)))
    report: dict[str, object] = {
        "image": image, "image_id": image_id, "image_digest": None, "image_pushed": None,
        "manifests": str(manifests), "timings": {},
    }  # fmt: skip
    (folder / "report.json").write_text(json.dumps(report))
    return folder / "report.json"


def test_nb2svc_push_pushes_a_reports_image_and_pins_its_manifests(
    buildah: Buildah,
    registry: Registry,
    tiny: Tiny,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    image = f"{registry.host}/cli/hello:1"
    buildah.tag(tiny.image_id, image)
    try:
        report = build_output(tmp_path, image, tiny.image_id)
        wrong = registry.auth_file(tmp_path / "wrong.json", "not-" + registry.password)
        refused = [str(report), f"--authfile={wrong}", f"--cert-dir={registry.cert_dir}"]
        assert main(["push", "--report", *refused]) == PushError.exit_code == 10
        said = capsys.readouterr()
        assert f"registry {registry.host} refused the credentials" in said.err
        assert f"nb2svc push --report {report}" in said.err  # how to push again
        assert json.loads(report.read_text())["image_pushed"] is None
        assert buildah.image_exists(image)

        argv = [str(report), f"--authfile={registry.authfile}", f"--cert-dir={registry.cert_dir}"]
        assert main(["push", "--report", *argv]) == 0
        said_too = capsys.readouterr()
        digest = manifest_digest(registry, "cli/hello", "1")
        written = json.loads(report.read_text())
        assert written["image_digest"] == digest
        assert written["image_pushed"] == f"{registry.host}/cli/hello@{digest}"
        assert json.loads(said_too.out)["image_pushed"] == written["image_pushed"]
        deployment = next(d for d in load_yaml((tmp_path / "manifests.yaml").read_text())
                          if d["kind"] == "Deployment")  # fmt: skip
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == written["image_pushed"]
        assert deployment["metadata"]["annotations"]["nb2svc.io/image-digest"] == digest
        everything = said.out + said.err + said_too.out + said_too.err
        everything += report.read_text() + (tmp_path / "manifests.yaml").read_text()
        for secret in credentials(registry):
            assert secret not in everything
    finally:
        buildah.rmi(image, force=True)
