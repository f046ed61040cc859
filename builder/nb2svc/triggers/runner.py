"""Run one queued build: a clean checkout of the exact commit, then the build command.

Everything is an argv list (never a shell). The checkout (`checkout.py`) is a fresh fetch of
the branch from the configured source (the bare repository for the hook, the configured
clone URL for webhooks), detached at the requested commit and removed afterwards. Output
goes to a per-build log file. Whatever goes wrong with one build (git hanging, a missing
program, a full disk) fails that build, recorded with its reason; the worker goes on with
the next one (docs/triggers.md, "One build per repository at a time").
"""

from __future__ import annotations

import contextlib
import functools
import json
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from nb2svc.errors import TriggerError
from nb2svc.redact import redact_text
from nb2svc.triggers.checkout import (
    GIT_TIMEOUT,
    checkout,
    clean_env,
    is_ancestor,
    kill_group,
    log_line,
)
from nb2svc.triggers.history import Build, History
from nb2svc.triggers.private import append_private, private_dir

DEFAULT_BUILD_COMMAND = (sys.executable, "-m", "nb2svc.cli", "build")
DEFAULT_DEPLOY_COMMAND = (sys.executable, "-m", "nb2svc.cli", "deploy")
DEFAULT_TIMEOUT = 3 * 3600
MARKER_ENV = "NB2SVC_TRIGGER_BUILD"

__all__ = ["GIT_TIMEOUT", "Runner", "build_argv", "clean_env", "deploy_argv"]


def build_argv(spec: dict[str, Any], checkout: Path, outdir: Path) -> list[str]:
    argv = [*(spec.get("build_command") or DEFAULT_BUILD_COMMAND), str(checkout)]
    argv += [f"--tag={spec['image']}", f"--outdir={outdir}"]
    argv += [f"--notebook={n}" for n in spec.get("notebooks", [])]
    if spec.get("push"):
        argv.append("--push")
        argv += [f"--authfile={spec['authfile']}"] if spec.get("authfile") else []
        argv += [] if spec.get("tls_verify", True) else ["--no-tls-verify"]
        argv += [f"--cert-dir={spec['cert_dir']}"] if spec.get("cert_dir") else []
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


class Runner:
    """Runs builds of a History; `stop()` ends running builds and puts them back in the queue.

    `sources` maps a repository to the URL to fetch (the webhook's `clone_url`, which may
    hold credentials and so is never stored in the history); a build of a repository not
    in it uses its spec's `source` (the hook's bare repository)."""

    def __init__(
        self, history: History, state_dir: Path, sources: Mapping[str, str] | None = None
    ) -> None:
        self.history = history
        self.state_dir = state_dir
        self.sources = dict(sources or {})
        self.stopping = threading.Event()
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def marker(self, build_id: int) -> str:
        return f"{self.history.path}#{build_id}"

    def run(self, build: Build) -> str:
        """Build it; return the final status. Raises nothing a build can cause."""
        workdir = self.state_dir / "builds" / str(build.id)
        log, outdir, src = workdir / "build.log", workdir / "out", workdir / "src"
        code: int | None = None
        superseded_by: int | None = None
        try:
            private_dir(self.state_dir / "builds")
            private_dir(workdir)
            shutil.rmtree(src, ignore_errors=True)
            self.history.set_running(build.id, pid=None, log_path=str(log))
            newer, code, status, error = self._attempt(build, log, outdir, src)
            superseded_by = newer.id if newer is not None else None
        except TriggerError as exc:
            status, error = "failed", exc.message + (f" (fix: {exc.fix})" if exc.fix else "")
        except Exception as exc:  # one build's fault must not end the worker
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            shutil.rmtree(src, ignore_errors=True)
        if status == "failed" and error:
            _note(log, f"nb2svc trigger: {error}")
        if self.stopping.is_set() and status not in ("succeeded", "superseded"):
            self.history.requeue_running(build.repo)
            return "queued"
        self.history.finish(
            build.id, status, exit_code=code, image_id=_image_id(outdir),
            error=redact_text(error) if error else None, superseded_by=superseded_by,
        )  # fmt: skip
        return status

    def _attempt(
        self, build: Build, log: Path, outdir: Path, src: Path
    ) -> tuple[Build | None, int | None, str, str | None]:
        """(superseding build, exit code, status, error) of checking out and building."""
        source = self.sources.get(build.repo) or str(build.spec["source"])
        timeout = float(build.spec.get("git_timeout") or GIT_TIMEOUT)
        track = functools.partial(self._tracking, build.id)
        tip = checkout(source, build.ref, build.sha, src, log, timeout, track)
        newer = self._newer(build, src, tip, timeout)
        if newer is not None:
            reason = f"superseded by build #{newer.id} of {newer.sha[:12]}, which contains it"
            _note(log, f"nb2svc trigger: {reason}")
            return newer, None, "superseded", reason
        code = self._run(build.id, build_argv(build.spec, src, outdir), log, build.spec, src)
        status, error = self._after_build(build, code, outdir, log, src)
        return None, code, status, error

    def _newer(self, build: Build, src: Path, tip: str, timeout: float) -> Build | None:
        """A build of the same branch, queued or already run, whose commit contains this one
        and is still on the branch: building this older commit after it would go back."""
        for other in self.history.same_ref(build):
            if is_ancestor(src, build.sha, other.sha, timeout) and is_ancestor(
                src, other.sha, tip, timeout
            ):
                return other
        return None

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
        log_line(log, "+ " + shlex.join(argv))
        with append_private(log) as out:
            try:
                proc = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    cwd=cwd, env=clean_env({MARKER_ENV: self.marker(build_id)}),
                    start_new_session=True,
                )  # fmt: skip
            except OSError as exc:
                raise TriggerError(
                    f"cannot run {argv[0]}: {exc.strerror or exc}",
                    fix="set build_command (or the deploy command) to a program that exists",
                ) from None
        try:
            with self._tracking(build_id, proc):
                self.history.set_running(build_id, pid=proc.pid, log_path=str(log))
                return proc.wait(timeout=float(spec.get("timeout") or DEFAULT_TIMEOUT))
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            return proc.wait()
        except BaseException:
            kill_group(proc.pid)
            proc.wait()
            raise

    @contextlib.contextmanager
    def _tracking(self, build_id: int, proc: subprocess.Popen[bytes]) -> Iterator[None]:
        """`proc` (git or the build) is what `stop()` ends for this build while it runs."""
        with self._lock:
            self._procs[build_id] = proc
        try:
            if self.stopping.is_set():  # stop() came between the start and this
                kill_group(proc.pid, signal.SIGTERM)
            yield
        finally:
            with self._lock:
                self._procs.pop(build_id, None)

    def stop(self) -> None:
        """Stop: running builds are killed and go back to the queue."""
        self.stopping.set()
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            kill_group(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                kill_group(proc.pid)
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
            kill_group(build.pid)


def _note(log: Path, text: str) -> None:
    """A line for the build log that must not fail the bookkeeping (a full disk, say)."""
    with contextlib.suppress(OSError):
        log_line(log, text)


def _image_id(outdir: Path) -> str | None:
    try:
        report = json.loads((outdir / "report.json").read_text())
    except (OSError, ValueError):
        return None
    value = report.get("image_id") if isinstance(report, dict) else None
    return str(value) if value else None
