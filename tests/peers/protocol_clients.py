"""Talk to a served model with the real protocol clients; print what each one parsed.

Runs in the clients' own venv (tests/python_peers.py), never in nb2svc's: it imports only
the clients, numpy and pandas. Usage: `python protocol_clients.py CLIENT URL MODEL ROWS.json`
with CLIENT one of `triton`, `kserve`, `mlflow`; ROWS.json holds `{"rows": [...records],
"tensors": [...]}`, the tensors being the `inputs` of the server's v2 model metadata (the
KServe SDK has no call that reads it).
Prints one JSON object: each call's parsed answer, as the client's own types give it
(numpy arrays and DataFrames turned into lists). Any error the client raises fails the run
with the client's message: no answer is read around the client.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

NUMPY_TYPES = {
    "BOOL": np.bool_, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
    "INT64": np.int64, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
    "UINT64": np.uint64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
    "BYTES": np.object_,
}  # fmt: skip


def column(rows: list[dict[str, Any]], name: str, datatype: str) -> np.ndarray[Any, Any]:
    values = [row[name] for row in rows]
    if datatype.startswith("FP"):
        values = [np.nan if v is None else v for v in values]
    return np.array(values, dtype=NUMPY_TYPES[datatype])


def tensors(
    make: Any, rows: list[dict[str, Any]], specs: list[dict[str, Any]], binary: bool
) -> list[Any]:
    """One input tensor per feature, made by a client's `InferInput` class (tritonclient's
    and the KServe SDK's take the same arguments), its data set as binary or JSON."""
    made = []
    for spec in specs:
        tensor = make(spec["name"], [len(rows)], spec["datatype"])
        tensor.set_data_from_numpy(column(rows, spec["name"], spec["datatype"]), binary_data=binary)
        made.append(tensor)
    return made


def plain(value: Any) -> Any:
    """A client's answer as JSON: arrays as lists, BYTES elements decoded."""
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def triton(
    url: str, model: str, rows: list[dict[str, Any]], specs: list[dict[str, Any]]
) -> dict[str, Any]:
    """tritonclient's HTTP client: health, metadata, and infer with binary and JSON tensors."""
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url=urlsplit(url).netloc)
    out: dict[str, Any] = {
        "server_live": client.is_server_live(),
        "server_ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(model),
        "server_metadata": client.get_server_metadata(),
        "model_metadata": client.get_model_metadata(model),
    }
    metadata = out["model_metadata"]
    for binary in (True, False):
        inputs = tensors(httpclient.InferInput, rows, metadata["inputs"], binary)
        wanted = [
            httpclient.InferRequestedOutput(o["name"], binary_data=binary)
            for o in metadata["outputs"]
        ]
        result = client.infer(model, inputs, outputs=wanted, request_id=f"binary-{binary}")
        key = "infer_binary" if binary else "infer_json"
        response = result.get_response()
        out[key] = {
            "id": response.get("id"),
            "model_name": response.get("model_name"),
            "outputs": {o["name"]: plain(result.as_numpy(o["name"])) for o in metadata["outputs"]},
        }
    # No outputs named: the client asks for every output in binary (its default).
    # binary inputs: what set_data_from_numpy does when not told otherwise
    result = client.infer(model, tensors(httpclient.InferInput, rows, metadata["inputs"], True))
    out["infer_defaults"] = {
        o["name"]: plain(result.as_numpy(o["name"])) for o in metadata["outputs"]
    }
    client.close()
    return out


async def _kserve(
    url: str, model: str, rows: list[dict[str, Any]], specs: list[dict[str, Any]]
) -> dict[str, Any]:
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    out: dict[str, Any] = {}
    v1 = InferenceRESTClient(RESTConfig(protocol="v1", retries=0))
    out["v1_server_live"] = await v1.is_server_live(url)
    out["v1_model_ready"] = await v1.is_model_ready(url, model)
    out["v1_predict"] = await v1.infer(url, {"instances": rows}, model_name=model)
    await v1.close()

    v2 = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
    out["v2_server_ready"] = await v2.is_server_ready(url)
    out["v2_server_live"] = await v2.is_server_live(url)
    out["v2_model_ready"] = await v2.is_model_ready(url, model)
    # The SDK has no metadata call: the test read /v2/models/{model} and passed its inputs.
    inputs = tensors(InferInput, rows, specs, binary=False)
    request = InferRequest(model_name=model, infer_inputs=inputs, request_id="kserve-v2")
    response = await v2.infer(url, request, model_name=model)
    out["v2_infer"] = {
        "id": response.id,
        "model_name": response.model_name,
        "outputs": {o.name: plain(o.as_numpy()) for o in response.outputs},
    }
    await v2.close()
    return out


def kserve(
    url: str, model: str, rows: list[dict[str, Any]], specs: list[dict[str, Any]]
) -> dict[str, Any]:
    """The KServe Python SDK's REST client: v1 predict and v2 infer."""
    return asyncio.run(_kserve(url, model, rows, specs))


def mlflow(
    url: str, model: str, rows: list[dict[str, Any]], specs: list[dict[str, Any]]
) -> dict[str, Any]:
    """MLflow's scoring-server client: every JSON form, and CSV as MLflow's tests send it."""
    import requests
    from mlflow.deployments import PredictionsResponse
    from mlflow.pyfunc import scoring_server
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    parts = urlsplit(url)
    client = ScoringServerClient(parts.hostname, parts.port)
    client.wait_server_ready(timeout=30)
    frame = pd.DataFrame.from_records(rows)
    answers = {
        "dataframe_split": client.invoke(frame),
        "dataframe_records": client.invoke(json.dumps({"dataframe_records": rows})),
        "instances": client.invoke(json.dumps({"instances": rows})),
        "inputs": client.invoke({name: frame[name].to_numpy() for name in frame.columns}),
    }
    csv = requests.post(
        f"{url}/invocations",
        data=frame.to_csv(index=False),
        headers={"Content-Type": scoring_server.CONTENT_TYPE_CSV},
        timeout=30,
    )
    csv.raise_for_status()
    answers["csv"] = PredictionsResponse.from_json(csv.text)
    return {
        form: plain(answer.get_predictions(predictions_format="ndarray"))
        for form, answer in answers.items()
    }


CLIENTS = {"triton": triton, "kserve": kserve, "mlflow": mlflow}


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] not in CLIENTS:
        print(
            f"usage: protocol_clients.py {'|'.join(CLIENTS)} URL MODEL ROWS.json", file=sys.stderr
        )
        return 2
    name, url, model, rows_file = argv
    given = json.loads(Path(rows_file).read_text())
    print(json.dumps(CLIENTS[name](url.rstrip("/"), model, given["rows"], given["tensors"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
