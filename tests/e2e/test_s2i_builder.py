"""The S2I builder image end to end: built with buildah, used the two ways s2i uses it.

One builder image per module; a cold and an incremental application image per flow
(`--as-dockerfile` and Docker API; each build costs ~20-40 s). Every image and container
made here is removed at the end of the module.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nb2svc import labels
from nb2svc.engine.buildah import Buildah
from nb2svc.engine.errors import BuildahError
from nb2svc.engine.podman import Podman
from nb2svc.options import BuildOptions
from nb2svc.pipeline import build
from nb2svc.plan import MODEL_DIR
from nb2svc.s2i import local
from nb2svc.s2i.image import HOST_CA_BUNDLE, build_builder_image

pytestmark = [pytest.mark.slow, pytest.mark.containers]

ROOT = Path(__file__).resolve().parents[2]
CHURN = ROOT / "sample-notebooks" / "churn"
RUN_ID = f"e2e-{os.getpid()}"  # two runs on one machine never share (or remove) an image
BUILDER = f"localhost/nb2svc-test/s2i-python:{RUN_ID}"
APP = f"localhost/nb2svc-test/churn-s2i:{RUN_ID}"
APP_INCREMENTAL = f"localhost/nb2svc-test/churn-s2i:{RUN_ID}-incremental"
API = f"localhost/nb2svc-test/churn-s2i:{RUN_ID}-api"
API_INCREMENTAL = f"localhost/nb2svc-test/churn-s2i:{RUN_ID}-api-incremental"
REFERENCE = f"localhost/nb2svc-test/churn-ref:{RUN_ID}"
COLAB = f"localhost/nb2svc-test/colab-s2i:{RUN_ID}"
CASES = ROOT / "tests" / "corpus" / "cases"  # the corpus' notebooks (tests/corpus/cases.toml)
CA_VOLUMES = local.ca_volume(HOST_CA_BUNDLE)


@dataclass
class Built:
    """One application image: its ID, wall seconds, assemble's log and seconds per step."""

    image: str
    seconds: float
    log: list[str]

    @property
    def steps(self) -> dict[str, float]:
        return assemble_steps(self.log)


@pytest.fixture(scope="module")
def images(buildah: Buildah) -> Iterator[dict[str, Any]]:
    """Builder image, then the app image built the `--as-dockerfile` way; removed after."""
    made: dict[str, Any] = {}
    try:
        build_builder_image(buildah, BUILDER)
        made["builder"] = BUILDER
        made["as_dockerfile"] = timed(lambda log: as_dockerfile_build(buildah, made, APP, log))
        yield made
    finally:
        for ref in (COLAB, API_INCREMENTAL, API, APP_INCREMENTAL, APP, REFERENCE, BUILDER):
            if buildah.image_exists(ref):
                buildah.rmi(ref, force=True)


def timed(action: Callable[[list[str]], str]) -> Built:
    log: list[str] = []
    start = time.monotonic()
    image = action(log)
    return Built(image, time.monotonic() - start, log)


def as_dockerfile_build(
    buildah: Buildah,
    made: dict[str, Any],
    tag: str,
    log: list[str],
    previous: str | None = None,
    source: Path = CHURN,
) -> str:
    """`s2i build --as-dockerfile` + `buildah build`, then the image metadata labels."""
    with tempfile.TemporaryDirectory(prefix="nb2svc-s2i-e2e-") as ctx:
        containerfile = local.write_dockerfile_context(
            BUILDER, source, Path(ctx), labels=local.build_labels(BUILDER, source),
            incremental_from=previous,
        )  # fmt: skip
        made.setdefault("dockerfile", containerfile.read_text())
        result = buildah.build_with_volumes(
            containerfile, Path(ctx), volumes=CA_VOLUMES, layers=False, on_line=log.append
        )
    image = local.apply_image_metadata(buildah, result.image_id, tag)
    buildah.rmi(result.image_id)
    return image


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
    images: dict[str, Any], buildah: Buildah, podman: Podman, tmp_path: Path
) -> None:
    assert images["dockerfile"].splitlines()[-3:] == [
        "USER 1001",
        "RUN /usr/libexec/s2i/assemble",
        "CMD /usr/libexec/s2i/run",
    ]
    build(BuildOptions(source=str(CHURN), image=REFERENCE, outdir=tmp_path / "out"))
    instances = sample_inputs(podman, APP)
    s2i_predictions, exit_code = predict(podman, APP, instances)
    reference_predictions, _ = predict(podman, REFERENCE, instances)
    assert s2i_predictions == reference_predictions
    assert exit_code == 0  # SIGTERM reached the server (PID 1), which drained and exited
    assert_provenance(buildah.image_labels(APP), buildah.image_labels(REFERENCE))


PROVENANCE = (
    labels.NB2SVC_VERSION, labels.NB2SVC_NOTEBOOK, labels.NB2SVC_NOTEBOOK_SHA256,
    labels.NB2SVC_LOCK_SHA256, labels.NB2SVC_LOCK_TOOL, labels.NB2SVC_RUNTIME,
    labels.NB2SVC_MODEL_NAME, labels.NB2SVC_PYTHON, labels.OCI_TITLE, labels.OCI_VERSION,
    labels.K8S_DISPLAY_NAME, labels.OPENSHIFT_EXPOSE_SERVICES, labels.OPENSHIFT_TAGS,
)  # fmt: skip


def assert_provenance(app: dict[str, str], reference: dict[str, str]) -> None:
    """assemble's image metadata labels: the provenance `nb2svc build` writes, same values."""
    assert {key: app.get(key) for key in PROVENANCE} == {key: reference[key] for key in PROVENANCE}
    assert app[labels.NB2SVC_NOTEBOOK] == "churn.ipynb"
    assert app[labels.OCI_CREATED].endswith("Z")
    assert app["io.openshift.s2i.build.image"] == BUILDER  # s2i's own labels stay
    assert app["io.openshift.s2i.scripts-url"] == "image:///usr/libexec/s2i"


def test_no_ca_bundle_and_no_upload_stay_in_the_app_image(
    images: dict[str, Any], podman: Podman
) -> None:
    ca = output_of(podman, APP, ["/bin/sh", "-c", "wc -c < /run/secrets/nb2svc-ca || true"])
    assert ca.strip() in ("", "0")
    assert output_of(podman, APP, ["ls", "-A", "/tmp"]).split() == []


def assert_incremental(cold: Built, warm: Built) -> None:
    """The second build reused the first one's artifacts: no download, no resolution, no
    bytecode compilation. Compared on assemble's own step times: the wall time of a whole
    build also holds moving ~400 MB of artifacts and the commit, whose duration on a
    shared 2-core machine varies more than the ~5-7 s the cache saves (see docs/s2i.md)."""
    log = "\n".join(warm.log)
    assert "installed without downloads" in log
    assert "(reused)" in log
    assert "compiled modules of the previous build" in log
    before, after = cold.steps, warm.steps
    print(f"cold {cold.seconds:.1f}s {before}; incremental {warm.seconds:.1f}s {after}")
    assert after["lock"] + after["install"] < before["lock"] + before["install"]
    work = ("lock", "install", "train")
    assert sum(after[k] for k in work) < sum(before[k] for k in work)


def test_as_dockerfile_incremental_build_skips_downloads(
    images: dict[str, Any], buildah: Buildah
) -> None:
    warm = timed(
        lambda log: as_dockerfile_build(buildah, images, APP_INCREMENTAL, log, previous=APP)
    )
    assert_incremental(images["as_dockerfile"], warm)
    app, incremental = buildah.image_labels(APP), buildah.image_labels(APP_INCREMENTAL)
    assert incremental[labels.NB2SVC_LOCK_SHA256] == app[labels.NB2SVC_LOCK_SHA256]


def test_docker_api_incremental_build_skips_downloads(
    images: dict[str, Any], buildah: Buildah, podman: Podman, tmp_path: Path
) -> None:
    def api_build(tag: str, previous: str | None) -> Built:
        return timed(
            lambda log: local.docker_api_build(
                buildah, BUILDER, CHURN, tag=tag, volumes=CA_VOLUMES, artifacts_from=previous,
                on_line=log.append,
            )
        )  # fmt: skip

    assert_incremental(api_build(API, None), api_build(API_INCREMENTAL, API))
    config = buildah.inspect(API_INCREMENTAL)["OCIv1"]["config"]
    assert config["Cmd"] == ["/usr/libexec/s2i/run"]
    assert config["User"] == "1001"
    assert_provenance(buildah.image_labels(API_INCREMENTAL), buildah.image_labels(APP))
    assert output_of(podman, API_INCREMENTAL, ["ls", "-A", "/tmp"]).split() == []
    saved = local.save_artifacts(buildah, API_INCREMENTAL, tmp_path / "artifacts")
    assert sorted(p.name for p in saved.iterdir()) == [
        ".nb2svc-links.json",  # no `locks`: the sample's committed nb2svc.lock was used
        "pycache",
        "uv",
    ]
    instances = sample_inputs(podman, APP)
    assert predict(podman, API_INCREMENTAL, instances)[0] == predict(podman, APP, instances)[0]


def test_a_colab_path_notebook_is_built_and_served_as_nb2svc_build_does(
    images: dict[str, Any], buildah: Buildah, podman: Podman
) -> None:
    """`/content/churn.csv` with churn.csv in the repository: assemble links it for training
    (the plan's data link, under the builder's /content), then removes the link."""
    log: list[str] = []
    as_dockerfile_build(buildah, images, COLAB, log, source=CASES / "colab-content")
    name = buildah.image_labels(COLAB)[labels.NB2SVC_MODEL_NAME]
    with podman.running(COLAB, port_container=8080, read_only=True) as container:
        podman.wait_http_ready(f"{container.url}/readyz", timeout=90, container=container)
        body = json.dumps({"instances": [{"tenure": 3, "monthly": 70.0, "is_monthly": 1}]})
        request = urllib.request.Request(
            f"{container.url}/v1/models/{name}:predict", data=body.encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.loads(response.read())["predictions"] == ["Yes"]
    assert output_of(podman, COLAB, ["ls", "-A", "/content"]).split() == []


def test_a_notebook_that_downloads_is_refused_naming_the_cell_as_nb2svc_build_does(
    images: dict[str, Any], buildah: Buildah
) -> None:
    log: list[str] = []
    before = {c["id"] for c in buildah.containers()}
    with pytest.raises(BuildahError):
        as_dockerfile_build(buildah, images, "localhost/nb2svc-test/never", log,
                            source=CASES / "download-urlretrieve")  # fmt: skip
    text = "\n".join(log)
    assert "cell 2 (In [1]) needs the network" in text
    assert "urlretrieve" in text
    assert "--allow-network" in text
    assert "lock:" not in text  # refused before anything was resolved or installed
    assert not buildah.image_exists("localhost/nb2svc-test/never")
    assert {c["id"] for c in buildah.containers()} == before
