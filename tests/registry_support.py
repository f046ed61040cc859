"""A real registry for the tests: Debian's `docker-registry` (CNCF distribution 2.8) on
127.0.0.1, TLS from a CA made here with `openssl`, htpasswd (bcrypt) authentication.

`running_registry(folder)` makes the CA and the server certificate (for IP 127.0.0.1), an
htpasswd file with a random password, a `config.yml` (filesystem storage in `folder`),
starts `docker-registry serve`, waits until `/v2/` answers 401 (up, TLS working, asking for
credentials), and at the end stops that process by its pid and checks that nothing listens
on its port any more. Nothing here is a stand-in: buildah and podman talk to it as to any
private registry (`--cert-dir` with the CA, an auth file).
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TOOLS = ("docker-registry", "htpasswd", "openssl")
USER = "nb2svc-tester"


@dataclass(frozen=True)
class Registry:
    host: str  # 127.0.0.1:PORT
    cert_dir: Path  # holds ca.crt: what --cert-dir takes
    user: str
    password: str
    authfile: Path  # containers-auth.json with the right credentials
    pid: int
    started_seconds: float  # from the first openssl call to /v2/ answering 401

    def auth_file(self, path: Path, password: str) -> Path:
        """An auth file for this registry with `password` (a wrong one, say)."""
        return write_auth_file(path, self.host, self.user, password)

    @property
    def ca(self) -> Path:
        return self.cert_dir / "ca.crt"


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def write_auth_file(path: Path, host: str, user: str, password: str) -> Path:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": token}}}))
    path.chmod(0o600)
    return path


def _run(*argv: str, cwd: Path) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:2])} failed: {proc.stderr.strip()}")
    return proc.stdout


def make_certificates(folder: Path) -> Path:
    """A CA (`ca.crt`, in the returned folder for --cert-dir) and `server.crt`/`server.key`
    for IP 127.0.0.1 signed by it, P-256 keys, valid for two days."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _run("openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
         "-subj", "/CN=nb2svc test registry CA", cwd=folder)  # fmt: skip
    _run("openssl", "req", *ec, "-keyout", "server.key", "-out", "server.csr",
         "-subj", "/CN=127.0.0.1", cwd=folder)  # fmt: skip
    (folder / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    _run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext",
         cwd=folder)  # fmt: skip
    cert_dir = folder / "certs"
    cert_dir.mkdir()
    shutil.copy(folder / "ca.crt", cert_dir / "ca.crt")
    return cert_dir


def write_config(folder: Path, port: int) -> Path:
    config = folder / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: {secrets.token_hex(16)}\n"
        f"  tls:\n    certificate: {folder / 'server.crt'}\n    key: {folder / 'server.key'}\n"
        f"auth:\n  htpasswd:\n    realm: nb2svc-test\n    path: {folder / 'htpasswd'}\n"
    )
    return config


def wait_for_401(host: str, ca: Path, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until `https://host/v2/` answers 401 (the registry is up and asks for credentials)."""
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited {proc.returncode}: {log.read_text()}")
        try:
            urllib.request.urlopen(f"https://{host}/v2/", context=context, timeout=2)
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"docker-registry did not answer /v2/ with 401: {log.read_text()}")


@contextmanager
def running_registry(folder: Path) -> Iterator[Registry]:
    start = time.monotonic()
    cert_dir = make_certificates(folder)
    password = secrets.token_urlsafe(18)
    (folder / "htpasswd").write_text(_run("htpasswd", "-Bbn", USER, password, cwd=folder))
    port = free_port()
    host = f"127.0.0.1:{port}"
    config = write_config(folder, port)
    log = folder / "registry.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for_401(host, cert_dir / "ca.crt", proc, log)
        authfile = write_auth_file(folder / "auth.json", host, USER, password)
        yield Registry(host, cert_dir, USER, password, authfile, proc.pid,
                       time.monotonic() - start)  # fmt: skip
    finally:
        stop(proc)
        if listening(port):
            raise RuntimeError(f"something still listens on {host} after the registry stopped")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the registry's pid, SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
