"""Serve side: the OpenAPI document (GET /openapi.json), generated from the signature; the
bodies' schemas are in serve/openapi_schemas.py, the /docs page in serve/docs_page.py."""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..artifact.format import Signature
from ..artifact.signature import v2_datatype
from . import forecast_openapi, openapi_schemas

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "details"],
    "properties": {"error": {"type": "string"}, "details": {"type": "array", "items": {}}},
}
ERROR = {"$ref": "#/components/schemas/Error"}
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
        "/": _get(
            "Where to start (and KServe's root liveness: status alive)",
            _json(
                _status(
                    "status", "name", "ready", status={"const": "alive"}, name=string, ready=boolean
                )
            ),
        ),
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
        v2_example = forecast_openapi.v2_example(signature, (instances or [{}])[0])
    csv = (
        None
        if signature.input_kind == "forecast"
        else openapi_schemas.csv_schema(signature, max_rows, instances)
    )
    schemas: dict[str, Any] = {
        "Instance": openapi_schemas.instance_schema(signature),
        "Predictions": openapi_schemas.prediction_schema(signature),
        "Error": ERROR_SCHEMA,
    }
    if signature.input_kind != "forecast":
        schemas["Record"] = openapi_schemas.record_schema(signature)
        schemas["Row"] = openapi_schemas.row_schema(signature)
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
                    openapi_schemas.v1_body(signature, max_rows),
                    {"instances": instances},
                    response,
                )
            },
            "/invocations": {
                "post": _json_op(
                    "MLflow scoring protocol",
                    openapi_schemas.mlflow_body(signature, max_rows),
                    {"dataframe_records": instances},
                    response,
                    csv,
                )
            },
            f"/v2/models/{name}/infer": {
                "post": _json_op(
                    "Open Inference Protocol v2",
                    openapi_schemas.v2_body(signature),
                    v2_example,
                    openapi_schemas.v2_response(signature),
                )
            },
            **_metadata_paths(signature),
        },
        "components": {"schemas": schemas},
    }
