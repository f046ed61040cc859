"""Serve side of forecasting models: the Open Inference Protocol v2 asks for one forecast
per request (a `steps` tensor and/or one tensor per exog column)."""

from __future__ import annotations

import json
from typing import Any

from ..artifact.format import Signature
from ..artifact.signature import v2_datatype
from ..frameworks.forecast import EXOG, STEPS, ForecastSpec, forecast_spec
from .errors import ApiError


def _v2_tensor(tensor: Any, index: int) -> tuple[str, list[Any], list[int]]:
    if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
        raise ApiError(400, f"inputs[{index}] must be an object with a 'name'")
    name, shape, data = tensor["name"], tensor.get("shape"), tensor.get("data")
    if not isinstance(shape, list) or not shape or not all(isinstance(s, int) for s in shape):
        raise ApiError(400, f"input {name!r}: 'shape' must be a non-empty array of integers")
    if not isinstance(data, list):
        raise ApiError(400, f"input {name!r}: 'data' must be an array")
    if data and all(isinstance(item, list) for item in data):
        data = [value for item in data for value in item]
    if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1) or len(data) != shape[0]:
        raise ApiError(
            422, f"input {name!r}: shape {shape} does not fit {len(data)} values; use [n]"
        )
    return name, data, shape


def v2_rows(body: Any, signature: Signature) -> list[Any]:
    """The one instance of a v2 request: a `steps` tensor of shape [1] and/or one tensor
    per exog column, shape [steps]."""
    spec = forecast_spec(signature)
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise ApiError(400, "the request body must be a JSON object with an 'inputs' array")
    tensors = [_v2_tensor(t, i) for i, t in enumerate(body["inputs"])]
    known = [STEPS, *spec.exog_names]
    unknown = [name for name, _, _ in tensors if name not in known]
    if unknown:
        expected = f"expected {', '.join(known)}"
        details = [{"field": n, "message": f"unknown input tensor; {expected}"} for n in unknown]
        raise ApiError(422, f"unknown input tensor(s) {', '.join(unknown)}; {expected}", details)
    columns = {name: data for name, data, _ in tensors}
    row: dict[str, Any] = {}
    if STEPS in columns:
        if len(columns[STEPS]) != 1:
            raise ApiError(
                422,
                f"'steps' must have shape [1]: a v2 request asks for one forecast, got "
                f"{len(columns[STEPS])} values; send one request per forecast (or use v1 "
                "instances)",
            )
        row[STEPS] = columns[STEPS][0]
    present = [n for n in spec.exog_names if n in columns]
    if present:
        lengths = {len(columns[n]) for n in present}
        if len(lengths) > 1:
            raise ApiError(422, f"exog tensors have different lengths: {sorted(lengths)}")
        count = lengths.pop()
        row[EXOG] = [{n: columns[n][j] for n in present} for j in range(count)]
    if not row:
        example = json.dumps({"name": STEPS, "shape": [1], "datatype": "INT64", "data": [12]})
        what = (
            f"one tensor per exog column ({', '.join(spec.exog_names)})" if spec.exog else example
        )
        raise ApiError(422, f"missing input tensor(s): send {what}")
    return [row]


def v2_outputs(body: dict[str, Any], signature: Signature) -> list[str]:
    available = forecast_spec(signature).outputs
    if "outputs" not in body:
        return available
    wanted = body["outputs"]
    if not isinstance(wanted, list) or not all(isinstance(o, dict) for o in wanted):
        raise ApiError(400, "'outputs' must be an array of objects with a 'name'")
    names = [str(o.get("name")) for o in wanted]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ApiError(
            422, f"unknown output(s) {', '.join(unknown)}; available: {', '.join(available)}"
        )
    return names


def _index_datatype(spec: ForecastSpec) -> str:
    return "BYTES" if spec.index_kind in ("datetime", "period") else "INT64"


def v2_response(
    signature: Signature, request_id: str, outputs: list[str], forecast: dict[str, Any]
) -> dict[str, Any]:
    spec = forecast_spec(signature)
    tensors = [
        {
            "name": name,
            "datatype": _index_datatype(spec) if name == "index" else "FP64",
            "shape": [len(forecast[name])],
            "data": forecast[name],
        }
        for name in outputs
        if name in forecast
    ]
    return {"model_name": signature.name, "id": request_id, "outputs": tensors}


def v2_tensor_spec(signature: Signature) -> dict[str, list[dict[str, Any]]]:
    spec = forecast_spec(signature)
    inputs = [{"name": STEPS, "datatype": "INT64", "shape": [1]}]
    inputs += [{"name": f.name, "datatype": v2_datatype(f.dtype), "shape": [-1]} for f in spec.exog]
    outputs = [
        {
            "name": name,
            "datatype": _index_datatype(spec) if name == "index" else "FP64",
            "shape": [-1],
        }
        for name in spec.outputs
    ]
    return {"inputs": inputs, "outputs": outputs}
