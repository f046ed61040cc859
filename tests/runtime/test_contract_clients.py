"""The served model as the real clients of its protocols see it.

Each client runs in its own pinned venv (tests/python_peers.py) and parses every answer
itself (tests/peers/protocol_clients.py): tritonclient's HTTP client (Open Inference
Protocol v2, with its default binary tensor extension and with JSON tensors), the KServe
SDK's REST client (v1 predict, v2 infer), MLflow's scoring-server client (`/invocations` in
each JSON form, and CSV). Their predictions must be the model's, as `sample.json` records
them. `/metrics` is read by prometheus_client's own text parser. Like every contract test,
these run against both runtimes, and against a built image via NB2SVC_SERVER_URL
(tests/e2e/test_image_contract.py).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import python_peers
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.peers


Ask = Callable[[str], dict[str, Any]]


@pytest.fixture
def ask(
    client_python: Path, server_url: str, signature: dict[str, Any], sample: dict[str, Any],
    tmp_path: Path,
) -> Ask:  # fmt: skip
    """`ask(client)`: run that client against the server on the sample's rows; its answers."""
    model = str(signature["name"])
    metadata = httpx.get(f"{server_url}/v2/models/{model}", timeout=30).json()

    def run(client: str) -> dict[str, Any]:
        given = tmp_path / f"{client}.json"
        given.write_text(json.dumps({"rows": sample["inputs"], "tensors": metadata["inputs"]}))
        argv = [str(client_python), str(python_peers.SCRIPT), client, server_url, model, str(given)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, f"{client} failed:\n{done.stderr[-4000:]}"
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer

    return run


Close = Callable[[list[list[float]], list[list[float]]], bool]
NATIVE_TOLERANCE = 1e-9  # the same model on the same rows; only the JSON round trip


@pytest.fixture
def close(artifact_dir: Path) -> Close:
    """`close(got, want)`: probabilities as [n, k] arrays (the clients shape the v2 tensor)
    equal within what the build proved when it compiled the model (inference.json's
    tolerance: ONNX Runtime's trees sum in float32), else to 1e-9."""
    decision = artifact_dir / "inference.json"
    tolerance = NATIVE_TOLERANCE
    if decision.exists():
        tolerance = json.loads(decision.read_text()).get("tolerance") or NATIVE_TOLERANCE

    def check(got: list[list[float]], want: list[list[float]]) -> bool:
        pairs = [(a, b) for g, w in zip(got, want, strict=True) for a, b in zip(g, w, strict=True)]
        return len(got) == len(want) and all(abs(a - b) <= tolerance for a, b in pairs)

    return check


def test_tritonclient_reads_health_metadata_and_predictions(
    ask: Ask, signature: dict[str, Any], sample: dict[str, Any], close: Close
) -> None:
    got = ask("triton")
    name = signature["name"]
    assert (got["server_live"], got["server_ready"], got["model_ready"]) == (True, True, True)
    assert "binary_tensor_data" in got["server_metadata"]["extensions"]
    assert got["model_metadata"]["name"] == name
    assert [t["name"] for t in got["model_metadata"]["inputs"]] == [
        f["name"] for f in signature["inputs"]
    ]
    for way in ("infer_binary", "infer_json"):
        answer = got[way]
        assert answer["model_name"] == name
        assert answer["id"] == ("binary-True" if way == "infer_binary" else "binary-False")
        assert answer["outputs"]["predict"] == sample["predictions"], way
        assert close(answer["outputs"]["predict_proba"], sample["probabilities"]), way
    assert got["infer_defaults"]["predict"] == sample["predictions"]


def test_the_kserve_sdk_predicts_over_v1_and_v2(
    ask: Ask, signature: dict[str, Any], sample: dict[str, Any], close: Close
) -> None:
    got = ask("kserve")
    assert (got["v1_server_live"], got["v1_model_ready"]) == (True, True)
    assert got["v1_predict"]["predictions"] == sample["predictions"]
    ready = (got["v2_server_ready"], got["v2_server_live"], got["v2_model_ready"])
    assert ready == (True, True, True)
    answer = got["v2_infer"]
    assert (answer["id"], answer["model_name"]) == ("kserve-v2", signature["name"])
    assert answer["outputs"]["predict"] == sample["predictions"]
    assert close(answer["outputs"]["predict_proba"], sample["probabilities"])


def test_the_mlflow_scoring_client_gets_the_predictions_in_every_form(
    ask: Ask, sample: dict[str, Any]
) -> None:
    got = ask("mlflow")
    assert set(got) == {"dataframe_split", "dataframe_records", "instances", "inputs", "csv"}
    for form, predictions in got.items():
        assert predictions == sample["predictions"], form


def test_prometheus_parses_the_metrics(
    server_url: str, signature: dict[str, Any], sample: dict[str, Any]
) -> None:
    httpx.post(
        f"{server_url}/v1/models/{signature['name']}:predict",
        json={"instances": sample["inputs"]},
        timeout=30,
    )
    text = httpx.get(f"{server_url}/metrics", timeout=30).text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert families["nb2svc_requests"].type == "counter"
    assert families["nb2svc_request_duration_seconds"].type == "histogram"
    counted = {s.labels.get("class") for s in families["nb2svc_predictions"].samples}
    assert {str(p) for p in sample["predictions"]} <= counted
    for family in families.values():
        for point in family.samples:
            assert isinstance(point.value, float)
