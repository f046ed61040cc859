"""Prove a built image serves what the notebook trained.

Start the image, wait for readiness, send the sample inputs recorded at training
time, and compare the predictions with the ones the model gave inside the build.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from nb2svc_runtime.contract import INFERENCE_FILE

from nb2svc.engine.buildah import Buildah
from nb2svc.engine.errors import PodmanError
from nb2svc.engine.podman import Podman
from nb2svc.errors import VerificationError
from nb2svc.plan import MODEL_DIR

READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class Verification:
    ready_seconds: float
    signature: dict[str, Any]
    sample: dict[str, Any]
    predictions: list[Any]
    url: str
    worker_rss_bytes: int | None = None  # one worker's resident memory after the sample
    inference: dict[str, Any] | None = None  # inference.json: the backend that served


def verify_image(podman: Podman, image_id: str, *, name: str, port: int) -> Verification:
    """Run the image with one worker, predict the sample, and measure that worker's memory
    (the Deployment's WORKERS and memory are sized from it: docs/deploying.md)."""
    podman.check()
    with podman.running(
        image_id, port_container=port, read_only=True, env={"WORKERS": "1"}
    ) as container:
        started = time.monotonic()
        podman.wait_http_ready(
            f"{container.url}/readyz", timeout=READY_TIMEOUT, container=container
        )
        ready = time.monotonic() - started
        signature = _read_json(podman, container.name, f"{MODEL_DIR}/signature.json")
        sample = _read_json(podman, container.name, f"{MODEL_DIR}/sample.json")
        inference = _read_optional(podman, container.name, f"{MODEL_DIR}/{INFERENCE_FILE}")
        predictions = _predict(container.url, name, sample)
        rss = podman.resident_bytes(container)
    _compare(sample.get("predictions", []), predictions)
    return Verification(
        round(ready, 3), signature, sample, predictions, container.url, rss, inference
    )


def _read_json(podman: Podman, container: str, path: str) -> dict[str, Any]:
    return _json_object(podman.read_file(container, path), path)


def _read_optional(podman: Podman, container: str, path: str) -> dict[str, Any] | None:
    """A JSON file the image may lack (inference.json of a build without a compile stage)."""
    try:
        raw = podman.read_file(container, path)
    except PodmanError:
        return None
    return _json_object(raw, path)


def _json_object(raw: bytes, path: str) -> dict[str, Any]:
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise VerificationError(f"{path} in the image is not a JSON object")
    return data


def read_trained(buildah: Buildah, image_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The signature and sample predictions a train-stage image holds (`--train-only`),
    read from its mounted root filesystem: nothing in it runs."""
    with buildah.working_container(image_id) as container:
        root = buildah.mount(container)
        files = [f"{MODEL_DIR}/signature.json", f"{MODEL_DIR}/sample.json"]
        signature, sample = (_json_object((root / f.lstrip("/")).read_bytes(), f) for f in files)
    return signature, sample


def _predict(url: str, name: str, sample: dict[str, Any]) -> list[Any]:
    body = json.dumps({"instances": sample.get("inputs", [])}).encode()
    request = urllib.request.Request(
        f"{url}/v1/models/{name}:predict",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # loopback only
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise VerificationError(
            f"the image answered HTTP {exc.code} to the sample inputs",
            details=[exc.read().decode(errors="replace")[:800]],
            fix="the server rejected rows the model was trained on; see the error above",
        ) from None
    predictions = answer.get("predictions")
    if not isinstance(predictions, list):
        raise VerificationError("the predict response has no 'predictions' list")
    return predictions


def _compare(expected: list[Any], got: list[Any]) -> None:
    if not expected:
        raise VerificationError(
            "the build recorded no sample predictions to compare with",
            fix="this is a bug in the train stage's capture; please report it",
        )
    if len(expected) != len(got):
        raise VerificationError(f"sent {len(expected)} sample rows, got {len(got)} predictions")
    wrong = [i for i, (a, b) in enumerate(zip(expected, got, strict=True)) if not _same(a, b)]
    if wrong:
        rows = [
            f"row {i}: trained model said {expected[i]!r}, image said {got[i]!r}" for i in wrong
        ]
        raise VerificationError(
            f"{len(wrong)} of {len(expected)} sample predictions differ from the build's",
            details=rows[:10],
            fix="the serving environment differs from training (library versions, "
            "preprocessing); compare the lock with signature.json's library versions",
        )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):  # a forecast: index, mean, lower, upper
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)
