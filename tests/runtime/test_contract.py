"""The HTTP contract every runtime honours (docs/architecture.md, "Contracts"), checked
against a live server.

Only `server_url`, `signature` and `sample` are used, so the same tests run against a built
image or another runtime (see conftest.py). The model is the churn classifier: numeric,
nullable numeric, categorical and boolean features.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def client(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def name(signature: dict[str, Any]) -> str:
    return str(signature["name"])


@pytest.fixture(scope="module")
def names(signature: dict[str, Any]) -> list[str]:
    return [f["name"] for f in signature["inputs"]]


def assert_error(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    """An error is a non-200 JSON body {"error": str, "details": [...]}, no traceback."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["error"], str)
    assert isinstance(body["details"], list)
    assert "Traceback" not in response.text
    for word in words:
        assert word in response.text, response.text
    return body  # type: ignore[no-any-return]


# --- health ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/livez", "/readyz", "/healthz", "/ping", "/v2/health/live", "/v2/health/ready"]
)
def test_health_endpoints_answer_200_when_ready(client: httpx.Client, path: str) -> None:
    assert client.get(path).status_code == 200


def test_v1_model_status(client: httpx.Client, name: str) -> None:
    assert client.get(f"/v1/models/{name}").json() == {"name": name, "ready": True}


def test_v2_model_ready_and_metadata(client: httpx.Client, name: str, names: list[str]) -> None:
    assert client.get(f"/v2/models/{name}/ready").json()["ready"] is True
    meta = client.get(f"/v2/models/{name}").json()
    assert meta["name"] == name
    assert [t["name"] for t in meta["inputs"]] == names
    assert {t["name"] for t in meta["outputs"]} >= {"predict"}


# --- KServe v1 ------------------------------------------------------------------------------


def test_v1_predict_objects_equal_training_predictions(
    client: httpx.Client, name: str, sample: dict[str, Any]
) -> None:
    response = client.post(f"/v1/models/{name}:predict", json={"instances": sample["inputs"]})
    assert response.status_code == 200
    assert response.json()["predictions"] == sample["predictions"]


def test_v1_predict_lists_in_signature_order_and_probabilities(
    client: httpx.Client, name: str, names: list[str], sample: dict[str, Any]
) -> None:
    rows = [[row[n] for n in names] for row in sample["inputs"]]
    body = client.post(f"/v1/models/{name}:predict", json={"instances": rows}).json()
    assert body["predictions"] == sample["predictions"]
    for got, expected in zip(body["probabilities"], sample["probabilities"], strict=True):
        assert got == pytest.approx(expected)


def test_v1_null_allowed_for_nullable_feature(
    client: httpx.Client, name: str, sample: dict[str, Any], signature: dict[str, Any]
) -> None:
    nullable = [f["name"] for f in signature["inputs"] if f["nullable"]]
    if not nullable:
        pytest.skip("this model has no column with missing values")
    row = {**sample["inputs"][0], nullable[0]: None}
    assert client.post(f"/v1/models/{name}:predict", json={"instances": [row]}).status_code == 200


# --- MLflow ---------------------------------------------------------------------------------


def mlflow_bodies(names: list[str], rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "dataframe_split": {
            "dataframe_split": {"columns": names, "data": [[r[n] for n in names] for r in rows]}
        },
        "dataframe_records": {"dataframe_records": rows},
        "instances": {"instances": rows},
        "inputs": {"inputs": {n: [r[n] for r in rows] for n in names}},
    }


@pytest.mark.parametrize("form", ["dataframe_split", "dataframe_records", "instances", "inputs"])
def test_invocations_json_forms(
    client: httpx.Client, names: list[str], sample: dict[str, Any], form: str
) -> None:
    body = mlflow_bodies(names, sample["inputs"])[form]
    response = client.post("/invocations", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": sample["predictions"]}


def test_invocations_csv(client: httpx.Client, names: list[str], sample: dict[str, Any]) -> None:
    lines = [",".join(names)]
    for row in sample["inputs"]:
        lines.append(
            ",".join(
                ""
                if row[n] is None
                else str(row[n]).lower()
                if isinstance(row[n], bool)
                else str(row[n])
                for n in names
            )
        )
    response = client.post(
        "/invocations", content="\n".join(lines), headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == sample["predictions"]


def test_invocations_needs_exactly_one_key(client: httpx.Client, sample: dict[str, Any]) -> None:
    rows = sample["inputs"]
    assert_error(
        client.post("/invocations", json={"instances": rows, "inputs": rows}), 400, "exactly one"
    )
    assert_error(client.post("/invocations", json={"rows": rows}), 400, "exactly one")


# --- Open Inference Protocol v2 -------------------------------------------------------------


def v2_body(signature: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    types = {"bool": "BOOL", "string": "BYTES", "float64": "FP64", "int64": "INT64"}
    return {
        "id": "req-1",
        "inputs": [
            {"name": f["name"], "shape": [len(rows)], "datatype": types.get(f["dtype"], "FP64"),
             "data": [r[f["name"]] for r in rows]}
            for f in signature["inputs"]
        ],
    }  # fmt: skip


def test_v2_infer(
    client: httpx.Client, name: str, signature: dict[str, Any], sample: dict[str, Any]
) -> None:
    rows = sample["inputs"]
    response = client.post(f"/v2/models/{name}/infer", json=v2_body(signature, rows))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == name
    assert body["id"] == "req-1"
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["predict"]["data"] == sample["predictions"]
    assert outputs["predict"]["shape"] == [len(rows)]
    assert outputs["predict_proba"]["shape"] == [len(rows), len(signature["classes"])]
    assert outputs["predict_proba"]["datatype"] == "FP64"


def test_v2_infer_selected_output(
    client: httpx.Client, name: str, signature: dict[str, Any], sample: dict[str, Any]
) -> None:
    body = {**v2_body(signature, sample["inputs"]), "outputs": [{"name": "predict"}]}
    outputs = client.post(f"/v2/models/{name}/infer", json=body).json()["outputs"]
    assert [o["name"] for o in outputs] == ["predict"]


def test_v2_infer_wrong_datatype_and_missing_tensor(
    client: httpx.Client, name: str, signature: dict[str, Any], sample: dict[str, Any]
) -> None:
    body = v2_body(signature, sample["inputs"][:1])
    string_input = next(t for t in body["inputs"] if t["datatype"] == "BYTES")
    string_input["datatype"] = "FP64"
    assert_error(client.post(f"/v2/models/{name}/infer", json=body), 422, string_input["name"])
    body = v2_body(signature, sample["inputs"][:1])
    dropped = body["inputs"].pop()
    assert_error(client.post(f"/v2/models/{name}/infer", json=body), 422, dropped["name"])


def binary_request(body: dict[str, Any], string_name: str, tail: bytes = b"") -> bytes:
    """`body` with the BYTES input `string_name` moved to binary data (v2 binary extension)."""
    tensor = next(t for t in body["inputs"] if t["name"] == string_name)
    data = b"".join(len(v.encode()).to_bytes(4, "little") + v.encode() for v in tensor.pop("data"))
    tensor["parameters"] = {"binary_data_size": len(data)}
    return json.dumps(body).encode() + data + tail


def test_v2_binary_inputs_and_a_binary_output_on_request(
    client: httpx.Client, name: str, signature: dict[str, Any], sample: dict[str, Any]
) -> None:
    body = v2_body(signature, sample["inputs"])
    string_name = feature_of(signature, "string")
    body["outputs"] = [{"name": "predict", "parameters": {"binary_data": True}}]
    raw = binary_request(body, string_name)
    header = str(len(json.dumps(body).encode()))
    response = client.post(
        f"/v2/models/{name}/infer", content=raw, headers={"Inference-Header-Content-Length": header}
    )
    assert response.status_code == 200, response.text
    length = int(response.headers["inference-header-content-length"])
    document = json.loads(response.content[:length])
    (output,) = document["outputs"]
    assert "data" not in output
    data = response.content[length:]
    assert len(data) == output["parameters"]["binary_data_size"]
    assert binary_values(data, output["datatype"]) == sample["predictions"]


def binary_values(data: bytes, datatype: str) -> list[Any]:
    """A binary tensor's values: length-prefixed UTF-8 for BYTES, else little-endian."""
    if datatype != "BYTES":
        code = {"BOOL": "?", "INT64": "q", "INT32": "i", "FP64": "d", "FP32": "f"}[datatype]
        return list(struct.unpack(f"<{len(data) // struct.calcsize(code)}{code}", data))
    values = []
    while data:
        count = int.from_bytes(data[:4], "little")
        values.append(data[4 : 4 + count].decode())
        data = data[4 + count :]
    return values


@pytest.mark.parametrize(
    ("header", "tail", "words"),
    [
        ("0", b"", ["Inference-Header-Content-Length"]),
        ("not-a-number", b"", ["Inference-Header-Content-Length"]),
        ("9999999", b"", ["between 1 and the body"]),
        (None, b"\x00\x01", ["2 bytes of binary data"]),
    ],
)
def test_v2_binary_data_that_does_not_add_up_is_400(
    client: httpx.Client, name: str, signature: dict[str, Any], sample: dict[str, Any],
    header: str | None, tail: bytes, words: list[str],
) -> None:  # fmt: skip
    body = v2_body(signature, sample["inputs"][:1])
    raw = binary_request(body, feature_of(signature, "string"), tail)
    length = header if header is not None else str(len(json.dumps(body).encode()))
    response = client.post(
        f"/v2/models/{name}/infer", content=raw, headers={"Inference-Header-Content-Length": length}
    )
    assert_error(response, 400, *words)


def test_v2_a_binary_size_past_the_end_and_non_utf8_text_are_400(
    client: httpx.Client, name: str, signature: dict[str, Any], sample: dict[str, Any]
) -> None:
    string_name = feature_of(signature, "string")
    for data, word in ((b"\x05\x00\x00\x00ab", "runs past"), (b"\x01\x00\x00\x00\xff", "UTF-8")):
        body = v2_body(signature, sample["inputs"][:1])
        tensor = next(t for t in body["inputs"] if t["name"] == string_name)
        del tensor["data"]
        tensor["parameters"] = {"binary_data_size": len(data) + (3 if word == "runs past" else 0)}
        text = json.dumps(body).encode()
        response = client.post(
            f"/v2/models/{name}/infer",
            content=text + data,
            headers={"Inference-Header-Content-Length": str(len(text))},
        )
        assert_error(response, 400, string_name, word)


@pytest.mark.parametrize(
    ("change", "status", "word"),
    [
        ({"id": 5}, 400, "'id'"),
        ({"parameters": []}, 400, "'parameters'"),
        ({"outputs": None}, 400, "'outputs'"),
    ],
)
def test_v2_request_fields_are_typed(
    client: httpx.Client, name: str, signature: dict[str, Any], sample: dict[str, Any],
    change: dict[str, Any], status: int, word: str,
) -> None:  # fmt: skip
    body = {**v2_body(signature, sample["inputs"]), **change}
    assert_error(client.post(f"/v2/models/{name}/infer", json=body), status, word)


def test_v2_tensor_without_a_string_name_is_400(client: httpx.Client, name: str) -> None:
    tensor = {"name": {}, "datatype": "FP64", "shape": [1], "data": [1.0]}
    response = client.post(f"/v2/models/{name}/infer", json={"inputs": [tensor]})
    assert_error(response, 400, "'name'")


def test_v2_unknown_datatype_is_422(
    client: httpx.Client, name: str, signature: dict[str, Any], sample: dict[str, Any]
) -> None:
    body = v2_body(signature, sample["inputs"])
    numeric = next(t for t in body["inputs"] if t["datatype"] == "FP64")
    numeric["datatype"] = "FP-ish"
    assert_error(client.post(f"/v2/models/{name}/infer", json=body), 422, "FP-ish")


# --- documentation --------------------------------------------------------------------------


def test_openapi_is_generated_from_the_signature(
    client: httpx.Client, name: str, names: list[str], sample: dict[str, Any]
) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    op = doc["paths"][f"/v1/models/{name}:predict"]["post"]
    example = op["requestBody"]["content"]["application/json"]["example"]
    assert example["instances"][0] == sample["inputs"][0]
    record = doc["components"]["schemas"]["Record"]
    assert list(record["properties"]) == names
    assert record["required"] == names


def test_docs_page_is_self_contained_with_a_form_per_feature(
    client: httpx.Client, names: list[str]
) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    for feature in names:
        assert f'name="{feature}"' in page
    assert "://" not in page, "no CDN: the page must work offline"


# --- errors ---------------------------------------------------------------------------------


def test_unknown_model_is_404(client: httpx.Client, sample: dict[str, Any]) -> None:
    assert_error(
        client.post("/v1/models/nope:predict", json={"instances": sample["inputs"]}), 404, "nope"
    )
    assert_error(client.get("/v1/models/nope"), 404)
    assert_error(client.post("/v2/models/nope/infer", json={"inputs": []}), 404)


def test_unknown_route_and_wrong_method(client: httpx.Client, name: str) -> None:
    assert_error(client.get("/no/such/path"), 404)
    assert_error(client.get(f"/v1/models/{name}:predict"), 405)


def test_a_wrong_method_names_the_allowed_ones(client: httpx.Client, name: str) -> None:
    assert client.get(f"/v1/models/{name}:predict").headers["allow"] == "POST"
    assert "POST" not in client.put("/livez").headers["allow"]
    assert "GET" in client.put("/livez").headers["allow"]


def test_a_json_integer_beyond_64_bits_is_422_not_rounded(
    client: httpx.Client, name: str, signature: dict[str, Any], sample: dict[str, Any]
) -> None:
    field = feature_of(signature, "int64")
    row = json.dumps({**sample["inputs"][0], field: 0}).replace(
        f'"{field}": 0', f'"{field}": -9223372036854775809'
    )  # int64's minimum less one: the JSON parser can only give a (rounded) float
    response = client.post(
        f"/v1/models/{name}:predict", content=f'{{"instances": [{row}]}}', headers=JSON
    )
    assert_error(response, 422, field, "expected an integer")


def test_instances_and_inputs_together_is_400(
    client: httpx.Client, name: str, sample: dict[str, Any]
) -> None:
    rows = sample["inputs"]
    body = {"instances": rows, "inputs": rows}
    assert_error(client.post(f"/v1/models/{name}:predict", json=body), 400, "not both")


def test_mlflow_params_must_be_an_object(client: httpx.Client, sample: dict[str, Any]) -> None:
    body = {"dataframe_records": sample["inputs"], "params": [1]}
    assert_error(client.post("/invocations", json=body), 400, "params")


def test_csv_nan_is_no_number(
    client: httpx.Client, names: list[str], signature: dict[str, Any]
) -> None:
    field = feature_of(signature, "float64")
    first = {f["name"]: f for f in signature["inputs"]}
    row = ["nan" if n == field else "1" if first[n]["dtype"] != "string" else "x" for n in names]
    csv = ",".join(names) + "\n" + ",".join(row) + "\n"
    response = client.post("/invocations", content=csv, headers={"Content-Type": "text/csv"})
    assert_error(response, 422, field, "finite")


def test_malformed_json_is_400(client: httpx.Client, name: str) -> None:
    response = client.post(f"/v1/models/{name}:predict", content=b'{"instances": [', headers=JSON)
    assert_error(response, 400, "malformed JSON")


def test_wrong_content_type_is_415(client: httpx.Client, name: str) -> None:
    response = client.post(
        f"/v1/models/{name}:predict", content=b"{}", headers={"Content-Type": "text/plain"}
    )
    assert_error(response, 415, "text/plain")


def test_missing_instances_is_400(client: httpx.Client, name: str) -> None:
    assert_error(client.post(f"/v1/models/{name}:predict", json={"rows": []}), 400, "instances")
    assert_error(client.post(f"/v1/models/{name}:predict", json=[1, 2]), 400)


def test_missing_and_unknown_feature_name_the_field_and_row(
    client: httpx.Client, name: str, names: list[str], sample: dict[str, Any]
) -> None:
    good = sample["inputs"][0]
    missing = {k: v for k, v in good.items() if k != names[0]}
    body = assert_error(
        client.post(f"/v1/models/{name}:predict", json={"instances": [good, missing]}),
        422,
        names[0],
    )
    assert body["details"][0] == {"row": 1, "field": names[0], "message": "missing feature"}
    unknown = {**good, "shoe_size": 44}
    body = assert_error(
        client.post(f"/v1/models/{name}:predict", json={"instances": [unknown]}), 422, "shoe_size"
    )
    assert body["details"][0]["row"] == 0


def feature_of(signature: dict[str, Any], dtype: str) -> str:
    """The first feature of `dtype`; the test is skipped for a model without one."""
    names = [str(f["name"]) for f in signature["inputs"] if f["dtype"] == dtype]
    if not names:
        pytest.skip(f"this model has no {dtype} feature")
    return names[0]


@pytest.mark.parametrize(
    ("dtype", "value", "message"),
    [
        ("int64", "twelve", "expected an integer"),
        ("int64", True, "expected an integer"),
        ("int64", 2.5, "expected an integer"),
        ("float64", "1.5", "expected a number"),
        ("float64", False, "expected a number"),
        ("float64", 1e300, "out of range for float64"),  # float32's range: a tree's input
        ("bool", 1, "expected a boolean"),
        ("string", 3, "expected a string"),
        ("int64", None, "null is not allowed"),
    ],
)
def test_wrong_types_are_422_naming_field_and_row(
    client: httpx.Client, name: str, signature: dict[str, Any], sample: dict[str, Any],
    dtype: str, value: Any, message: str,
) -> None:  # fmt: skip
    field = feature_of(signature, dtype)
    rows = [sample["inputs"][0], {**sample["inputs"][1], field: value}]
    body = assert_error(
        client.post(f"/v1/models/{name}:predict", json={"instances": rows}), 422, message
    )
    assert body["details"][0]["row"] == 1
    assert body["details"][0]["field"] == field


def test_integral_float_is_accepted_for_an_integer_feature(
    client: httpx.Client, name: str, signature: dict[str, Any], sample: dict[str, Any]
) -> None:
    field = feature_of(signature, "int64")
    row = {**sample["inputs"][0], field: float(sample["inputs"][0][field])}
    body = client.post(f"/v1/models/{name}:predict", json={"instances": [row]}).json()
    assert body["predictions"] == sample["predictions"][:1]


def test_list_instance_of_wrong_width(client: httpx.Client, name: str) -> None:
    assert_error(
        client.post(f"/v1/models/{name}:predict", json={"instances": [[1, 2]]}), 422, "expected"
    )


def test_too_many_rows_is_422(client: httpx.Client, name: str, sample: dict[str, Any]) -> None:
    rows = sample["inputs"] * 400  # 2000 > MAX_ROWS default 1000
    assert_error(
        client.post(f"/v1/models/{name}:predict", json={"instances": rows}), 422, "too many rows"
    )


def test_empty_instances_is_422(client: httpx.Client, name: str) -> None:
    assert_error(client.post(f"/v1/models/{name}:predict", json={"instances": []}), 422, "no rows")


def test_body_over_limit_is_413_by_content_length(client: httpx.Client, name: str) -> None:
    big = b'{"instances": [' + b" " * (2 << 20) + b"]}"
    assert_error(client.post(f"/v1/models/{name}:predict", content=big, headers=JSON), 413, "limit")


def test_body_over_limit_is_413_while_streaming(client: httpx.Client, name: str) -> None:
    def chunks() -> Any:
        yield b'{"instances": ['
        for _ in range(40):
            yield b" " * 65536

    assert_error(
        client.post(f"/v1/models/{name}:predict", content=chunks(), headers=JSON), 413, "limit"
    )


def test_server_keeps_serving_after_errors(
    client: httpx.Client, name: str, sample: dict[str, Any]
) -> None:
    client.post(f"/v1/models/{name}:predict", content=b"\xff\xfe", headers=JSON)
    response = client.post(f"/v1/models/{name}:predict", json={"instances": sample["inputs"]})
    assert response.status_code == 200


# --- metrics --------------------------------------------------------------------------------


def test_metrics_have_requests_latency_and_prediction_distribution(
    client: httpx.Client, name: str, sample: dict[str, Any], signature: dict[str, Any]
) -> None:
    client.post(f"/v1/models/{name}:predict", json={"instances": sample["inputs"]})
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert "nb2svc_requests_total" in text
    assert "nb2svc_request_duration_seconds_bucket" in text
    predicted = {str(p) for p in sample["predictions"]}
    for label in predicted:
        assert f'nb2svc_predictions_total{{class="{label}"}}' in text
