"""Run wrk against one endpoint with one JSON body and parse its report."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}
SCRIPT = """wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
"""


@dataclass(frozen=True)
class Load:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx answers plus socket errors


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match[1]) * UNITS[match[2]]


def parse(report: str) -> Load:
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", report, re.MULTILINE))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report
    )
    total = re.search(r"(\d+) requests in", report)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", report)
    if not (total and rate and "50" in percentiles and "99" in percentiles):
        raise ValueError(f"cannot parse wrk output:\n{report}")
    errors = int(non_2xx[1]) if non_2xx else 0
    errors += sum(int(g) for g in sockets.groups()) if sockets else 0
    return Load(
        float(rate[1]), _ms(percentiles["50"]), _ms(percentiles["99"]), int(total[1]), errors
    )


def run_wrk(
    url: str,
    body: dict[str, Any],
    *,
    seconds: int,
    connections: int = 16,
    threads: int = 2,
    timeout_s: int | None = None,
) -> tuple[Load, str]:
    """`wrk --latency` POSTing `body` to `url`; the parsed numbers and the raw report.

    `timeout_s` replaces wrk's 2 s request timeout: an answer slower than it is a socket
    error and never enters the percentiles, so a slow model needs a longer one for its
    p99 to be true.
    """
    with tempfile.TemporaryDirectory(prefix="nb2svc-wrk-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(SCRIPT.format(body=json.dumps(json.dumps(body))))
        argv = ["wrk", "--latency", f"-t{threads}", f"-c{connections}", f"-d{seconds}s"]
        argv += [f"--timeout={timeout_s}s"] if timeout_s else []
        argv += ["-s", str(script), url]
        done = subprocess.run(
            argv, capture_output=True, text=True, check=True, timeout=seconds + 60
        )
    return parse(done.stdout), done.stdout


def wrk_version() -> str:
    """The first line of `wrk -v` ("wrk 4.1.0 [epoll] ..."); wrk exits 1 after printing it."""
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False, timeout=10)
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0].split(" Copyright")[0] if lines else "wrk (version unknown)"
