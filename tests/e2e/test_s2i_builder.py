"""The S2I builder image end to end, driven by the real `s2i` CLI (v1.6.3, tests/go_tools.py).

The builder is built with buildah and pushed to the test registry (TLS from the tests' CA,
htpasswd), where s2i inspects its labels through containers/image as OpenShift does
(tests/s2i_support.py). `s2i build --as-dockerfile` writes the Dockerfile, `buildah build`
builds it with the CA bundle as a build volume (`-v`, never a layer). s2i's Docker-API mode
runs against podman's Docker-compatible API. One builder image per module; a cold and an
incremental application image per mode (each build ~25-70 s on 2 shared cores). Every
image, container and process made here is removed or stopped at the end of the module.
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
from nb2svc.engine.registry import RegistryAccess
from nb2svc.options import BuildOptions
from nb2svc.pipeline import build
from nb2svc.plan import CA_SECRET_ID, MODEL_DIR
from nb2svc.s2i import local, metadata
from nb2svc.s2i.image import HOST_CA_BUNDLE, build_builder_image
from nb2svc.s2i.metadata import IMAGE_METADATA
from registry_support import Registry
from s2i_support import NOT_INSPECTED, S2IClient, client_home, podman_service

pytestmark = [pytest.mark.slow, pytest.mark.containers]

ROOT = Path(__file__).resolve().parents[2]
CHURN = ROOT / "sample-notebooks" / "churn"
RUN_ID = f"e2e-{os.getpid()}"  # two runs on one machine never share (or remove) an image
BUILDER = f"localhost/nb2svc-test/s2i-python:{RUN_ID}"
PROBE = f"localhost/nb2svc-test/s2i-python:{RUN_ID}-relabelled"
APP = f"localhost/nb2svc-test/churn-s2i:{RUN_ID}"
APP_LABELLED = f"localhost/nb2svc-test/churn-s2i:{RUN_ID}-labelled"
APP_INCREMENTAL = f"localhost/nb2svc-test/churn-s2i:{RUN_ID}-incremental"
API = f"localhost/nb2svc-test/churn-s2i:{RUN_ID}-api"
API_COLD = f"localhost/nb2svc-test/churn-s2i:{RUN_ID}-api-cold"
REFERENCE = f"localhost/nb2svc-test/churn-ref:{RUN_ID}"
COLAB = f"localhost/nb2svc-test/colab-s2i:{RUN_ID}"
CASES = ROOT / "tests" / "corpus" / "cases"  # the corpus' notebooks (tests/corpus/cases.toml)
CA_MOUNT = f"/run/secrets/{CA_SECRET_ID}"
CA_VOLUMES = [f"{HOST_CA_BUNDLE}:{CA_MOUNT}:ro"] if HOST_CA_BUNDLE.is_file() else []
SCRIPTS_URL, DESTINATION = "io.openshift.s2i.scripts-url", "io.openshift.s2i.destination"
# What s2i's Docker-API mode runs in the builder: the upload on stdin, then assemble.
API_BUILD_COMMAND = ["/bin/sh", "-c", "tar -C /tmp -xf - && /usr/libexec/s2i/assemble"]
PODMAN_COMMIT_APPLIES_CONFIG = (4, 9, 3)  # podman#13770, fixed by podman#20657


@dataclass
class Built:
    """One application image: its ID, wall seconds, the build's log and seconds per step."""

    image: str
    seconds: float
    log: list[str]

    @property
    def steps(self) -> dict[str, float]:
        return assemble_steps(self.log)


def remote(registry: Registry, ref: str) -> str:
    """`ref`'s name in the test registry (`localhost/a/b:t` -> `127.0.0.1:PORT/a/b:t`)."""
    return f"{registry.host}/{ref.removeprefix('localhost/')}"


@pytest.fixture(scope="module")
def s2i(s2i_cli: Path, registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> S2IClient:
    """The real s2i, with a HOME that trusts the test registry and holds its credentials."""
    home, runtime = client_home(
        tmp_path_factory.mktemp("s2i"), registry.host, registry.ca, registry.authfile
    )
    return S2IClient(s2i_cli, home, runtime)


@pytest.fixture(scope="module")
def images(buildah: Buildah, registry: Registry, s2i: S2IClient) -> Iterator[dict[str, Any]]:
    """Builder image, pushed to the registry (s2i reads its labels there) and tagged with
    that name locally (so `buildah build` finds the FROM image without pulling it again);
    then the app image built the `--as-dockerfile` way. All removed after the module."""
    made: dict[str, Any] = {"remote": remote(registry, BUILDER)}
    access = RegistryAccess(authfile=registry.authfile, cert_dir=registry.cert_dir)
    refs = [COLAB, API, API_COLD, APP_INCREMENTAL, APP_LABELLED, APP, REFERENCE]
    refs += [remote(registry, PROBE), PROBE, made["remote"], BUILDER]
    try:
        build_builder_image(buildah, BUILDER)
        start = time.monotonic()
        buildah.push_to_registry(BUILDER, made["remote"], access)
        made["push_seconds"] = time.monotonic() - start
        buildah.tag(BUILDER, made["remote"])
        made["as_dockerfile"] = timed(lambda log: as_dockerfile_build(buildah, s2i, made, APP, log))
        print(f"builder pushed in {made['push_seconds']:.1f}s; "
              f"--as-dockerfile cold build {made['as_dockerfile'].seconds:.1f}s")  # fmt: skip
        yield made
    finally:
        for ref in refs:
            if buildah.image_exists(ref):
                buildah.rmi(ref, force=True)


def timed(action: Callable[[list[str]], str]) -> Built:
    log: list[str] = []
    start = time.monotonic()
    image = action(log)
    return Built(image, time.monotonic() - start, log)


def as_dockerfile_build(
    buildah: Buildah,
    s2i: S2IClient,
    made: dict[str, Any],
    tag: str,
    log: list[str],
    previous: str | None = None,
    source: Path = CHURN,
) -> str:
    """`s2i build --as-dockerfile` (the builder named by its registry reference), then
    `buildah build -v CA` of the folder s2i wrote; the image ID, tagged `tag`."""
    with tempfile.TemporaryDirectory(prefix="nb2svc-s2i-e2e-") as ctx:
        run = s2i.as_dockerfile(source, made["remote"], Path(ctx), incremental_from=previous)
        log += run.lines
        containerfile = Path(ctx) / "Dockerfile"
        made.setdefault("dockerfile", containerfile.read_text())
        made.setdefault("dockerfiles", {})[tag] = containerfile.read_text()
        made.setdefault("s2i_output", run.output)
        result = buildah.build_with_volumes(
            containerfile, Path(ctx), volumes=CA_VOLUMES, tag=tag, layers=False,
            on_line=log.append,
        )  # fmt: skip
    return result.image_id


def assemble_steps(lines: list[str]) -> dict[str, float]:
    """Seconds per assemble step, from its last line (`nb2svc-s2i: done: lock 1.2s, ...`)."""
    done = next(line for line in reversed(lines) if "nb2svc-s2i: done: " in line)
    pairs = (item.rsplit(" ", 1) for item in done.split("done: ", 1)[1].split(", "))
    return {name: float(value.rstrip("s")) for name, value in pairs}


def predict(
    podman: Podman, image: str, instances: list[Any], command: list[str] | None = None
) -> tuple[list[Any], int]:
    """Predictions of a running image for `instances`, and its exit code after `stop`."""
    with podman.running(image, port_container=8080, read_only=True, command=command) as container:
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


def test_the_builder_prints_usage_and_declares_the_s2i_contract(
    images: dict[str, Any], buildah: Buildah, podman: Podman
) -> None:
    labels = buildah.image_labels(BUILDER)
    assert labels[SCRIPTS_URL] == "image:///usr/libexec/s2i"
    assert labels[DESTINATION] == "/tmp"
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


def test_s2i_reads_the_builder_labels_from_the_registry_and_follows_them(
    images: dict[str, Any], buildah: Buildah, registry: Registry, s2i: S2IClient, tmp_path: Path
) -> None:
    """s2i inspected the pushed builder over TLS with credentials (no warning), and its
    Dockerfile uses the scripts folder and destination the labels declare. A relabelled
    copy proves the labels are what s2i follows: its scripts URL moves assemble and run.
    Its destination label does not move the source: `--as-dockerfile` takes the
    destination from `--destination` only (s2i v1.6.3), so the builder keeps `/tmp`.
    Without the CA, s2i warns and falls back to its defaults."""
    assert NOT_INSPECTED not in images["s2i_output"]
    builder = buildah.image_labels(BUILDER)
    scripts = builder[SCRIPTS_URL].removeprefix("image://")
    lines = images["dockerfile"].splitlines()
    assert lines[0] == f"FROM {images['remote']}"
    assert f"COPY --chown=1001:0 upload/src {builder[DESTINATION]}/src" in lines
    assert [line for line in lines if not line.startswith(("#", " ", "LABEL"))][-3:] == [
        "USER 1001",
        f"RUN {scripts}/assemble",
        f"CMD {scripts}/run",
    ]

    with buildah.working_container(BUILDER) as container:
        buildah.config(container, labels={SCRIPTS_URL: "image:///opt/probe/s2i",
                                          DESTINATION: "/opt/probe/dest"})  # fmt: skip
        buildah.commit(container, PROBE)
    access = RegistryAccess(authfile=registry.authfile, cert_dir=registry.cert_dir)
    buildah.push_to_registry(PROBE, remote(registry, PROBE), access)
    run = s2i.as_dockerfile(CHURN, remote(registry, PROBE), tmp_path / "relabelled")
    assert NOT_INSPECTED not in run.output
    relabelled = (tmp_path / "relabelled" / "Dockerfile").read_text().splitlines()
    assert "RUN /opt/probe/s2i/assemble" in relabelled
    assert "CMD /opt/probe/s2i/run" in relabelled
    assert "COPY --chown=1001:0 upload/src /tmp/src" in relabelled

    untrusting = S2IClient(s2i.binary, *client_home_without_ca(tmp_path / "untrusting"))
    run = untrusting.as_dockerfile(CHURN, remote(registry, PROBE), tmp_path / "fallback")
    assert NOT_INSPECTED in run.output
    assert "certificate signed by unknown authority" in run.output
    assert "RUN /usr/libexec/s2i/assemble" in (tmp_path / "fallback" / "Dockerfile").read_text()


def client_home_without_ca(folder: Path) -> tuple[Path, Path]:
    (folder / "home").mkdir(parents=True)
    (folder / "run").mkdir(mode=0o700)
    return folder / "home", folder / "run"


def test_as_dockerfile_image_predicts_like_nb2svc_build(
    images: dict[str, Any], buildah: Buildah, podman: Podman, tmp_path: Path
) -> None:
    """Same predictions as `nb2svc build`'s image, and SIGTERM drains the server. s2i
    cannot apply assemble's labels in this mode; `local.apply_image_metadata` then gives
    the image the provenance `nb2svc build` writes."""
    build(BuildOptions(source=str(CHURN), image=REFERENCE, outdir=tmp_path / "out"))
    instances = sample_inputs(podman, APP)
    s2i_predictions, exit_code = predict(podman, APP, instances)
    reference_predictions, _ = predict(podman, REFERENCE, instances)
    assert s2i_predictions == reference_predictions
    assert exit_code == 0  # SIGTERM reached the server (PID 1), which drained and exited
    app = buildah.image_labels(APP)
    assert app["io.openshift.s2i.build.image"] == images["remote"]  # s2i's own LABEL
    assert labels.NB2SVC_NOTEBOOK not in app
    local.apply_image_metadata(buildah, APP, APP_LABELLED)
    assert_provenance(buildah.image_labels(APP_LABELLED), buildah.image_labels(REFERENCE))
    assert buildah.image_labels(APP_LABELLED)["io.openshift.s2i.build.image"] == images["remote"]
    assert output_of(podman, APP_LABELLED, ["ls", "-A", "/tmp"]).split() == []


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
    assert app[SCRIPTS_URL] == "image:///usr/libexec/s2i"


def test_no_ca_bundle_and_no_upload_stay_in_the_app_image(
    images: dict[str, Any], podman: Podman
) -> None:
    """The CA mount point stays an empty file; /tmp holds only s2i's image metadata
    folder (`.s2i`, which nobody reads in this mode): no source, no artifacts."""
    ca = output_of(podman, APP, ["/bin/sh", "-c", f"wc -c < {CA_MOUNT} || true"])
    assert ca.strip() in ("", "0")
    assert output_of(podman, APP, ["ls", "-A", "/tmp"]).split() == [".s2i"]


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
    images: dict[str, Any], buildah: Buildah, s2i: S2IClient
) -> None:
    """`s2i build --as-dockerfile ... APP --incremental`: s2i's `cached` stage runs
    save-artifacts in APP, and assemble restores them."""
    warm = timed(
        lambda log: as_dockerfile_build(buildah, s2i, images, APP_INCREMENTAL, log, previous=APP)
    )
    assert images["dockerfiles"][APP_INCREMENTAL].splitlines()[0] == f"FROM {APP} as cached"
    assert_incremental(images["as_dockerfile"], warm)
    app, incremental = buildah.image_labels(APP), buildah.image_labels(APP_INCREMENTAL)
    assert incremental["io.k8s.display-name"] == APP  # s2i labels the image with the tag
    assert incremental[SCRIPTS_URL] == app[SCRIPTS_URL]


def test_docker_api_mode_assembles_and_reuses_artifacts_but_podman_4_3_loses_the_commit_config(
    images: dict[str, Any], buildah: Buildah, podman: Podman, s2i: S2IClient, tmp_path: Path
) -> None:
    """`s2i build SOURCE BUILDER TAG [--incremental]` against podman's Docker-compatible API
    (`podman system service`): s2i creates the build container, streams the upload tar into
    `tar -xf -` and assemble as 1001 with the CA as `-v`, runs the previous image's
    save-artifacts and streams its tar into the next build, and commits. All of that works.

    What does not, with Debian 12's podman 4.3.1: its `POST /commit` ignores the container
    config s2i sends in the body (podman#13770; fixed by podman#20657 in 4.9.3), so the
    image keeps the build container's command (`tar ... && assemble`) as CMD and has
    neither s2i's labels nor assemble's. So this asserts the assembled image serves the
    same predictions when started with the run script, and pins the commit defect; with a
    podman that applies the config, it asserts s2i's CMD and labels instead."""
    host_containers = {c["Id"] for c in podman.containers()}
    with podman_service(tmp_path) as docker_host:
        cold = timed(lambda log: api_build(s2i, images, docker_host, log, incremental=False))
        buildah.tag(API, API_COLD)  # s2i reads the previous image from the tag, and moves it
        warm = timed(lambda log: api_build(s2i, images, docker_host, log, incremental=True))
    assert {c["Id"] for c in podman.containers()} == host_containers
    assert_incremental(cold, warm)
    assert buildah.image_id(API) != buildah.image_id(API_COLD)

    config = buildah.inspect(API)["OCIv1"]["config"]
    app = dict(config.get("Labels") or {})
    assert config["User"] == "1001"
    if podman.version() < PODMAN_COMMIT_APPLIES_CONFIG:
        assert config["Cmd"] == API_BUILD_COMMAND
        assert "io.openshift.s2i.build.image" not in app
        assert labels.NB2SVC_NOTEBOOK not in app
        command: list[str] | None = ["/usr/libexec/s2i/run"]
    else:
        assert config["Cmd"] == ["/usr/libexec/s2i/run"]
        assert app["io.openshift.s2i.build.image"] == images["remote"]
        assert app[labels.NB2SVC_NOTEBOOK] == "churn.ipynb"
        command = None
    instances = sample_inputs(podman, APP)
    assert predict(podman, API, instances, command)[0] == predict(podman, APP, instances)[0]


def api_build(
    s2i: S2IClient, made: dict[str, Any], docker_host: str, log: list[str], *, incremental: bool
) -> str:
    run = s2i.docker_api_build(CHURN, made["remote"], API, docker_host=docker_host,
                               volumes=CA_VOLUMES, incremental=incremental)  # fmt: skip
    log += run.lines
    assert NOT_INSPECTED not in run.output
    assert "Build completed successfully" in run.output
    return API


def test_a_colab_path_notebook_is_built_and_served_as_nb2svc_build_does(
    images: dict[str, Any], buildah: Buildah, podman: Podman, s2i: S2IClient
) -> None:
    """`/content/churn.csv` with churn.csv in the repository: assemble links it for training
    (the plan's data link, under the builder's /content), then removes the link."""
    log: list[str] = []
    as_dockerfile_build(buildah, s2i, images, COLAB, log, source=CASES / "colab-content")
    with podman.running(COLAB, port_container=8080, read_only=True) as container:
        saved = podman.read_file(container, IMAGE_METADATA).decode()
        name = metadata.parse(saved)[labels.NB2SVC_MODEL_NAME]  # what the label would say
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
    images: dict[str, Any], buildah: Buildah, s2i: S2IClient
) -> None:
    log: list[str] = []
    before = {c["id"] for c in buildah.containers()}
    with pytest.raises(BuildahError):
        as_dockerfile_build(buildah, s2i, images, "localhost/nb2svc-test/never", log,
                            source=CASES / "download-urlretrieve")  # fmt: skip
    text = "\n".join(log)
    assert "cell 2 (In [1]) needs the network" in text
    assert "urlretrieve" in text
    assert "--allow-network" in text
    assert "lock:" not in text  # refused before anything was resolved or installed
    assert not buildah.image_exists("localhost/nb2svc-test/never")
    assert {c["id"] for c in buildah.containers()} == before
