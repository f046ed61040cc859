"""What the git hook and webhook tests share: a stand-in build command, git as a test user,
waiting for a condition, and making sure no process a test started is left running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

# A stand-in for `nb2svc build`: records its argv and the checkout's HEAD (with times) in
# RECORD as a "start" entry, waits for the file GATE to exist, then records an "end" entry.
# Run as `python standin.py RECORD GATE CHECKOUT [ARG...]`.
STANDIN = """\
import json, pathlib, subprocess, sys, time
record, gate, src = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
head = subprocess.run(["git", "-C", src, "rev-parse", "HEAD"], capture_output=True,
                      text=True, check=True).stdout.strip()
entry = {"argv": sys.argv[3:], "head": head, "start": time.time()}
with record.open("a") as f:
    f.write(json.dumps(dict(entry, event="start")) + "\\n")
deadline = time.time() + 60
while not gate.exists() and time.time() < deadline:
    time.sleep(0.05)
with record.open("a") as f:
    f.write(json.dumps(dict(entry, event="end", end=time.time())) + "\\n")
"""


def standin_entries(record: Path, event: str) -> list[dict[str, Any]]:
    """The stand-in's `event` ("start" or "end") entries so far, oldest first."""
    if not record.exists():
        return []
    return [e for e in map(json.loads, record.read_text().splitlines()) if e["event"] == event]


def git(*args: str, cwd: Path, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """`git ARGS` in `cwd` as a test identity, none of the caller's GIT_* settings; a failure
    fails the test with git's stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t")
    env["GIT_COMMITTER_EMAIL"] = "t@e"
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def wait_for(predicate: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def our_processes(marker: str) -> list[int]:
    """PIDs whose command line mentions `marker` (a path unique to this test)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and proc.name != str(os.getpid()):
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if marker.encode() in cmdline:
                found.append(int(proc.name))
    return found


def kill_leftovers(marker: str, grace: float = 0) -> list[int]:
    """Give the processes `marker` names `grace` seconds to end, SIGKILL the rest; their PIDs
    (a test that leaves none running gets [])."""
    deadline = time.monotonic() + grace
    while our_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = our_processes(marker)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left
