"""Low-level process running for the engine boundary (buildah, podman, debootstrap).

This is the only module of nb2svc that imports `subprocess`; `Buildah`, `Podman` and
`Debootstrap` go through `run_captured` and `run_streaming`. Both put the child in its own
process group so an interrupt (Ctrl-C) can stop it and every process it started, before
the caller cleans up.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import shlex
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TextIO

TAIL_LINES = 40
# How long a child gets to react to each signal before the next, stronger one.
STOP_GRACE_SECONDS = (5.0, 5.0)

_FALLBACK_CONTAINERS_CONF = """\
# Written by nb2svc because CONTAINERS_CONF was unset and the project's
# containers/containers.conf was not found (see nb2svc.engine.process).
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
runtime = "runc"
"""


@dataclass(frozen=True)
class Captured:
    """The result of a short command whose output is read whole."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def tail(self, lines: int = TAIL_LINES) -> tuple[str, ...]:
        text = self.stderr if self.stderr.strip() else self.stdout
        return tuple(text.splitlines()[-lines:])


@dataclass(frozen=True)
class Streamed:
    """The result of a long command whose output was streamed line by line."""

    argv: tuple[str, ...]
    returncode: int
    tail: tuple[str, ...]


def quote(argv: Sequence[str]) -> str:
    """The command as a person would paste it into a shell."""
    return shlex.join(argv)


def project_containers_conf() -> Path | None:
    """`containers/containers.conf` of a source checkout (editable install), if present."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "containers" / "containers.conf"
        if candidate.is_file() and (parent / "pyproject.toml").is_file():
            return candidate
    return None


def containers_conf() -> Path:
    """The containers.conf nb2svc points podman/buildah at when the user has not chosen one."""
    found = project_containers_conf()
    if found is not None:
        return found
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nb2svc"
    target = cache / "containers.conf"
    if not target.is_file() or target.read_text() != _FALLBACK_CONTAINERS_CONF:
        cache.mkdir(parents=True, exist_ok=True)
        target.write_text(_FALLBACK_CONTAINERS_CONF)
    return target


def engine_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for buildah/podman: the caller's, plus CONTAINERS_CONF if unset."""
    env = dict(os.environ)
    if not env.get("CONTAINERS_CONF"):
        env["CONTAINERS_CONF"] = str(containers_conf())
    env.update(extra or {})
    return env


def run_captured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    cwd: Path | None = None,
) -> Captured:
    """Run a short command to completion and capture stdout and stderr separately.

    A timeout stops the whole process group and is reported as returncode -9 with a note
    in stderr (the caller turns it into a typed error with the command).
    """
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
        text=True,
        errors="replace",
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(proc)
        out, err = proc.communicate()
        err += f"\nnb2svc: timed out after {timeout} s"
        return Captured(tuple(argv), -9, out, err)
    except BaseException:
        stop_group(proc)
        raise
    return Captured(tuple(argv), proc.returncode, out, err)


def run_streaming(
    argv: Sequence[str],
    on_line: Callable[[str], None],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    tail_lines: int = TAIL_LINES,
) -> Streamed:
    """Run a long command, handing every output line (stdout and stderr merged) to `on_line`.

    Lines are split on `\\n` and `\\r` (progress bars). If `on_line` raises, or the caller is
    interrupted (KeyboardInterrupt), the process group is stopped before the exception
    propagates, so nothing keeps running behind the caller's cleanup.
    """
    proc = start_group(argv, env, stderr=subprocess.STDOUT, cwd=cwd)
    returncode, tail = follow_lines(proc, on_line, tail_lines)
    return Streamed(tuple(argv), returncode, tail)


def start_group(
    argv: Sequence[str],
    env: Mapping[str, str] | None,
    *,
    stdin: int = subprocess.DEVNULL,
    stdout: int = subprocess.PIPE,
    stderr: int | IO[bytes],
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` in a process group of its own, so `stop_group` stops all it starts.
    Its stdin is closed and its stdout a pipe unless the caller says otherwise."""
    return subprocess.Popen(
        list(argv),
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
    )


def follow_lines(
    proc: subprocess.Popen[bytes], on_line: Callable[[str], None], tail_lines: int
) -> tuple[int, tuple[str, ...]]:
    """Hand each line of `proc`'s stdout to `on_line` until it exits; its exit status and
    last `tail_lines` lines. If anything raises meanwhile (`on_line`, an interrupt), the
    process group is stopped before the exception propagates."""
    assert proc.stdout is not None
    tail: deque[str] = deque(maxlen=tail_lines)
    try:
        for line in iter_lines(proc.stdout):
            tail.append(line)
            on_line(line)
        return proc.wait(), tuple(tail)
    except BaseException:
        stop_group(proc)
        raise
    finally:
        proc.stdout.close()


def iter_lines(stream: IO[bytes], chunk_size: int = 4096) -> Iterator[str]:
    """Decode a binary stream incrementally and yield lines split on `\\n`, `\\r\\n` or `\\r`."""
    read = getattr(stream, "read1", stream.read)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    while True:
        chunk = read(chunk_size)
        pending += decoder.decode(chunk, final=not chunk)
        # A trailing "\r" may be the first half of "\r\n": decide when more text arrives.
        keep_cr = bool(chunk) and pending.endswith("\r")
        text = pending[:-1] if keep_cr else pending
        *lines, rest = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        pending = rest + ("\r" if keep_cr else "")
        yield from lines
        if not chunk:
            break
    if pending:
        yield pending


def stop_group(proc: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    """Stop a child started with `start_new_session`: SIGINT, then SIGTERM, then SIGKILL.

    SIGINT first lets buildah/podman run their own cleanup (they remove the working
    container of an interrupted step), which is what a person pressing Ctrl-C expects.
    """
    for sig, grace in zip((signal.SIGINT, signal.SIGTERM), STOP_GRACE_SECONDS, strict=True):
        _signal_group(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    else:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
    # The group may outlive its leader (e.g. a RUN step's shell); make sure it is gone.
    _signal_group(proc.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def echo(argv: Sequence[str], stream: TextIO | None = None) -> None:
    """Print `+ cmd` the way `set -x` does (used in verbose mode)."""
    print(f"+ {quote(argv)}", file=stream or sys.stderr, flush=True)
