"""Serve side of forecasting models: their instances and forecasts in the OpenAPI document
(serve/openapi.py)."""

from __future__ import annotations

from typing import Any

from ..artifact.format import Signature
from ..artifact.signature import v2_datatype
from ..frameworks.forecast import EXOG, STEPS, forecast_spec


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
