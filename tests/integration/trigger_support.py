"""What the git hook and webhook tests share: a stand-in build command, git as a test user,
the webhook server as a real process and signed deliveries to it, a git:// server that can
hang, waiting for a condition, and making sure no process a test started is left running."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SECRET = b"s3cret-for-tests"

# A stand-in for `nb2svc build`: records its argv, the checkout's HEAD and origin URL (with
# times) in RECORD as a "start" entry, waits for the file GATE to exist, then records an
# "end" entry.
# Run as `python standin.py RECORD GATE CHECKOUT [ARG...]`.
STANDIN = """\
import json, pathlib, subprocess, sys, time
record, gate, src = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
head = subprocess.run(["git", "-C", src, "rev-parse", "HEAD"], capture_output=True,
                      text=True, check=True).stdout.strip()
origin = subprocess.run(["git", "-C", src, "config", "--get", "remote.origin.url"],
                        capture_output=True, text=True).stdout.strip()
entry = {"argv": sys.argv[3:], "head": head, "origin": origin, "start": time.time()}
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


@dataclass
class Server:
    tmp: Path
    config: Path
    proc: subprocess.Popen[str] | None = None
    url: str = ""
    shas: list[str] = field(default_factory=list)

    def start(self, umask: int = -1, env: dict[str, str] | None = None) -> None:
        """Start the server (with `umask` and `env`, if given) and wait until it listens."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nb2svc.triggers", "webhook", "serve", "--config",
             str(self.config)],
            stdout=subprocess.PIPE, stderr=(self.tmp / "server.err").open("a"), text=True,
            umask=umask, env=env,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line
        self.url = line.split("listening on ", 1)[1].strip()

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        request = urllib.request.Request(self.url + path, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        return host, int(port)

    def raw(self, request: bytes, *, timeout: float = 10) -> bytes:
        """Send `request` as is on a new connection; all the server answers before closing."""
        with socket.create_connection(self.address, timeout=timeout) as sock:
            with contextlib.suppress(OSError):  # the server may have answered and closed
                sock.sendall(request)
                sock.shutdown(socket.SHUT_WR)
            return read_all(sock)

    def deliver(self, sha: str, hook: str = "churn", *, repo: str = "acme/churn") -> int:
        """Deliver a signed GitHub push of `sha` in `repo` to `/hooks/HOOK`, which must queue
        it; the build's ID."""
        body = github_push(sha, repo=repo)
        status, answer = self.post(f"/hooks/{hook}", body, github_headers(body))
        assert (status, answer["status"]) == (202, "queued"), answer
        return int(answer["build"])

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.loads(response.read())

    def statuses(self) -> list[str]:
        return [b["status"] for b in reversed(self.get("/builds")["builds"])]

    def entries(self, event: str) -> list[dict[str, Any]]:
        return standin_entries(self.tmp / "record.jsonl", event)


def github_push(sha: str, *, ref: str = "refs/heads/main", repo: str = "acme/churn") -> bytes:
    return json.dumps({"ref": ref, "before": "0" * 40, "after": sha,
                       "repository": {"full_name": repo}}).encode()  # fmt: skip


def github_headers(
    body: bytes, *, event: str = "push", delivery: str | None = None
) -> dict[str, str]:
    mac = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={mac}",
    }


def make_origin(tmp: Path, commits: int = 3) -> tuple[Path, Path, list[str]]:
    """A bare repository `tmp/churn.git` whose `main` holds `commits` commits, each also
    pushed as `v<i>`; with its work tree and the commits' IDs, oldest first."""
    bare, work = tmp / "churn.git", tmp / "work"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    shas = []
    for i in range(commits):
        shas.append(commit(work, f"nb.ipynb={i}"))
        git("push", "-q", str(bare), f"HEAD:refs/heads/v{i}", "HEAD:refs/heads/main", cwd=work)
    return bare, work, shas


def commit(work: Path, text: str) -> str:
    """Commit a change to `work/nb.ipynb`; the new commit's ID."""
    (work / "nb.ipynb").write_text(text)
    git("add", "-A", cwd=work)
    git("commit", "-qm", text, cwd=work)
    return git("rev-parse", "HEAD", cwd=work).stdout.strip()


def standin_command(tmp: Path) -> list[str]:
    """The argv prefix of the stand-in build (written to `tmp/standin.py`)."""
    (tmp / "standin.py").write_text(STANDIN)
    return [sys.executable, str(tmp / "standin.py"), str(tmp / "record.jsonl"), str(tmp / "gate")]


class GitServer:
    """git:// on 127.0.0.1 serving the repositories under `base`. The first `hang`
    connections are accepted and never answered (a stuck server); later ones are served by
    a real `git daemon --inetd`. `stop()` closes everything it opened."""

    def __init__(self, base: Path, *, hang: int = 0) -> None:
        self.base, self.hang = base, hang
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        self.daemons: list[subprocess.Popen[bytes]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if len(self.held) < self.hang:
                self.held.append(conn)
                continue
            argv = ["git", "daemon", "--inetd", "--export-all", f"--base-path={self.base}"]
            self.daemons.append(
                subprocess.Popen(
                    argv, stdin=conn.fileno(), stdout=conn.fileno(), stderr=subprocess.DEVNULL
                )
            )
            conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.listener.close()
        self.thread.join(timeout=5)
        for conn in self.held:
            conn.close()
        for daemon in self.daemons:
            try:
                daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()


def read_all(sock: socket.socket) -> bytes:
    """What `sock` receives until the peer closes (a reset counts as the end)."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    """The status code of a raw HTTP answer (0 when there is none)."""
    line = answer.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 and line[1].isdigit() else 0


@contextlib.contextmanager
def serving(
    tmp: Path,
    repos: Mapping[str, Mapping[str, object]],
    *,
    settings: Mapping[str, object] | None = None,
    command: list[str] | None = None,
    commits: int = 3,
    umask: int = -1,
    env: dict[str, str] | None = None,
    secret: bytes = SECRET,
) -> Iterator[Server]:
    """A webhook server on a fresh origin `tmp/churn.git` (see make_origin). Its config,
    `tmp/webhook.toml`, has port 0 (any free one), its state in `state`, `command` as the
    build (the stand-in by default) and `settings`; and each of `repos`, named `acme/KEY`,
    cloned from the origin, its secret in the file `secret` (which holds `secret`), unless its
    fields say otherwise (a field of None is left out). Afterwards the stand-in's gate opens,
    the server stops, and no process of the test may be left."""
    bare, _, shas = make_origin(tmp, commits=commits)
    (tmp / "secret").write_bytes(secret)
    path = tmp / "webhook.toml"
    top = {"port": 0, "state_dir": "state", "build_command": command or standin_command(tmp)}
    defaults = {"clone_url": str(bare), "secret_file": "secret"}
    # JSON writes strings, numbers and lists of them as TOML does.
    lines = [f"{key} = {json.dumps(value)}" for key, value in {**top, **(settings or {})}.items()]
    for key, fields in repos.items():
        table = {"name": f"acme/{key}", **defaults, **fields}
        lines += ["", f"[repos.{key}]"]
        lines += [
            f"{name} = {json.dumps(value)}" for name, value in table.items() if value is not None
        ]
    path.write_text("\n".join(lines) + "\n")
    server = Server(tmp, path, shas=shas)
    server.start(umask=umask, env=env)
    try:
        yield server
    finally:
        (tmp / "gate").touch()
        server.stop()
        left = kill_leftovers(str(tmp))
        assert not left, f"processes left running: {left}"
