"""Serve side: the JSON Schemas of the request and response bodies in the OpenAPI document
(serve/openapi.py), generated from the signature; they accept what the server takes."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from ..artifact.format import Feature, Signature
from ..artifact.signature import json_type, v2_datatype
from . import forecast_openapi, v2
from .schema import FLOAT_LIMITS, INT_BOUNDS

# The end of a pattern: nothing follows. `$` would be that in JSON Schema's (ECMA-262)
# regular expressions, but Python's (schemathesis') also lets a final newline follow.
END = "(?![\\s\\S])"
# What schema.py takes as a date-time (datetime.fromisoformat), as far as a pattern shows
# it: a date, or a date-time with an optional offset (not RFC 3339's date-time, which needs
# one); years 1700 to 2199 and days to 28 only, since a pattern cannot count a month's days.
ISO_DATE_TIME = {
    "pattern": "^(1[7-9][0-9]{2}|2[01][0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
    "(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])?)?"
    + END,
    "description": "ISO 8601 date or date-time",
}


def feature_schema(feature: Feature) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": json_type(feature.dtype)}
    if feature.dtype == "datetime":
        schema.update(ISO_DATE_TIME)
    if feature.dtype in INT_BOUNDS:
        schema["minimum"], schema["maximum"] = INT_BOUNDS[feature.dtype]
    if feature.dtype in FLOAT_LIMITS:
        schema["minimum"], schema["maximum"] = (
            -FLOAT_LIMITS[feature.dtype],
            FLOAT_LIMITS[feature.dtype],
        )
    if feature.closed:
        schema["enum"] = list(feature.categories or ())
    elif feature.categories:
        schema["examples"] = list(feature.categories[:10])
    if feature.nullable:
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
    return schema


def record_schema(signature: Signature) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {f.name: feature_schema(f) for f in signature.inputs},
        "required": signature.names,
        "additionalProperties": False,
    }


def row_schema(signature: Signature) -> dict[str, Any]:
    width = len(signature.inputs)
    return {
        "type": "array",
        "prefixItems": [feature_schema(f) for f in signature.inputs],
        "minItems": width,
        "maxItems": width,
    }


def instance_schema(signature: Signature) -> dict[str, Any]:
    if signature.input_kind == "forecast":
        return forecast_openapi.instance_schema(signature, feature_schema)
    ref = "#/components/schemas/"
    forms: list[dict[str, Any]] = [{"$ref": ref + "Record"}, {"$ref": ref + "Row"}]
    first = signature.inputs[0] if signature.inputs else None
    if signature.input_kind == "series" and first is not None and first.dtype == "string":
        forms.append(feature_schema(first))  # a bare string (schema.py)
    return {"oneOf": forms}


def _rows(item: dict[str, Any], max_rows: int) -> dict[str, Any]:
    """An array of 1 to MAX_ROWS rows (0 or more rows is a 422)."""
    return {"type": "array", "items": item, "minItems": 1, "maxItems": max_rows}


def _columns_schema(signature: Signature) -> dict[str, Any]:
    """Rows as columns: feature name -> values. The server takes columns of any one common
    length; JSON Schema cannot say "of one length", so this schema says one row."""
    one_row = {
        f.name: {"type": "array", "items": feature_schema(f), "minItems": 1, "maxItems": 1}
        for f in signature.inputs
    }
    return {
        "type": "object",
        "description": "columns of one common length (up to MAX_ROWS); this schema shows one row",
        "properties": one_row,
        "required": signature.names,
        "additionalProperties": False,
    }


def _csv_text(text: str) -> str:
    """A CSV field as a regular expression (quoted when the csv module would quote it)."""
    if any(c in text for c in ',"\r\n') or text != text.strip():
        text = '"' + text.replace('"', '""') + '"'
    return re.escape(text)


def _csv_field(feature: Feature) -> str:
    """A regular expression of the CSV text protocols.py reads as a valid value."""
    if feature.dtype in INT_BOUNDS:
        bits = int(feature.dtype.removeprefix("u").removeprefix("int"))
        digits = {8: 2, 16: 4, 32: 9, 64: 18}[bits]
        pattern = ("" if feature.dtype.startswith("u") else "-?") + f"[0-9]{{1,{digits}}}"
    elif json_type(feature.dtype) == "number":
        pattern = "-?[0-9]{1,6}(\\.[0-9]{1,6})?"
    elif feature.dtype == "bool":
        pattern = "(true|false|1|0)"
    elif feature.dtype == "datetime":
        pattern = "20[0-9]{2}-0[1-9]-[012][1-8]"
    elif feature.closed:
        pattern = "(" + "|".join(_csv_text(c) for c in feature.categories or ()) + ")"
    else:
        pattern = '[^,"\\r\\n]+'  # unquoted (quoted fields are taken too); empty is null
    return f"({pattern})?" if feature.nullable else pattern


def _csv_example(signature: Signature, rows: list[Any]) -> str:
    def text(value: Any) -> str:
        return (
            "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        )

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(signature.names)
    for row in rows:
        values = [row.get(n) for n in signature.names] if isinstance(row, dict) else row
        writer.writerow([text(v) for v in values])
    return out.getvalue()


def csv_schema(signature: Signature, max_rows: int, examples: list[Any]) -> dict[str, Any]:
    """text/csv: a header row naming the features, then 1 to MAX_ROWS rows. The server also
    takes the columns in any order and other spellings of a number; the pattern shows
    signature order and plain decimals."""
    header = ",".join(_csv_text(name) for name in signature.names)
    row = ",".join(_csv_field(f) for f in signature.inputs)
    schema = {
        "type": "string",
        "pattern": f"^{header}(\\r?\\n{row}){{1,{max_rows}}}(\\r?\\n)?" + END,
        "description": "a header row naming the features, then one line per row",
    }
    return {"schema": schema, "example": _csv_example(signature, examples)}


def _one_of_keys(keys: list[str]) -> list[dict[str, Any]]:
    return [{"required": [key]} for key in keys]


def v1_body(signature: Signature, max_rows: int) -> dict[str, Any]:
    """KServe v1: `instances` (rows), or `inputs` (rows or columns), not both."""
    rows = _rows({"$ref": "#/components/schemas/Instance"}, max_rows)
    inputs: dict[str, Any] = rows
    if signature.input_kind != "forecast":
        inputs = {"oneOf": [rows, _columns_schema(signature)]}
    return {
        "type": "object",
        "properties": {"instances": rows, "inputs": inputs},
        "oneOf": _one_of_keys(["instances", "inputs"]),
    }


def _split_schema(signature: Signature, max_rows: int) -> dict[str, Any]:
    """pandas' split orient; `columns` may come in any order (shown: signature order)."""
    if signature.input_kind == "forecast":
        return {"type": "object", "required": ["data"]}
    return {
        "type": "object",
        "required": ["data"],
        "properties": {
            "columns": {"const": signature.names},
            "data": _rows({"$ref": "#/components/schemas/Row"}, max_rows),
        },
    }


def mlflow_body(signature: Signature, max_rows: int) -> dict[str, Any]:
    """MLflow scoring: exactly one of its four keys, plus optional `params`."""
    v1 = v1_body(signature, max_rows)["properties"]
    props = {
        "dataframe_split": _split_schema(signature, max_rows),
        "dataframe_records": v1["instances"],
        "instances": v1["instances"],
        "inputs": v1["inputs"],
    }
    return {
        "type": "object",
        "properties": {**props, "params": {"type": "object"}},
        "additionalProperties": False,
        "oneOf": _one_of_keys(list(props)),
    }


def _v2_accepted(feature: Feature) -> list[str]:
    """The datatypes v2.py takes for a feature: its own, or any numeric one for a number."""
    expected = v2_datatype(feature.dtype)
    if expected.startswith("FP"):
        return [d for d in v2.DATATYPES if d.startswith(("FP", "INT", "UINT"))]
    if expected.startswith(("INT", "UINT")):
        return [d for d in v2.DATATYPES if d.startswith(("INT", "UINT"))]
    return [expected]


def v2_body(signature: Signature) -> dict[str, Any]:
    """One tensor per feature. The server takes them in any order and of any one length n
    (shape [n] or [n, 1]); JSON Schema cannot tie a shape to its data, so this shows n = 1."""
    envelope: dict[str, Any] = {
        "id": {"type": "string"},
        "parameters": {"type": "object"},
    }
    if signature.input_kind == "forecast":
        return {"type": "object", "required": ["inputs"], "properties": envelope}
    # A one-column series model takes its one tensor under any name (v2.py).
    series = signature.input_kind == "series"
    tensors = [
        {
            "type": "object",
            "required": ["name", "datatype", "shape", "data"],
            "properties": {
                "name": name,
                "datatype": {"enum": _v2_accepted(f)},
                "shape": {"const": [1]},
                "data": {"type": "array", "items": feature_schema(f), "minItems": 1, "maxItems": 1},
            },
        }
        for f in signature.inputs
        for name in [{"type": "string"} if series else {"const": f.name}]
    ]
    available = list(v2.OUTPUT_NAMES if signature.has_proba else v2.OUTPUT_NAMES[:1])
    output = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"enum": available}},
    }
    width = len(tensors)
    return {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            **envelope,
            "inputs": {
                "type": "array",
                "prefixItems": tensors,
                "minItems": width,
                "maxItems": width,
            },
            "outputs": {"type": "array", "items": output},
        },
    }


def v2_response(signature: Signature) -> dict[str, Any]:
    if signature.input_kind == "forecast":
        return {"type": "object", "required": ["model_name", "id", "outputs"]}
    tensor = {
        "type": "object",
        "required": ["name", "datatype", "shape", "data"],
        "properties": {
            "name": {"enum": list(v2.OUTPUT_NAMES)},
            "datatype": {"enum": list(v2.DATATYPES)},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "data": {"type": "array"},
        },
    }
    return {
        "type": "object",
        "required": ["model_name", "id", "outputs"],
        "properties": {
            "model_name": {"const": signature.name},
            "id": {"type": "string"},
            "outputs": {"type": "array", "items": tensor},
        },
    }


def prediction_schema(signature: Signature) -> dict[str, Any]:
    if signature.input_kind == "forecast":
        return forecast_openapi.predictions_schema(signature)
    predicted = next((o for o in signature.outputs if o.get("name") == "predictions"), {})
    item = {"type": [json_type(str(predicted.get("dtype", "string"))), "null"]}
    props: dict[str, Any] = {"predictions": {"type": "array", "items": item}}
    if signature.has_proba:
        row = {"type": "array", "items": {"type": ["number", "null"]}}
        props["probabilities"] = {
            "type": "array",
            "items": row,
            "description": f"per class, in order {list(signature.classes or ())}",
        }
    return {"type": "object", "required": ["predictions"], "properties": props}
