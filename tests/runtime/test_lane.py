"""The predict lane (serve/lane.py) answers exactly as the Starlette app behind it would.

Both are driven in-process over ASGI with the same requests (tests/runtime/asgi_probe.py, in
a process of its own): the lane, which is the default runtime's app, and the Starlette app it
wraps, which is what the BentoML runtime mounts, each with the churn model loaded, native and
compiled. Status, headers and body must be byte for byte the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import compiled_server_env
from .server import RUNTIMES

PROBE = Path(__file__).with_name("asgi_probe.py")


def probe(model_dir: Path, scenario: str, given: Any, env: dict[str, str] | None = None) -> Any:
    environment = {**os.environ, "PYTHONPATH": str(RUNTIMES), **(env or {})}
    done = subprocess.run(
        [sys.executable, str(PROBE), str(model_dir), scenario],
        input=json.dumps(given),
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def served_dir(
    model: str, churn_dir: Path, churn_compiled_dir: Path
) -> tuple[Path, dict[str, str]]:
    """The model's directory and the environment it serves in (compiled: without pandas and
    the libraries it replaces, as in the image)."""
    if model == "compiled":
        return churn_compiled_dir, compiled_server_env()
    return churn_dir, {}


def requests(sample: dict[str, Any], name: str) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """Requests covering every answer of the predict endpoints but a model's own failure."""
    row = dict(sample["inputs"][0])
    json_type = {"Content-Type": "application/json"}
    v1 = f"/v1/models/{name}:predict"
    v2 = f"/v2/models/{name}/infer"
    columns = list(row)
    v2_inputs = [
        {
            "name": column,
            "shape": [1],
            "datatype": "BYTES" if isinstance(row[column], str) else "FP64",
            "data": [row[column]],
        }
        for column in columns
    ]
    return [
        ("POST", v1, json.dumps({"instances": [row, row]}).encode(), json_type),
        ("POST", v1, json.dumps({"instances": [row]}).encode(), {"X-Request-Id": "abc-123"}),
        ("POST", "/v1/models/other:predict", b"{}", json_type),
        ("POST", v1, b"{", json_type),
        ("POST", v1, b"", json_type),
        ("POST", v1, b"{}", {"Content-Type": "text/plain"}),
        ("POST", v1, b"{}", {"Content-Length": "99999999"}),
        ("POST", v1, b"{}", {"Content-Length": "ten"}),
        ("POST", v1, json.dumps({"instances": [{**row, "tenure": "x"}]}).encode(), json_type),
        ("POST", v1, json.dumps({"instances": []}).encode(), json_type),
        ("GET", v1, b"", {}),
        ("POST", "/invocations", json.dumps({"dataframe_records": [row]}).encode(), json_type),
        ("POST", "/invocations", b"{}", json_type),
        (
            "POST",
            "/invocations",
            (",".join(columns) + "\n" + ",".join(str(row[c]) for c in columns)).encode(),
            {"Content-Type": "text/csv"},
        ),
        ("POST", v2, json.dumps({"id": "r1", "inputs": v2_inputs}).encode(), json_type),
        (
            "POST",
            f"/v2/models/{name}/versions/1/infer",
            json.dumps({"id": "r2", "inputs": v2_inputs}).encode(),
            json_type,
        ),
        ("POST", v2, json.dumps({"id": "r3", "inputs": []}).encode(), json_type),
        ("POST", v2, b"{}", {"Inference-Header-Content-Length": "500"}),
        ("GET", v2, b"", {}),
    ]


@pytest.mark.parametrize("model", ["native", "compiled"])
def test_the_lane_answers_every_predict_request_as_the_starlette_app_does(
    model: str, churn_dir: Path, churn_compiled_dir: Path, sample: dict[str, Any]
) -> None:
    model_dir, env = served_dir(model, churn_dir, churn_compiled_dir)
    name = json.loads((model_dir / "signature.json").read_text())["name"]
    given = []
    for method, path, body, headers in requests(sample, name):
        if body and "Content-Length" not in headers:
            headers = {**headers, "Content-Length": str(len(body))}
        given.append({"method": method, "path": path, "body": body.decode(), "headers": headers})
    pairs = probe(model_dir, "compare", given, env)
    for request, (through_lane, through_app) in zip(given, pairs, strict=True):
        assert through_lane == through_app, request
    statuses = {lane[0] for lane, _ in pairs}
    assert {200, 400, 404, 405, 413, 415, 422} <= statuses
    echoed = pairs[1][0][1]
    assert ["x-request-id", "abc-123"] in echoed


def test_a_client_that_leaves_before_its_body_is_counted_as_499_and_gets_no_answer(
    churn_dir: Path,
) -> None:
    name = json.loads((churn_dir / "signature.json").read_text())["name"]
    result = probe(churn_dir, "leave", f"/v1/models/{name}:predict")
    assert result == {"sent": [None, None], "count_499": 2.0}


@pytest.mark.parametrize(("model", "threads"), [("native", 1), ("compiled", 0)])
def test_a_compiled_model_predicts_on_the_event_loop_and_a_native_one_in_a_thread_of_its_own(
    model: str, threads: int, churn_dir: Path, churn_compiled_dir: Path
) -> None:
    model_dir, env = served_dir(model, churn_dir, churn_compiled_dir)
    assert probe(model_dir, "threads", None, env) == threads
