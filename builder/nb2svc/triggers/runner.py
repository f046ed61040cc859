"""Run one queued build: a clean checkout of the exact commit, then the build command.

Everything is an argv list (never a shell). The checkout is a fresh clone of the configured
source (the bare repository for the hook, the configured clone URL for webhooks), detached
at the requested commit and removed afterwards. Output goes to a per-build log file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nb2svc.errors import TriggerError
from nb2svc.triggers.history import Build, History
from nb2svc.triggers.refs import is_oid

DEFAULT_BUILD_COMMAND = (sys.executable, "-m", "nb2svc.cli", "build")
DEFAULT_DEPLOY_COMMAND = (sys.executable, "-m", "nb2svc.cli", "deploy")
DEFAULT_TIMEOUT = 3 * 3600
MARKER_ENV = "NB2SVC_TRIGGER_BUILD"
GIT_TIMEOUT = 600


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without GIT_* (a hook runs with GIT_DIR and quarantine variables set)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(extra or {})
    return env


def build_argv(spec: dict[str, Any], checkout: Path, outdir: Path) -> list[str]:
    argv = [*(spec.get("build_command") or DEFAULT_BUILD_COMMAND), str(checkout)]
    argv += [f"--tag={spec['image']}", f"--outdir={outdir}"]
    argv += [f"--notebook={n}" for n in spec.get("notebooks", [])]
    return argv


def deploy_argv(spec: dict[str, Any], report: Path) -> list[str] | None:
    deploy = spec.get("deploy")
    if not deploy:
        return None
    argv = [*(deploy.get("command") or DEFAULT_DEPLOY_COMMAND), f"--report={report}"]
    if deploy.get("namespace"):
        argv.append(f"--namespace={deploy['namespace']}")
    if deploy.get("context"):
        argv.append(f"--context={deploy['context']}")
    return [*argv, "--wait"]


def checkout(source: str, sha: str, dest: Path, log: Path) -> None:
    """Clone `source` into `dest` and detach at `sha` (validated); raise TriggerError."""
    if not is_oid(sha):
        raise TriggerError(f"refusing to build {sha[:80]!r}: not an object id")
    detach = ["git", "-C", str(dest), "checkout", "--quiet", "--detach", sha]
    if _git(["git", "clone", "--quiet", "--no-checkout", "--", source, str(dest)], log) != 0:
        raise TriggerError(f"cannot clone {source}")
    if _git(detach, log) != 0:
        # Not reachable from the source's refs any more: ask for the object itself.
        _git(["git", "-C", str(dest), "fetch", "--quiet", "origin", sha], log)
        if _git(detach, log) != 0:
            raise TriggerError(f"commit {sha} not found in {source}")
    head = subprocess.run(
        ["git", "-C", str(dest), "rev-parse", "HEAD"],
        capture_output=True, text=True, env=clean_env(), check=False,
    ).stdout.strip()  # fmt: skip
    if head != sha:
        raise TriggerError(f"checkout of {source} is at {head or 'nothing'}, not {sha}")


def _git(argv: Sequence[str], log: Path) -> int:
    with log.open("a") as out:
        out.write("+ " + shlex.join(argv) + "\n")
        out.flush()
        proc = subprocess.run(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=clean_env(), timeout=GIT_TIMEOUT, check=False,
        )  # fmt: skip
    return proc.returncode


class Runner:
    """Runs builds of a History; `stop()` ends running builds and puts them back in the queue."""

    def __init__(self, history: History, state_dir: Path) -> None:
        self.history = history
        self.state_dir = state_dir
        self.stopping = threading.Event()
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def marker(self, build_id: int) -> str:
        return f"{self.history.path}#{build_id}"

    def run(self, build: Build) -> str:
        """Build it; return the final status."""
        workdir = self.state_dir / "builds" / str(build.id)
        workdir.mkdir(parents=True, exist_ok=True)
        log, outdir, src = workdir / "build.log", workdir / "out", workdir / "src"
        shutil.rmtree(src, ignore_errors=True)
        self.history.set_running(build.id, pid=None, log_path=str(log))
        try:
            checkout(build.spec["source"], build.sha, src, log)
            code = self._run(build.id, build_argv(build.spec, src, outdir), log, build.spec, src)
            status, error = self._after_build(build, code, outdir, log, src)
        except TriggerError as exc:
            code, status, error = None, "failed", exc.message
            with log.open("a") as out:
                out.write(f"nb2svc trigger: {exc.message}\n")
        finally:
            shutil.rmtree(src, ignore_errors=True)
        if self.stopping.is_set() and status != "succeeded":
            self.history.requeue_running(build.repo)
            return "queued"
        self.history.finish(
            build.id, status, exit_code=code, image_id=_image_id(outdir), error=error
        )
        return status

    def _after_build(
        self, build: Build, code: int, outdir: Path, log: Path, src: Path
    ) -> tuple[str, str | None]:
        if code != 0:
            return "failed", f"build exited with {code}"
        argv = deploy_argv(build.spec, outdir / "report.json")
        if argv is None:
            return "succeeded", None
        deployed = self._run(build.id, argv, log, build.spec, src)
        if deployed != 0:
            return "deploy_failed", f"deploy exited with {deployed}"
        return "succeeded", None

    def _run(
        self, build_id: int, argv: list[str], log: Path, spec: dict[str, Any], cwd: Path
    ) -> int:
        if self.stopping.is_set():
            return -int(signal.SIGTERM)
        with log.open("a") as out:
            out.write("+ " + shlex.join(argv) + "\n")
            out.flush()
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                env=clean_env({MARKER_ENV: self.marker(build_id)}), start_new_session=True,
            )  # fmt: skip
        with self._lock:
            self._procs[build_id] = proc
        self.history.set_running(build_id, pid=proc.pid, log_path=str(log))
        try:
            return proc.wait(timeout=float(spec.get("timeout") or DEFAULT_TIMEOUT))
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            return proc.wait()
        finally:
            with self._lock:
                self._procs.pop(build_id, None)

    def stop(self) -> None:
        """Stop: running builds are killed and go back to the queue."""
        self.stopping.set()
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            _kill_group(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid)
                proc.wait()

    def reap_orphan(self, build: Build) -> None:
        """Kill a build process left by a crashed worker (identified by its marker variable)."""
        if build.pid is None:
            return
        try:
            environ = Path(f"/proc/{build.pid}/environ").read_bytes().split(b"\0")
        except OSError:
            return
        if f"{MARKER_ENV}={self.marker(build.id)}".encode() in environ:
            _kill_group(build.pid)


def _kill_group(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _image_id(outdir: Path) -> str | None:
    try:
        report = json.loads((outdir / "report.json").read_text())
    except (OSError, ValueError):
        return None
    value = report.get("image_id") if isinstance(report, dict) else None
    return str(value) if value else None
