"""Serving benchmark: the churn model in its container under each runtime, side by side.

Usage: .venv/bin/python benchmarks/serving/bench.py [--seconds 20] [--default-image REF]
       [--bentoml-image REF] [--json FILE]

Targets (each alone on the machine, one after the other, in its container):
  nb2svc default   the default runtime image (`nb2svc build`), KServe v1 predict
  nb2svc bentoml   the `--runtime bentoml` image, the same endpoint and bodies
  bentoml by hand  baseline/service.py: `@bentoml.service(workers=<cores>)`, `POST /predict`
                   with {"instances": [row]} turned into a DataFrame (built FROM the bentoml
                   image, so the same venv and model; removed afterwards)
Load: wrk, single-row requests, 16 connections, 2 threads, after a 3 s warm-up.
Ready: from the container's State.StartedAt to the first 200 from /readyz.
Ceiling: single-row `model.predict` calls per second in one process on the host venv,
times the cores (the model file copied out of the default image).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nb2svc.engine.buildah import Buildah
from nb2svc.engine.podman import Container, Podman
from wrk import Load, run_wrk

HERE = Path(__file__).resolve().parent
BASELINE_TAG = "localhost/nb2svc-bench/bentoml-baseline:latest"
MODEL_DIR = "/opt/nb2svc/model"


@dataclass(frozen=True)
class Target:
    label: str
    image: str
    path: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Row:
    label: str
    load: Load
    ready_s: float
    image_bytes: int


def started_at(podman: Podman, container: Container) -> float:
    """State.StartedAt as a UNIX time (podman prints nanoseconds; keep microseconds)."""
    text = str(podman.inspect(container)["State"]["StartedAt"])
    head, _, rest = text.partition(".")
    digits = "".join(c for c in rest if c.isdigit())
    zone = rest[len(digits) :].strip().split(" ")[0]
    zone = "+00:00" if zone in ("Z", "") else zone
    stamp = f"{head.replace(' ', 'T')}.{digits[:6] or '0'}{zone}"
    return datetime.fromisoformat(stamp).timestamp()


def wait_ready(url: str, timeout: float = 120) -> float:
    """Poll /readyz every 20 ms; the UNIX time of the first 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return time.time()
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def measure(podman: Podman, buildah: Buildah, target: Target, seconds: int) -> Row:
    with podman.running(target.image, read_only=True) as container:
        ready = wait_ready(container.url) - started_at(podman, container)
        url = container.url + target.path
        answer = httpx.post(url, json=target.body, timeout=10)
        answer.raise_for_status()
        run_wrk(url, target.body, seconds=3)
        load, _ = run_wrk(url, target.body, seconds=seconds)
    return Row(target.label, load, ready, buildah.image_size(target.image))


def read_artifact(podman: Podman, image: str, into: Path) -> dict[str, Any]:
    """Copy model.joblib and sample.json out of `image`; return the sample."""
    with podman.running(image, read_only=True) as container:
        for name in ("model.joblib", "sample.json", "signature.json"):
            (into / name).write_bytes(podman.read_file(container, f"{MODEL_DIR}/{name}"))
    return json.loads((into / "sample.json").read_text())  # type: ignore[no-any-return]


def ceiling(model_file: Path, row: dict[str, Any], seconds: float = 3.0) -> float:
    """Single-row predict calls per second in this process, times the cores."""
    import joblib
    import pandas as pd

    model = joblib.load(model_file)
    frame = pd.DataFrame([row])
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        model.predict(frame)
        calls += 1
    return calls / (time.perf_counter() - start) * (os.cpu_count() or 1)


def targets(args: argparse.Namespace, name: str, row: dict[str, Any]) -> list[Target]:
    v1 = f"/v1/models/{name}:predict"
    body = {"instances": [row]}
    return [
        Target("nb2svc default", args.default_image, v1, body),
        Target("nb2svc bentoml", args.bentoml_image, v1, body),
        Target("bentoml by hand", BASELINE_TAG, "/predict", body),
    ]


def table(rows: list[Row], ceiling_rps: float) -> str:
    lines = [
        f"{'target':<17} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'ready s':>8} {'image MB':>9}"
    ]
    for r in rows:
        lines.append(
            f"{r.label:<17} {r.load.requests_per_s:>9.0f} {r.load.p50_ms:>8.2f} "
            f"{r.load.p99_ms:>8.2f} {r.load.errors:>7} {r.ready_s:>8.2f} "
            f"{r.image_bytes / 1e6:>9.0f}"
        )
    lines.append(
        f"1-min load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    lines.append(f"in-process ceiling (single-row predict x {os.cpu_count()} cores): "
                 f"{ceiling_rps:.0f} calls/s")  # fmt: skip
    base, default = rows[-1].load, rows[0].load
    speedup = default.requests_per_s / base.requests_per_s
    lines.append(
        f"default vs hand-written BentoML: {speedup:.1f}x throughput, "
        f"p99 {default.p99_ms / base.p99_ms:.2f} of the baseline's"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--default-image", default="localhost/churn:latest")
    parser.add_argument("--bentoml-image", default="localhost/churn:bentoml")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    podman, buildah = Podman(), Buildah(progress=False)
    podman.check()
    buildah.check()
    with tempfile.TemporaryDirectory(prefix="nb2svc-bench-") as tmp:
        sample = read_artifact(podman, args.default_image, Path(tmp))
        name = json.loads((Path(tmp) / "signature.json").read_text())["name"]
        row = sample["inputs"][0]
        top = ceiling(Path(tmp) / "model.joblib", row)
    buildah.build(
        HERE / "baseline/Containerfile", HERE / "baseline",
        tag=BASELINE_TAG, build_args={"BASE": args.bentoml_image},
    )  # fmt: skip
    try:
        rows = [measure(podman, buildah, t, args.seconds) for t in targets(args, name, row)]
    finally:
        buildah.rmi(BASELINE_TAG, force=True)
    print(table(rows, top))
    if args.json:
        data = {"rows": [asdict(r) for r in rows], "ceiling_calls_per_s": top}
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
