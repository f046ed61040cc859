"""Serve side: the OpenAPI document and the /docs page, generated from the signature."""

from __future__ import annotations

import html
import json
from typing import Any

from . import __version__, forecast_api
from .artifact import Feature, Signature
from .signature import json_type

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "details"],
    "properties": {"error": {"type": "string"}, "details": {"type": "array", "items": {}}},
}


def feature_schema(feature: Feature) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": json_type(feature.dtype)}
    if feature.dtype == "datetime":
        schema["format"] = "date-time"
    if feature.closed:
        schema["enum"] = list(feature.categories or ())
    elif feature.categories:
        schema["examples"] = list(feature.categories[:10])
    if feature.nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


def _instance_schema(signature: Signature) -> dict[str, Any]:
    if signature.input_kind == "forecast":
        return forecast_api.instance_schema(signature, feature_schema)
    props = {f.name: feature_schema(f) for f in signature.inputs}
    as_object = {
        "type": "object",
        "properties": props,
        "required": signature.names,
        "additionalProperties": False,
    }
    as_list = {
        "type": "array",
        "prefixItems": list(props.values()),
        "minItems": len(props),
        "maxItems": len(props),
    }
    return {"oneOf": [as_object, as_list]}


def _prediction_schema(signature: Signature) -> dict[str, Any]:
    if signature.input_kind == "forecast":
        return forecast_api.predictions_schema(signature)
    predicted = next((o for o in signature.outputs if o.get("name") == "predictions"), {})
    item = {"type": json_type(str(predicted.get("dtype", "string")))}
    props: dict[str, Any] = {"predictions": {"type": "array", "items": item}}
    if signature.has_proba:
        row = {"type": "array", "items": {"type": "number"}}
        props["probabilities"] = {
            "type": "array",
            "items": row,
            "description": f"per class, in order {list(signature.classes or ())}",
        }
    return {"type": "object", "required": ["predictions"], "properties": props}


def _json_op(
    summary: str, body: dict[str, Any], example: Any, response: dict[str, Any]
) -> dict[str, Any]:
    errors = {"$ref": "#/components/schemas/Error"}
    return {
        "summary": summary,
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": body, "example": example}},
        },
        "responses": {
            "200": {
                "description": "Predictions",
                "content": {"application/json": {"schema": response}},
            },
            **{
                code: {"description": text, "content": {"application/json": {"schema": errors}}}
                for code, text in (
                    ("400", "Malformed request"),
                    ("413", "Body too large"),
                    ("415", "Unsupported content type"),
                    ("422", "Input does not fit the signature"),
                    ("503", "Not ready or overloaded"),
                )
            },
        },
    }


def _health(summary: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "responses": {"200": {"description": "OK"}, "503": {"description": "Not ready"}},
        }
    }


def openapi_document(signature: Signature, sample: dict[str, Any]) -> dict[str, Any]:
    name = signature.name
    rows = sample.get("inputs") or []
    instances = rows[:2]
    instance_list = {"type": "array", "items": {"$ref": "#/components/schemas/Instance"}}
    v1_body = {
        "type": "object",
        "required": ["instances"],
        "properties": {"instances": instance_list},
    }
    mlflow_body = {
        "type": "object",
        "properties": {
            "dataframe_records": instance_list,
            "dataframe_split": {"type": "object"},
            "instances": instance_list,
            "inputs": {},
        },
    }
    response = {"$ref": "#/components/schemas/Predictions"}
    v2_example = {
        "inputs": [
            {
                "name": f.name,
                "shape": [len(instances)],
                "datatype": _v2(f),
                "data": [r.get(f.name) for r in instances],
            }
            for f in signature.inputs
        ]
    }
    if signature.input_kind == "forecast":
        v2_example = forecast_api.v2_example(signature, (instances or [{}])[0])
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{name} model server",
            "version": __version__,
            "description": f"{signature.cls} ({signature.task}) served by nb2svc",
        },
        "paths": {
            f"/v1/models/{name}:predict": {
                "post": _json_op("KServe v1 predict", v1_body, {"instances": instances}, response)
            },
            "/invocations": {
                "post": _json_op(
                    "MLflow scoring protocol",
                    mlflow_body,
                    {"dataframe_records": instances},
                    response,
                )
            },
            f"/v2/models/{name}/infer": {
                "post": _json_op(
                    "Open Inference Protocol v2", {"type": "object"}, v2_example, {"type": "object"}
                )
            },
            "/livez": _health("Process is up"),
            "/readyz": _health("Model loaded and warmed"),
            "/healthz": _health("Alias of /readyz"),
            f"/v1/models/{name}": _health("Model status"),
            "/v2/health/live": _health("v2 liveness"),
            "/v2/health/ready": _health("v2 readiness"),
            f"/v2/models/{name}": _health("v2 model metadata"),
            f"/v2/models/{name}/ready": _health("v2 model readiness"),
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text exposition"}},
                }
            },
        },
        "components": {
            "schemas": {
                "Instance": _instance_schema(signature),
                "Predictions": _prediction_schema(signature),
                "Error": ERROR_SCHEMA,
            }
        },
    }


def _v2(feature: Feature) -> str:
    from .signature import v2_datatype

    return v2_datatype(feature.dtype)


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
