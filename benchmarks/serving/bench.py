"""Serving benchmark (issue 17): two models, six servers each, side by side in one run.

Usage: .venv/bin/python benchmarks/serving/bench.py [--seconds 10] [--reuse]
       [--models churn,lr30] [--targets compiled,native,...] [--json FILE]
       [--results FILE | --no-results]

Models: the churn sample (sample-notebooks/churn, a RandomForest pipeline) and lr30
(sample-notebooks/lr30, StandardScaler + LogisticRegression on 30 float columns).
Targets per model, each alone on the machine, one after the other, in its container:
  compiled      `nb2svc build --inference compiled`: the model in ONNX Runtime
  native        `nb2svc build --inference native`: the notebook's scikit-learn model
  bentoml       `nb2svc build --runtime bentoml` (it serves the native model)
  bentoml-hand  baseline/service.py, a BentoML service written by hand, FROM the bentoml image
  bare          baseline/bare_service.py, starlette+uvicorn+orjson by hand, FROM the native image
  noop          the bare image answering a constant: the machine's HTTP ceiling (measured once)
nb2svc's images are built with `.venv/bin/nb2svc build -o ~/.cache/nb2svc-bench/MODEL-MODE`
(nb2svc reuses an unchanged image from there) unless `--reuse` finds their tag
(localhost/nb2svc-bench/MODEL:MODE); a mode that does not build is printed as skipped. The
baselines are built for the run and removed afterwards, also on Ctrl-C or a failure.
Load: wrk, single-row JSON, 16 connections after a 3 s warm-up, then 1 connection.
Output: Markdown on stdout, RESULTS.md beside this file, `--json FILE`; issue 17's targets
as PASS/MISS lines (never a failing exit status).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_images import (
    REPO,
    TAG_ROOT,
    Baselines,
    ImageUnavailable,
    build_environment,
    build_nb2svc,
)
from bench_report import TARGETS, VERSIONED, Measured, Row, Run, Skipped, body, results_markdown
from bench_report import to_json as run_json
from nb2svc.engine.buildah import Buildah
from nb2svc.engine.errors import PodmanError
from nb2svc.engine.podman import Container, Podman
from wrk import Load, run_wrk, wrk_version

HERE = Path(__file__).resolve().parent
MODELS = {"churn": REPO / "sample-notebooks" / "churn", "lr30": REPO / "sample-notebooks" / "lr30"}
NB2SVC_MODES = ("compiled", "native", "bentoml")
BASE_OF = {"bentoml-hand": "bentoml", "bare": "native"}
"""Each baseline is built FROM this nb2svc image of its model."""
MODEL_DIR = "/opt/nb2svc/model"
CONNECTIONS = 16
WARMUP_S = 3
WRK_TIMEOUT_S = 10
READY_TIMEOUT_S = 180
READY_POLL_S = 0.02


class MeasureFailed(Exception):
    """A target's server did not become ready or did not answer the sample; it is skipped."""


@dataclass(frozen=True)
class Sample:
    """What a model is asked: its name (the KServe v1 path) and one row of its sample."""

    name: str
    row: dict[str, Any]


@dataclass(frozen=True)
class Target:
    """One server to measure: its image, the URL path and body it is asked, its env."""

    model: str
    key: str
    image: str
    path: str
    body: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)


# -- images ---------------------------------------------------------------------------------
@dataclass
class Images:
    """Every image the run measures, by (model, target); a target whose image is missing
    maps to why in `missing` instead."""

    tags: dict[tuple[str, str], str] = field(default_factory=dict)
    missing: dict[tuple[str, str], str] = field(default_factory=dict)

    def lookup(self, model: str, key: str) -> str | None:
        return self.tags.get((model, key))

    def reason(self, model: str, key: str) -> str:
        return self.missing.get((model, key), "its image was not built")


def needed_modes(keys: list[str]) -> list[str]:
    """nb2svc's images the asked-for targets need, the baselines' bases included."""
    wanted = {BASE_OF.get(key, key) for key in keys} | ({"native"} if "noop" in keys else set())
    return [mode for mode in NB2SVC_MODES if mode in wanted]


def prepare_model(
    images: Images,
    buildah: Buildah,
    baselines: Baselines,
    model: str,
    keys: list[str],
    reuse: bool,
) -> None:
    """nb2svc's images of `model` (built or reused), then the baselines FROM them."""
    for mode in needed_modes(keys):
        try:
            images.tags[(model, mode)] = build_nb2svc(
                buildah, MODELS[model], model, mode, reuse=reuse
            )
        except ImageUnavailable as exc:
            images.missing[(model, mode)] = str(exc)
    bare_needed = "bare" in keys or "noop" in keys
    for kind, base_mode in BASE_OF.items():
        if kind not in keys and not (kind == "bare" and bare_needed):
            continue
        base = images.lookup(model, base_mode)
        if base is None:
            images.missing[(model, kind)] = f"no {base_mode} image to build FROM"
            continue
        try:
            images.tags[(model, kind)] = baselines.build(kind, model, base)
        except ImageUnavailable as exc:
            images.missing[(model, kind)] = str(exc)


# -- one target -----------------------------------------------------------------------------
def started_at(podman: Podman, container: Container) -> float:
    """State.StartedAt as a UNIX time (podman prints nanoseconds; keep microseconds)."""
    text = str(podman.inspect(container)["State"]["StartedAt"])
    head, _, rest = text.partition(".")
    digits = "".join(c for c in rest if c.isdigit())
    zone = rest[len(digits) :].strip().split(" ")[0]
    zone = "+00:00" if zone in ("Z", "") else zone
    stamp = f"{head.replace(' ', 'T')}.{digits[:6] or '0'}{zone}"
    return datetime.fromisoformat(stamp).timestamp()


def answered_200(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def wait_ready(podman: Podman, container: Container, url: str) -> float:
    """Poll `url` every 20 ms; the UNIX time of its first 200. Checks about once a second
    that the container still runs, so a crashing server fails fast with its logs."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    polls = 0
    while time.monotonic() < deadline:
        if answered_200(url):
            return time.time()
        polls += 1
        if polls % 50 == 0 and not podman.is_running(container):
            tail = podman.logs(container, tail=5).strip().replace("\n", " | ")
            raise MeasureFailed(f"the container exited before it was ready: {tail[-300:]}")
        time.sleep(READY_POLL_S)
    raise MeasureFailed(f"{url} not ready after {READY_TIMEOUT_S} s")


def first_answer(url: str, body: dict[str, Any]) -> list[Any]:
    """The predictions the target gives the sample row: every target of a model must give
    the same, or its numbers measure a server that answers wrongly."""
    answer = httpx.post(url, json=body, timeout=60)
    if answer.status_code != 200:
        raise MeasureFailed(f"the sample row answered {answer.status_code}: {answer.text[:200]}")
    data = answer.json()
    found = data.get("predictions") if isinstance(data, dict) else data
    return list(found) if isinstance(found, list) else [found]


VERSIONS_SCRIPT = """
import json, platform
from importlib import metadata
found = {"python": platform.python_version()}
for name in %r:
    try:
        found[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        pass
print(json.dumps(found))
"""


def image_versions(container: Container) -> dict[str, str]:
    """The versions of VERSIONED in the container's venv, after its load (it costs a
    Python start, which must not land in a measurement)."""
    script = VERSIONS_SCRIPT % ([n for n in VERSIONED if n != "python"],)
    argv = ["podman", "exec", container.name, "/opt/venv/bin/python", "-c", script]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, check=False, env=build_environment()
    )
    if done.returncode != 0:
        return {}
    return {str(k): str(v) for k, v in json.loads(done.stdout).items()}


def load_runs(url: str, body: dict[str, Any], seconds: int) -> tuple[Load, Load]:
    """Warm-up, the run at CONNECTIONS, then one connection (single-row latency)."""
    run_wrk(url, body, seconds=WARMUP_S, connections=CONNECTIONS, timeout_s=WRK_TIMEOUT_S)
    load, _ = run_wrk(url, body, seconds=seconds, connections=CONNECTIONS, timeout_s=WRK_TIMEOUT_S)
    single, _ = run_wrk(
        url,
        body,
        seconds=max(2, seconds // 2),
        connections=1,
        threads=1,
        timeout_s=WRK_TIMEOUT_S,
    )
    return load, single


def measure(podman: Podman, buildah: Buildah, target: Target, seconds: int) -> Measured:
    """One target in its own container, removed again whatever happens."""
    before = os.getloadavg()[0]
    with podman.running(target.image, read_only=True, env=target.env) as container:
        ready = wait_ready(podman, container, container.url + "/readyz")
        ready_s = ready - started_at(podman, container)
        url = container.url + target.path
        predictions = first_answer(url, target.body)
        load, single = load_runs(url, target.body, seconds)
        versions = image_versions(container)
    return Measured(
        target.model,
        target.key,
        target.image,
        load,
        single,
        ready_s,
        buildah.image_size(target.image),
        predictions,
        (before, os.getloadavg()[0]),
        versions,
    )


def measure_or_skip(podman: Podman, buildah: Buildah, target: Target, seconds: int) -> Row:
    """`measure`, or the target skipped with the reason its server failed."""
    print(f"bench: measuring {target.model} {target.key} ({target.image})", file=sys.stderr)
    try:
        return measure(podman, buildah, target, seconds)
    except (MeasureFailed, PodmanError, httpx.HTTPError, subprocess.SubprocessError) as exc:
        print(f"bench: {target.model} {target.key} skipped: {exc}", file=sys.stderr)
        return Skipped(target.model, target.key, str(exc).splitlines()[0][:300])


# -- the run --------------------------------------------------------------------------------
def read_sample(podman: Podman, image: str) -> Sample:
    """The model's name and first sample row, copied out of one of its images."""
    with podman.running(image, read_only=True) as container:
        signature = json.loads(podman.read_file(container, f"{MODEL_DIR}/signature.json"))
        sample = json.loads(podman.read_file(container, f"{MODEL_DIR}/sample.json"))
    return Sample(str(signature["name"]), dict(sample["inputs"][0]))


def target_of(model: str, key: str, image: str, sample: Sample) -> Target:
    """nb2svc's servers answer KServe v1 predict; the hand-written ones their /predict."""
    body = {"instances": [sample.row]}
    if key in NB2SVC_MODES:
        return Target(model, key, image, f"/v1/models/{sample.name}:predict", body)
    env = {"BARE_MODE": "noop"} if key == "noop" else {}
    return Target(model, key, image, "/predict", body, env)


def model_rows(
    podman: Podman, buildah: Buildah, images: Images, model: str, keys: list[str], seconds: int
) -> tuple[list[Row], Sample | None]:
    """Every asked-for target of `model` but the no-op, measured or skipped."""
    found = (images.lookup(model, mode) for mode in ("native", "bentoml", "compiled"))
    any_image = next((tag for tag in found if tag), None)
    sample = read_sample(podman, any_image) if any_image else None
    rows: list[Row] = []
    for key in [k for k in keys if k != "noop"]:
        image = images.lookup(model, key)
        if image is None or sample is None:
            rows.append(Skipped(model, key, images.reason(model, key)))
        else:
            rows.append(
                measure_or_skip(podman, buildah, target_of(model, key, image, sample), seconds)
            )
    return rows, sample


def noop_row(
    podman: Podman, buildah: Buildah, images: Images, samples: dict[str, Sample], seconds: int
) -> Row:
    """The no-op ceiling, from the first model's bare image, asked that model's row."""
    for model, sample in samples.items():
        image = images.lookup(model, "bare")
        if image is not None:
            return measure_or_skip(
                podman, buildah, target_of(model, "noop", image, sample), seconds
            )
    first = next(iter(samples), "churn")
    return Skipped(first, "noop", images.reason(first, "bare"))


def machine() -> dict[str, str]:
    """nproc, the CPU model /proc/cpuinfo names, the OS and the kernel."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in cpuinfo.splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    os_name = "unknown OS"
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("PRETTY_NAME="):
            os_name = line.split("=", 1)[1].strip('"')
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "os": os_name,
        "kernel": platform.release(),
    }


def command_output(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return done.stdout.strip()


def tools(podman: Podman, buildah: Buildah) -> dict[str, str]:
    """The versions of what took the numbers; nb2svc as the commit it ran from."""
    commit = command_output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = command_output(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "builder", "runtimes"]
    )
    return {
        "nb2svc": f"{commit}" + (" + uncommitted changes" if dirty else ""),
        "podman": ".".join(map(str, podman.version())),
        "buildah": ".".join(map(str, buildah.version())),
        "wrk": wrk_version().removeprefix("wrk ").split(" [")[0],
        "host Python": platform.python_version(),
    }


def leftovers(podman: Podman) -> list[str]:
    """Containers of the benchmark's images still there after the run (there should be none)."""
    return [
        str(c.get("Names"))
        for c in podman.containers()
        if str(c.get("Image", "")).startswith(TAG_ROOT)
    ]


def interrupt(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM/SIGHUP as Ctrl-C: the same `finally` blocks remove containers and images."""
    raise KeyboardInterrupt(f"signal {signum}")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="load per target (default 10)")
    parser.add_argument("--reuse", action="store_true", help="use nb2svc images already built")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-results", action="store_true", help="leave RESULTS.md alone")
    args = parser.parse_args(argv)
    args.model_list = [m for m in args.models.split(",") if m]
    args.target_list = [t for t in TARGETS if t in args.targets.split(",")]
    unknown = set(args.model_list) - set(MODELS) | set(args.targets.split(",")) - set(TARGETS)
    if unknown:
        parser.error(f"unknown model or target: {', '.join(sorted(unknown))}")
    return args


def run_all(args: argparse.Namespace, podman: Podman, buildah: Buildah) -> Run:
    """Build what is missing, measure every target, remove the baselines (always)."""
    start, date = time.monotonic(), datetime.now().astimezone().isoformat(timespec="seconds")
    versions = tools(podman, buildah)  # now: the commit the images are built from
    baselines, images = Baselines(buildah), Images()
    rows: list[Row] = []
    samples: dict[str, Sample] = {}
    try:
        for model in args.model_list:
            prepare_model(images, buildah, baselines, model, args.target_list, args.reuse)
        prepared = time.monotonic() - start
        for model in args.model_list:
            found, sample = model_rows(
                podman, buildah, images, model, args.target_list, args.seconds
            )
            rows += found
            if sample is not None:
                samples[model] = sample
        noop = (
            noop_row(podman, buildah, images, samples, args.seconds)
            if "noop" in args.target_list
            else Skipped(args.model_list[0], "noop", "not asked for (--targets)")
        )
    finally:
        baselines.remove()
    return Run(
        date,
        args.seconds,
        CONNECTIONS,
        machine(),
        versions,
        args.model_list,
        rows,
        noop,
        time.monotonic() - start,
        prepared,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    for name, value in build_environment().items():
        os.environ.setdefault(name, value)
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    podman, buildah = Podman(), Buildah(progress=False)
    podman.check()
    buildah.check()
    try:
        run = run_all(args, podman, buildah)
    except KeyboardInterrupt:
        print("bench: interrupted; its containers and baseline images are removed", file=sys.stderr)
        return 130
    print(body(run))
    if not args.no_results:
        args.results.write_text(results_markdown(run))
    if args.json:
        args.json.write_text(json.dumps(run_json(run), indent=2) + "\n")
    for name in leftovers(podman):
        print(f"bench: warning: container {name} is still there", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
