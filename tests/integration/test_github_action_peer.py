"""The GitHub composite action (ci/github/action.yml) and its example workflow, judged by the
real tools: `actionlint` with `shellcheck`.

actionlint lints workflows, not action metadata: given a workflow with `uses: ./path`, it reads
that action.yml and checks the metadata (name, description, branding, `runs`) and the step's
`with:` against the action's inputs and `steps.<id>.outputs.*` against its outputs, but it does
not look into a composite action's `runs.steps` (its CHANGELOG: "contents of steps: are not
checked yet"). So the action's steps are also linted as the steps of a reusable workflow's job
(`composite_as_job`): the same step YAML, with `on: workflow_call` inputs of the action's names;
actionlint then runs shellcheck on every script and checks every expression in them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from nb2svc.image.base import BaseImages
from registry_support import Registry

if TYPE_CHECKING:
    from conftest import Created

ROOT = Path(__file__).resolve().parents[2]
ACTION_DIR = ROOT / "ci" / "github"
EXAMPLE = ACTION_DIR / "example-workflow.yml"

# A notebook repository's workflow that uses the action by local path: the repository holds
# the notebooks in churn/ and nb2svc at nb2svc/ (as `uses: OWNER/nb2svc/ci/github@v1` would
# clone it). Registry settings come from repository variables and secrets.
LOCAL_WORKFLOW = """\
name: nb2svc (local action)
on:
  push:
  workflow_dispatch:
permissions:
  contents: read
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: nb2svc
        uses: ./nb2svc/ci/github
        with:
          image: ${{ vars.REGISTRY }}/nb2svc-act/churn
          context: churn
          notebooks: churn.ipynb
          username: ${{ vars.REGISTRY_USER }}
          password: ${{ secrets.REGISTRY_PASSWORD }}
          cert-dir: ${{ vars.REGISTRY_CERT_DIR }}
      - name: Outputs
        shell: bash
        env:
          IMAGE_URL: ${{ steps.nb2svc.outputs.image-url }}
          IMAGE_DIGEST: ${{ steps.nb2svc.outputs.image-digest }}
        run: |
          printf 'nb2svc-output image-url=%s\\n' "$IMAGE_URL"
          printf 'nb2svc-output image-digest=%s\\n' "$IMAGE_DIGEST"
          echo "built $IMAGE_URL@$IMAGE_DIGEST" >> "$GITHUB_STEP_SUMMARY"
"""


@pytest.fixture(scope="module")
def shellcheck() -> Path:
    """The real shellcheck (Debian's package): without it actionlint skips shell checks."""
    found = shutil.which("shellcheck")
    if found is None:
        pytest.skip("shellcheck is not installed (scripts/setup.sh installs it)")
    return Path(found)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=nb2svc tests",
         "-c", "user.email=t@example.invalid", *args], capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def composite_as_job(action: dict[str, Any]) -> dict[str, Any]:
    """A reusable workflow whose one job runs the composite action's steps as they are."""
    inputs = {
        name: {"type": "string", "required": bool(spec.get("required", False))}
        for name, spec in action["inputs"].items()
    }
    return {
        "name": f"steps of {action['name']}",
        "on": {"workflow_call": {"inputs": inputs}},
        "jobs": {"steps": {"runs-on": "ubuntu-24.04", "steps": action["runs"]["steps"]}},
    }


def notebook_repo(
    root: Path, *, workflow: str = LOCAL_WORKFLOW, action_text: str | None = None
) -> Path:
    """A git repository: churn/ (the sample), nb2svc/ci/github/ (the action, or `action_text`),
    .github/workflows/nb2svc.yml (`workflow`) and nb2svc-action-steps.yml (the action's steps
    as a job, for actionlint only)."""
    repo = root / "repo"
    shutil.copytree(ROOT / "sample-notebooks" / "churn", repo / "churn")
    shutil.copytree(ACTION_DIR, repo / "nb2svc" / "ci" / "github")
    action_file = repo / "nb2svc" / "ci" / "github" / "action.yml"
    if action_text is not None:
        action_file.write_text(action_text)
    workflows = repo / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "nb2svc.yml").write_text(workflow)
    steps = composite_as_job(yaml.safe_load(action_file.read_text()))
    (workflows / "nb2svc-action-steps.yml").write_text(yaml.safe_dump(steps, sort_keys=False))
    git(repo, "init", "-q")
    return repo


def actionlint(cli: Path, shellcheck: Path, repo: Path, *files: str) -> list[dict[str, Any]]:
    """actionlint's findings (its JSON format) for `files` of `repo`, shellcheck enabled."""
    proc = subprocess.run(
        [str(cli), f"-shellcheck={shellcheck}", "-pyflakes=", "-format", "{{json .}}", *files],
        cwd=repo, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode in (0, 1), f"actionlint failed to run: {proc.stderr}"
    errors: list[dict[str, Any]] = json.loads(proc.stdout or "[]")
    assert (proc.returncode == 1) == bool(errors), proc.stdout + proc.stderr
    return errors


def shown(errors: list[dict[str, Any]]) -> str:
    return "\n".join(f"{e['filepath']}:{e['line']}: [{e['kind']}] {e['message']}" for e in errors)


def test_the_example_workflow_is_clean_as_shipped_and_with_the_action_by_local_path(
    actionlint_cli: Path, shellcheck: Path, tmp_path: Path
) -> None:
    """As shipped it names the action remotely (actionlint knows actions/checkout and
    actions/setup-python, not OWNER/nb2svc); the same workflow with `uses: ./ci/github` in a
    repository holding the action has its `with:` and outputs checked against action.yml."""
    assert actionlint(actionlint_cli, shellcheck, ACTION_DIR, EXAMPLE.name) == []
    repo = tmp_path / "nb2svc"
    shutil.copytree(ACTION_DIR, repo / "ci" / "github")
    text = EXAMPLE.read_text()
    assert text.count("uses: OWNER/nb2svc/ci/github@v1") == 1
    local = text.replace("uses: OWNER/nb2svc/ci/github@v1", "uses: ./ci/github")
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "example.yml").write_text(local)
    git(repo, "init", "-q")
    errors = actionlint(actionlint_cli, shellcheck, repo, ".github/workflows/example.yml")
    assert errors == [], shown(errors)


def test_a_workflow_using_the_action_and_the_action_steps_are_clean(
    actionlint_cli: Path, shellcheck: Path, tmp_path: Path
) -> None:
    repo = notebook_repo(tmp_path)
    errors = actionlint(
        actionlint_cli, shellcheck, repo,
        ".github/workflows/nb2svc.yml", ".github/workflows/nb2svc-action-steps.yml",
    )  # fmt: skip
    assert errors == [], shown(errors)


ACTION_TEXT = (ACTION_DIR / "action.yml").read_text()

# (what is broken, in the workflow or the action, text replaced, by, finding kind, message part)
BREAKAGES = [
    ("wrong input name", "workflow", "          image: ", "          imag: ",
     "action", 'input "imag" is not defined in action "nb2svc build"'),
    ("required input missing", "workflow",
     "          image: ${{ vars.REGISTRY }}/nb2svc-act/churn\n", "",
     "action", 'missing input "image" which is required by action "nb2svc build"'),
    ("output the action does not have", "workflow", "outputs.image-digest }}", "outputs.digest }}",
     "expression", 'property "digest" is not defined'),
    ("unquoted variable in the workflow's script", "workflow", '"$IMAGE_URL"\n', "$IMAGE_URL\n",
     "shellcheck", "SC2086"),
    ("expression injection in the workflow's run:", "workflow", '"$IMAGE_URL"\n',
     '"${{ github.event.head_commit.message }}"\n', "expression", "potentially untrusted"),
    ("unquoted variable in the action's script", "action", 'cat "$out.plan.txt" >&2',
     "cat $out.plan.txt >&2", "shellcheck", "SC2086"),
    ("expression injection in the action's run:", "action", 'echo "context=$out/context"',
     'echo "context=${{ github.head_ref }}"', "expression", "potentially untrusted"),
    ("undefined input in the action's steps", "action", "${{ inputs.notebooks }}",
     "${{ inputs.notebook }}", "expression", 'property "notebook" is not defined'),
    ("unknown branding icon", "action", "icon: package", "icon: parcel",
     "action", 'incorrect icon name "parcel"'),
]  # fmt: skip


@pytest.mark.parametrize(
    ("where", "old", "new", "kind", "message"),
    [case[1:] for case in BREAKAGES],
    ids=[case[0] for case in BREAKAGES],
)
def test_actionlint_reports_a_broken_copy(
    actionlint_cli: Path, shellcheck: Path, tmp_path: Path,
    where: str, old: str, new: str, kind: str, message: str,
) -> None:  # fmt: skip
    source = LOCAL_WORKFLOW if where == "workflow" else ACTION_TEXT
    assert source.count(old) == 1, f"{old!r} must occur once in the {where}"
    broken = source.replace(old, new)
    repo = notebook_repo(
        tmp_path,
        workflow=broken if where == "workflow" else LOCAL_WORKFLOW,
        action_text=broken if where == "action" else None,
    )
    errors = actionlint(
        actionlint_cli, shellcheck, repo,
        ".github/workflows/nb2svc.yml", ".github/workflows/nb2svc-action-steps.yml",
    )  # fmt: skip
    assert any(e["kind"] == kind and message in e["message"] for e in errors), shown(errors)


# --- act: the action run end to end ---------------------------------------------------------


def vendor_nb2svc(repo: Path) -> None:
    """nb2svc's source at repo/nb2svc, laid out as `uses: OWNER/nb2svc/ci/github@v1` clones
    it, so the action's default `$GITHUB_ACTION_PATH/../..` is what pip installs."""
    junk = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for folder in ("builder", "runtimes"):
        shutil.copytree(ROOT / folder, repo / "nb2svc" / folder, ignore=junk)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, repo / "nb2svc" / name)


def pinned_dependencies(folder: Path) -> Path:
    """nb2svc's dependencies at the versions CI proved (constraints-dev.txt), not whatever
    PyPI serves today; without the packaging tools, since pip applies PIP_CONSTRAINT to the
    isolated build of nb2svc too, whose setuptools must be newer than the venv's."""
    tools = ("pip==", "setuptools==", "wheel==")
    lines = (ROOT / "constraints-dev.txt").read_text().splitlines()
    path = folder / "constraints.txt"
    path.write_text("\n".join(line for line in lines if not line.startswith(tools)) + "\n")
    return path


def run_act(argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> str:
    """act in its own session; the whole group is killed if it outlives `timeout`.

    (act's host mode returns from a failed step without waiting for its pty, so a failed
    script's last lines, the traceback's, may be missing from act's output.)"""
    with subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        stdin=subprocess.DEVNULL, start_new_session=True,
    ) as proc:  # fmt: skip
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            pytest.fail(f"act ran longer than {timeout} s:\n{out[-5000:]}")
    assert proc.returncode == 0, f"act exited {proc.returncode}:\n{out[-8000:]}"
    return out


MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


def registry_manifest(registry: Registry, name: str, reference: str) -> tuple[str, bytes]:
    """`GET /v2/<name>/manifests/<reference>` with the registry's credentials and CA: the
    digest the registry gives and the manifest's bytes."""
    token = base64.b64encode(f"{registry.user}:{registry.password}".encode()).decode()
    request = urllib.request.Request(
        f"https://{registry.host}/v2/{name}/manifests/{reference}",
        headers={"Authorization": f"Basic {token}", "Accept": ", ".join(MANIFEST_TYPES)},
    )
    context = ssl.create_default_context(cafile=str(registry.ca))
    with urllib.request.urlopen(request, context=context, timeout=30) as answer:
        return str(answer.headers["Docker-Content-Digest"]), bytes(answer.read())


@pytest.mark.slow
def test_act_runs_the_action_from_a_workflow_and_pushes_the_churn_image(
    act_cli: Path, registry: Registry, base_images: BaseImages, created: Created, tmp_path: Path
) -> None:
    """nektos/act runs LOCAL_WORKFLOW on this host (`-P ubuntu-latest=-self-hosted`): the
    action pip-installs the vendored nb2svc into its venv, builds sample-notebooks/churn with
    the real buildah, logs in and pushes to the test registry (its own CA via `cert-dir`).
    The registry then serves the image by the digest the action output."""
    repo = notebook_repo(tmp_path)
    (repo / ".github" / "workflows" / "nb2svc-action-steps.yml").unlink()  # actionlint's only
    vendor_nb2svc(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "churn")
    sha = git(repo, "rev-parse", "HEAD")
    image = f"{registry.host}/nb2svc-act/churn"
    created.image(f"{image}:{sha}")
    # The runner's Python: a fresh venv first on PATH (the machine's Python is not touched).
    runner_python = tmp_path / "runner-python"
    subprocess.run([sys.executable, "-m", "venv", str(runner_python)], check=True)
    secrets = tmp_path / "act.secrets"
    secrets.write_text(f"REGISTRY_PASSWORD={registry.password}\n")
    secrets.chmod(0o600)
    ca_bundle = "/etc/ssl/certs/ca-certificates.crt"
    env = os.environ | {
        "PATH": f"{runner_python / 'bin'}:{os.environ['PATH']}",
        "PIP_CERT": ca_bundle,  # pip trusts the machine's CAs (PyPI may be behind a TLS proxy)
        "PIP_CONSTRAINT": str(pinned_dependencies(tmp_path)),
        "SSL_CERT_FILE": ca_bundle,
        "BUILDAH_ISOLATION": "chroot",  # this host has no netavark for RUN steps
        "CONTAINERS_CONF": os.environ.get(
            "CONTAINERS_CONF", str(ROOT / "containers/containers.conf")
        ),
    }
    env.pop("VIRTUAL_ENV", None)
    started = time.monotonic()
    out = run_act(
        [str(act_cli), "push", "-P", "ubuntu-latest=-self-hosted",
         "-W", ".github/workflows/nb2svc.yml", "--secret-file", str(secrets),
         "--var", f"REGISTRY={registry.host}", "--var", f"REGISTRY_USER={registry.user}",
         "--var", f"REGISTRY_CERT_DIR={registry.cert_dir}",
         "--action-cache-path", str(tmp_path / "act-cache"), "--no-cache-server"],
        cwd=repo, env=env, timeout=1800,
    )  # fmt: skip
    seconds = time.monotonic() - started
    print(f"\nact ran the workflow in {seconds:.1f} s", file=sys.stderr)
    assert "Job succeeded" in out, out[-8000:]
    assert registry.password not in out
    outputs = dict(re.findall(r"nb2svc-output (image-url|image-digest)=(\S*)", out))
    assert outputs["image-url"] == f"{image}:{sha}"
    digest = outputs["image-digest"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), out[-8000:]
    served, manifest = registry_manifest(registry, "nb2svc-act/churn", digest)
    assert served == digest
    assert "sha256:" + hashlib.sha256(manifest).hexdigest() == digest
    assert registry_manifest(registry, "nb2svc-act/churn", sha)[0] == digest
