"""`nb2svc build`'s orchestration, with a scripted image builder in buildah's place.

Everything between the boundaries is real: the analysis, the committed lock, the plan, the
rendered Containerfile and build context, the build observer, the failure explanations,
the state folder's reuse, tagging and report.json. The builder replays the real
Containerfile the way buildah prints it (`[stage/4] STEP n/m: INSTRUCTION`), with the
output a scenario gives the step it fails or talks in; real-buildah builds are in
tests/e2e and tests/corpus.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nb2svc.analyze import analyze
from nb2svc.config import load_config
from nb2svc.engine.buildah import BuildResult
from nb2svc.engine.errors import BuildahError
from nb2svc.engine.registry import RegistryAccess, RegistryAuthError, classify_push_failure
from nb2svc.errors import DependencyError, TrainingError, UsageError
from nb2svc.image.containerfile import StepKind, step_kind
from nb2svc.image.verify import Verification
from nb2svc.lock import Lock
from nb2svc.lockfile import lockfile_key, render_lockfile
from nb2svc.options import BuildOptions
from nb2svc.pipeline import build
from nb2svc.realworld import TIMEOUT_FIX
from nb2svc.state import StateDir
from nb2svc.tools import Tools
from nb2svc_runtime.contract import ERROR_MARKER

BASE = "localhost/test/base:1"
PUSHED_DIGEST = "sha256:" + "d" * 64
REFUSED = (
    'Error: pushing image "x" to "docker://registry.example.com/ml/mean:1": trying to reuse '
    "blob sha256:dac4 at destination: checking whether a blob sha256:dac4 exists in "
    "registry.example.com/ml/mean: unauthorized: authentication required"
)  # what buildah 1.28.2 said to a wrong password (tests/integration/test_push.py)
CELLS = (
    "import statistics",
    "class Mean:\n    def predict(self, rows):\n        return [statistics.mean(r) for r in rows]",
    "model = Mean()",
)


@dataclass
class ScriptedBuildah:
    """Replays the Containerfile it is given; `say[kind]` lines are printed in the step of
    that kind, and the build fails in the step of kind `fail_in` (buildah's exit 1)."""

    say: dict[StepKind, list[str]] = field(default_factory=dict)
    fail_in: StepKind | None = None
    builds: list[str | None] = field(default_factory=list)  # the target of each build
    tags: list[tuple[str, str]] = field(default_factory=list)
    made: set[str] = field(default_factory=set)
    pushes: list[tuple[str, str]] = field(default_factory=list)  # (image, destination)
    push_refused: str | None = None  # buildah's error line when the registry refuses

    def check(self) -> tuple[int, int, int]:
        return (1, 28, 2)

    def build(
        self,
        containerfile: Path,
        context: Path,
        *,
        target: str | None = None,
        secrets: Sequence[tuple[str, Path]] = (),
        no_cache: bool = False,
        on_line: Callable[[str], None] | None = None,
    ) -> BuildResult:
        self.builds.append(target)
        feed = on_line or (lambda line: None)
        stages = _stages(containerfile.read_text())
        for number, steps in enumerate(stages, 1):
            for index, instruction in enumerate(steps, 1):
                feed(f"[{number}/{len(stages)}] STEP {index}/{len(steps)}: {instruction}")
                kind = step_kind(instruction)
                for line in self.say.get(kind, []) if kind else []:
                    feed(line)
                if kind is not None and kind is self.fail_in:
                    tail = ["error building at STEP", "exit status 1"]
                    raise BuildahError(["buildah", "build"], 1, tail)
            if target and f" AS {target}" in steps[0]:
                break
        image_id = f"{len(self.builds):064x}"
        self.made.add(image_id)
        return BuildResult(image_id, 1.0, 10, None, ())

    def image_id(self, ref: str) -> str:
        return "b" * 64

    def image_exists(self, ref: str) -> bool:
        return ref in self.made

    def image_size(self, ref: str) -> int:
        return 123_456_789

    def tag(self, image: str, *refs: str) -> None:
        self.tags += [(image, ref) for ref in refs]

    def push_to_registry(self, image: str, dest: str, access: RegistryAccess) -> str:
        """What `buildah push` answers: the digest, or the refusal `push_refused` holds."""
        self.pushes.append((image, dest))
        if self.push_refused:
            argv = ["buildah", "push", image, f"docker://{dest}"]
            raise classify_push_failure(dest, access, argv, 125, [self.push_refused])
        return PUSHED_DIGEST


def _stages(containerfile: str) -> list[list[str]]:
    """The instructions of each stage, continuation lines joined, comments left out."""
    stages: list[list[str]] = []
    for line in containerfile.replace("\\\n", " ").splitlines():
        if line.startswith("FROM "):
            stages.append([])
        if stages and line.strip() and not line.startswith("#"):
            stages[-1].append(line)
    return stages


@dataclass
class Harness:
    builder: ScriptedBuildah
    verified: list[str]
    tools: Tools
    source: Path
    out: Path

    def run(self, **options: Any) -> dict[str, Any]:
        settings = BuildOptions(
            source=str(self.source), base_image=BASE, outdir=self.out, **options
        )
        return build(settings, io.StringIO(), self.tools)


def verification() -> Verification:
    sample = {"inputs": [[1, 3]], "predictions": [2]}
    return Verification(0.5, {"class": "Mean"}, sample, [2], "http://127.0.0.1:1", 150 << 20)


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    source = tmp_path / "repo"
    source.mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    notebook.metadata["language_info"] = {"name": "python", "version": "3.11.4"}
    nbformat.write(notebook, source / "train.ipynb")
    commit_lock(source)
    builder = ScriptedBuildah()
    verified: list[str] = []

    def verify(image_id: str, name: str, port: int) -> Verification:
        verified.append(image_id)
        return verification()

    tools = Tools(
        builder=builder,
        base_images=lambda python: pytest.fail("the base images are given"),
        verify=verify,
        read_trained=lambda image_id: ({"class": "Mean"}, {"inputs": [[1, 3]]}),
        state=StateDir(tmp_path / "state"),
    )
    return Harness(builder, verified, tools, source, tmp_path / "out")


def commit_lock(source: Path) -> None:
    """A committed nb2svc.lock for the notebook as it is: the build installs it, offline."""
    analysis = analyze([source / "train.ipynb"], root=source, config=load_config(source))
    lock = Lock(
        text="numpy==1.26.4\n", packages={"numpy": "1.26.4"}, tool="uv 0.9.7",
        python_version="3.11", platform="linux",
        inputs_sha256=lockfile_key(analysis, "3.11"), exclude_newer="2024-05-01",
    )  # fmt: skip
    (source / "nb2svc.lock").write_text(render_lockfile(lock))


def failed_cell(ename: str, evalue: str) -> str:
    record = {"stage": "training", "notebook": "train.ipynb", "cell": 3, "execution_count": 3,
              "ename": ename, "evalue": evalue, "traceback": []}  # fmt: skip
    return f"{ERROR_MARKER} {json.dumps(record)}"


def test_a_build_is_verified_before_it_is_tagged_and_reported(harness: Harness) -> None:
    report = harness.run(image="localhost/mean:1")
    image_id = report["image_id"]
    assert harness.verified == [image_id]
    assert harness.builder.tags == [(image_id, "localhost/mean:1")]
    assert json.loads((harness.out / "report.json").read_text())["image_id"] == image_id
    assert (harness.out / "context" / "Containerfile").is_file()
    assert (harness.out / "train.py").read_text().count("model = Mean()") == 1


def test_an_unchanged_source_reuses_the_image_and_its_verification(harness: Harness) -> None:
    first = harness.run()
    second = harness.run()
    assert second["image_id"] == first["image_id"]
    assert harness.builder.builds == [None]  # one build: the second found it in the state
    assert harness.verified == [first["image_id"]]  # and its verification
    assert second["cache"]["whole_build_reused"] is True
    assert first["cache"]["whole_build_reused"] is False


def test_a_failing_cell_names_the_cell_and_tags_nothing(harness: Harness) -> None:
    harness.builder.say[StepKind.TRAIN] = ["Traceback ...", failed_cell("KeyError", "'tenure'")]
    harness.builder.fail_in = StepKind.TRAIN
    with pytest.raises(TrainingError) as info:
        harness.run()
    assert str(info.value.cell) == "cell 3"
    assert "KeyError" in info.value.message
    assert harness.builder.tags == []
    assert harness.verified == []
    assert not (harness.out / "report.json").exists()


def test_a_training_timeout_says_how_to_raise_the_limit(harness: Harness) -> None:
    harness.builder.say[StepKind.TRAIN] = [failed_cell("TrainingTimeout", "after 5 s")]
    harness.builder.fail_in = StepKind.TRAIN
    with pytest.raises(TrainingError) as info:
        harness.run(train_timeout=5.0)
    assert info.value.fix == TIMEOUT_FIX


def test_training_that_dies_outside_a_cell_says_so(harness: Harness) -> None:
    harness.builder.say[StepKind.TRAIN] = ["Killed"]
    harness.builder.fail_in = StepKind.TRAIN
    with pytest.raises(TrainingError, match="before any notebook cell failed"):
        harness.run()


def test_a_failed_install_is_a_dependency_error_with_the_installer_lines(
    harness: Harness,
) -> None:
    harness.builder.say[StepKind.DEPS] = ["error: no wheel for numpy==1.26.4 on this Python"]
    harness.builder.fail_in = StepKind.DEPS
    with pytest.raises(DependencyError) as info:
        harness.run()
    assert "installing the locked dependencies failed" in info.value.message
    assert any("no wheel for numpy" in line for line in info.value.details)


def test_train_only_builds_the_train_stage_and_tags_nothing(harness: Harness) -> None:
    report = harness.run(train_only=True)
    assert harness.builder.builds == ["train"]
    assert harness.builder.tags == []
    assert harness.verified == []
    assert report["train_image_id"]


def test_a_dry_run_builds_nothing(harness: Harness) -> None:
    assert harness.run(dry_run=True) == {}
    assert harness.builder.builds == []
    assert (harness.out / "context" / "Containerfile").is_file()


def test_push_sends_the_verified_image_and_pins_the_manifests_to_its_digest(
    harness: Harness,
) -> None:
    report = harness.run(image="registry.example.com/ml/mean:1", push=True)
    assert harness.builder.pushes == [(report["image_id"], "registry.example.com/ml/mean:1")]
    assert report["image_digest"] == PUSHED_DIGEST
    assert report["image_pushed"] == f"registry.example.com/ml/mean@{PUSHED_DIGEST}"
    assert json.loads((harness.out / "report.json").read_text()) == report
    manifests = (harness.out / "manifests.yaml").read_text()
    assert f"image: registry.example.com/ml/mean@{PUSHED_DIGEST}" in manifests
    assert "mean:1" not in manifests
    assert "push" in report["timings"]


def test_a_build_without_push_records_no_digest(harness: Harness) -> None:
    report = harness.run(image="registry.example.com/ml/mean:1")
    assert harness.builder.pushes == []
    assert (report["image_digest"], report["image_pushed"]) == (None, None)
    assert "image: registry.example.com/ml/mean:1" in (harness.out / "manifests.yaml").read_text()


def test_a_refused_push_keeps_the_tag_and_the_report_and_says_how_to_push_again(
    harness: Harness,
) -> None:
    harness.builder.push_refused = REFUSED
    with pytest.raises(RegistryAuthError) as info:
        harness.run(image="registry.example.com/ml/mean:1", push=True)
    assert info.value.exit_code == 10
    assert "registry registry.example.com refused the credentials" in info.value.message
    assert f"nb2svc push --report {harness.out / 'report.json'}" in str(info.value.fix)
    written = json.loads((harness.out / "report.json").read_text())
    assert harness.builder.tags == [(written["image_id"], "registry.example.com/ml/mean:1")]
    assert written["image_pushed"] is None
    assert "image: registry.example.com/ml/mean:1" in (harness.out / "manifests.yaml").read_text()


@pytest.mark.parametrize("image", [None, "localhost/mean:1", "mean:1"])
def test_push_to_local_storage_is_refused_before_anything_is_built(
    harness: Harness, image: str | None
) -> None:
    with pytest.raises(UsageError, match="names local container storage"):
        harness.run(image=image, push=True)
    assert harness.builder.builds == []
