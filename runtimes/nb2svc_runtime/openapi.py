"""Serve side: the OpenAPI document and the /docs page, generated from the signature."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from typing import Any

from . import __version__, forecast_api, v2
from .artifact import Feature, Signature
from .schema import FLOAT_LIMITS, INT_BOUNDS
from .signature import json_type, v2_datatype

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "details"],
    "properties": {"error": {"type": "string"}, "details": {"type": "array", "items": {}}},
}
ERROR = {"$ref": "#/components/schemas/Error"}
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
DEFAULT_MAX_ROWS = 1000  # config.py's MAX_ROWS default
# The answers every prediction endpoint can give besides 200 (USAGE.md, "Errors are ...").
PREDICT_ERRORS = (
    ("400", "Malformed request: not JSON, or not the protocol's body"),
    ("413", "Body too large (MAX_BODY_BYTES)"),
    ("415", "Unsupported content type"),
    ("422", "Input does not fit the signature (details name the row and field)"),
    ("500", "The model failed on this input (see the server log)"),
    ("503", "Not ready, or overloaded (with Retry-After)"),
)
RETRY_AFTER = {
    "description": "seconds to wait before retrying",
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}
# The probes are BentoML's own in the bentoml runtime: plain text there, JSON here.
PROBE_BODY = {"application/json": {"schema": {"type": "object"}}, "text/plain": {}}


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


def _record_schema(signature: Signature) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {f.name: feature_schema(f) for f in signature.inputs},
        "required": signature.names,
        "additionalProperties": False,
    }


def _row_schema(signature: Signature) -> dict[str, Any]:
    width = len(signature.inputs)
    return {
        "type": "array",
        "prefixItems": [feature_schema(f) for f in signature.inputs],
        "minItems": width,
        "maxItems": width,
    }


def _instance_schema(signature: Signature) -> dict[str, Any]:
    if signature.input_kind == "forecast":
        return forecast_api.instance_schema(signature, feature_schema)
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


def _csv_schema(signature: Signature, max_rows: int, examples: list[Any]) -> dict[str, Any]:
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


def _v1_body(signature: Signature, max_rows: int) -> dict[str, Any]:
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


def _mlflow_body(signature: Signature, max_rows: int) -> dict[str, Any]:
    """MLflow scoring: exactly one of its four keys, plus optional `params`."""
    v1 = _v1_body(signature, max_rows)["properties"]
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


def _v2_body(signature: Signature) -> dict[str, Any]:
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


def _v2_response(signature: Signature) -> dict[str, Any]:
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


def _prediction_schema(signature: Signature) -> dict[str, Any]:
    if signature.input_kind == "forecast":
        return forecast_api.predictions_schema(signature)
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


def _error_response(code: str, text: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": text,
        "content": {"application/json": {"schema": ERROR}},
    }
    if code == "503":
        response["headers"] = {"Retry-After": RETRY_AFTER}
    return response


def _json_op(
    summary: str,
    body: dict[str, Any],
    example: Any,
    response: dict[str, Any],
    csv: dict[str, Any] | None = None,
) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": body, "example": example}}
    if csv is not None:
        content["text/csv"] = csv
    return {
        "summary": summary,
        "requestBody": {"required": True, "content": content},
        "responses": {
            "200": {
                "description": "Predictions",
                "content": {"application/json": {"schema": response}},
            },
            **{code: _error_response(code, text) for code, text in PREDICT_ERRORS},
        },
    }


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _get(
    summary: str, ok: dict[str, Any], not_ready: dict[str, Any] | None = None
) -> dict[str, Any]:
    responses = {"200": ok}
    if not_ready is not None:
        responses["503"] = not_ready
    return {"get": {"summary": summary, "responses": responses}}


def _status(*required: str, **props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": props}


def _probe(summary: str, ready: bool) -> dict[str, Any]:
    ok = {"description": "OK", "content": PROBE_BODY}
    not_ready = {"description": "Not ready (loading, or shutting down)", "content": PROBE_BODY}
    return _get(summary, ok, not_ready if ready else None)


def _metadata_paths(signature: Signature) -> dict[str, Any]:
    """The GET endpoints: probes, model status and metadata, documents."""
    name = signature.name
    boolean, string = {"type": "boolean"}, {"type": "string"}
    strings = {"type": "array", "items": string}
    tensors = {"type": "array", "items": {"type": "object"}}
    not_ready = _json({**ERROR_SCHEMA}, "Not ready (loading, or shutting down)")
    model_status = _status("name", "ready", name={"const": name}, ready=boolean)
    return {
        "/": _get("Where to start", _json(_status("name", "ready", name=string, ready=boolean))),
        "/livez": _probe("Process is up", ready=False),
        "/readyz": _probe("Model loaded and warmed in every worker", ready=True),
        "/healthz": _probe("Alias of /readyz", ready=True),
        "/ping": _get("MLflow readiness", _json(_status("ready", ready=boolean)), not_ready),
        "/v1/models": _get("KServe v1 model list", _json(_status("models", models=strings))),
        f"/v1/models/{name}": _get(
            "KServe v1 model status", _json(model_status), _json(ERROR_SCHEMA, "Not ready")
        ),
        "/v2": _get(
            "v2 server metadata",
            _json(_status("name", "version", "extensions", extensions=strings)),
        ),
        "/v2/health/live": _get("v2 liveness", _json(_status("live", live=boolean))),
        "/v2/health/ready": _get("v2 readiness", _json(_status("ready", ready=boolean)), not_ready),
        f"/v2/models/{name}": _get(
            "v2 model metadata",
            _json(
                _status("name", "platform", "inputs", "outputs", inputs=tensors, outputs=tensors)
            ),
        ),
        f"/v2/models/{name}/ready": _get(
            "v2 model readiness", _json(model_status), _json(model_status, "Not ready")
        ),
        "/metrics": _get(
            "Prometheus metrics",
            {"description": "text exposition", "content": {"text/plain": {}}},
        ),
        "/openapi.json": _get("This document", _json({"type": "object"})),
        "/docs": _get(
            "A page to try a prediction", {"description": "HTML", "content": {"text/html": {}}}
        ),
    }


def openapi_document(
    signature: Signature, sample: dict[str, Any], max_rows: int = DEFAULT_MAX_ROWS
) -> dict[str, Any]:
    """The server's contract (USAGE.md) for this signature; `max_rows` is MAX_ROWS."""
    name = signature.name
    rows = sample.get("inputs") or []
    instances = rows[:2]
    response = {"$ref": "#/components/schemas/Predictions"}
    v2_example = {
        "inputs": [
            {
                "name": f.name,
                "shape": [len(instances)],
                "datatype": v2_datatype(f.dtype),
                "data": [r.get(f.name) for r in instances],
            }
            for f in signature.inputs
        ]
    }
    if signature.input_kind == "forecast":
        v2_example = forecast_api.v2_example(signature, (instances or [{}])[0])
    csv = (
        None if signature.input_kind == "forecast" else _csv_schema(signature, max_rows, instances)
    )
    schemas: dict[str, Any] = {
        "Instance": _instance_schema(signature),
        "Predictions": _prediction_schema(signature),
        "Error": ERROR_SCHEMA,
    }
    if signature.input_kind != "forecast":
        schemas["Record"] = _record_schema(signature)
        schemas["Row"] = _row_schema(signature)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{name} model server",
            "version": __version__,
            "description": f"{signature.cls} ({signature.task}) served by nb2svc",
        },
        "paths": {
            f"/v1/models/{name}:predict": {
                "post": _json_op(
                    "KServe v1 predict",
                    _v1_body(signature, max_rows),
                    {"instances": instances},
                    response,
                )
            },
            "/invocations": {
                "post": _json_op(
                    "MLflow scoring protocol",
                    _mlflow_body(signature, max_rows),
                    {"dataframe_records": instances},
                    response,
                    csv,
                )
            },
            f"/v2/models/{name}/infer": {
                "post": _json_op(
                    "Open Inference Protocol v2",
                    _v2_body(signature),
                    v2_example,
                    _v2_response(signature),
                )
            },
            **_metadata_paths(signature),
        },
        "components": {"schemas": schemas},
    }


def _field_html(feature: Feature, value: Any) -> str:
    name = html.escape(feature.name)
    note = html.escape(feature.dtype) + (" · nullable" if feature.nullable else "")
    label = f'<label for="f-{name}">{name} <small>{note}</small></label>'
    attrs = f'id="f-{name}" name="{name}" data-dtype="{feature.dtype}"'
    if feature.dtype == "bool":
        checked = " checked" if value else ""
        return f'{label}<input type="checkbox" {attrs}{checked}>'
    if feature.categories:
        options = "".join(
            f"<option{' selected' if c == value else ''}>{html.escape(str(c))}</option>"
            for c in feature.categories
        )
        return f"{label}<select {attrs}>{options}</select>"
    kind = "number" if json_type(feature.dtype) in ("number", "integer") else "text"
    step = ' step="any"' if kind == "number" else ""
    shown = "" if value is None else html.escape(str(value), quote=True)
    return f'{label}<input type="{kind}"{step} {attrs} value="{shown}">'


_SCRIPT = """
const form = document.getElementById('row');
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const row = {};
  for (const el of form.querySelectorAll('[data-dtype]')) {
    const t = el.dataset.dtype;
    if (t === 'bool') { row[el.name] = el.checked; continue; }
    if (el.value === '') { row[el.name] = null; continue; }
    const numeric = t.startsWith('float') || t.startsWith('int') || t.startsWith('uint');
    row[el.name] = numeric ? Number(el.value) : el.value;
  }
  const out = document.getElementById('out');
  out.textContent = '...';
  try {
    const res = await fetch(form.dataset.url, {
      method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({instances: [row]})});
    out.textContent = res.status + '\\n' + JSON.stringify(await res.json(), null, 2);
  } catch (err) { out.textContent = String(err); }
});
"""


def docs_page(signature: Signature, sample: dict[str, Any]) -> str:
    """A self-contained page (no external assets) with a form per feature."""
    first = (sample.get("inputs") or [{}])[0]
    fields = "\n".join(f"<div>{_field_html(f, first.get(f.name))}</div>" for f in signature.inputs)
    name = html.escape(signature.name)
    example = html.escape(json.dumps({"instances": (sample.get("inputs") or [])[:1]}, indent=2))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{name}: try a prediction</title>
<style>body{{font-family:sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}}
form div{{display:grid;grid-template-columns:16rem 1fr;margin:.3rem 0}}
pre{{background:#f4f4f4;padding:1rem}}
button{{margin-top:1rem;padding:.4rem 1.2rem}}</style></head><body>
<h1>{name}</h1><p>{html.escape(signature.cls)} · {html.escape(signature.task)} ·
<a href="/openapi.json">openapi.json</a> · <a href="/metrics">metrics</a></p>
<form id="row" data-url="/v1/models/{name}:predict">{fields}
<button type="submit">Predict</button></form>
<h2>Response</h2><pre id="out">(fill in the row and press Predict)</pre>
<h2>Example request</h2><pre>POST /v1/models/{name}:predict
{example}</pre>
<script>{_SCRIPT}</script></body></html>"""
