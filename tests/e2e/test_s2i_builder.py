"""The S2I builder image end to end: built with buildah, used the two ways s2i uses it.

One builder image and one application image per module (each build costs ~30-60 s);
the Docker-API build is also the incremental one (artifacts of the first build). Every
image and container made here is removed at the end of the module.
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nb2svc.engine.buildah import Buildah
from nb2svc.engine.podman import Podman
from nb2svc.pipeline import BuildOptions, build
from nb2svc.plan import MODEL_DIR
from nb2svc.s2i import local
from nb2svc.s2i.image import HOST_CA_BUNDLE, build_builder_image

pytestmark = [pytest.mark.slow, pytest.mark.containers]

ROOT = Path(__file__).resolve().parents[2]
CHURN = ROOT / "sample-notebooks" / "churn"
BUILDER = "localhost/nb2svc-test/s2i-python:e2e"
APP = "localhost/nb2svc-test/churn-s2i:e2e"
APP_INCREMENTAL = "localhost/nb2svc-test/churn-s2i:e2e-incremental"
REFERENCE = "localhost/nb2svc-test/churn-ref:e2e"
CA_VOLUMES = local.ca_volume(HOST_CA_BUNDLE)


@pytest.fixture(scope="module")
def images(buildah: Buildah) -> Iterator[dict[str, Any]]:
    """Builder image, then the app image built the `--as-dockerfile` way; removed after."""
    made: dict[str, Any] = {}
    try:
        build_builder_image(buildah, BUILDER)
        made["builder"] = BUILDER
        with_timing(made, "as_dockerfile", lambda: as_dockerfile_build(buildah, made))
        yield made
    finally:
        for ref in (APP_INCREMENTAL, APP, REFERENCE, BUILDER):
            if buildah.image_exists(ref):
                buildah.rmi(ref, force=True)


def with_timing(made: dict[str, Any], name: str, action: Any) -> None:
    start = time.monotonic()
    made[name] = action()
    made[f"{name}_seconds"] = time.monotonic() - start


def as_dockerfile_build(buildah: Buildah, made: dict[str, Any]) -> str:
    with tempfile.TemporaryDirectory(prefix="nb2svc-s2i-e2e-") as ctx:
        containerfile = local.write_dockerfile_context(
            BUILDER, CHURN, Path(ctx), labels=local.build_labels(BUILDER, CHURN)
        )
        made["dockerfile"] = containerfile.read_text()
        lines: list[str] = []
        result = buildah.build_with_volumes(
            containerfile, Path(ctx), volumes=CA_VOLUMES, tag=APP, layers=False,
            on_line=lines.append,
        )  # fmt: skip
    made["as_dockerfile_steps"] = assemble_steps(lines)
    return result.image_id


def assemble_steps(lines: list[str]) -> dict[str, float]:
    """Seconds per assemble step, from its last line (`nb2svc-s2i: done: lock 1.2s, ...`)."""
    done = next(line for line in reversed(lines) if "nb2svc-s2i: done: " in line)
    pairs = (item.rsplit(" ", 1) for item in done.split("done: ", 1)[1].split(", "))
    return {name: float(value.rstrip("s")) for name, value in pairs}


def predict(podman: Podman, image: str, instances: list[Any]) -> tuple[list[Any], int]:
    """Predictions of a running image for `instances`, and its exit code after `stop`."""
    with podman.running(image, port_container=8080, read_only=True) as container:
        podman.wait_http_ready(f"{container.url}/readyz", timeout=90, container=container)
        body = json.dumps({"instances": instances}).encode()
        request = urllib.request.Request(
            f"{container.url}/v1/models/churn:predict",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            predictions = json.loads(response.read())["predictions"]
        podman.stop(container, timeout=10)
        code = int(podman.inspect(container)["State"]["ExitCode"])
    return predictions, code


def sample_inputs(podman: Podman, image: str) -> list[Any]:
    with podman.running(image, port_container=8080) as container:
        sample = json.loads(podman.read_file(container, f"{MODEL_DIR}/sample.json"))
    return list(sample["inputs"])


def test_the_builder_prints_usage_and_declares_the_s2i_contract(
    images: dict[str, Any], buildah: Buildah, podman: Podman
) -> None:
    labels = buildah.image_labels(BUILDER)
    assert labels["io.openshift.s2i.scripts-url"] == "image:///usr/libexec/s2i"
    assert labels["io.openshift.expose-services"] == "8080:http"
    assert labels["io.k8s.display-name"]
    assert labels["io.nb2svc.version"]
    config = buildah.inspect(BUILDER)["OCIv1"]["config"]
    assert config["User"] == "1001"
    assert config["Cmd"] == ["/usr/libexec/s2i/usage"]
    out = output_of(podman, BUILDER)
    assert "nb2svc S2I builder" in out
    assert "NB2SVC_NOTEBOOKS" in out
    assert "/usr/bin/tar" in output_of(podman, BUILDER, ["/bin/sh", "-c", "command -v tar"])


def output_of(podman: Podman, image: str, command: list[str] | None = None) -> str:
    """What a short-lived container prints (its logs once it exited)."""
    container = podman.run_detached(image, command=command)
    try:
        for _ in range(50):
            if not podman.is_running(container):
                break
            time.sleep(0.1)
        return podman.logs(container)
    finally:
        podman.rm(container, force=True)


def test_as_dockerfile_image_predicts_like_nb2svc_build(
    images: dict[str, Any], podman: Podman, tmp_path: Path
) -> None:
    assert images["dockerfile"].splitlines()[-3:] == [
        "USER 1001",
        "RUN /usr/libexec/s2i/assemble",
        "CMD /usr/libexec/s2i/run",
    ]
    report = build(BuildOptions(source=str(CHURN), image=REFERENCE, outdir=tmp_path / "out"))
    instances = sample_inputs(podman, APP)
    s2i_predictions, exit_code = predict(podman, APP, instances)
    reference_predictions, _ = predict(podman, report["image"], instances)
    assert s2i_predictions == reference_predictions
    assert exit_code == 0  # SIGTERM reached the server (PID 1), which drained and exited


def test_no_ca_bundle_and_no_upload_stay_in_the_app_image(
    images: dict[str, Any], podman: Podman
) -> None:
    ca = output_of(podman, APP, ["/bin/sh", "-c", "wc -c < /run/secrets/nb2svc-ca || true"])
    assert ca.strip() in ("", "0")
    assert output_of(podman, APP, ["ls", "-A", "/tmp"]).split() == []


def test_docker_api_incremental_build_skips_downloads_and_is_faster(
    images: dict[str, Any], buildah: Buildah, podman: Podman, tmp_path: Path
) -> None:
    stream = local.save_artifacts(buildah, APP, tmp_path / "artifacts.tar")
    unpacked = local.unpack_artifacts(stream, tmp_path / "artifacts")
    lines: list[str] = []
    local.docker_api_build(
        buildah, BUILDER, CHURN, tag=APP_INCREMENTAL, volumes=CA_VOLUMES,
        artifacts=unpacked, on_line=lines.append,
    )  # fmt: skip
    log = "\n".join(lines)
    assert "installed without downloads" in log
    assert "lock: " in log
    assert "(reused)" in log
    clean, incremental = images["as_dockerfile_steps"], assemble_steps(lines)
    print(f"assemble steps: clean {clean}, incremental {incremental}")
    assert incremental["lock"] + incremental["install"] < clean["lock"] + clean["install"]
    config = buildah.inspect(APP_INCREMENTAL)["OCIv1"]["config"]
    assert config["Cmd"] == ["/usr/libexec/s2i/run"]
    assert config["User"] == "1001"
    instances = sample_inputs(podman, APP)
    assert predict(podman, APP_INCREMENTAL, instances)[0] == predict(podman, APP, instances)[0]
