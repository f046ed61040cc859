"""The real `s2i` CLI (openshift/source-to-image, tests/go_tools.py) as the tests run it.

- `S2IClient`: `s2i build` with a HOME of its own. s2i inspects the builder image through
  containers/image (`docker://` unless the name has a transport; s2i v1.6.3 cannot name
  `containers-storage:`, see docs/s2i.md), which reads the registry's CA from
  `$HOME/.config/containers/certs.d/HOST:PORT/ca.crt` and credentials from
  `$HOME/.config/containers/auth.json` (its library ignores `REGISTRY_AUTH_FILE`, which only
  the podman/buildah command lines read). `XDG_RUNTIME_DIR` points at an empty folder so no
  login of this machine's is used. Nothing is written under /etc.
- `podman_service(folder)`: podman's Docker-compatible API on a socket in `folder`, for
  s2i's Docker-API mode (`DOCKER_HOST=unix://...`); stopped by its pid at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

NOT_INSPECTED = "could not inspect the builder image"  # s2i's warning when it cannot


@dataclass(frozen=True)
class S2IRun:
    """One `s2i` invocation: its argv, exit code, output (stdout and stderr) and seconds."""

    argv: list[str]
    returncode: int
    output: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        return self.output.splitlines()


@dataclass(frozen=True)
class S2IClient:
    binary: Path
    home: Path
    runtime_dir: Path

    def env(self, docker_host: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "XDG_"))}
        env.update(HOME=str(self.home), XDG_RUNTIME_DIR=str(self.runtime_dir))
        if docker_host:
            env["DOCKER_HOST"] = docker_host
        return env

    def run(self, *args: str, docker_host: str | None = None, timeout: float = 900) -> S2IRun:
        argv = [str(self.binary), *args]
        start = time.monotonic()
        done = subprocess.run(
            argv, env=self.env(docker_host), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        return S2IRun(argv, done.returncode, done.stdout, time.monotonic() - start)

    def as_dockerfile(
        self, source: Path, builder: str, context: Path, *, incremental_from: str | None = None
    ) -> S2IRun:
        """`s2i build --as-dockerfile CONTEXT/Dockerfile SOURCE BUILDER [TAG --incremental]`:
        the tag is the previous image s2i's `cached` stage runs save-artifacts in."""
        previous = [incremental_from, "--incremental"] if incremental_from else []
        dockerfile = str(context / "Dockerfile")
        result = self.run("build", "--as-dockerfile", dockerfile, str(source), builder, *previous)
        if result.returncode != 0:
            raise AssertionError(f"s2i exited {result.returncode}:\n{result.output}")
        return result

    def docker_api_build(
        self,
        source: Path,
        builder: str,
        tag: str,
        *,
        docker_host: str,
        volumes: Sequence[str] = (),
        incremental: bool = False,
    ) -> S2IRun:
        """`s2i build SOURCE BUILDER TAG [-v ...] [--incremental]` against a Docker API.
        An incremental build reads the previous image from TAG (s2i's CLI has no other way
        to name it) and moves TAG to the new image."""
        args = ["build", str(source), builder, tag, *(f"--volume={v}" for v in volumes)]
        result = self.run(*args, *(["--incremental"] if incremental else []),
                          docker_host=docker_host)  # fmt: skip
        if result.returncode != 0:
            raise AssertionError(f"s2i exited {result.returncode}:\n{result.output}")
        return result


def client_home(folder: Path, registry_host: str, ca: Path, authfile: Path) -> tuple[Path, Path]:
    """A HOME that trusts the registry's CA and holds its credentials, and an empty
    XDG_RUNTIME_DIR (containers/image would look there for an auth.json first)."""
    home, runtime = folder / "home", folder / "run"
    certs = home / ".config" / "containers" / "certs.d" / registry_host
    certs.mkdir(parents=True)
    runtime.mkdir(mode=0o700)
    shutil.copy(ca, certs / "ca.crt")
    shutil.copy(authfile, home / ".config" / "containers" / "auth.json")
    return home, runtime


def _answers_ping(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(2)
        try:
            sock.connect(str(path))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
            return b" 200 " in sock.recv(64)
        except OSError:
            return False


@contextmanager
def podman_service(folder: Path) -> Iterator[str]:
    """`podman system service --time=0` on `folder/podman.sock`; yields DOCKER_HOST. At
    the end the process is stopped by its pid (SIGTERM, then SIGKILL after 20 s)."""
    sock = folder / "podman.sock"
    log = folder / "podman-service.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{sock}"], stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (sock.exists() and _answers_ping(sock)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"podman system service did not answer: {log.read_text()}")
            time.sleep(0.1)
        yield f"unix://{sock}"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
