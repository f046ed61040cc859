"""`Podman`: the one class that runs `podman` (verify, `nb2svc run`, `podman kube play`).

Containers publish their port on 127.0.0.1 only. Port publishing (`-p`) works on the
reference host (Debian 12, podman 4.3.1, netavark, runc via containers.conf); for hosts
where it does not, `network="host"` runs the container in the host network namespace and
passes the port in env `PORT` (the servers nb2svc ships read it).
"""

from __future__ import annotations

import json
import secrets
import socket
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from nb2svc.engine import preflight
from nb2svc.engine.errors import PodmanError, PodmanMissingError, failure_message
from nb2svc.engine.tool import Tool

MIN_VERSION = (4, 0, 0)
INSTALL_HINT = "install it with `apt-get install podman runc` (Debian/Ubuntu)"
LABEL_MANAGED = "io.nb2svc.managed"
LOG_TAIL = 40


@dataclass(frozen=True)
class Container:
    """A container started by `Podman.run_detached`, reachable at `url`."""

    name: str
    id: str
    image: str
    host_port: int
    port: int
    network: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.host_port}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Podman(Tool):
    """Owns every `podman` invocation; failures are `PodmanError` with command and output."""

    binary_name = "podman"
    default_timeout = 120.0
    install_hint = INSTALL_HINT
    missing_error = PodmanMissingError

    def _run(self, *args: str, timeout: float | None = None) -> str:
        result = self._call(*args, timeout=timeout)
        if result.returncode != 0:
            raise PodmanError(
                failure_message("podman", result.argv, result.returncode),
                argv=result.argv,
                returncode=result.returncode,
                tail=result.tail(),
                fix=_hint(result.stderr),
            )
        return result.stdout

    def version(self) -> tuple[int, int, int]:
        out = self._run("version", "--format", "json")
        return preflight.version_from_json(out, "Client", "Version")

    def check(self) -> tuple[int, int, int]:
        """Binary present and new enough, storage readable."""
        found = self.version()
        if found < MIN_VERSION:
            msg = f"podman {preflight.format_version(found)} is too old; nb2svc needs >= 4.0"
            raise PodmanMissingError(msg, fix="upgrade podman (Debian 12 ships 4.3.1)")
        self._run("images", "--quiet")
        return found

    # -- containers -------------------------------------------------------------------
    def run_detached(
        self,
        image: str,
        *,
        name: str | None = None,
        port_host: int | None = None,
        port_container: int = 8080,
        env: Mapping[str, str] | None = None,
        read_only: bool = False,
        user: str | None = None,
        network: Literal["bridge", "host"] = "bridge",
        command: list[str] | None = None,
    ) -> Container:
        """`podman run -d`, publishing `port_container` on 127.0.0.1:`port_host` (free if None).

        With `network="host"` nothing is published: the server must listen on `PORT`.
        """
        name = name or f"nb2svc-{secrets.token_hex(4)}"
        args = ["run", "--detach", "--name", name, "--label", f"{LABEL_MANAGED}=1"]
        environment = dict(env or {})
        if network == "host":
            port_host = port_host or port_container
            args.append("--network=host")
            environment.setdefault("PORT", str(port_host))
        else:
            port_host = port_host or free_port()
            args += ["--publish", f"127.0.0.1:{port_host}:{port_container}"]
        args += [f"--env={key}={value}" for key, value in environment.items()]
        args += ["--read-only"] if read_only else []
        args += [f"--user={user}"] if user else []
        container_id = self._run(*args, image, *(command or [])).strip().splitlines()[-1]
        port = port_host if network == "host" else port_container
        return Container(name, container_id, image, port_host, port, network)

    @contextmanager
    def running(self, image: str, **options: Any) -> Iterator[Container]:
        """`run_detached` whose container is removed (forcefully) on exit, whatever happens."""
        container = self.run_detached(image, **options)
        try:
            yield container
        except BaseException:
            self._remove(container, check=False)  # the original error is the one to see
            raise
        self._remove(container, check=True)

    def _remove(self, container: Container, *, check: bool) -> None:
        """`podman rm --force`, once more when it failed but the container is still there
        (a loaded machine can exceed the first timeout). A container left behind holds its
        image: a later `rmi` of it would fail, so with `check` that is an error here.
        `--time 0`: a throwaway container is killed, not drained (2 s saved per container);
        a caller that tests graceful shutdown stops it first (`stop`)."""
        for timeout in (60, 180):
            result = self._call("rm", "--force", "--time", "0", container.name, timeout=timeout)
            if result.returncode == 0 or not self.exists(container):
                return
        if check:
            raise PodmanError(
                failure_message("podman", result.argv, result.returncode),
                argv=result.argv,
                returncode=result.returncode,
                tail=result.tail(),
                fix=f"remove it with `podman rm --force {container.name}`",
            )

    def logs(self, container: Container | str, *, tail: int | None = None) -> str:
        args = ["logs", *(["--tail", str(tail)] if tail is not None else []), _name(container)]
        result = self._call(*args)
        return result.stdout + result.stderr

    def stop(self, container: Container | str, timeout: int = 10) -> None:
        self._run("stop", "--time", str(timeout), _name(container), timeout=timeout + 30)

    def rm(self, container: Container | str, *, force: bool = False) -> None:
        self._run("rm", *(["--force", "--time", "2"] if force else []), _name(container))

    def inspect(self, container: Container | str) -> dict[str, Any]:
        data = json.loads(self._run("container", "inspect", _name(container)))
        return dict(data[0]) if data else {}

    def is_running(self, container: Container | str) -> bool:
        result = self._call(
            "container", "inspect", "--format", "{{.State.Running}}", _name(container)
        )
        return result.returncode == 0 and result.stdout.strip() == "true"

    def containers(self) -> list[dict[str, Any]]:
        """All podman containers (running or not), as `podman ps --all --format json`."""
        return list(json.loads(self._run("ps", "--all", "--format", "json") or "[]"))

    def exists(self, container: Container | str) -> bool:
        return self._call("container", "exists", _name(container)).returncode == 0

    def resident_bytes(self, container: Container | str) -> int | None:
        """The resident memory of the container's processes (its init and every descendant),
        read from the host's /proc; None when podman does not say the container's pid."""
        pid = self.inspect(container).get("State", {}).get("Pid")
        if not isinstance(pid, int) or pid <= 0:
            return None
        total, pending, seen = 0, [pid], set()
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            total += _vm_rss(current)
            pending += _children(current)
        return total

    def read_file(self, container: Container | str, path: str) -> bytes:
        """The content of one file inside a container (`podman cp` to a temporary folder)."""
        with tempfile.TemporaryDirectory(prefix="nb2svc-cp-") as tmp:
            dest = Path(tmp) / "file"
            self._run("cp", f"{_name(container)}:{path}", str(dest))
            return dest.read_bytes()

    def wait_http_ready(
        self,
        url: str,
        timeout: float = 60.0,
        *,
        container: Container | str | None = None,
        interval: float = 0.25,
    ) -> None:
        """Poll `url` until it answers 2xx; fail early if `container` exits.

        The error carries the last lines of the container's logs.
        """
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            last = _probe(url)
            if last == "ok":
                return
            if container is not None and not self.is_running(container):
                self._fail_ready(f"container exited before {url} was ready ({last})", container)
            time.sleep(interval)
        self._fail_ready(f"{url} was not ready after {timeout:.0f}s ({last})", container)

    def _fail_ready(self, message: str, container: Container | str | None) -> None:
        tail = self.logs(container, tail=LOG_TAIL).splitlines() if container else []
        raise PodmanError(
            message,
            tail=[f"logs of {_name(container)}:", *tail[-LOG_TAIL:]] if container else [],
            fix="look at the logs above; `nb2svc run` shows the full log",
        )

    # -- kube -------------------------------------------------------------------------
    def kube_play(self, file: Path, *, start: bool = True) -> str:
        args = ["kube", "play", *([] if start else ["--start=false"]), str(file)]
        return self._run(*args, timeout=max(self.timeout, 300))

    def kube_down(self, file: Path) -> str:
        return self._run("kube", "down", str(file), timeout=max(self.timeout, 120))


def _vm_rss(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0  # exited meanwhile
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def _name(container: Container | str) -> str:
    return container.name if isinstance(container, Container) else container


def _probe(url: str) -> str:
    """ "ok" for a 2xx answer, else a short reason."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return "ok" if 200 <= int(response.status) < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as err:
        return f"HTTP {err.code}"
    except (urllib.error.URLError, OSError) as err:
        return f"{type(err).__name__}: {getattr(err, 'reason', err)}"


def _hint(stderr: str) -> str | None:
    """A fix for podman failures seen on hosts like the reference one."""
    if "cgroups in hybrid mode" in stderr or "rlimit" in stderr:
        return (
            "point CONTAINERS_CONF at nb2svc's containers/containers.conf "
            "(runtime = runc, lower ulimits)"
        )
    if "address already in use" in stderr:
        return "the host port is taken; pick another with --port"
    if "image not known" in stderr or "unable to find" in stderr.lower():
        return "the image is not in local storage; build it first (`buildah images`)"
    return None
