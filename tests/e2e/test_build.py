"""`nb2svc build` end to end, with the real buildah and podman.

The sample churn notebook trains inside the image and the image serves the notebook's own
predictions; failures name the cell; nothing is left behind; secrets stay out of layers.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nb2svc.engine.buildah import Buildah
from nb2svc.engine.podman import Podman
from nb2svc.errors import EXIT_DEPENDENCIES, EXIT_TRAINING
from nb2svc.image.base import BaseImages
from nbclient import NotebookClient

from .e2e_support import (
    CLEAN_ORIGIN,
    FAKE_TOKEN,
    REPO_ROOT,
    SMALL_CELLS,
    ChurnBuild,
    container_ids,
    make_repo,
    nb2svc,
    notebook,
)

pytestmark = [pytest.mark.slow, pytest.mark.containers]
CHURN = REPO_ROOT / "sample-notebooks" / "churn"


def predict(url: str, name: str, rows: list[dict[str, Any]]) -> list[Any]:
    body = json.dumps({"instances": rows}).encode()
    request = urllib.request.Request(
        f"{url}/v1/models/{name}:predict", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        predictions = json.loads(response.read())["predictions"]
    assert isinstance(predictions, list)
    return predictions


def churn_rows(first: int, count: int) -> list[dict[str, Any]]:
    with (CHURN / "data" / "churn.csv").open() as handle:
        rows = list(csv.DictReader(handle))[first : first + count]
    numbers = {"senior_citizen": int, "tenure": int, "support_calls": int,
               "monthly_charges": float, "total_charges": float}  # fmt: skip
    return [
        {k: numbers.get(k, str)(v) for k, v in row.items() if k not in ("customer_id", "churn")}
        for row in rows
    ]


def notebook_predictions(rows: list[dict[str, Any]], workdir: Path) -> list[Any]:
    """Run the notebook itself in a Jupyter kernel on the host and ask its `model`."""
    nb = nbformat.read(str(CHURN / "churn.ipynb"), as_version=4)
    nb.cells = [c for c in nb.cells if not c.source.lstrip().startswith("!pip")]
    probe = f"import json\nprint(json.dumps(model.predict(pd.DataFrame({rows!r})).tolist()))"
    nb.cells.append(nbformat.v4.new_code_cell(probe))
    (workdir / "data").symlink_to(CHURN / "data")
    NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(workdir)}}).execute()
    output = nb.cells[-1].outputs[0]["text"]
    result = json.loads(output)
    assert isinstance(result, list)
    return result


def test_the_churn_image_serves_the_notebooks_own_predictions(
    churn_build: ChurnBuild, podman: Podman, tmp_path: Path
) -> None:
    report = churn_build.report
    rows = churn_rows(100, 8)
    expected = notebook_predictions(rows, tmp_path)
    with podman.running(report["image_id"], read_only=True) as container:
        podman.wait_http_ready(f"{container.url}/readyz", timeout=60, container=container)
        assert predict(container.url, "churn", rows) == expected


def test_the_report_says_what_was_built_and_from_what(
    churn_build: ChurnBuild,
) -> None:
    out, report = churn_build.out, churn_build.report
    assert report["image"] == churn_build.tag
    assert report["model"]["variable"] == "model"
    assert report["model"]["framework"] == "sklearn"
    assert {i["name"] for i in report["signature"]["inputs"]} >= {"tenure", "contract"}
    names = {d["name"]: d for d in report["dependencies"]}
    assert names["scikit-learn"]["version"]
    assert names["scikit-learn"]["source"] == "pip-line"
    assert report["cache"]["whole_build_reused"] or report["timings"]["train"] > 0
    inference = report["inference"]  # the churn forest compiles (docs/architecture.md)
    assert inference["backend"] == "onnxruntime", inference["fallback_reason"]
    assert inference["checked_rows"] >= 300
    assert inference["max_abs_diff"] <= inference["tolerance"]
    for name in ("Containerfile", "train.py", "requirements.lock", "manifests.yaml"):
        assert (out / name).is_file()
    rss = report["verification"]["worker_rss_bytes"]
    assert 20 * 2**20 < rss < 2**30, "one worker's resident memory, measured"
    manifests = (out / "manifests.yaml").read_text()
    assert f"value: '{rss}'" in manifests
    assert "memory: 1Gi" not in manifests


def test_the_runtime_image_is_non_root_labelled_and_slim(
    churn_build: ChurnBuild, buildah: Buildah
) -> None:
    report = churn_build.report
    config = buildah.inspect(report["image_id"])["OCIv1"]["config"]
    assert config["User"] == "1001:0"
    labels = config["Labels"]
    assert labels["io.nb2svc.notebook"] == "churn.ipynb"
    assert len(labels["io.nb2svc.notebook.sha256"]) == 64
    assert labels["io.openshift.expose-services"] == "8080:http"
    assert report["image_size_bytes"] < 600 * 1024 * 1024


def test_an_unchanged_rebuild_reuses_the_image_without_building(
    churn_build: ChurnBuild, tmp_path: Path
) -> None:
    first = churn_build.report
    run = nb2svc("build", churn_build.source, "-o", tmp_path, "-t", churn_build.tag)
    assert run.returncode == 0, run.stderr[-3000:]
    report = run.report(tmp_path)
    assert report["image_id"] == first["image_id"]
    assert report["cache"]["whole_build_reused"]
    assert "nothing changed" in run.stderr


def test_a_code_edit_keeps_the_dependency_layer_and_retrains(
    base_images: BaseImages, tmp_path: Path, test_image: str
) -> None:
    repo = make_repo(tmp_path / "repo")
    assert nb2svc("build", repo, "-o", tmp_path / "a", "-t", test_image).returncode == 0
    cells = list(SMALL_CELLS)
    # A nonce: the edited notebook must be new to the shared layer cache, whatever ran before.
    cells[0] = f"n_estimators = 12\nrandom_state = 0\nedit = '{uuid.uuid4().hex}'"
    make_repo(repo, cells)
    run = nb2svc("build", repo, "-o", tmp_path / "b", "-t", test_image)
    assert run.returncode == 0, run.stderr[-3000:]
    cache = run.report(tmp_path / "b")["cache"]
    assert cache["deps_layer_reused"]
    assert not cache["train_layer_reused"]
    assert not cache["whole_build_reused"]
    assert cache["lock_changes"] == {"added": [], "removed": [], "changed": []}


def test_a_failing_cell_is_named_and_exits_with_the_training_code(
    base_images: BaseImages, buildah: Buildah, tmp_path: Path, test_image: str
) -> None:
    cells = list(SMALL_CELLS)
    cells[3] = "X = df.drop(columns=['kind'])\ny = df['colour']"
    repo = make_repo(tmp_path / "repo", cells)
    before = container_ids(buildah)
    run = nb2svc("build", repo, "-o", tmp_path / "out", "-t", test_image)
    assert run.returncode == EXIT_TRAINING, run.stderr[-3000:]
    assert "training failed in cell 4 (In [4]): KeyError: 'colour'" in run.stderr
    assert container_ids(buildah) - before == set()
    assert not buildah.image_exists(test_image)


def test_an_unknown_import_fails_before_building_naming_import_and_cell(
    tmp_path: Path, test_image: str
) -> None:
    cells = list(SMALL_CELLS)
    cells[1] += "\nimport frobnicate_the_data"
    run = nb2svc("build", make_repo(tmp_path / "repo", cells), "-o", tmp_path / "out")
    assert run.returncode == EXIT_DEPENDENCIES
    assert "`import frobnicate_the_data` has no known package" in run.stderr
    assert "cell 2 (In [2])" in run.stderr


def test_a_failed_build_keeps_the_previous_tag_and_leaves_no_containers(
    base_images: BaseImages, buildah: Buildah, tmp_path: Path, test_image: str
) -> None:
    repo = make_repo(tmp_path / "repo")
    assert nb2svc("build", repo, "-o", tmp_path / "a", "-t", test_image).returncode == 0
    good = buildah.image_id(test_image)
    cells = [*SMALL_CELLS[:-1], "raise RuntimeError('the GPU is on fire')"]
    make_repo(repo, cells)
    before = container_ids(buildah)
    run = nb2svc("build", repo, "-o", tmp_path / "b", "-t", test_image)
    assert run.returncode == EXIT_TRAINING
    assert buildah.image_id(test_image) == good
    assert container_ids(buildah) - before == set()


def test_an_interrupted_build_leaves_nothing_behind(
    base_images: BaseImages, buildah: Buildah, tmp_path: Path, test_image: str
) -> None:
    cells = [*SMALL_CELLS, "import time\nprint('sleeping', flush=True)\ntime.sleep(300)"]
    repo = make_repo(tmp_path / "repo", cells)
    before = container_ids(buildah)
    env = {**os.environ, "CONTAINERS_CONF": str(REPO_ROOT / "containers" / "containers.conf")}
    argv = [sys.executable, "-m", "nb2svc.cli", "build", str(repo), "-o", str(tmp_path / "o"),
            "-t", test_image]  # fmt: skip
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "sleeping" in line:
            break
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    assert container_ids(buildah) - before == set()
    assert not buildah.image_exists(test_image)


def layer_blobs(archive: Path, dest: Path) -> Iterator[bytes]:
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    for blob in (dest / "blobs" / "sha256").iterdir():
        data = blob.read_bytes()
        yield gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def test_no_secret_or_ca_bundle_reaches_any_layer_or_the_config(
    base_images: BaseImages, buildah: Buildah, tmp_path: Path, test_image: str
) -> None:
    token = f"tok-{time.time_ns()}-do-not-leak"
    marker = f"# nb2svc-ca-marker-{time.time_ns()}"
    (tmp_path / "token").write_text(token)
    bundle = tmp_path / "ca.pem"
    bundle.write_text(Path("/etc/ssl/certs/ca-certificates.crt").read_text() + marker + "\n")
    cells = [
        *SMALL_CELLS,
        "secret = open('/run/secrets/token').read()\nassert secret.startswith('tok-')",
    ]
    repo = make_repo(tmp_path / "repo", cells)
    secret = f"id=token,src={tmp_path / 'token'}"
    out = tmp_path / "out"
    run = nb2svc(
        "build", repo, "-o", out, "-t", test_image, "--secret", secret, "--ca-bundle", bundle
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert token not in run.stderr + run.stdout
    archive = tmp_path / "image.tar"
    buildah.push(test_image, f"oci-archive:{archive}")
    for blob in layer_blobs(archive, tmp_path / "oci"):
        assert token.encode() not in blob
        assert marker.encode() not in blob
    inspected = json.dumps(buildah.inspect(test_image))
    assert token not in inspected
    assert marker not in inspected


def test_a_token_in_the_origin_url_reaches_no_layer_label_annotation_report_or_log(
    churn_build: ChurnBuild, buildah: Buildah, tmp_path: Path
) -> None:
    labels = buildah.image_labels(churn_build.tag)
    assert labels["org.opencontainers.image.source"] == CLEAN_ORIGIN
    assert CLEAN_ORIGIN in (churn_build.out / "manifests.yaml").read_text()
    secret = FAKE_TOKEN.encode()
    assert FAKE_TOKEN not in churn_build.run.stdout + churn_build.run.stderr
    written = [p for p in churn_build.out.rglob("*") if p.is_file()]
    assert {"report.json", "Containerfile", "manifests.yaml"} <= {p.name for p in written}
    assert [p.name for p in written if secret in p.read_bytes()] == []
    archive = tmp_path / "image.tar"
    buildah.push(churn_build.tag, f"oci-archive:{archive}")
    assert not any(secret in blob for blob in layer_blobs(archive, tmp_path / "oci"))
    assert FAKE_TOKEN not in json.dumps(buildah.inspect(churn_build.tag))


def test_a_pipeline_of_notebooks_serves_the_last_ones_model(
    base_images: BaseImages, tmp_path: Path, test_image: str
) -> None:
    repo = make_repo(tmp_path / "repo")
    prep = [
        "import pandas as pd",
        "df = pd.read_csv('data/flowers.csv')\ndf['ratio'] = df.sepal / df.petal",
        "df.to_csv('data/features.csv', index=False)",
    ]
    train = [*SMALL_CELLS]
    train[2] = "df = pd.read_csv('data/features.csv')"
    nbformat.write(notebook(prep), str(repo / "1-prepare.ipynb"))
    nbformat.write(notebook(train), str(repo / "2-train.ipynb"))
    (repo / "flowers.ipynb").unlink()
    run = nb2svc("build", repo, "-n", "1-prepare.ipynb", "-n", "2-train.ipynb",
                 "-o", tmp_path / "out", "-t", test_image)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    report = run.report(tmp_path / "out")
    assert [n["path"] for n in report["notebooks"]] == ["1-prepare.ipynb", "2-train.ipynb"]
    assert {i["name"] for i in report["signature"]["inputs"]} == {"petal", "sepal", "ratio"}
