"""Limits on the training run: no network unless allowed, and a time limit. Stdlib only.

`nb2svc build` checks the notebook for downloads before building; this is the same
rule enforced while the code runs, so a download the analysis could not see (a URL
built at run time, a library fetching a data set) fails naming the cell instead of
hanging or training on something else. Loopback and Unix sockets stay allowed.

The time limit raises `TrainingTimeout` (a BaseException, so `except Exception` in a
cell cannot swallow it) in the main thread; a watchdog ends the process a little
later when a long call in C code never returns to Python.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any, Optional

from ..contract import ALLOW_NETWORK_ENV
from ..contract import TRAIN_TIMEOUT_ENV as TIMEOUT_ENV

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

# Evaluated at import, so no `X | None` (PEP 604 needs 3.10; the 3.9 base runs this).
Position = Callable[[], tuple[Optional[str], Optional[int], Optional[int]]]
"""(notebook, cell index, execution count) of the cell running now."""
Where = Callable[[], str]
blocked: list[str] = []
"""`host:port (where)` of every connection refused, in order."""


class NetworkBlocked(OSError):
    """A cell tried to reach another machine while the build does not allow it."""


class TrainingTimeout(BaseException):
    """Training ran longer than --train-timeout."""


def is_loopback(host: object) -> bool:
    if host is None or host in ("", b""):
        return True
    text = host.decode() if isinstance(host, bytes) else str(host)
    if text.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(text.split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(host: object, port: object, where: Where) -> NetworkBlocked:
    target = f"{host}:{port}" if port not in (None, "", 0) else str(host)
    blocked.append(f"{target} ({where()})")
    return NetworkBlocked(
        f"nb2svc: network access to {target} is blocked while training ({where()}); commit "
        "the data to the repository and read it from there, or build with --allow-network"
    )


def _address_of(args: tuple[Any, ...], position: int) -> Any:
    return args[position] if len(args) > position else None


def block_network(where: Where) -> None:
    """Refuse name lookups, connections and datagrams to anything but loopback, from now on.

    Covers the Python-level doors: `socket.getaddrinfo`, `gethostbyname(_ex)`,
    `gethostbyaddr`, and `connect`, `connect_ex`, `sendto`, `sendmsg` of `socket.socket`
    (and so its subclasses: ssl, asyncio, urllib, requests). C extensions and
    subprocesses do not pass through here (USAGE.md, "The training network guard").
    """
    original = socket.socket

    def lookup(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
            if not is_loopback(host):
                raise _refuse(host, _address_of(args, 0), where)
            return function(host, *args, **kwargs)

        return guarded

    def check(sock: socket.socket, address: Any) -> None:
        if (
            sock.family in (socket.AF_INET, socket.AF_INET6)
            and isinstance(address, tuple)
            and not is_loopback(address[0])
        ):
            raise _refuse(address[0], _address_of(address, 1), where)

    def method(name: str, position: int) -> Callable[..., Any]:
        """`socket.socket.<name>` checking the address at `position` (-1: the last argument)."""
        function = getattr(original, name)

        @functools.wraps(function)
        def guarded(self: socket.socket, *args: Any) -> Any:
            address = (args[-1] if args else None) if position < 0 else _address_of(args, position)
            check(self, address)
            return function(self, *args)

        return guarded

    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
        setattr(socket, name, lookup(getattr(socket, name)))
    for name, position in (("connect", 0), ("connect_ex", 0), ("sendto", -1), ("sendmsg", 3)):
        setattr(original, name, method(name, position))


def network_allowed() -> bool:
    return os.environ.get(ALLOW_NETWORK_ENV, "").lower() in ("1", "true", "yes")


def timeout_seconds() -> float | None:
    value = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds > 0 else None


def timeout_message(seconds: float, where: str) -> str:
    return (
        f"training took longer than the {seconds:g}s limit (--train-timeout) and was stopped "
        f"in {where}; make the cell faster (smaller data, fewer iterations via a parameter) "
        "or raise --train-timeout"
    )


def start_time_limit(seconds: float, where: Where, hard_stop: Callable[[str], None]) -> None:
    """Raise TrainingTimeout after `seconds`; `hard_stop(message)` runs if that does not end it."""

    def on_alarm(_signum: int, _frame: object) -> None:
        raise TrainingTimeout(timeout_message(seconds, where()))

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    grace = min(30.0, max(3.0, seconds * 0.1))

    def watchdog() -> None:
        hard_stop(timeout_message(seconds, where()))
        sys.stderr.flush()
        os._exit(124)

    timer = threading.Timer(seconds + grace, watchdog)
    timer.daemon = True
    timer.start()


def describe_position(position: Position) -> Where:
    def where() -> str:
        notebook, index, count = position()
        if index is None:
            return f"the setup of {notebook}"
        return (
            f"cell {index}" + (f" (In [{count}])" if count is not None else "") + f" of {notebook}"
        )

    return where


def install(position: Position, excepthook: Callable[[type, BaseException, None], None]) -> None:
    """Apply the limits the build asked for (environment variables set by the train stage).

    `excepthook` reports the timeout when the watchdog has to end the process.
    """
    where = describe_position(position)
    if not network_allowed():
        block_network(where)
    seconds = timeout_seconds()
    if seconds is not None:
        stop = TrainingTimeout
        start_time_limit(seconds, where, lambda message: excepthook(stop, stop(message), None))


def blocked_note(value: BaseException) -> str:
    """For an error in a later cell: say that an earlier download was refused."""
    if not blocked or isinstance(value, NetworkBlocked) or "nb2svc:" in str(value):
        return ""
    return f" (nb2svc blocked network access earlier: {blocked[0]}; see --allow-network)"


class ModelCaptureError(Exception):
    """Saving the model after the last cell failed (no model found, not serializable...)."""


def capture_failed(exc: SystemExit, excepthook: Callable[..., None]) -> SystemExit:
    """Print the NB2SVC-ERROR record for a failed model capture; the SystemExit to re-raise."""
    message = str(exc.code).removeprefix("nb2svc: ")
    excepthook(ModelCaptureError, ModelCaptureError(message), None)
    return SystemExit(1)
