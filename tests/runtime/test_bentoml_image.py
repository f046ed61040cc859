"""`--runtime bentoml` renders an image that serves the artifact with `bentoml serve`.

The default runtime's Containerfile does not change; the bentoml one adds BentoML to the
serve venv only (never the training venv) and starts the generated service on the port.
"""

from __future__ import annotations

import json
from pathlib import Path

from nb2svc.image.containerfile import render
from nb2svc.image.context import runtime_requirements, write_context
from nb2svc.lock import Lock, parse_lock
from nb2svc.plan import BuildPlan, NotebookRef, make_labels

LOCK_TEXT = "numpy==2.1.0\nscikit-learn==1.5.2\n"


def make_plan(runtime: str) -> BuildPlan:
    lock = Lock(LOCK_TEXT, parse_lock(LOCK_TEXT), "uv 0.13.9", "3.11", "linux", "k")
    notebooks = (NotebookRef("churn/churn.ipynb", "ab" * 32),)
    labels = make_labels(
        name="churn", notebooks=notebooks, lock=lock, runtime=runtime, python_version="3.11",
        source="https://git.example/churn.git", revision="abc123", created="2026-01-02T03:04:05Z",
    )  # fmt: skip
    return BuildPlan(
        name="churn", image="localhost/churn:latest", python_version="3.11",
        base_image="localhost/nb2svc/python:3.11",
        build_base_image="localhost/nb2svc/python:3.11-build", runtime=runtime,
        notebooks=notebooks, lock=lock, runtime_requirements="starlette\n",
        train_script="print('train')\n", model_variable="model",
        source_files=("churn/churn.ipynb",), secrets=(), ca_bundle=None, labels=labels,
    )  # fmt: skip


def stage(text: str, name: str) -> str:
    return next(s for s in text.split("\nFROM ") if s.split("\n", 1)[0].endswith(f" AS {name}"))


def test_bentoml_is_installed_in_the_serve_venv_only() -> None:
    text = render(make_plan("bentoml"))
    assert "bentoml-requirements.txt" in stage(text, "serve-deps")
    assert "bentoml" not in stage(text, "deps") + stage(text, "train")


def test_bentoml_image_runs_bentoml_serve_of_the_generated_service_on_the_port() -> None:
    plan = make_plan("bentoml")
    text = render(plan)
    runtime = stage(text, "runtime")
    entrypoint = next(line for line in runtime.splitlines() if line.startswith("ENTRYPOINT "))
    argv = json.loads(entrypoint.removeprefix("ENTRYPOINT "))
    assert argv[:3] == ["/opt/venv/bin/bentoml", "serve", "nb2svc_bentoml.service:ModelServer"]
    assert argv[argv.index("--port") + 1] == str(plan.port)
    assert "COPY nb2svc_bentoml /opt/nb2svc/lib/nb2svc_bentoml" in stage(text, "serve-files")
    assert "COPY --from=serve-files /opt/nb2svc /opt/nb2svc" in runtime
    assert "CMD " not in runtime


def test_default_runtime_image_has_no_trace_of_bentoml() -> None:
    text = render(make_plan("default"))
    assert "bentoml" not in text.lower()
    assert 'ENTRYPOINT ["/opt/venv/bin/python", "-m", "nb2svc_runtime"]' in text


def source_repo(root: Path) -> Path:
    (root / "churn").mkdir(parents=True)
    (root / "churn/churn.ipynb").write_text("{}")
    return root


def test_context_carries_the_bentoml_package_and_requirements(tmp_path: Path) -> None:
    write_context(make_plan("bentoml"), source_repo(tmp_path / "repo"), tmp_path / "ctx")
    assert (tmp_path / "ctx/nb2svc_bentoml/service.py").is_file()
    requirements = (tmp_path / "ctx/bentoml-requirements.txt").read_text()
    assert requirements == runtime_requirements("bentoml")
    assert any(line.startswith("bentoml") for line in requirements.splitlines())


def test_default_context_is_unchanged(tmp_path: Path) -> None:
    write_context(make_plan("default"), source_repo(tmp_path / "repo"), tmp_path / "ctx")
    assert not (tmp_path / "ctx/nb2svc_bentoml").exists()
    assert not (tmp_path / "ctx/bentoml-requirements.txt").exists()
