"""Serve side of forecasting models (forecast.py): request checks, the adapter that forecasts,
and the forecast's shapes in each protocol and in the OpenAPI document (USAGE.md).

An instance is `{"steps": 12}` (or the bare integer `12`); a model fitted with exogenous
columns takes `{"steps": 3, "exog": [{"promo": 1, "price": 9.5}, ...]}`, one exog row per
step (`steps` may then be left out). All the steps of a request together are limited by
MAX_ROWS, like the rows of any other model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .adapters import Adapter, Columns
from .artifact import Feature, Signature
from .errors import ApiError
from .forecast import EXOG, STEPS, ForecastSpec, exog_matrix, forecast_spec, run_forecast
from .schema import (
    MAX_DETAILS,
    BadValue,
    Validator,
    describe,
    detail,
    invalid_request,
    value_checker,
)
from .signature import json_type, v2_datatype

_INT_DATATYPES = ("INT", "UINT")


def _zero(feature: Feature) -> Any:
    if feature.dtype == "bool":
        return False
    return 0 if json_type(feature.dtype) == "integer" else 0.0


def example_instance(spec: ForecastSpec, steps: int = 2) -> dict[str, Any]:
    """A valid instance of this model, for error messages: what to send."""
    if not spec.exog:
        return {STEPS: 12}
    row = {f.name: _zero(f) for f in spec.exog}
    return {STEPS: steps, EXOG: [row] * steps}


class ForecastValidator(Validator):
    """Checks forecast instances; columns are `steps` (ints) and `exog` (rows or None)."""

    def __init__(self, signature: Signature, max_rows: int) -> None:
        super().__init__(signature, max_rows)
        self.spec = forecast_spec(signature)
        self.exog_names = self.spec.exog_names
        self.exog_checkers = [value_checker(f) for f in self.spec.exog]
        example = json.dumps(example_instance(self.spec))
        self.send = f"send {example}"

    def _steps(self, value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadValue(f"expected a whole number of periods to forecast, got {describe(value)}")
        if value < 1:
            raise BadValue(f"must be at least 1 (the periods to forecast), got {value}")
        if value > self.max_rows:
            raise BadValue(
                f"{value} is more than the {self.max_rows} steps a request may forecast (MAX_ROWS)"
            )
        return value

    def _exog_row(self, row: Any, where: str, errors: list[dict[str, Any]], i: int) -> list[Any]:
        names = self.exog_names
        if isinstance(row, dict):
            unknown = [k for k in row if k not in names]
            missing = [n for n in names if n not in row]
            expected = f"the exog columns are {', '.join(names)}"
            errors += [
                detail(i, f"{where}.{k}", f"unknown exog column; {expected}") for k in unknown
            ]
            errors += [
                detail(i, f"{where}.{n}", f"missing exog column; {expected}") for n in missing
            ]
            if unknown or missing:
                return []
            values = [row[n] for n in names]
        elif isinstance(row, list) and len(row) == len(names):
            values = row
        else:
            message = f"must be an object with {', '.join(names)}, got {describe(row)}"
            errors.append(detail(i, where, message))
            return []
        checked = []
        for name, check, value in zip(names, self.exog_checkers, values):
            try:
                checked.append(check(value))
            except BadValue as exc:
                errors.append(detail(i, f"{where}.{name}", str(exc)))
        return checked

    def _exog(self, value: Any, errors: list[dict[str, Any]], i: int) -> list[list[Any]] | None:
        if not isinstance(value, list) or not value:
            what = "an empty array" if value == [] else describe(value)
            errors.append(detail(i, EXOG, f"must be an array of one row per step, got {what}"))
            return None
        if len(value) > self.max_rows:
            limit = f"the {self.max_rows} steps a request may forecast (MAX_ROWS)"
            message = f"has {len(value)} rows, more than {limit}"
            errors.append(detail(i, EXOG, message))
            return None
        before = len(errors)
        rows = [self._exog_row(row, f"{EXOG}[{j}]", errors, i) for j, row in enumerate(value)]
        return rows if len(errors) == before else None

    def instance(self, row: Any, i: int, errors: list[dict[str, Any]]) -> tuple[int, Any]:
        """(steps, exog rows or None) of instance `i`; problems are appended to `errors`."""
        if isinstance(row, (int, float)) and not isinstance(row, bool) and not self.spec.exog:
            row = {STEPS: row}
        if not isinstance(row, dict):
            errors.append(detail(i, None, f"must be an object, got {describe(row)}; {self.send}"))
            return 0, None
        allowed = (STEPS, EXOG) if self.spec.exog else (STEPS,)
        for key in row:
            if key not in allowed:
                fields = " and ".join(f'"{k}"' for k in allowed)
                errors.append(detail(i, key, f"unknown field; an instance has {fields}"))
        steps = 0
        if STEPS in row:
            try:
                steps = self._steps(row[STEPS])
            except BadValue as exc:
                errors.append(detail(i, STEPS, str(exc)))
        elif not self.spec.exog:
            errors.append(
                detail(i, STEPS, f"missing: the number of periods to forecast; {self.send}")
            )
        if not self.spec.exog:
            return steps, None
        if EXOG not in row:
            columns = ", ".join(self.exog_names)
            message = (
                f"missing: this model was fitted with exogenous columns ({columns}): "
                f"send a row of them per step; {self.send}"
            )
            errors.append(detail(i, EXOG, message))
            return steps, None
        exog = self._exog(row[EXOG], errors, i)
        if exog is not None and STEPS in row and steps and steps != len(exog):
            message = f"steps is {steps} but exog has {len(exog)} rows: send one exog row per step"
            errors.append(detail(i, STEPS, message))
        return (steps or len(exog or ())), exog

    def columns(self, rows: Sequence[Any]) -> Columns:
        if not rows:
            raise ApiError(
                422, f"no forecast asked for: the request contains no instances; {self.send}"
            )
        self.check_count(len(rows))
        steps: list[int] = []
        exog: list[Any] = []
        errors: list[dict[str, Any]] = []
        for i, row in enumerate(rows):
            count, values = self.instance(row, i, errors)
            steps.append(count)
            exog.append(values)
            if len(errors) >= MAX_DETAILS:
                break
        if errors:
            raise invalid_request(errors, item="instance", request="forecast request")
        total = sum(steps)
        if total > self.max_rows:
            message = (
                f"too many forecast steps: {total} in this request > {self.max_rows} "
                "(MAX_ROWS); ask for fewer or split the request"
            )
            raise ApiError(422, message, [{"steps": total, "max_rows": self.max_rows}])
        return {STEPS: steps, EXOG: exog}


class ForecastAdapter(Adapter):
    """Calls a statsmodels time-series results object: one forecast per instance."""

    framework = "statsmodels"
    gives_proba = False

    def __init__(self, model: Any, signature: Signature) -> None:
        super().__init__(model, signature)
        self.spec = forecast_spec(signature)

    def make_input(self, columns: Columns) -> Any:
        width = len(self.spec.exog)
        return [(s, exog_matrix(e, width)) for s, e in zip(columns[STEPS], columns[EXOG])]

    def predict(self, data: Any) -> list[Any]:
        return [run_forecast(self.model, self.spec, steps, exog) for steps, exog in data]

    def predict_both(self, data: Any, want_proba: bool) -> tuple[list[Any], Any]:
        return self.predict(data), None

    def predict_proba(self, data: Any) -> list[list[float]] | None:
        return None


# --- Open Inference Protocol v2: one forecast per request ------------------------------------


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


# --- OpenAPI ------------------------------------------------------------------------------------


def instance_schema(signature: Signature, feature_schema: Any) -> dict[str, Any]:
    """JSON Schema of one forecast instance (`feature_schema` types an exog column)."""
    spec = forecast_spec(signature)
    steps = {
        "type": "integer",
        "minimum": 1,
        "description": "periods to forecast after the training data; all steps of a "
        "request together are at most MAX_ROWS",
    }
    if not spec.exog:
        as_object = {
            "type": "object",
            "properties": {STEPS: steps},
            "required": [STEPS],
            "additionalProperties": False,
        }
        return {"oneOf": [as_object, steps]}
    row = {
        "type": "object",
        "properties": {f.name: feature_schema(f) for f in spec.exog},
        "required": spec.exog_names,
        "additionalProperties": False,
    }
    exog = {
        "type": "array",
        "items": row,
        "minItems": 1,
        "description": "one row of the exogenous columns per step; steps equals their count",
    }
    return {
        "type": "object",
        "properties": {STEPS: steps, EXOG: exog},
        "required": [EXOG],
        "additionalProperties": False,
    }


# pandas' Timestamp.isoformat: no offset for a naive index, so not RFC 3339's "date-time".
ISO_DATE_TIME = {
    "type": "string",
    "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}",
    "description": "ISO 8601 date-time, with an offset only if the training index had one",
}


def predictions_schema(signature: Signature) -> dict[str, Any]:
    spec = forecast_spec(signature)
    numbers = {"type": "array", "items": {"type": ["number", "null"]}}
    dated = spec.index_kind in ("datetime", "period")
    index = {
        "type": "array",
        "items": ISO_DATE_TIME if dated else {"type": "integer"},
    }
    props: dict[str, Any] = {"index": index, "mean": numbers}
    if spec.level:
        level = f"{spec.level:.0%}"
        props["lower"] = {**numbers, "description": f"lower bound of the {level} interval"}
        props["upper"] = {**numbers, "description": f"upper bound of the {level} interval"}
    forecast = {"type": "object", "required": list(props), "properties": props}
    return {
        "type": "object",
        "required": ["predictions"],
        "properties": {
            "predictions": {
                "type": "array",
                "items": forecast,
                "description": f"one forecast of {spec.endog!r} per instance",
            }
        },
    }


def v2_example(signature: Signature, instance: dict[str, Any]) -> dict[str, Any]:
    spec = forecast_spec(signature)
    exog = instance.get(EXOG) or []
    if not spec.exog:
        steps = instance.get(STEPS, 12)
        return {"inputs": [{"name": STEPS, "shape": [1], "datatype": "INT64", "data": [steps]}]}
    return {
        "inputs": [
            {
                "name": f.name,
                "shape": [len(exog)],
                "datatype": v2_datatype(f.dtype),
                "data": [r.get(f.name) for r in exog],
            }
            for f in spec.exog
        ]
    }
