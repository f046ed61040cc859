"""Start the real model server as a subprocess and stop it again (no mocks).

`runtime="default"` runs `python -m nb2svc_runtime`; `runtime="bentoml"` runs
`bentoml serve` of the generated service in `nb2svc_bentoml` with the same environment.
`python=` runs the default runtime with another interpreter (a venv's python).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import httpx

REPO = Path(__file__).resolve().parents[2]
RUNTIMES = REPO / "runtimes"
RUNTIME_NAMES = ("default", "bentoml")


def server_argv(runtime: str, port: int, python: str = sys.executable) -> list[str]:
    """The command line that serves MODEL_DIR with `runtime` on 127.0.0.1:`port`."""
    if runtime == "default":
        return [python, "-m", "nb2svc_runtime"]
    if runtime == "bentoml":
        from nb2svc_bentoml import SERVICE

        bentoml = str(Path(sys.executable).with_name("bentoml"))
        host = ["--host", "127.0.0.1", "--port", str(port), "--working-dir", str(RUNTIMES)]
        return [bentoml, "serve", SERVICE, *host]
    raise ValueError(f"unknown runtime {runtime!r}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """A runtime's server on 127.0.0.1 with a free port; logs go to files."""

    def __init__(
        self,
        model_dir: Path,
        log_dir: Path,
        *,
        runtime: str = "default",
        python: str = sys.executable,
        **env: str,
    ) -> None:
        self.runtime = runtime
        self.python = python
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "PYTHONPATH": str(RUNTIMES),
            "MODEL_DIR": str(model_dir),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "WORKERS": "1",
            "BENTOML_DO_NOT_TRACK": "true",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self._files: list[IO[bytes]] = []

    def start(self, timeout: float = 90) -> ServerProcess:
        out = (self.log_dir / "stdout.log").open("wb")
        err = (self.log_dir / "stderr.log").open("wb")
        self._files = [out, err]
        argv = server_argv(self.runtime, self.port, self.python)
        self.proc = subprocess.Popen(argv, env=self.env, stdout=out, stderr=err)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.stderr()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready after {timeout}s: {self.stderr()[-2000:]}")

    def stderr(self) -> str:
        return (self.log_dir / "stderr.log").read_text(errors="replace")

    def stdout(self) -> str:
        return (self.log_dir / "stdout.log").read_text(errors="replace")

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.stop()

    def __enter__(self) -> ServerProcess:
        """`with ServerProcess(...) as server:` starts it and stops it again, however it ends."""
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """SIGTERM (the supervisor stops its workers), SIGKILL if it does not exit in time."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for handle in self._files:
            handle.close()


class KeepAlive:
    """One HTTP/1.1 connection that is never silently reopened: a request after the server
    closed it (with `Connection: close` or by dropping the socket) fails."""

    def __init__(self, url: str, timeout: float = 30) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
        self.conn.connect()
        self.sock = self.conn.sock

    def request(
        self, method: str, path: str, body: bytes | None = None, **headers: str
    ) -> tuple[int, Any, http.client.HTTPResponse]:
        """(status, JSON body or None if it is not JSON, response) on this same connection."""
        if self.conn.sock is None or self.conn.sock is not self.sock:
            raise ConnectionError("the server closed the keep-alive connection")
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        try:
            payload = json.loads(data)
        except ValueError:
            payload = None
        return response.status, payload, response

    def post(self, path: str, body: bytes, content_type: str = "application/json") -> Any:
        return self.request("POST", path, body, **{"Content-Type": content_type})

    def close(self) -> None:
        self.conn.close()
