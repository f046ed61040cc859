"""Tekton itself judges ci/tekton/task-nb2svc-build.yaml and ci/tekton/pipeline-nb2svc.yaml.

Two judges, both Tekton's own code at the version pinned in tools/tekton-check/go.mod:

- `tekton-check` (tools/tekton-check) decodes each file into Tekton's v1 Go types the way
  Tekton's admission webhook does (unknown fields refused), runs `SetDefaults` and
  `Validate`, and then checks what Tekton checks only when a PipelineRun runs: the params,
  workspaces and results each pipeline task uses against the Task it runs. Every broken copy
  below is refused with Tekton's message, so the check is shown to be able to fail.
- The real kube-apiserver 1.37.2 of the test control plane, with Tekton's CRDs from the same
  module installed, accepts both files in a server-side dry-run apply: Tekton's OpenAPI
  schema, with strict field validation.

No Tekton controller or webhook runs here: nothing executes the Task (docs/triggers.md).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import go_tools
import pytest
import yaml
from cluster_support import KubeCluster

ROOT = Path(__file__).resolve().parents[2]
TASK = ROOT / "ci" / "tekton" / "task-nb2svc-build.yaml"
PIPELINE = ROOT / "ci" / "tekton" / "pipeline-nb2svc.yaml"
TEKTON = "github.com/tektoncd/pipeline"
TASK_LABEL = "Task/nb2svc-build"
PIPELINE_LABEL = "Pipeline/nb2svc"


def check(cli: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(cli), *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


@dataclass(frozen=True)
class Broken:
    """A copy of one of the two files with `old` replaced by `new`, and what Tekton says."""

    file: Path
    old: str
    new: str
    message: str  # a regular expression for the message after "FILE: Kind/name: "

    def write(self, folder: Path) -> Path:
        text = self.file.read_text()
        assert text.count(self.old) == 1, f"{self.old!r} is not once in {self.file.name}"
        copy = folder / self.file.name
        copy.write_text(text.replace(self.old, self.new))
        return copy

    @property
    def label(self) -> str:
        return TASK_LABEL if self.file == TASK else PIPELINE_LABEL


BUILD_TASK_PARAMS_END = """\
        - name: NB2SVC_IMAGE
          value: $(params.NB2SVC_IMAGE)
      workspaces:
        - name: source
          workspace: source
        - name: dockerconfig
          workspace: dockerconfig
"""

BROKEN = {
    "a script references a param the Task does not declare": Broken(
        TASK,
        "set -euo pipefail\n        args=(build",
        'set -euo pipefail\n        echo "$(params.PUSH_RETRIES)"\n        args=(build',
        r'non-existent variable in "#!/usr/bin/env bash\\nset -euo pipefail\\n'
        r'echo \\"\$\(params\.PUSH_RETRIES\)\\".*": spec\.steps\[0\]\.script',
    ),
    "a step has a field Tekton does not know": Broken(
        TASK,
        "    - name: generate\n",
        "    - name: generate\n      onErr: continue\n",
        r'cannot decode incoming new object: json: unknown field "onErr"',
    ),
    "the Pipeline passes a param the Task does not have": Broken(
        PIPELINE,
        BUILD_TASK_PARAMS_END,
        BUILD_TASK_PARAMS_END.replace(
            "      workspaces:",
            '        - name: PUSH_RETRIES\n          value: "3"\n      workspaces:',
        ),
        r'spec\.tasks\[1\] \(build\): param "PUSH_RETRIES" is passed but Task "nb2svc-build" '
        r"declares no such param \(Tekton ignores it at run time\)",
    ),
    "the Pipeline leaves out the Task's required param": Broken(
        PIPELINE,
        "        - name: IMAGE\n"
        "          value: $(params.IMAGE_REPO):$(tasks.fetch-source.results.commit)\n",
        "",
        r"spec\.tasks\[1\] \(build\): invalid input params for task nb2svc-build: missing values "
        r"for these params which have no default values: \[IMAGE\]",
    ),
    "the Pipeline passes an array to a string param": Broken(
        PIPELINE,
        "          value: $(params.BASE_IMAGE)\n",
        "          value: [$(params.BASE_IMAGE)]\n",
        r"spec\.tasks\[1\] \(build\): invalid input params for task nb2svc-build: param types "
        r"don't match the user-specified type: \[BASE_IMAGE\]",
    ),
    "the Pipeline leaves the Task's required workspace unbound": Broken(
        PIPELINE,
        BUILD_TASK_PARAMS_END,
        BUILD_TASK_PARAMS_END.replace("        - name: source\n          workspace: source\n", ""),
        r'spec\.tasks\[1\] \(build\): declared workspace "source" is required but has not been '
        r"bound",
    ),
    "the Pipeline binds a workspace the Task does not declare": Broken(
        PIPELINE,
        "        - name: dockerconfig\n          workspace: dockerconfig\n",
        "        - name: docker-config\n          workspace: dockerconfig\n",
        r'spec\.tasks\[1\] \(build\): workspace binding "docker-config" does not match any '
        r"declared workspace",
    ),
    "an optional Pipeline workspace feeds a workspace the Task requires": Broken(
        PIPELINE,
        "  workspaces:\n    - name: source\n",
        "  workspaces:\n    - name: source\n      optional: true\n",
        r'spec\.tasks\[1\] \(build\): pipeline workspace "source" is marked optional but '
        r'pipeline task "build" requires it be provided',
    ),
    "a pipeline task uses a result the Task does not produce": Broken(
        PIPELINE,
        "          value: $(tasks.build.results.IMAGE_DIGEST)\n        - name: NAMESPACE",
        "          value: $(tasks.build.results.DIGEST)\n        - name: NAMESPACE",
        r'spec\.tasks\[2\] \(deploy\): invalid result reference in pipeline task "deploy": '
        r'"DIGEST" is not a named result returned by pipeline task "build"',
    ),
    "a Pipeline result names a result the Task does not produce": Broken(
        PIPELINE,
        "    - name: IMAGE_DIGEST\n      value: $(tasks.build.results.IMAGE_DIGEST)\n",
        "    - name: IMAGE_DIGEST\n      value: $(tasks.build.results.IMAGE_SHA)\n",
        r'spec\.results\[1\]: invalid pipeline result "IMAGE_DIGEST": "IMAGE_SHA" is not a named '
        r'result returned by pipeline task "build"',
    ),
    "a Pipeline param is referenced but not declared": Broken(
        PIPELINE,
        "        - name: NAMESPACE\n          value: $(params.NAMESPACE)\n",
        "        - name: NAMESPACE\n          value: $(params.TARGET_NAMESPACE)\n",
        r'non-existent variable in "\$\(params\.TARGET_NAMESPACE\)": '
        r"spec\.tasks\[2\]\.params\[NAMESPACE\]",
    ),
}


# --- tekton-check: Tekton's decoding, SetDefaults, Validate, and the run-time cross-checks ---


def test_tekton_accepts_the_task_and_the_pipeline(tekton_check_cli: Path) -> None:
    done = check(tekton_check_cli, TASK, PIPELINE)
    assert (done.returncode, done.stderr) == (0, "")
    assert f"{TASK}: {TASK_LABEL}: valid" in done.stdout.splitlines()
    assert f"{PIPELINE}: {PIPELINE_LABEL}: valid" in done.stdout.splitlines()


def test_only_the_catalog_git_clone_is_left_to_run_time(tekton_check_cli: Path) -> None:
    """fetch-source comes from the hub resolver: its Task, and so the `commit` result the
    build task uses, exist only once a PipelineRun resolves it."""
    notes = [line for line in check(tekton_check_cli, TASK, PIPELINE).stdout.splitlines()
             if ": note: " in line]  # fmt: skip
    assert notes == [
        f"{PIPELINE}: {PIPELINE_LABEL}: note: spec.tasks[0] (fetch-source): not cross-checked: "
        'its Task is resolved at run time by the "hub" resolver'
    ]


def test_the_pipeline_needs_tektons_default_beta_api_fields_for_the_hub_resolver(
    tekton_check_cli: Path,
) -> None:
    """Tekton's default `enable-api-fields` is "beta"; a cluster whose feature-flags
    ConfigMap sets "stable" refuses the Pipeline's `taskRef.resolver` (the Task passes)."""
    for fields in ("beta", "alpha"):
        accepted = check(tekton_check_cli, f"--enable-api-fields={fields}", TASK, PIPELINE)
        assert accepted.returncode == 0, accepted.stderr
    done = check(tekton_check_cli, "--enable-api-fields=stable", TASK, PIPELINE)
    assert done.returncode == 1
    assert f"{TASK}: {TASK_LABEL}: valid" in done.stdout.splitlines()
    gate = 'requires "enable-api-fields" feature gate to be "alpha" or "beta" but it is "stable"'
    assert f"{PIPELINE}: {PIPELINE_LABEL}: taskref.resolver {gate}" in done.stderr.splitlines()


def test_a_pipeline_without_its_task_is_refused(tekton_check_cli: Path) -> None:
    done = check(tekton_check_cli, PIPELINE)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"{PIPELINE}: {PIPELINE_LABEL}: spec.tasks[1] (build): taskRef.name: "
        'Task "nb2svc-build" is not among the files given'
    ]


@pytest.mark.parametrize("case", BROKEN.values(), ids=BROKEN.keys())
def test_tekton_refuses_a_broken_copy_saying_why(
    tekton_check_cli: Path, tmp_path: Path, case: Broken
) -> None:
    copy = case.write(tmp_path)
    files = (copy, PIPELINE) if case.file == TASK else (TASK, copy)
    done = check(tekton_check_cli, *files)
    assert done.returncode == 1, done.stdout
    errors = done.stderr.splitlines()
    assert errors, "no message"
    assert all(line.startswith(f"{copy}: {case.label}: ") for line in errors), errors
    messages = [line.removeprefix(f"{copy}: {case.label}: ") for line in errors]
    assert any(re.fullmatch(case.message, m) for m in messages), messages
    if case.file == PIPELINE:
        assert f"{TASK}: {TASK_LABEL}: valid" in done.stdout.splitlines()


# --- Tekton's CRDs on the real kube-apiserver ----------------------------------------------


def tekton_module() -> dict[str, Any]:
    """The Tekton module tools/tekton-check builds against (from the Go module cache)."""
    done = subprocess.run(
        ["go", "mod", "download", "-json", TEKTON], cwd=go_tools.TOOLS / "tekton-check",
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    module: dict[str, Any] = json.loads(done.stdout)
    return module


@pytest.fixture(scope="module")
def tekton_crds(kube_cluster: KubeCluster) -> Iterator[Path]:
    """Tekton's CRDs (config/300-crds of the module), installed for this module's tests and
    removed after them.

    Each CRD serves v1beta1 and v1, stores v1 (`storage: true`), and converts between them
    with `conversion.strategy: Webhook` calling the Service tekton-pipelines-webhook in
    namespace tekton-pipelines, which does not exist here. The API server calls that webhook
    only when an object must change version; a v1 object is read and stored as v1, so the v1
    Task and Pipeline are judged by the CRDs' v1 schema alone and no webhook is needed. The
    same Task sent as v1beta1 would have to be converted to v1 to be stored, and fails.
    """
    module = tekton_module()
    assert module["Version"] == go_tools.TEKTON_CHECK.version
    crds = Path(module["Dir"]) / "config" / "300-crds"
    kube_cluster.kubectl("apply", "--server-side", "-f", str(crds), timeout=120)
    kube_cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s",
        "crd/tasks.tekton.dev", "crd/pipelines.tekton.dev", timeout=90,
    )  # fmt: skip
    yield crds
    kube_cluster.kubectl("delete", "-f", str(crds), "--wait=false", check=False, timeout=120)


@pytest.fixture(scope="module")
def tekton_namespace(kube_cluster: KubeCluster, tekton_crds: Path) -> Iterator[str]:
    name = kube_cluster.namespace("tekton-peer", restricted=False)
    yield name
    kube_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def dry_run_apply(
    cluster: KubeCluster, namespace: str, *files: Path
) -> subprocess.CompletedProcess[str]:
    args = [arg for file in files for arg in ("-f", str(file))]
    return cluster.kubectl(
        "apply", "--server-side", "--dry-run=server", "--field-manager=nb2svc-tests",
        "-n", namespace, "-o", "json", *args, check=False,
    )  # fmt: skip


@pytest.mark.cluster
def test_the_crds_store_v1_and_name_a_conversion_webhook_that_is_not_running(
    kube_cluster: KubeCluster, tekton_crds: Path
) -> None:
    for crd in ("tasks.tekton.dev", "pipelines.tekton.dev"):
        spec = json.loads(kube_cluster.kubectl("get", "crd", crd, "-o", "json").stdout)["spec"]
        versions = {v["name"]: (v["served"], v["storage"]) for v in spec["versions"]}
        assert versions == {"v1beta1": (True, False), "v1": (True, True)}
        assert spec["conversion"]["strategy"] == "Webhook"
        service = spec["conversion"]["webhook"]["clientConfig"]["service"]
        assert (service["namespace"], service["name"]) == (
            "tekton-pipelines",
            "tekton-pipelines-webhook",
        )
    gone = kube_cluster.kubectl("get", "namespace", "tekton-pipelines", check=False)
    assert gone.returncode != 0
    assert "NotFound" in gone.stderr


@pytest.mark.cluster
def test_the_api_server_accepts_the_task_and_the_pipeline_as_they_are(
    kube_cluster: KubeCluster, tekton_namespace: str
) -> None:
    done = dry_run_apply(kube_cluster, tekton_namespace, TASK, PIPELINE)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr
    returned = json.loads(done.stdout)
    items = returned["items"] if returned.get("kind") == "List" else [returned]
    sent = [yaml.safe_load(TASK.read_text()), yaml.safe_load(PIPELINE.read_text())]
    for got, doc in zip(items, sent, strict=True):
        assert (got["apiVersion"], got["kind"]) == (doc["apiVersion"], doc["kind"])
        assert got["metadata"]["namespace"] == tekton_namespace
        assert got["spec"] == doc["spec"], "the API server pruned or changed a field"
    # A dry run stores nothing.
    listed = kube_cluster.kubectl("get", "tasks,pipelines", "-n", tekton_namespace, "-o", "name")
    assert listed.stdout == ""


@pytest.mark.cluster
def test_the_api_server_refuses_a_field_tektons_schema_does_not_have(
    kube_cluster: KubeCluster, tekton_namespace: str, tmp_path: Path
) -> None:
    copy = BROKEN["a step has a field Tekton does not know"].write(tmp_path)
    done = dry_run_apply(kube_cluster, tekton_namespace, copy)
    assert done.returncode != 0
    assert ".spec.steps[0].onErr: field not declared in schema" in done.stderr, done.stderr


@pytest.mark.cluster
def test_the_same_task_as_v1beta1_needs_the_conversion_webhook_and_fails(
    kube_cluster: KubeCluster, tekton_namespace: str, tmp_path: Path
) -> None:
    copy = tmp_path / "task-v1beta1.yaml"
    copy.write_text(
        TASK.read_text().replace("apiVersion: tekton.dev/v1\n", "apiVersion: tekton.dev/v1beta1\n")
    )
    done = dry_run_apply(kube_cluster, tekton_namespace, copy)
    assert done.returncode != 0
    assert "conversion webhook for tekton.dev/v1beta1, Kind=Task failed" in done.stderr
    assert 'service "tekton-pipelines-webhook" not found' in done.stderr, done.stderr
