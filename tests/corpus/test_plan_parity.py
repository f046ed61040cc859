"""`nb2svc build` and S2I's assemble plan every corpus notebook that serves the same way:
the same train.py, the same lock, the same data links and write folders, the same limits.

Both plans are made by the real code paths (the CLI's flags and the S2I environment,
each read as its user gives it), with the locks really resolved. The S2I builder image
has Python 3.11, so the CLI side is `nb2svc build --python 3.11`; S2I's upload has no
`.git`, so it gets the commit time as `SOURCE_DATE_EPOCH`, as docs/s2i.md tells users.
Cases that S2I does not offer (another Python, the bentoml runtime, local wheels) are
skipped, saying why.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nb2svc.cli import _build_options, _parser
from nb2svc.options import ENV_FIELDS, BuildOptions
from nb2svc.pipeline import plan_build
from nb2svc.plan import MODEL_DIR, SRC_DIR, BuildPlan
from nb2svc.s2i import assemble, steps
from nb2svc.s2i.steps import Layout
from nb2svc.state import StateDir

from .runner import Case, load_cases, make_repo

SERVING = [c for c in load_cases() if c.expect == "serves"]
UNOFFERED = {"--runtime": "bentoml is not in the S2I builder image",
             "--find-links": "S2I has no local wheel folder",
             "--python": "the S2I builder image has Python 3.11 only"}  # fmt: skip


def cli_plan(case: Case, repo: Path) -> BuildPlan:
    args = _parser().parse_args(["build", str(repo), "-n", case.notebook, *case.args])
    args.python = args.python or "3.11"
    return plan_build(_build_options(args), out=io.StringIO())


def s2i_environment(options: BuildOptions, repo: Path) -> dict[str, str]:
    """The `NB2SVC_*` variables a user sets for the settings `options` holds."""
    env: dict[str, str] = {"NB2SVC_NOTEBOOKS": ",".join(options.notebooks)}
    for name, field_name in ENV_FIELDS.items():
        value = getattr(options, field_name)
        if field_name == "parameters":
            env[name] = ";".join(value)
        elif field_name in ("allow_network",):
            env[name] = "1" if value else ""
        elif field_name in ("exclude_newer", "train_timeout") and value is not None:
            env[name] = f"{value:g}" if isinstance(value, float) else str(value)
    if (repo / ".git").exists():
        epoch = subprocess.run(
            ["git", "-C", str(repo), "log", "-1", "--format=%ct"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        env["SOURCE_DATE_EPOCH"] = epoch
    env["NB2SVC_CA_FILE"] = "/etc/ssl/certs/ca-certificates.crt"
    return env


def s2i_plan(repo: Path, env: dict[str, str], tmp_path: Path) -> BuildPlan:
    """assemble's own steps up to the plan, on s2i's upload (the source without `.git`)."""
    destination = tmp_path / "upload"
    shutil.copytree(repo, destination / "src", ignore=shutil.ignore_patterns(".git"))
    layout = Layout(
        destination=destination,
        app_src=tmp_path / "app" / "src",
        model=Path(MODEL_DIR),  # planned, never written here
        venv=Path(sys.prefix),
        lib=Path(SRC_DIR),
        cache=StateDir.default().root,  # the CLI's lock cache: one resolution per request
        build=tmp_path / "build",
    )
    environ = dict(env)
    options = assemble.load_settings(layout, environ, io.StringIO())
    steps.copy_source(layout.src, layout.app_src)
    analysis = assemble._analyze(layout.app_src, options)
    with steps.environment({"SOURCE_DATE_EPOCH": env.get("SOURCE_DATE_EPOCH", "")}):
        return assemble.plan_for(analysis, layout, options, environ, io.StringIO())


def in_image(path: str, app_src: Path) -> str:
    """A path of the S2I plan as it is in the builder image (its source is at SRC_DIR)."""
    return path.replace(str(app_src), SRC_DIR)


@pytest.mark.parametrize("case", SERVING, ids=[c.name for c in SERVING])
def test_build_and_s2i_plan_the_same_training(case: Case, tmp_path: Path) -> None:
    unoffered = next((why for flag, why in UNOFFERED.items() if flag in case.args), None)
    if unoffered:
        pytest.skip(unoffered)
    if case.requires and not Path(case.requires).exists():
        pytest.skip(f"needs {case.requires}, which this machine does not have")
    repo = make_repo(case, tmp_path / "cli")
    cli = cli_plan(case, repo)
    options = _build_options(
        _parser().parse_args(["build", str(repo), "-n", case.notebook, *case.args])
    )
    s2i = s2i_plan(repo, s2i_environment(options, repo), tmp_path / "s2i")
    app_src = tmp_path / "s2i" / "app" / "src"

    assert s2i.train_script == cli.train_script
    assert (s2i.lock.text, s2i.lock.inputs_sha256) == (cli.lock.text, cli.lock.inputs_sha256)
    assert s2i.lock.exclude_newer == cli.lock.exclude_newer
    assert [(in_image(d.link, app_src), in_image(d.target, app_src), d.how, d.cell)
            for d in s2i.data_links] == [(d.link, d.target, d.how, d.cell)
                                         for d in cli.data_links]  # fmt: skip
    assert [in_image(f, app_src) for f in s2i.write_folders] == list(cli.write_folders)
    assert (s2i.allow_network, s2i.train_timeout) == (cli.allow_network, cli.train_timeout)
    assert (s2i.parameters, s2i.model_variable, s2i.name) == (
        cli.parameters, cli.model_variable, cli.name,
    )  # fmt: skip
    assert s2i.source_files == cli.source_files
