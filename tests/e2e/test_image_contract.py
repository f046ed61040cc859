"""The HTTP contract suite (tests/runtime/test_contract*.py) against the built churn image,
including schemathesis' run of the image's OpenAPI document with at least 1,000 cases and
the real protocol clients (tritonclient, the KServe SDK, MLflow's scoring client).

For each runtime the real `nb2svc build` makes the image (the layer cache makes a rebuild
take seconds), podman runs it read-only, and the same contract tests that run against the
local servers run against the container, via NB2SVC_SERVER_URL and NB2SVC_ARTIFACT_DIR.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from nb2svc.engine.errors import PodmanError
from nb2svc.engine.podman import Container, Podman

from .e2e_support import REPO_ROOT, ChurnBuilds

pytestmark = [pytest.mark.slow, pytest.mark.containers]
CONTRACT = [
    "tests/runtime/test_contract.py",
    "tests/runtime/test_contract_openapi.py",
    "tests/runtime/test_contract_clients.py",  # tritonclient, the KServe SDK, MLflow's client
]
ARTIFACT_FILES = ("model.joblib", "signature.json", "sample.json", "requirements.txt")
COMPILED_FILES = ("inference.json", "model.onnx")  # when the build compiled the model


@pytest.fixture(scope="module", params=["default", "bentoml"])
def image(request: pytest.FixtureRequest, churn_builds: ChurnBuilds) -> str:
    """The session's churn image for one runtime."""
    build = churn_builds.get(str(request.param))
    assert build.report["runtime"] == request.param
    return build.tag


@pytest.fixture(scope="module")
def container(podman: Podman, image: str) -> Iterator[Container]:
    with podman.running(image, read_only=True) as running:
        podman.wait_http_ready(f"{running.url}/readyz", timeout=60, container=running)
        yield running


def copy_artifact(podman: Podman, container: Container, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    for name in ARTIFACT_FILES:
        (into / name).write_bytes(podman.read_file(container, f"/opt/nb2svc/model/{name}"))
    for name in COMPILED_FILES:
        try:
            (into / name).write_bytes(podman.read_file(container, f"/opt/nb2svc/model/{name}"))
        except PodmanError:
            continue
    return into


def test_the_image_honours_the_http_contract(
    podman: Podman, container: Container, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "NB2SVC_SERVER_URL": container.url,
        "NB2SVC_ARTIFACT_DIR": str(copy_artifact(podman, container, tmp_path / "model")),
    }
    argv = [sys.executable, "-m", "pytest", *CONTRACT, "-q", "-s", "-p", "no:cacheprovider"]
    done = subprocess.run(
        argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stdout[-6000:]
    assert " passed" in done.stdout
    # test_contract_openapi.py's count of schemathesis' cases (>= 1,000 against an image)
    print(*(line for line in done.stdout.splitlines() if "schemathesis:" in line), sep="\n")
