"""Serve side: request bodies of each protocol -> rows; results -> response bodies.

Protocols: KServe v1 (`instances`), MLflow scoring (`dataframe_split`, `dataframe_records`,
`instances`, `inputs`, text/csv) and Open Inference Protocol v2 (named tensors).
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import orjson

from ..artifact.format import Feature, Signature
from ..artifact.signature import FLOAT_DTYPES, INT_DTYPES, v2_datatype
from .errors import ApiError

MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def parse_json(raw: bytes) -> Any:
    if not raw.strip():
        raise ApiError(400, "empty request body: expected a JSON object")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None


def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, f"the request body must be a JSON object with {what}")
    return body


def _list(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise ApiError(400, f"{key!r} must be an array of rows")
    return value


def _columns_to_rows(columns: Any, key: str) -> list[Any]:
    if not isinstance(columns, dict) or not all(isinstance(v, list) for v in columns.values()):
        raise ApiError(400, f"{key!r} must map each feature name to an array of values")
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ApiError(
            422, f"{key!r}: all columns must have the same length, got {sorted(lengths)}"
        )
    count = lengths.pop() if lengths else 0
    names = list(columns)
    return [{n: columns[n][i] for n in names} for i in range(count)]


def v1_rows(body: Any) -> list[Any]:
    """KServe v1: {"instances": [...]} (or {"inputs": [...]})."""
    body = _object(body, '"instances"')
    if "instances" in body and "inputs" in body:
        raise ApiError(400, 'give "instances" or "inputs", not both')
    if "instances" in body:
        return _list(body["instances"], "instances")
    if "inputs" in body:
        value = body["inputs"]
        return (
            _columns_to_rows(value, "inputs") if isinstance(value, dict) else _list(value, "inputs")
        )
    raise ApiError(400, 'the request body must have an "instances" array')


def _split_rows(split: Any) -> list[Any]:
    if not isinstance(split, dict) or not isinstance(split.get("data"), list):
        raise ApiError(400, '"dataframe_split" must be an object with "columns" and "data"')
    columns = split.get("columns")
    data: list[Any] = split["data"]
    if columns is None:
        return data
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ApiError(400, '"dataframe_split.columns" must be an array of feature names')
    rows: list[Any] = []
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            message = f"dataframe_split: row {i} must be an array of {len(columns)} values"
            raise ApiError(422, message, [{"row": i, "field": None, "message": message}])
        rows.append(dict(zip(columns, row)))
    return rows


def mlflow_rows(body: Any) -> list[Any]:
    """MLflow scoring protocol: exactly one of the four keys (plus optional "params")."""
    body = _object(body, "one of " + ", ".join(MLFLOW_KEYS))
    present = [k for k in MLFLOW_KEYS if k in body]
    unknown = [k for k in body if k not in MLFLOW_KEYS and k != "params"]
    if len(present) != 1 or unknown:
        found = ", ".join(present + unknown) or "none"
        raise ApiError(400, f"expected exactly one of {', '.join(MLFLOW_KEYS)}; found {found}")
    if not isinstance(body.get("params", {}), dict):
        raise ApiError(400, '"params" must be an object')
    key = present[0]
    value = body[key]
    if key == "dataframe_split":
        return _split_rows(value)
    if key == "inputs" and isinstance(value, dict):
        return _columns_to_rows(value, key)
    return _list(value, key)


def _csv_value(feature: Feature | None, text: str) -> Any:
    if text == "" or feature is None:
        return None if text == "" else text
    try:
        if feature.dtype in FLOAT_DTYPES:
            return float(text)
        if feature.dtype in INT_DTYPES:
            return int(text)
    except ValueError:
        return text
    if feature.dtype == "bool" and text.lower() in ("true", "false", "1", "0"):
        return text.lower() in ("true", "1")
    return text


def csv_rows(raw: bytes, signature: Signature, max_rows: int) -> list[Any]:
    """text/csv with a header row naming the features; values typed per signature."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(400, "the CSV body is not valid UTF-8") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise ApiError(400, "the CSV body needs a header row with the feature names")
    features = {f.name: f for f in signature.inputs}
    typed = [features.get(name) for name in header]
    rows: list[Any] = []
    for i, record in enumerate(reader):
        if len(rows) > max_rows:
            break
        if len(record) != len(header):
            message = f"CSV row {i} has {len(record)} fields, the header has {len(header)}"
            raise ApiError(422, message, [{"row": i, "field": None, "message": message}])
        rows.append({n: _csv_value(f, v) for n, f, v in zip(header, typed, record)})
    return rows


def predictions_body(predictions: list[Any], probabilities: list[Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"predictions": predictions}
    if probabilities is not None:
        body["probabilities"] = probabilities
    return body


def v2_tensor_spec(signature: Signature) -> dict[str, list[dict[str, Any]]]:
    """Input/output tensor metadata for GET /v2/models/{name}."""
    if signature.input_kind == "forecast":
        from .forecast_v2 import v2_tensor_spec as forecast_tensors

        return forecast_tensors(signature)
    inputs = [
        {"name": f.name, "datatype": v2_datatype(f.dtype), "shape": [-1]} for f in signature.inputs
    ]
    predicted = next((o for o in signature.outputs if o.get("name") == "predictions"), {})
    outputs = [
        {"name": "predict", "datatype": v2_datatype(str(predicted.get("dtype", ""))), "shape": [-1]}
    ]
    if signature.has_proba:
        width = len(signature.classes or ()) or -1
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, width]})
    return {"inputs": inputs, "outputs": outputs}


def new_request_id(body: dict[str, Any]) -> str:
    given = body.get("id")
    return given if isinstance(given, str) and given else str(uuid.uuid4())
