"""Serve side: process lifecycle. One worker runs uvicorn in-process; several are run by a
small pre-fork supervisor sharing one listening socket.

SIGTERM: readiness turns 503 (after DRAIN_DELAY, if set) and the listener closes; in-flight
requests finish (up to SHUTDOWN_TIMEOUT); then the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from .config import READY_DIR_ENV, WORKERS_ENV, Settings, worker_sizing

log = logging.getLogger("nb2svc.process")
FATAL_EXIT = 3
LISTEN_FD_ENV = "NB2SVC_LISTEN_FD"
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def timed_http_protocol(read_timeout: float) -> Any:
    """uvicorn's httptools protocol, closing a connection that has not sent a whole request
    head within `read_timeout` seconds of opening or of its first byte (uvicorn times out
    only idle keep-alive connections, so a silent or slow client held one forever)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class TimedHttpToolsProtocol(HttpToolsProtocol):
        head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self.head_timer is None:
                self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self.head_timer = self.loop.call_later(read_timeout, self._head_timeout)

        def _disarm(self) -> None:
            if self.head_timer is not None:
                self.head_timer.cancel()
                self.head_timer = None

        def _head_timeout(self) -> None:
            self.head_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return TimedHttpToolsProtocol


def _uvicorn_config(settings: Settings, app: Any) -> Any:
    import importlib.util

    import uvicorn

    fast = importlib.util.find_spec("uvloop") and importlib.util.find_spec("httptools")
    http = timed_http_protocol(settings.read_timeout) if fast else "auto"
    return uvicorn.Config(
        app, host=settings.host, port=settings.port,
        loop="uvloop" if fast else "auto", http=http,
        lifespan="on", access_log=False, log_config=None, server_header=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout) or None,
        timeout_keep_alive=settings.keep_alive, backlog=2048,
    )  # fmt: skip


def _watch_parent(parent: int, server: Any) -> None:
    """A supervised worker stops when its supervisor is gone (even after SIGKILL)."""
    while not server.should_exit:
        if os.getppid() != parent:
            log.error("supervisor is gone; stopping")
            server.should_exit = True
            return
        time.sleep(0.5)


def run_worker(
    settings: Settings, sock: socket.socket | None = None, parent: int | None = None
) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit code (FATAL_EXIT if the model cannot load)."""
    import uvicorn

    from .server import create_app

    fatal = threading.Event()
    app = create_app(settings, on_fatal=lambda _reason: fatal.set())
    service = app.state.service

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            service.draining = True
            if settings.drain_delay > 0 and not self.should_exit:
                timer = threading.Timer(settings.drain_delay, super().handle_exit, (sig, frame))
                timer.daemon = True
                timer.start()
                return
            super().handle_exit(sig, frame)

    server = DrainingServer(_uvicorn_config(settings, app))

    def watch_fatal() -> None:
        fatal.wait()
        server.should_exit = True

    threading.Thread(target=watch_fatal, daemon=True).start()
    if parent is not None:
        threading.Thread(target=_watch_parent, args=(parent, server), daemon=True).start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)  # uvicorn re-raises the signal after draining
    server.run(sockets=[sock] if sock is not None else None)
    return FATAL_EXIT if fatal.is_set() else 0


def worker_from_env(settings: Settings) -> int:
    """Entry point of a supervised worker: the listening socket is inherited by fd."""
    fd = int(os.environ[LISTEN_FD_ENV])
    sock = socket.socket(fileno=fd)
    return run_worker(settings, sock, parent=os.getppid())


class Supervisor:
    """Starts WORKERS processes on one socket, restarts crashed ones, drains on SIGTERM."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stopping = False
        self.children: list[subprocess.Popen[bytes]] = []
        self.metrics_dir: str | None = None
        self.crashes: list[float] = []
        self.ready_dir: str | None = None

    def _env(self, fd: int) -> dict[str, str]:
        env = dict(os.environ)
        env[LISTEN_FD_ENV] = str(fd)
        for name in THREAD_ENV:
            env.setdefault(name, "1")
        if not env.get("PROMETHEUS_MULTIPROC_DIR"):
            self.metrics_dir = tempfile.mkdtemp(prefix="nb2svc-metrics-")
            env["PROMETHEUS_MULTIPROC_DIR"] = self.metrics_dir
        self.ready_dir = tempfile.mkdtemp(prefix="nb2svc-ready-")
        env[READY_DIR_ENV] = self.ready_dir
        env[WORKERS_ENV] = str(self.settings.workers)
        return env

    def _spawn(self, fd: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "nb2svc_runtime", "_worker"]
        return subprocess.Popen(argv, pass_fds=(fd,), env=env)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> int:
        sock = bind_socket(self.settings.host, self.settings.port)
        env = self._env(sock.fileno())
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        log.info(
            "starting workers",
            extra={"fields": {"workers": self.settings.workers, "port": self.settings.port}},
        )
        self.children = [self._spawn(sock.fileno(), env) for _ in range(self.settings.workers)]
        code = self._watch(sock, env)
        sock.close()
        self._stop_children()
        for directory in (self.metrics_dir, self.ready_dir):
            if directory:
                shutil.rmtree(directory, ignore_errors=True)
        return code

    def _watch(self, sock: socket.socket, env: dict[str, str]) -> int:
        while not self.stopping:
            time.sleep(0.1)
            for i, child in enumerate(self.children):
                code = child.poll()
                if code is None or self.stopping:
                    continue
                if code == FATAL_EXIT:
                    log.error("a worker could not load the model; stopping")
                    return FATAL_EXIT
                if self._crash_looping():
                    log.error("workers keep crashing; stopping")
                    return 1
                log.warning(
                    "worker exited; restarting", extra={"fields": {"pid": child.pid, "code": code}}
                )
                self._mark_dead(child.pid)
                self.children[i] = self._spawn(sock.fileno(), env)
        return 0

    def _crash_looping(self) -> bool:
        now = time.monotonic()
        self.crashes = [t for t in self.crashes if now - t < 60] + [now]
        return len(self.crashes) > 5

    def _mark_dead(self, pid: int) -> None:
        if self.ready_dir:
            Path(self.ready_dir, f"ready-{pid}").unlink(missing_ok=True)
        if self.metrics_dir:
            from prometheus_client import multiprocess

            os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", self.metrics_dir)
            multiprocess.mark_process_dead(pid, self.metrics_dir)  # type: ignore[no-untyped-call]

    def _stop_children(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.drain_delay + self.settings.shutdown_timeout + 5
        for child in self.children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error(
                    "worker did not stop in time; killing", extra={"fields": {"pid": child.pid}}
                )
                child.kill()
                child.wait()


def log_worker_count(settings: Settings) -> None:
    """Say how many workers run and why; warn when WORKERS asks for more than the limits fit."""
    sizing = worker_sizing()
    fields = {"workers": settings.workers, **sizing.fields()}
    if settings.workers_from_env and settings.workers > sizing.workers:
        log.warning(
            "WORKERS is more than the container's CPU quota or memory limit fits "
            "(see USAGE.md, Worker count)",
            extra={"fields": fields},
        )
    else:
        source = "WORKERS" if settings.workers_from_env else "cgroup limits"
        log.info(f"worker count from {source}", extra={"fields": fields})


def serve(settings: Settings) -> int:
    log_worker_count(settings)
    if settings.workers <= 1:
        return run_worker(settings)
    return Supervisor(settings).run()
