"""Serve side: Open Inference Protocol v2 request decoding and response encoding."""

from __future__ import annotations

from typing import Any

from ..artifact.format import Signature
from ..artifact.signature import v2_datatype
from . import forecast_v2
from .errors import ApiError

OUTPUT_NAMES = ("predict", "predict_proba")
DATATYPES = (
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64", "BYTES",
)  # fmt: skip
_NUMERIC = ("FP", "INT", "UINT")


def _flatten(data: Any, name: str) -> list[Any]:
    if not isinstance(data, list):
        raise ApiError(400, f"input {name!r}: 'data' must be an array")
    if data and all(isinstance(item, list) for item in data):
        return [value for item in data for value in item]
    return data


def _shape(tensor: dict[str, Any], name: str) -> list[int]:
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not shape or not all(isinstance(s, int) for s in shape):
        raise ApiError(400, f"input {name!r}: 'shape' must be a non-empty array of integers")
    return shape


def _compatible(declared: str, expected: str) -> bool:
    if declared not in DATATYPES:
        return False
    if declared == expected:
        return True
    if expected.startswith(("FP",)):
        return declared.startswith(_NUMERIC)
    if expected.startswith(("INT", "UINT")):
        return declared.startswith(("INT", "UINT"))
    return False


def _column(tensor: Any, signature: Signature, index: int) -> tuple[str, list[Any]]:
    if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
        raise ApiError(400, f"inputs[{index}] must be an object with a 'name'")
    name = tensor["name"]
    features = {f.name: f for f in signature.inputs}
    if name not in features:
        raise ApiError(
            422, f"unknown input tensor {name!r}", [{"field": name, "message": "unknown feature"}]
        )
    shape = _shape(tensor, name)
    if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise ApiError(422, f"input {name!r}: shape must be [n] or [n, 1], got {shape}")
    return name, _typed_values(tensor, name, v2_datatype(features[name].dtype), shape)


def _typed_values(tensor: dict[str, Any], name: str, expected: str, shape: list[Any]) -> list[Any]:
    """A one-column tensor's values: its datatype must fit `expected`, its data `shape[0]`."""
    declared = str(tensor.get("datatype", ""))
    if not _compatible(declared, expected):
        message = f"input {name!r}: datatype {declared or 'missing'} does not fit {expected}"
        raise ApiError(422, message, [{"field": name, "message": message}])
    data = _flatten(tensor.get("data"), name)
    if len(data) != shape[0]:
        raise ApiError(422, f"input {name!r}: shape {shape} does not match {len(data)} values")
    return data


def _matrix_rows(tensor: dict[str, Any], signature: Signature) -> list[Any] | None:
    """One [n, k] tensor for an array model whose k features are in signature order."""
    shape = tensor.get("shape")
    width = len(signature.inputs)
    if signature.input_kind == "series" and isinstance(shape, list) and len(shape) == 1:
        return _typed_values(tensor, tensor["name"], v2_datatype(signature.inputs[0].dtype), shape)
    if not (isinstance(shape, list) and len(shape) == 2 and shape[1] == width and width > 1):
        return None
    flat = _flatten(tensor.get("data"), str(tensor.get("name")))
    if len(flat) != shape[0] * width:
        raise ApiError(422, f"input tensor: shape {shape} does not match {len(flat)} values")
    return [flat[i * width : (i + 1) * width] for i in range(shape[0])]


def check_envelope(body: Any) -> None:
    """The request's own fields: an object whose `id` is a string and `parameters` an object."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object with an 'inputs' array")
    if not isinstance(body.get("id", ""), str):
        raise ApiError(400, "'id' must be a string")
    if not isinstance(body.get("parameters", {}), dict):
        raise ApiError(400, "'parameters' must be an object")


def v2_rows(body: Any, signature: Signature) -> list[Any]:
    """Rows from named per-feature tensors (or one [n, k] tensor for array models)."""
    check_envelope(body)
    if signature.input_kind == "forecast":
        return forecast_v2.v2_rows(body, signature)
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise ApiError(400, "the request body must be a JSON object with an 'inputs' array")
    tensors = body["inputs"]
    names = {f.name for f in signature.inputs}
    for i, tensor in enumerate(tensors):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise ApiError(400, f"inputs[{i}] must be an object with a 'name'")
    if len(tensors) == 1 and tensors[0]["name"] not in names:
        rows = _matrix_rows(tensors[0], signature)
        if rows is not None:
            return rows
    columns = dict(_column(t, signature, i) for i, t in enumerate(tensors))
    missing = [n for n in signature.names if n not in columns]
    if missing:
        details = [{"field": n, "message": "missing input tensor"} for n in missing]
        raise ApiError(422, f"missing input tensor(s): {', '.join(missing)}", details)
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ApiError(422, f"input tensors have different lengths: {sorted(lengths)}")
    count = lengths.pop()
    return [{n: columns[n][i] for n in signature.names} for i in range(count)]


def requested_outputs(body: dict[str, Any], signature: Signature) -> list[str]:
    if signature.input_kind == "forecast":
        return forecast_v2.v2_outputs(body, signature)
    has_proba = signature.has_proba
    if "outputs" not in body:
        return ["predict", "predict_proba"] if has_proba else ["predict"]
    wanted = body["outputs"]
    if not isinstance(wanted, list) or not all(isinstance(o, dict) for o in wanted):
        raise ApiError(400, "'outputs' must be an array of objects with a 'name'")
    names = [str(o.get("name")) for o in wanted]
    available = OUTPUT_NAMES if has_proba else OUTPUT_NAMES[:1]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ApiError(
            422, f"unknown output(s) {', '.join(unknown)}; available: {', '.join(available)}"
        )
    return names


def v2_response(
    signature: Signature,
    request_id: str,
    outputs: list[str],
    predictions: list[Any],
    probabilities: list[list[float]] | None,
) -> dict[str, Any]:
    if signature.input_kind == "forecast":  # one forecast per v2 request
        return forecast_v2.v2_response(signature, request_id, outputs, predictions[0])
    predicted = next((o for o in signature.outputs if o.get("name") == "predictions"), {})
    tensors: list[dict[str, Any]] = []
    for name in outputs:
        if name == "predict":
            datatype = v2_datatype(str(predicted.get("dtype", "")))
            tensors.append(
                {
                    "name": name,
                    "datatype": datatype,
                    "shape": [len(predictions)],
                    "data": predictions,
                }
            )
        elif probabilities is not None:
            width = len(probabilities[0]) if probabilities else 0
            flat = [p for row in probabilities for p in row]
            tensors.append(
                {
                    "name": name,
                    "datatype": "FP64",
                    "shape": [len(probabilities), width],
                    "data": flat,
                }
            )
    return {"model_name": signature.name, "id": request_id, "outputs": tensors}
