"""The training guard: downloads refused (naming the cell), loopback allowed, a time limit.

Each test runs a small script in a fresh interpreter, as train.py runs in the image.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

RUNTIMES = Path(__file__).resolve().parents[2] / "runtimes"


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(
        """
        from nb2svc_runtime import train_guard
        position = lambda: ("train.ipynb", 4, 2)
        def hook(etype, value, tb):
            print("HOOK", etype.__name__, value, flush=True)
        train_guard.install(position, hook)
        """
    ) + textwrap.dedent(code)
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("NB2SVC_")}
    environment = {**inherited, "PYTHONPATH": str(RUNTIMES), **env}
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment, timeout=60
    )


def test_a_connection_to_another_machine_is_refused_naming_the_cell() -> None:
    result = run(
        """
        import socket
        try:
            socket.create_connection(("example.com", 443), timeout=5)
        except OSError as exc:
            print(type(exc).__name__, exc)
        """
    )
    assert "NetworkBlocked" in result.stdout
    assert "example.com:443" in result.stdout
    assert "cell 4 (In [2]) of train.ipynb" in result.stdout
    assert "--allow-network" in result.stdout


def test_loopback_connections_still_work() -> None:
    result = run(
        """
        import socket
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        client = socket.create_connection(("localhost", server.getsockname()[1]), timeout=5)
        print("connected")
        """
    )
    assert "connected" in result.stdout, result.stderr


def test_allow_network_turns_the_guard_off() -> None:
    result = run(
        """
        import socket
        print(socket.getaddrinfo.__module__)
        """,
        NB2SVC_ALLOW_NETWORK="1",
    )
    assert result.stdout.strip() == "socket"


def test_the_time_limit_stops_a_long_cell_with_a_clear_message() -> None:
    result = run(
        """
        import time
        try:
            time.sleep(30)
        except Exception:
            print("swallowed")  # `except Exception` in a cell cannot hide the timeout
        """,
        NB2SVC_TRAIN_TIMEOUT="1",
    )
    assert "swallowed" not in result.stdout
    assert "TrainingTimeout" in result.stderr
    assert "1s limit (--train-timeout)" in result.stderr
    assert "cell 4 (In [2]) of train.ipynb" in result.stderr


def test_the_watchdog_ends_a_call_that_never_returns_to_python() -> None:
    result = run(
        """
        import signal, time
        signal.signal(signal.SIGALRM, signal.SIG_IGN)  # as if stuck in C code
        time.sleep(30)
        """,
        NB2SVC_TRAIN_TIMEOUT="1",
    )
    assert result.returncode == 124
    assert "HOOK TrainingTimeout" in result.stdout
