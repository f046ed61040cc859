"""A clean checkout of one commit of one branch, for one build (docs/triggers.md).

The branch alone is fetched from the configured source into an empty repository, and the
commit must be contained in the branch's tip (`git merge-base --is-ancestor`): a commit that
only a pull-request ref or another branch holds is never built. Every git runs in its own
process group with a deadline and writes to a file, never to a pipe that a stuck child could
hold; what it printed is redacted (`nb2svc.redact`) before it reaches the build log. The
checkout's `origin` is the redacted URL, so credentials in a `clone_url` are never on disk
in the tree a build sees.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from nb2svc.errors import TriggerError
from nb2svc.redact import redact_text, redact_url
from nb2svc.triggers.private import append_private
from nb2svc.triggers.refs import branch_of, is_oid

GIT_TIMEOUT = 600.0
LOG_TAIL = 64 * 1024  # what is kept of one git command's output


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without GIT_* (a hook runs with GIT_DIR and quarantine variables set)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(extra or {})
    return env


def log_line(log: Path, text: str) -> None:
    """Append `text` (redacted) as a line of the build log."""
    with append_private(log) as out:
        out.write(redact_text(text).rstrip("\n") + "\n")


def kill_group(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


Track = Callable[["subprocess.Popen[bytes]"], AbstractContextManager[None]]


@contextlib.contextmanager
def untracked(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    yield


def checkout(
    source: str, ref: str, sha: str, dest: Path, log: Path, timeout: float,
    track: Track = untracked,
) -> str:  # fmt: skip
    """Fetch branch `ref` of `source` into `dest`, detach at `sha`; return the branch's tip.

    `track` is told of each git while it runs (so a stopping server can end it). Raises
    TriggerError when the commit is not on the branch, or git fails or hangs."""
    branch = branch_of(ref)
    if branch is None:
        raise TriggerError(f"refusing to build ref {ref[:200]!r}: not an allowed branch name")
    if not is_oid(sha):
        raise TriggerError(f"refusing to build {sha[:80]!r}: not an object id")
    shown = redact_url(source)
    tracking = f"refs/remotes/origin/{branch}"
    git(["init", "--quiet", str(dest)], log, timeout=timeout, track=track)
    fetch = ["fetch", "--quiet", "--no-tags", "--no-recurse-submodules", "--", source]
    if git(["-C", str(dest), *fetch, f"+{ref}:{tracking}"], log, timeout=timeout, track=track) != 0:
        raise TriggerError(
            f"cannot fetch branch {branch} from {shown}",
            fix="check clone_url, the branch name and the credentials (build.log has git's output)",
        )
    tip = rev_parse(dest, tracking, timeout)
    if not is_ancestor(dest, sha, tip, timeout):
        raise TriggerError(
            f"commit {sha} is not on branch {branch} of {shown} (its tip is {tip})",
            fix="only commits that the branch contains are built; push the commit to the branch",
        )
    detach = ["-C", str(dest), "checkout", "--quiet", "--detach", sha]
    if git(detach, log, timeout=timeout, track=track) != 0:
        raise TriggerError(f"cannot check out {sha} of {shown}")
    # So the build records where the commit came from, without the credentials.
    git(["-C", str(dest), "remote", "add", "origin", shown], log, timeout=timeout, track=track)
    head = rev_parse(dest, "HEAD", timeout)
    if head != sha:
        raise TriggerError(f"checkout of {shown} is at {head or 'nothing'}, not {sha}")
    return tip


def rev_parse(repo: Path, name: str, timeout: float) -> str:
    return _output(repo, ["rev-parse", "--verify", "--quiet", f"{name}^{{commit}}"], timeout)


def is_ancestor(repo: Path, commit: str, descendant: str, timeout: float) -> bool:
    """Whether `descendant` contains `commit` (equal counts); False if either is unknown."""
    argv = ["git", "-C", str(repo), "merge-base", "--is-ancestor", commit, descendant]
    proc = _run(argv, timeout)
    return proc is not None and proc.returncode == 0


def _output(repo: Path, args: Sequence[str], timeout: float) -> str:
    proc = _run(["git", "-C", str(repo), *args], timeout)
    return proc.stdout.strip() if proc is not None and proc.returncode == 0 else ""


def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str] | None:
    """A local git query (no network): its result, or None if it could not run in time."""
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, env=clean_env(), timeout=timeout,
            stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    except OSError as exc:
        raise _cannot_run_git(exc) from None


def git(args: Sequence[str], log: Path, *, timeout: float, track: Track = untracked) -> int:
    """Run `git ARGS`, its output (redacted) appended to `log`; its exit code.

    Raises TriggerError if git cannot be started or does not finish within `timeout`."""
    argv = ["git", *args]
    log_line(log, "+ " + shlex.join(argv))
    env = clean_env({"GIT_TERMINAL_PROMPT": "0"})
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            raise _cannot_run_git(exc) from None
        try:
            with track(proc):
                code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        except BaseException:
            _end(proc)
            raise
        if code is None:
            _end(proc)
        size = out.seek(0, os.SEEK_END)
        out.seek(max(0, size - LOG_TAIL))
        printed = out.read().decode(errors="replace")
    if printed.strip():
        log_line(log, printed)
    if code is None:
        log_line(log, f"nb2svc trigger: git {args_name(args)} killed after {timeout:g} s")
        raise TriggerError(
            f"git {args_name(args)} did not finish within {timeout:g} seconds",
            fix="check that the source answers; raise git_timeout if it is just slow",
        )
    return code


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Kill git and whatever it started (a remote helper, ssh): they share its group."""
    kill_group(proc.pid)
    proc.wait()


def args_name(args: Sequence[str]) -> str:
    """The git subcommand of `args` (after any `-C DIR`)."""
    rest = list(args)
    while rest[:1] == ["-C"]:
        rest = rest[2:]
    return rest[0] if rest else "?"


def _cannot_run_git(exc: OSError) -> TriggerError:
    return TriggerError(
        f"cannot run git: {exc.strerror or exc}", fix="install git where the builds run"
    )
