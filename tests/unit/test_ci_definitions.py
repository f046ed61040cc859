"""The Tekton Task/Pipeline and the GitHub composite action: structure, references, and their
shell scripts run with bash against a copy of sample-notebooks/churn.

`nb2svc` is the real CLI (the generate step runs `nb2svc build --dry-run` for real). `buildah`
is a stand-in on PATH in the fast tests (it records its argv and writes a digest file, since
no registry is reachable here); the slow test runs the real `buildah build` and stubs only
`buildah push`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from nb2svc.image.base import BaseImages

ROOT = Path(__file__).resolve().parents[2]
TASK = ROOT / "ci" / "tekton" / "task-nb2svc-build.yaml"
PIPELINE = ROOT / "ci" / "tekton" / "pipeline-nb2svc.yaml"
ACTION = ROOT / "ci" / "github" / "action.yml"
WORKFLOW = ROOT / "ci" / "github" / "example-workflow.yml"
DIGEST = "sha256:" + "ab" * 32
BASE = "localhost/nb2svc/python:3.11"

FAKE_BUILDAH = """\
#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
command = next((a for a in args if not a.startswith("-")), "")
if command not in os.environ["FAKE_BUILDAH_COMMANDS"].split():
    os.execv(os.environ["REAL_BUILDAH"], ["buildah", *args])
with open(os.environ["BUILDAH_RECORD"], "a") as f:
    f.write(json.dumps(args) + "\\n")
if "--digestfile" in args:
    with open(args[args.index("--digestfile") + 1], "w") as f:
        f.write(os.environ["FAKE_DIGEST"])
"""


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def refs(text: str, pattern: str) -> set[str]:
    return set(re.findall(pattern, text))


# --- Tekton -------------------------------------------------------------------------------


def test_task_shape_and_chains_results() -> None:
    task = load(TASK)
    assert (task["apiVersion"], task["kind"]) == ("tekton.dev/v1", "Task")
    assert task["metadata"]["name"] == "nb2svc-build"
    spec = task["spec"]
    assert {r["name"] for r in spec["results"]} == {"IMAGE_URL", "IMAGE_DIGEST"}
    assert [s["name"] for s in spec["steps"]] == ["generate", "build", "push"]
    assert {w["name"] for w in spec["workspaces"]} == {"source", "dockerconfig", "sslcertdir"}
    generate = spec["steps"][0]
    assert "securityContext" not in generate, "generation needs no privilege"
    for step in spec["steps"]:
        assert step["script"].startswith("#!/usr/bin/env bash\nset -euo pipefail\n")


def test_task_references_exist_and_params_never_reach_scripts() -> None:
    task = load(TASK)
    spec = task["spec"]
    text = TASK.read_text()
    params = {p["name"]: p for p in spec["params"]}
    assert refs(text, r"\$\(params\.([A-Z0-9_]+)") <= set(params)
    assert refs(text, r"\$\(workspaces\.([a-z]+)\.") <= {w["name"] for w in spec["workspaces"]}
    assert refs(text, r"\$\(results\.([A-Z0-9_]+)\.path\)") == {"IMAGE_URL", "IMAGE_DIGEST"}
    volumes = {v["name"] for v in spec["volumes"]}
    for step in spec["steps"]:
        assert "$(params." not in step["script"], f"{step['name']}: param inlined in script"
        assert {m["name"] for m in step.get("volumeMounts", [])} <= volumes
    arrays = {n for n, p in params.items() if p.get("type") == "array"}
    for name in arrays:
        uses = re.findall(rf"\$\(params\.{name}[^)]*\)", text)
        assert uses == [f"$(params.{name}[*])"], "arrays only go in whole, through args"
    required = [n for n, p in params.items() if "default" not in p]
    assert required == ["IMAGE"]


def test_pipeline_references() -> None:
    pipeline, task = load(PIPELINE), load(TASK)
    spec = pipeline["spec"]
    text = PIPELINE.read_text()
    params = {p["name"] for p in spec["params"]}
    tasks = {t["name"]: t for t in spec["tasks"]}
    assert list(tasks) == ["fetch-source", "build", "deploy"]
    task_params = {p["name"]: p for p in task["spec"]["params"]}
    build = tasks["build"]
    assert build["taskRef"]["name"] == task["metadata"]["name"]
    given = {p["name"] for p in build["params"]}
    assert given <= set(task_params)
    assert {n for n, p in task_params.items() if "default" not in p} <= given
    assert {w["name"] for w in build["workspaces"]} <= {
        w["name"] for w in task["spec"]["workspaces"]
    }
    for t in spec["tasks"]:
        assert set(t.get("runAfter", [])) <= set(tasks)
        for ws in t.get("workspaces", []):
            assert ws["workspace"] in {w["name"] for w in spec["workspaces"]}
    for owner, result in re.findall(r"\$\(tasks\.([a-z-]+)\.results\.([A-Za-z_]+)\)", text):
        assert owner in tasks
        if owner == "build":
            assert result in {r["name"] for r in task["spec"]["results"]}
    deploy = tasks["deploy"]
    assert deploy["when"] == [{"input": "$(params.DEPLOY)", "operator": "in", "values": ["true"]}]
    inner = {p["name"] for p in deploy["taskSpec"]["params"]}
    assert {p["name"] for p in deploy["params"]} == inner
    deploy_text = yaml.safe_dump(deploy["taskSpec"])
    assert refs(deploy_text, r"\$\(params\.([A-Z0-9_]+)") <= inner
    pipeline_level = text.replace(deploy_text, "")
    assert refs(pipeline_level, r"\$\(params\.([A-Z0-9_]+)") <= params | inner
    for step in deploy["taskSpec"]["steps"]:
        assert "$(params." not in step["script"]


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    repo = tmp_path / "src"
    shutil.copytree(ROOT / "sample-notebooks" / "churn", repo)
    return repo


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """PATH entries: a stand-in `buildah` and the venv's real `nb2svc`."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "buildah"
    fake.write_text(FAKE_BUILDAH.replace("python3", sys.executable, 1))
    fake.chmod(0o755)
    if shutil.which("buildah") is None:
        pytest.skip("`nb2svc build --dry-run` checks buildah, which is not installed")
    nb2svc = Path(sys.executable).parent / "nb2svc"
    assert nb2svc.exists(), "the nb2svc console script is not installed in this venv"
    (bindir / "nb2svc").symlink_to(nb2svc)
    return bindir


def fake_env(record: Path, commands: str) -> dict[str, str]:
    """Environment of the stand-in `buildah`: which subcommands it fakes; the rest are real."""
    return {
        "BUILDAH_RECORD": str(record),
        "FAKE_DIGEST": DIGEST,
        "FAKE_BUILDAH_COMMANDS": commands,
        "REAL_BUILDAH": shutil.which("buildah") or "/usr/bin/buildah",
    } | _containers_env()


def run_script(script: str, *, env: dict[str, str], cwd: Path, args: list[str]) -> str:
    path = cwd.parent / "step.sh"
    path.write_text(script)
    proc = subprocess.run(
        ["bash", str(path), *args], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=1800, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def tekton_steps(
    tmp: Path, sample: Path, bindir: Path, params: dict[str, Any], extra_env: dict[str, str]
) -> dict[str, str]:
    """Run the Task's steps in order the way Tekton would; return the results."""
    spec = load(TASK)["spec"]
    values = {p["name"]: p.get("default") for p in spec["params"]} | params
    results, gen = tmp / "results", tmp / "gen"
    results.mkdir()
    gen.mkdir()
    subst = {
        "$(workspaces.source.path)": str(sample),
        "$(workspaces.sslcertdir.path)": str(tmp / "no-sslcertdir"),
        "$(workspaces.dockerconfig.bound)": "false",
        "$(workspaces.dockerconfig.path)": "",
    } | {f"$(results.{r['name']}.path)": str(results / r["name"]) for r in spec["results"]}
    for step in spec["steps"]:
        script = step["script"]
        for key, value in subst.items():
            script = script.replace(key, value)
        env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp)} | extra_env
        for item in step.get("env", []):
            env[item["name"]] = re.sub(
                r"\$\(params\.([A-Z0-9_]+)\)", lambda m: str(values[m[1]]), item["value"]
            )
        env["GEN_DIR"] = str(gen)
        args = [a for name in re.findall(r"params\.([A-Z0-9_]+)\[\*\]", str(step.get("args", [])))
                for a in values[name]]  # fmt: skip
        run_script(script, env=env, cwd=sample, args=args)
    return {p.name: p.read_text() for p in results.iterdir()}


def test_tekton_scripts_run_against_the_churn_sample(
    tmp_path: Path, sample: Path, fake_bin: Path
) -> None:
    record = tmp_path / "buildah.jsonl"
    image = "registry.example/ml/churn:0123456789ab"
    got = tekton_steps(
        tmp_path, sample, fake_bin,
        {"IMAGE": image, "BASE_IMAGE": BASE, "NOTEBOOKS": ["churn.ipynb"],
         "BUILD_EXTRA_ARGS": ["--layers", "--label=x=$(touch pwned)"]},
        fake_env(record, "build push login"),
    )  # fmt: skip
    assert got == {"IMAGE_URL": image, "IMAGE_DIGEST": DIGEST}
    containerfile = tmp_path / "gen" / "context" / "Containerfile"
    assert f"FROM {BASE} AS deps" in containerfile.read_text()
    build, push = (json.loads(line) for line in record.read_text().splitlines())
    context = str(tmp_path / "gen" / "context")
    assert build[:4] == ["--storage-driver=overlay", "build", "--format=oci", "--tls-verify=true"]
    assert build[-7:] == ["-f", f"{context}/Containerfile", "-t", image, "--layers",
                          "--label=x=$(touch pwned)", context]  # fmt: skip
    assert any(a.startswith("id=nb2svc-ca,src=") for a in build)
    assert push[1] == "push"
    assert push[-2:] == [image, f"docker://{image}"]
    assert not list(tmp_path.rglob("pwned"))


@pytest.mark.slow
def test_tekton_build_step_with_real_buildah(
    tmp_path: Path, sample: Path, fake_bin: Path, base_images: BaseImages
) -> None:
    """The real `buildah build` of the generated Containerfile (FROM the local base images);
    only `buildah push` is stubbed."""
    real = shutil.which("buildah")
    if real is None:
        pytest.skip("buildah is not installed")
    image = "localhost/nb2svc-tekton-test:latest"
    origin = "https://git.example.com/acme/churn.git"  # what Tekton's git-clone checks out
    for argv in (["init", "-q"], ["remote", "add", "origin", origin]):
        subprocess.run(["git", "-C", str(sample), *argv], check=True)
    try:
        got = tekton_steps(
            tmp_path, sample, fake_bin,
            # chroot isolation: this host has no netavark (BUILD_EXTRA_ARGS is the Task's knob).
            # No BASE_IMAGE: nb2svc picks its local base pair (runtime + `-build` with uv).
            {"IMAGE": image, "STORAGE_DRIVER": _storage_driver(),
             "BUILD_EXTRA_ARGS": ["--isolation=chroot"]},
            fake_env(tmp_path / "rec", "push login") | _containers_env(),
        )  # fmt: skip
        assert got["IMAGE_URL"] == image
        labels = subprocess.run(
            [real, "inspect", "--type", "image", "--format", "{{.OCIv1.Config.Labels}}", image],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert f"org.opencontainers.image.source:{origin}" in labels
    finally:
        subprocess.run([real or "buildah", "rmi", "-f", image], capture_output=True, check=False)


def _storage_driver() -> str:
    out = subprocess.run(["buildah", "info", "--format", "{{.store.GraphDriverName}}"],
                         capture_output=True, text=True, check=False).stdout.strip()  # fmt: skip
    return out or "overlay"


def _containers_env() -> dict[str, str]:
    keys = ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "XDG_RUNTIME_DIR", "TMPDIR")
    env = {k: os.environ[k] for k in keys if k in os.environ}
    env.setdefault("CONTAINERS_CONF", str(ROOT / "containers" / "containers.conf"))
    return env


# --- GitHub Actions --------------------------------------------------------------------------


def test_action_shape_and_no_expressions_in_scripts() -> None:
    action = load(ACTION)
    assert action["runs"]["using"] == "composite"
    assert {"name", "description", "inputs", "outputs"} <= set(action)
    inputs = action["inputs"]
    steps = action["runs"]["steps"]
    ids = {s.get("id") for s in steps}
    text = ACTION.read_text()
    assert refs(text, r"inputs\.([a-z0-9-]+)") <= set(inputs)
    for name, output in action["outputs"].items():
        step = re.fullmatch(r"\$\{\{ steps\.([a-z-]+)\.outputs\.([a-z-]+) \}\}", output["value"])
        assert step is not None, name
        assert step[1] in ids, name
    for step in steps:
        assert "uses" not in step, "the action uses no other action (act and offline runners)"
        assert step["shell"] == "bash"
        assert "${{" not in step["run"], f"{step.get('id')}: expression inside run:"
    assert all(i == i.lower() for i in inputs)
    assert {"python", "cert-dir", "tls-verify"} <= set(inputs)


def test_example_workflow() -> None:
    workflow: dict[Any, Any] = load(WORKFLOW)
    on = workflow["on"] if "on" in workflow else workflow[True]  # YAML 1.1 reads `on` as True
    assert on["push"]["branches"] == ["main"]
    assert workflow["permissions"] == {"contents": "read", "packages": "write"}
    steps = workflow["jobs"]["build"]["steps"]
    uses = [s["uses"] for s in steps if "uses" in s]
    assert uses == ["actions/checkout@v4", "actions/setup-python@v5", "OWNER/nb2svc/ci/github@v1"]
    for step in steps:
        assert "${{" not in step.get("run", "")


def action_steps(
    tmp: Path, sample: Path, bindir: Path, inputs: dict[str, str], extra_env: dict[str, str]
) -> dict[str, dict[str, str]]:
    """Run the action's `run:` steps (not the pip install: `nb2svc` is the venv's) as the
    runner would."""
    action = load(ACTION)
    values = {k: str(v.get("default", "")) for k, v in action["inputs"].items()} | inputs
    outputs: dict[str, dict[str, str]] = {"install": {"nb2svc": str(bindir / "nb2svc")}}
    runner_temp = tmp / "runner-temp"
    runner_temp.mkdir()

    def expr(value: str) -> str:
        def one(m: re.Match[str]) -> str:
            kind, *rest = m[1].split(".")
            if kind == "inputs":
                return values[rest[0]]
            if kind == "steps":
                return outputs[rest[0]][rest[2]]
            return {"github.sha": "f" * 40}[m[1]]

        return re.sub(r"\$\{\{ ([a-z0-9.-]+) \}\}", one, value)

    values = {k: expr(v) for k, v in values.items()}
    for step in action["runs"]["steps"]:
        if "run" not in step or step["id"] == "install":
            continue
        out_file = tmp / f"out-{step['id']}"
        env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp),
               "RUNNER_TEMP": str(runner_temp), "GITHUB_OUTPUT": str(out_file),
               "GITHUB_ACTION_PATH": str(ACTION.parent)}  # fmt: skip
        env |= extra_env | {k: expr(str(v)) for k, v in step.get("env", {}).items()}
        out_file.touch()
        run_script(step["run"], env=env, cwd=sample, args=[])
        outputs[step["id"]] = dict(
            line.split("=", 1) for line in out_file.read_text().splitlines() if "=" in line
        )
    return outputs


def test_action_scripts_run_against_the_churn_sample(
    tmp_path: Path, sample: Path, fake_bin: Path
) -> None:
    record = tmp_path / "buildah.jsonl"
    outputs = action_steps(
        tmp_path, sample, fake_bin,
        {"image": "ghcr.io/acme/churn/model", "notebooks": "churn.ipynb\n", "base-image": BASE,
         "username": "bot", "password": "tok$(touch pwned)en"},
        fake_env(record, "build push login"),
    )  # fmt: skip
    image = "ghcr.io/acme/churn/model:" + "f" * 40
    assert outputs["build"] == {"image-url": image}
    assert outputs["push"] == {"image-digest": DIGEST}
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert [c[0] for c in calls] == ["build", "login", "push"]
    assert calls[1] == ["login", "--tls-verify=true", "--username", "bot", "--password-stdin",
                        "ghcr.io"]  # fmt: skip
    assert calls[2][-2:] == [image, f"docker://{image}"]
    assert not list(tmp_path.rglob("pwned"))
    assert not list(tmp_path.rglob("nb2svc-auth.json")), "the step's login is removed"


def test_action_private_registry_settings_reach_build_login_and_push(
    tmp_path: Path, sample: Path, fake_bin: Path
) -> None:
    record = tmp_path / "buildah.jsonl"
    action_steps(
        tmp_path, sample, fake_bin,
        {"image": "registry.internal:5000/ml/churn", "notebooks": "churn.ipynb",
         "base-image": BASE, "username": "bot", "password": "x",
         "cert-dir": "/etc/nb2svc/registry-ca", "tls-verify": "false"},
        fake_env(record, "build push login"),
    )  # fmt: skip
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert [c[0] for c in calls] == ["build", "login", "push"]
    for call in calls:
        assert call[1:3] == ["--tls-verify=false", "--cert-dir=/etc/nb2svc/registry-ca"]
    assert calls[1][-1] == "registry.internal:5000"


def test_action_with_hostile_notebook_input_runs_nothing(
    tmp_path: Path, sample: Path, fake_bin: Path
) -> None:
    with pytest.raises(AssertionError, match="not found"):
        action_steps(
            tmp_path, sample, fake_bin,
            {"image": "ghcr.io/a/b", "notebooks": "$(touch pwned).ipynb", "base-image": BASE},
            fake_env(tmp_path / "rec", "build push login"),
        )  # fmt: skip
    assert not list(tmp_path.rglob("pwned"))
    assert not Path("pwned").exists()
