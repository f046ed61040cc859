"""The training guard: downloads refused (naming the cell), loopback allowed, a time limit.

Each test runs a small script in a fresh interpreter, as train.py runs in the image.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

RUNTIMES = Path(__file__).resolve().parents[2] / "runtimes"


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(
        """
        from nb2svc_runtime.train import guard as train_guard
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
        guarded = (socket.getaddrinfo, socket.socket.sendto)
        print(*(hasattr(function, "__wrapped__") for function in guarded))
        """,
        NB2SVC_ALLOW_NETWORK="1",
    )
    assert result.stdout.strip() == "False False"


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


def outside_address() -> str:
    """This machine's own address on its route out (not loopback), for a real receiver."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # a UDP connect sends nothing; it picks the route
        except OSError:
            pytest.skip("this machine has no route off loopback")
        address = str(probe.getsockname()[0])
    if address.startswith("127."):
        pytest.skip("this machine has no address but loopback")
    return address


DATAGRAMS = """
import socket
receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
receiver.bind(("0.0.0.0", 0))
receiver.settimeout(0.5)
port = receiver.getsockname()[1]
sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sender.sendto(b"loop", ("127.0.0.1", port))
print("loopback", receiver.recv(100))
sends = {
    "sendto": lambda: sender.sendto(b"out", (HOST, port)),
    "sendto with flags": lambda: sender.sendto(b"out", 0, (HOST, port)),
    "sendmsg": lambda: sender.sendmsg([b"out"], [], 0, (HOST, port)),
}
for name, send in sends.items():
    try:
        send()
        print(name, "sent")
    except OSError as exc:
        print(name, type(exc).__name__, exc)
try:
    print("arrived", receiver.recv(100))
except socket.timeout:
    print("nothing arrived")
"""


def test_udp_datagrams_off_loopback_are_refused_and_never_sent() -> None:
    host = outside_address()
    result = run(DATAGRAMS.replace("HOST", repr(host)))
    assert "loopback b'loop'" in result.stdout, result.stderr
    for name in ("sendto", "sendto with flags", "sendmsg"):
        assert f"{name} NetworkBlocked nb2svc: network access to {host}:" in result.stdout
    assert "cell 4 (In [2]) of train.ipynb" in result.stdout
    assert "nothing arrived" in result.stdout


def test_without_the_guard_the_same_datagrams_arrive() -> None:
    """The receiver above really listens on that address: unguarded, the datagram arrives."""
    result = run(DATAGRAMS.replace("HOST", repr(outside_address())), NB2SVC_ALLOW_NETWORK="1")
    assert "sendto sent" in result.stdout, result.stderr
    assert "arrived b'out'" in result.stdout


def test_name_lookups_through_gethostbyname_are_refused_but_localhost_resolves() -> None:
    result = run(
        """
        import socket
        print("localhost", socket.gethostbyname("localhost"))
        for lookup in (socket.gethostbyname, socket.gethostbyname_ex, socket.gethostbyaddr):
            try:
                lookup("example.com")
                print(lookup.__name__, "resolved")
            except OSError as exc:
                print(lookup.__name__, type(exc).__name__)
        """
    )
    assert "localhost 127.0.0.1" in result.stdout, result.stderr
    for name in ("gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
        assert f"{name} NetworkBlocked" in result.stdout
