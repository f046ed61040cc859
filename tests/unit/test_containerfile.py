"""The Containerfile rendered from a plan: stage order, caching, secrets, non-root runtime."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from containerfile_syntax import instructions
from nb2svc.datapaths import DataLink
from nb2svc.image.containerfile import render
from nb2svc.lock import Lock, parse_lock
from nb2svc.plan import BuildPlan, NotebookRef, Secret, make_labels

LOCK_TEXT = "numpy==2.1.0\nscikit-learn==1.5.2\n"


def make_plan(**changes: object) -> BuildPlan:
    lock = Lock(LOCK_TEXT, parse_lock(LOCK_TEXT), "uv 0.13.9", "3.11", "linux", "k")
    notebooks = (NotebookRef("churn/churn.ipynb", "ab" * 32),)
    plan = BuildPlan(
        name="churn",
        image="localhost/churn:latest",
        python_version="3.11",
        base_image="localhost/nb2svc/python:3.11",
        build_base_image="localhost/nb2svc/python:3.11-build",
        runtime="default",
        notebooks=notebooks,
        lock=lock,
        runtime_requirements="starlette\n",
        train_script="print('train')\n",
        model_variable="model",
        source_files=("churn/churn.ipynb", "churn/data/churn.csv"),
        secrets=(Secret("kaggle", Path("/home/me/.kaggle/kaggle.json")),),
        ca_bundle=Path("/etc/ssl/certs/ca-certificates.crt"),
        labels=make_labels(
            name="churn",
            notebooks=notebooks,
            lock=lock,
            runtime="default",
            python_version="3.11",
            source="https://git.example/churn.git",
            revision="abc123",
            created="2026-01-02T03:04:05Z",
        ),
    )
    return replace(plan, **changes)  # type: ignore[arg-type]


def lines_of_stage(text: str, stage: str) -> list[str]:
    stages = text.split("\nFROM ")
    block = next(s for s in stages if s.split("\n", 1)[0].endswith(f" AS {stage}"))
    return block.splitlines()


def test_the_stages_come_in_data_flow_order() -> None:
    text = render(make_plan())
    order = [line.rsplit(" AS ", 1)[1] for line in text.splitlines() if line.startswith("FROM ")]
    assert order == ["deps", "train", "serve-deps", "serve-files", "runtime"]


def test_only_the_lock_feeds_the_deps_stage_so_notebook_edits_keep_its_cache() -> None:
    deps = lines_of_stage(render(make_plan()), "deps")
    copies = [line for line in deps if line.startswith("COPY")]
    assert copies == ["COPY requirements.lock /opt/nb2svc/build/requirements.lock"]


def test_installs_use_the_shared_uv_cache_mount_and_the_ca_bundle_as_a_secret() -> None:
    deps = "\n".join(lines_of_stage(render(make_plan()), "deps"))
    assert "--mount=type=cache,id=nb2svc-uv,target=/root/.cache/uv" in deps
    assert "--mount=type=secret,id=nb2svc-ca,target=/run/secrets/nb2svc-ca" in deps
    assert "SSL_CERT_FILE=/run/secrets/nb2svc-ca" in deps


def test_secrets_are_never_copied_or_set_as_environment() -> None:
    text = render(make_plan())
    assert "kaggle.json" not in text
    assert "ca-certificates.crt" not in text
    for line in text.splitlines():
        if line.startswith(("ENV", "LABEL", "ARG", "COPY", "ADD")):
            assert "secret" not in line.lower()


def test_training_sees_user_secrets_as_mounts_only() -> None:
    train = "\n".join(lines_of_stage(render(make_plan()), "train"))
    assert "--mount=type=secret,id=kaggle,target=/run/secrets/kaggle" in train
    assert "train.py" in train


def secrets_by_step(plan: BuildPlan) -> dict[str, set[str]]:
    """The secret ids each RUN mounts, by stage ("deps", "train", ...) and what it runs."""
    mounted: dict[str, set[str]] = {}
    stage = ""
    for step in instructions(render(plan)):
        if step.keyword == "FROM":
            stage = step.arguments.rsplit(" AS ", 1)[1]
        if step.keyword == "RUN":
            what = "train.py" if "train.py" in step.arguments else step.arguments.split()[-1]
            ids = set(re.findall(r"--mount=type=secret,id=([^,]+),", step.arguments))
            mounted[f"{stage}: {what}"] = ids
    return mounted


def test_each_user_secret_is_mounted_only_where_the_notebook_runs() -> None:
    plan = make_plan(
        secrets=(Secret("kaggle", Path("/k.json")), Secret("db", Path("/db.txt"))),
        data_links=(DataLink("/content/x.csv", "/opt/nb2svc/src/x.csv", "x.csv", "n", 1, "colab"),),
    )
    mounted = secrets_by_step(plan)
    install_steps = {step: ids for step, ids in mounted.items() if "train.py" not in step}
    assert set(install_steps) == {
        "deps: /opt/nb2svc/build/requirements.lock",
        "train: /content/x.csv",  # the data links
        "serve-deps: /opt/nb2svc",
        "serve-files: /opt/nb2svc/lib",
    }
    assert install_steps["deps: /opt/nb2svc/build/requirements.lock"] == {"nb2svc-ca"}
    assert install_steps["serve-deps: /opt/nb2svc"] == {"nb2svc-ca"}
    assert install_steps["train: /content/x.csv"] == set()
    assert install_steps["serve-files: /opt/nb2svc/lib"] == set()
    assert mounted["train: train.py"] == {"kaggle", "db"}  # offline: no CA where the notebook runs


def test_with_network_allowed_training_also_gets_the_ca_bundle() -> None:
    assert secrets_by_step(make_plan(allow_network=True))["train: train.py"] == {
        "kaggle",
        "nb2svc-ca",
    }


def test_the_runtime_runs_as_a_numeric_non_root_user_on_port_8080() -> None:
    runtime = lines_of_stage(render(make_plan()), "runtime")
    assert "USER 1001:0" in runtime
    assert "EXPOSE 8080" in runtime
    assert runtime[-2] == 'ENTRYPOINT ["/opt/venv/bin/python", "-m", "nb2svc_runtime"]'


def test_the_runtime_is_the_slim_serving_venv_plus_the_artifact_but_not_the_source() -> None:
    text = render(make_plan())
    serve_deps = "\n".join(lines_of_stage(text, "serve-deps"))
    assert serve_deps.startswith("localhost/nb2svc/python:3.11 AS serve-deps")
    assert "from=localhost/nb2svc/python:3.11-build,source=/usr/local/bin/uv" in serve_deps
    runtime = "\n".join(lines_of_stage(text, "runtime"))
    files = "\n".join(lines_of_stage(text, "serve-files"))
    assert runtime.startswith("serve-deps AS runtime")
    assert files.startswith("localhost/nb2svc/python:3.11 AS serve-files")
    assert "COPY --from=train /opt/nb2svc/model /opt/nb2svc/model" in files
    assert "COPY --from=serve-files /opt/nb2svc /opt/nb2svc" in runtime
    for stage in (runtime, files):
        assert "COPY src" not in stage
        assert "--from=deps" not in stage


def test_the_serving_venv_is_stripped_with_the_build_bases_tools_never_copied() -> None:
    text = render(make_plan())
    runs = [s.arguments for s in instructions(text) if s.keyword == "RUN"]
    prune = next(run for run in runs if "build/prune.py" in run)
    mount = "--mount=type=bind,from=localhost/nb2svc/python:3.11-build,source=/,"
    assert mount + "target=/run/nb2svc-build-base" in prune
    assert "keep-modules.txt --strip /run/nb2svc-build-base &&" in prune
    assert "/run/nb2svc-build-base" not in "\n".join(lines_of_stage(text, "runtime"))


def test_the_mode_change_for_group_0_is_not_a_second_copy_of_the_files_in_the_image() -> None:
    runtime = lines_of_stage(render(make_plan()), "runtime")
    assert not [line for line in runtime if line.startswith("RUN ")]
    files = lines_of_stage(render(make_plan()), "serve-files")
    assert any("chmod -R g=u /opt/nb2svc" in line for line in files)


def test_provenance_labels_are_on_the_runtime_image() -> None:
    runtime = "\n".join(lines_of_stage(render(make_plan()), "runtime"))
    for key in (
        "org.opencontainers.image.source", "org.opencontainers.image.revision",
        "org.opencontainers.image.created", "io.nb2svc.notebook.sha256", "io.nb2svc.lock.sha256",
        "io.nb2svc.version", "io.openshift.expose-services",
    ):  # fmt: skip
        assert f'"{key}"=' in runtime


def test_without_a_ca_bundle_no_secret_mount_is_rendered_for_it() -> None:
    text = render(make_plan(ca_bundle=None, secrets=()))
    assert "type=secret" not in text


def test_a_compiling_plan_adds_the_compile_stage_between_training_and_serving() -> None:
    text = render(make_plan(inference="auto"))
    order = [line.rsplit(" AS ", 1)[1] for line in text.splitlines() if line.startswith("FROM ")]
    assert order == ["deps", "train", "compile", "serve-deps", "serve-files", "runtime"]
    compile_run = next(s for s in instructions(text) if "nb2svc_runtime.compiled" in s.arguments)
    assert "--mode auto" in compile_run.arguments
    assert "rm -rf /opt/nb2svc/build/compiler" in compile_run.arguments  # tools never kept


def test_the_compile_stage_sees_only_the_ca_bundle_never_a_user_secret() -> None:
    mounted = secrets_by_step(make_plan(inference="compiled"))
    compile_steps = {k: v for k, v in mounted.items() if k.startswith("compile:")}
    assert list(compile_steps.values()) == [{"nb2svc-ca"}]


def test_training_writes_the_check_rows_only_when_the_model_is_compiled() -> None:
    def train_run(plan: BuildPlan) -> str:
        runs = [s.arguments for s in instructions(render(plan)) if s.keyword == "RUN"]
        return next(run for run in runs if "bin/python /opt/nb2svc/build/train.py" in run)

    assert "NB2SVC_CHECK_ROWS=/opt/nb2svc/build/check-rows.json" in train_run(
        make_plan(inference="auto")
    )
    assert "NB2SVC_CHECK_ROWS" not in train_run(make_plan(inference="native"))


def test_serving_takes_the_compile_stages_artifact_and_requirements() -> None:
    text = render(make_plan(inference="auto"))
    serve_deps = "\n".join(lines_of_stage(text, "serve-deps"))
    files = "\n".join(lines_of_stage(text, "serve-files"))
    assert "COPY --from=compile /opt/nb2svc/build/serve-requirements.txt" in serve_deps
    assert "-r /opt/nb2svc/build/serve-requirements.txt" in serve_deps
    assert "model-requirements.txt" not in serve_deps
    assert "COPY --from=compile /opt/nb2svc/model /opt/nb2svc/model" in files


def test_a_native_plan_renders_the_four_stages_of_before() -> None:
    text = render(make_plan(inference="native"))
    assert "AS compile" not in text
    assert "--from=compile" not in text
