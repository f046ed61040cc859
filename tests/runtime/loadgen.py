"""A bounded load client for the fault tests, run as its own process (stdlib only):

    python loadgen.py URL PATH BODY_FILE OUT [--threads 8] [--seconds 10] [--max 4000]

Each thread keeps one keep-alive HTTP/1.1 connection and POSTs BODY_FILE to PATH, every
request with its own `X-Request-Id` (`t<thread>-<n>`), until `--seconds` pass, `--max`
requests are sent in all, or the server refuses five connections in a row (it is gone).
After a failed request the thread opens a new connection. OUT gets one JSON line per
request as it ends: {"id", "status", "predictions"} or {"id", "error"}.

`start` runs it; `verdict` compares what the client saw with the server's access log: a
request is *accepted* when the server logged its id. Every accepted request must have been
answered 200 (with the expected predictions) and every failure the client saw must be a
request the server never logged.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

REFUSALS_TO_STOP = 5


class Load:
    def __init__(self, url: str, path: str, body: bytes, out: IO[str], args: Any) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path, self.body, self.out = path, body, out
        self.deadline = time.monotonic() + float(args.seconds)
        self.budget = itertools.count()
        self.max = int(args.max)
        self.lock = threading.Lock()

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.out.write(json.dumps(entry) + "\n")
            self.out.flush()

    def more(self) -> bool:
        return time.monotonic() < self.deadline and next(self.budget) < self.max

    def run(self, thread: int) -> None:
        conn: http.client.HTTPConnection | None = None
        refused = 0
        for n in itertools.count():
            if refused >= REFUSALS_TO_STOP or not self.more():
                break
            rid = f"t{thread}-{n}"
            if conn is None:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                conn.request("POST", self.path, self.body, self.headers(rid))
                response = conn.getresponse()
                payload = json.loads(response.read())
            except (OSError, http.client.HTTPException, ValueError) as exc:
                refused = refused + 1 if isinstance(exc, ConnectionRefusedError) else 0
                self.record({"id": rid, "error": f"{type(exc).__name__}: {exc}"})
                conn.close()
                conn = None
                time.sleep(0.02)
                continue
            refused = 0
            entry = {"id": rid, "status": response.status}
            entry["predictions"] = payload.get("predictions")
            self.record(entry)
            if response.will_close:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    @staticmethod
    def headers(rid: str) -> dict[str, str]:
        return {"Content-Type": "application/json", "X-Request-Id": rid}


def start(url: str, path: str, body: bytes, out_dir: Path, **options: float) -> LoadRun:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "body.json").write_bytes(body)
    out = out_dir / "outcomes.jsonl"
    out.write_text("")  # wait_for counts this run's lines only
    argv = [sys.executable, __file__, url, path, str(out_dir / "body.json"), str(out)]
    argv += [f"--{name}={value}" for name, value in options.items()]
    return LoadRun(subprocess.Popen(argv), out)


@dataclass
class LoadRun:
    """The load client's process and its outcomes file."""

    proc: subprocess.Popen[bytes]
    out: Path

    def count(self) -> int:
        return len(self.out.read_text().splitlines())

    def wait_for(self, requests: int, timeout: float = 30) -> None:
        """Until `requests` have ended (the load is running), or fail."""
        deadline = time.monotonic() + timeout
        while self.count() < requests:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"the load client made {self.count()} requests, no more")
            time.sleep(0.05)

    def outcomes(self, timeout: float = 60) -> list[dict[str, Any]]:
        self.proc.wait(timeout=timeout)
        return [json.loads(line) for line in self.out.read_text().splitlines()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def logged_requests(log: str) -> dict[str, int]:
    """request_id -> status of every access-log line (JSON lines) that has an id."""
    logged: dict[str, int] = {}
    for line in log.splitlines():
        if '"request_id"' in line and line.startswith("{"):
            entry = json.loads(line)
            logged[entry["request_id"]] = entry["status"]
    return logged


@dataclass
class Verdict:
    answered: int = 0
    never_accepted: int = 0
    problems: list[str] = field(default_factory=list)


def verdict(outcomes: list[dict[str, Any]], logged: dict[str, int], expected: Any) -> Verdict:
    """What the client saw against what the server logged (see the module's docstring)."""
    result = Verdict()
    seen = {entry["id"]: entry for entry in outcomes}
    for rid, status in logged.items():
        entry = seen.get(rid)
        if status != 200:
            result.problems.append(f"{rid}: the server logged status {status}")
        if entry is None or "error" in entry:
            got = entry["error"] if entry else "no outcome"
            result.problems.append(f"{rid}: accepted (logged) but the client got {got}")
    for rid, entry in seen.items():
        if "error" in entry:
            result.never_accepted += rid not in logged
        elif entry["status"] != 200 or entry["predictions"] != expected:
            result.problems.append(f"{rid}: answered {entry['status']} {entry['predictions']}")
        elif rid not in logged:
            result.problems.append(f"{rid}: answered 200 but not in the access log")
        else:
            result.answered += 1
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("path")
    parser.add_argument("body", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--max", type=int, default=4000)
    args = parser.parse_args()
    with args.out.open("w") as out:
        load = Load(args.url, args.path, args.body.read_bytes(), out, args)
        threads = [threading.Thread(target=load.run, args=(i,)) for i in range(args.threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


if __name__ == "__main__":
    main()
