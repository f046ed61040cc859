"""The git `post-receive` hook: install it into a bare repository, and run it.

The installed script is a fixed `#!/bin/sh` line that execs Python with the absolute path
of the hook's settings file; it expands nothing from the push. Python reads the
`<old> <new> <ref>` lines, validates object IDs and branch names, queues one build per
accepted ref in the history and, unless `wait` is set, starts a detached worker so the push
returns at once.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from nb2svc.errors import TriggerError
from nb2svc.triggers.config import check_push_settings
from nb2svc.triggers.history import History
from nb2svc.triggers.private import append_private
from nb2svc.triggers.queue import drain
from nb2svc.triggers.refs import RefUpdate, parse_post_receive
from nb2svc.triggers.runner import Runner, clean_env

MARKER = "# nb2svc post-receive hook"
SKIP_OPTION = "nb2svc.skip"


@dataclass(frozen=True)
class HookConfig:
    repo: str  # absolute path of the bare repository (also the queue key)
    branches: list[str]
    image: str  # without tag; builds are tagged with the commit's first 12 hex digits
    state_dir: str
    notebooks: list[str] = field(default_factory=list)
    wait: bool = False
    deploy: dict[str, Any] | None = None
    build_command: list[str] | None = None
    timeout: float | None = None
    git_timeout: float | None = None
    push: bool = False  # push to the registry `image` names (deploy of one needs it)
    authfile: str | None = None  # containers-auth.json's path, never its content
    tls_verify: bool = True
    cert_dir: str | None = None

    def __post_init__(self) -> None:
        check_push_settings(self.image, self.push, self.deploy, "hook settings")

    @classmethod
    def load(cls, path: Path) -> HookConfig:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise TriggerError(f"cannot read hook settings {path}: {exc}") from exc

    def runner(self) -> Runner:
        state = Path(self.state_dir)
        return Runner(History(state / "history.sqlite"), state)


def image_name(repo: Path) -> str:
    """`/srv/git/Churn-Model.git` -> `localhost/churn-model`."""
    name = repo.name.removesuffix(".git").lower()
    name = re.sub(r"[^a-z0-9._-]+", "-", name).strip("-._")
    return f"localhost/{name or 'model'}"


def git_path(bare: Path, what: str) -> Path:
    proc = subprocess.run(
        ["git", f"--git-dir={bare}", "rev-parse", "--is-bare-repository", "--git-path", what],
        capture_output=True, text=True, env=clean_env(), check=False,
    )  # fmt: skip
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or len(lines) != 2 or lines[0] != "true":
        raise TriggerError(f"{bare} is not a bare git repository", fix="git init --bare PATH")
    path = Path(lines[1])
    return path if path.is_absolute() else bare / path


def install(config: HookConfig, *, force: bool = False, python: str = sys.executable) -> Path:
    """Write the settings file and the hook script; return the script's path."""
    bare = Path(config.repo)
    hook = git_path(bare, "hooks") / "post-receive"
    if hook.exists() and MARKER not in hook.read_text(errors="replace") and not force:
        raise TriggerError(
            f"{hook} exists and was not installed by nb2svc",
            fix="merge it by hand, or pass --force to replace it",
        )
    settings = bare / "nb2svc" / "hook.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps(asdict(config), indent=2) + "\n")
    hook.parent.mkdir(parents=True, exist_ok=True)
    tmp = hook.with_name(".post-receive.nb2svc-tmp")
    tmp.write_text(hook_script(python, settings))
    tmp.chmod(0o755)
    tmp.replace(hook)
    return hook


def hook_script(python: str, settings: Path) -> str:
    argv = [python, "-m", "nb2svc.triggers", "hook", "run", f"--config={settings}"]
    return (
        "#!/bin/sh\n"
        f"{MARKER} (nb2svc hook install); settings: {settings.name}\n"
        "# The pushed refs arrive on stdin and are read by Python; this shell expands none.\n"
        f"exec {shlex.join(argv)}\n"
    )


def default_branch(bare: Path) -> str:
    proc = subprocess.run(
        ["git", f"--git-dir={bare}", "symbolic-ref", "--quiet", "--short", "HEAD"],
        capture_output=True, text=True, env=clean_env(), check=False,
    )  # fmt: skip
    return proc.stdout.strip() or "main"


def push_options(env: dict[str, str]) -> list[str]:
    try:
        count = int(env.get("GIT_PUSH_OPTION_COUNT", "0"))
    except ValueError:
        return []
    return [env.get(f"GIT_PUSH_OPTION_{i}", "") for i in range(min(count, 100))]


def run(settings: Path, lines: Iterable[str], out: TextIO) -> int:
    """The hook itself: queue a build per accepted ref; wait or start a worker."""
    config = HookConfig.load(settings)
    if SKIP_OPTION in push_options(dict(os.environ)):
        out.write(f"nb2svc: push option {SKIP_OPTION}: no build\n")
        return 0
    updates, rejected = parse_post_receive(lines)
    for message in rejected:
        out.write(f"nb2svc: {message}\n")
    runner = config.runner()
    queued = [bid for u in updates if (bid := _queue(config, runner, u, out)) is not None]
    if not queued:
        return 0
    if config.wait:
        drain(runner, config.repo, block=True)
        return _report(runner.history, queued, out)
    _spawn_worker(settings, Path(config.state_dir))
    out.write("nb2svc: building in the background, one build at a time per repository\n")
    return 0


def _queue(config: HookConfig, runner: Runner, update: RefUpdate, out: TextIO) -> int | None:
    branch = update.branch
    if update.deleted or branch is None or branch not in config.branches:
        reason = "deleted" if update.deleted else "not a configured branch"
        out.write(f"nb2svc: {update.ref[:200]!r} ignored ({reason})\n")
        return None
    sha = update.new
    spec = {
        "repo": config.repo, "source": config.repo, "ref": update.ref, "sha": sha,
        "image": f"{config.image}:{sha[:12]}", "notebooks": config.notebooks,
        "build_command": config.build_command, "deploy": config.deploy,
        "timeout": config.timeout, "git_timeout": config.git_timeout, "push": config.push,
        "authfile": config.authfile, "tls_verify": config.tls_verify, "cert_dir": config.cert_dir,
    }  # fmt: skip
    queued = runner.history.enqueue(spec)
    log = Path(config.state_dir) / "builds" / str(queued.build_id) / "build.log"
    out.write(f"nb2svc: build #{queued.build_id} of {branch} at {sha[:12]} -> {spec['image']}\n")
    out.write(f"nb2svc: log {log}\n")
    return queued.build_id


def _spawn_worker(settings: Path, state_dir: Path) -> None:
    """A detached worker: own session, no inherited pipes (the push would wait for them)."""
    argv = [sys.executable, "-m", "nb2svc.triggers", "hook", "worker", f"--config={settings}"]
    with append_private(state_dir / "worker.log") as out:
        subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=clean_env(), start_new_session=True, close_fds=True,
        )  # fmt: skip


def worker(settings: Path) -> int:
    config = HookConfig.load(settings)
    drain(config.runner(), config.repo)
    return 0


def _report(history: History, ids: list[int], out: TextIO) -> int:
    code = 0
    for build_id in ids:
        build = history.get(build_id)
        status = build.status if build else "missing"
        out.write(f"nb2svc: build #{build_id}: {status}\n")
        if status not in ("succeeded", "superseded"):
            code = 1
    return code
