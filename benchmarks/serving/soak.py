"""Soak test: full load for 60 s from a second process; zero errors, RSS growth under 10%.

Usage: .venv/bin/python benchmarks/serving/soak.py MODEL_DIR [--runtime default|bentoml]
       [--seconds 60] [--connections 16] [--workers N]

Starts the runtime's server on 127.0.0.1 (as tests/runtime/server.py does), warms it up for 10 s,
takes the resident memory of the whole server process tree, runs wrk (the second process)
with single-row KServe v1 requests, takes the memory again after a 2 s pause, and exits 1
unless every request succeeded and the tree grew by less than 10%.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from wrk import run_wrk  # noqa: E402

MAX_GROWTH = 0.10
SERVICE = "nb2svc_bentoml.service:ModelServer"


def start(runtime: str, model_dir: Path, workers: str) -> tuple[subprocess.Popen[bytes], str]:
    """The runtime's server on a free 127.0.0.1 port, once /readyz says 200."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {
        **os.environ, "PYTHONPATH": str(REPO / "runtimes"), "MODEL_DIR": str(model_dir),
        "HOST": "127.0.0.1", "PORT": str(port), "WORKERS": workers, "ACCESS_LOG": "false",
        "BENTOML_DO_NOT_TRACK": "true",
    }  # fmt: skip
    argv = [sys.executable, "-m", "nb2svc_runtime"]
    if runtime == "bentoml":
        argv = [str(Path(sys.executable).with_name("bentoml")), "serve", SERVICE]
        argv += ["--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    stop(proc)
    raise SystemExit(f"soak: the {runtime} server did not become ready")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--runtime", default="default", choices=["default", "bentoml"])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", default=str(os.cpu_count() or 1))
    args = parser.parse_args(argv)
    sample = json.loads((args.model_dir / "sample.json").read_text())
    name = json.loads((args.model_dir / "signature.json").read_text())["name"]
    body = {"instances": sample["inputs"][:1]}
    proc, base = start(args.runtime, args.model_dir.resolve(), args.workers)
    try:
        url = f"{base}/v1/models/{name}:predict"
        run_wrk(url, body, seconds=10, connections=args.connections)
        before = tree_rss(proc.pid)
        load, _ = run_wrk(url, body, seconds=args.seconds, connections=args.connections)
        time.sleep(2)
        after = tree_rss(proc.pid)
    finally:
        stop(proc)
    growth = (after - before) / before
    print(
        f"soak {args.runtime}: {load.requests} requests in {args.seconds}s "
        f"({load.requests_per_s:.0f}/s, p99 {load.p99_ms:.1f} ms), {load.errors} errors; "
        f"RSS {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB ({growth:+.1%})"
    )
    ok = load.errors == 0 and load.requests > 0 and growth < MAX_GROWTH
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
