"""Train side of forecasting models (frameworks/forecast.py): the signature's "forecast"
section and the sample, written by capture."""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .. import __version__
from ..artifact.signature import FORMAT_VERSION, logical_dtype, to_native
from ..frameworks.forecast import (
    EXOG,
    FORECAST,
    INTERVAL_LEVEL,
    SAMPLE_STEPS,
    STEPS,
    STEPS_INPUT,
    ForecastSpec,
    exog_matrix,
    parse_forecast,
    run_forecast,
)
from ..frameworks.forecast import attribute as _attr
from .introspect import CaptureError


def _needs_exog(inner: Any) -> int:
    k_exog = _attr(inner, "k_exog")
    if isinstance(k_exog, int):
        return k_exog
    exog = _attr(inner, "exog")
    return 0 if exog is None else int(getattr(exog, "shape", (0, 1))[-1] or 1)


def _exog_frame(inner: Any, names: list[str]) -> Any:
    """The exog the notebook passed (a DataFrame keeps its dtypes), or None."""
    for candidate in (_attr(inner, "_input_exog"), _attr(_attr(inner, "data"), "orig_exog")):
        if type(candidate).__name__ == "DataFrame" and [str(c) for c in candidate.columns] == names:
            return candidate
    return None


def _exog_specs(inner: Any, k_exog: int) -> tuple[list[dict[str, Any]], Any]:
    import numpy as np

    names = [str(n) for n in list(_attr(inner, "exog_names") or [])[-k_exog:]]
    if len(names) != k_exog:
        names = [f"x{i + 1}" for i in range(k_exog)]
    frame = _exog_frame(inner, names)
    if frame is not None:
        specs = [
            {"name": n, "dtype": logical_dtype(frame[n].dtype), "pandas_dtype": str(frame[n].dtype),
             "nullable": False}
            for n in names
        ]  # fmt: skip
        return specs, frame.astype(object).values.tolist()
    matrix = np.asarray(_attr(inner, "exog"), dtype="float64")[:, -k_exog:]
    specs = [
        {"name": n, "dtype": "float64", "pandas_dtype": "float64", "nullable": False} for n in names
    ]
    return specs, matrix.tolist()


def _index_section(model: Any, inner: Any, k_exog: int) -> dict[str, Any]:
    index = _attr(inner, "_index")
    kind = type(index).__name__
    nobs = len(_attr(inner, "endog"))
    probe = model.forecast(1, **({"exog": [[0.0] * k_exog]} if k_exog else {}))
    if isinstance(probe, tuple):  # arima_model: arrays without an index; dated by the data's
        freq = _attr(index, "freqstr")
        if kind == "DatetimeIndex" and freq:
            return {"kind": "datetime", "last": to_native(index[-1]), "freq": freq, "nobs": nobs}
        return {"kind": "position", "freq": None, "last": nobs - 1, "nobs": nobs}
    if not hasattr(probe, "index"):
        return {"kind": "position", "freq": None, "last": nobs - 1, "nobs": nobs}
    forecast_kind = type(probe.index).__name__
    if forecast_kind == "DatetimeIndex":
        section = {
            "kind": "datetime",
            "last": to_native(index[-1]) if kind == forecast_kind else None,
        }
    elif forecast_kind == "PeriodIndex":
        section = {"kind": "period", "last": str(index[-1]) if kind == forecast_kind else None}
    else:
        section = {"kind": "integer", "last": int(probe.index[0]) - 1}
    return {**section, "freq": _attr(index, "freqstr"), "nobs": nobs}


def _method(model: Any, inner: Any, k_exog: int) -> str:
    if callable(_attr(model, "get_forecast")):
        return "get_forecast"
    if k_exog:
        raise CaptureError(
            f"{type(inner).__name__} was fitted with exogenous columns, which nb2svc serves for "
            "state-space models only (SARIMAX, ARIMA, UnobservedComponents); fit one of those "
            "with exog=..., or fit this model without exog"
        )
    if callable(_attr(model, "get_prediction")):
        return "get_prediction"
    if type(inner).__module__ == "statsmodels.tsa.arima_model":
        return "legacy_forecast"
    return "forecast"


def _interval_level(model: Any, spec: ForecastSpec) -> float | None:
    """INTERVAL_LEVEL when the model's forecasts come with intervals, else None."""
    if spec.method == "forecast":
        return None
    probe = replace(spec, level=INTERVAL_LEVEL)
    exog = exog_matrix([[0.0] * len(spec.exog)], len(spec.exog)) if spec.exog else None
    answer = run_forecast(model, probe, 1, exog)
    return INTERVAL_LEVEL if "lower" in answer else None


def describe_forecaster(
    model: Any, variable: str, name: str
) -> tuple[dict[str, Any], dict[str, Any], Callable[[Any], list[Any]]]:
    """Signature and sample of a forecaster, and the function forecasting the sample
    with a model (capture compares the saved model's answers with the live one's)."""
    inner = model.model
    endog = _attr(inner, "endog")
    if getattr(endog, "ndim", 1) > 1 and endog.shape[1] > 1:
        raise CaptureError(
            f"{type(inner).__name__} forecasts several series at once; nb2svc serves "
            "one-series forecasters (SARIMAX, ARIMA, ExponentialSmoothing, ETSModel, AutoReg)"
        )
    k_exog = _needs_exog(inner)
    exog_specs, exog_rows = _exog_specs(inner, k_exog) if k_exog else ([], [])
    section: dict[str, Any] = {
        "model": f"{type(inner).__module__}.{type(inner).__qualname__}",
        "endog": str(_attr(inner, "endog_names") or "y"),
        "index": _index_section(model, inner, k_exog),
        "exog": exog_specs,
        "method": _method(model, inner, k_exog),
        "interval_level": None,
    }
    section["interval_level"] = _interval_level(model, parse_forecast(section))
    spec = parse_forecast(section)
    steps = min(SAMPLE_STEPS, len(exog_rows)) if k_exog else SAMPLE_STEPS
    instance: dict[str, Any] = {STEPS: steps}
    if k_exog:  # the last training rows: the shape of a request, not real future values
        names = [s["name"] for s in exog_specs]
        instance[EXOG] = [dict(zip(names, to_native(row))) for row in exog_rows[-steps:]]
    instances = [instance]

    def forecast_sample(fitted: Any) -> list[Any]:
        out = []
        for item in instances:
            rows = [[row[n] for n in spec.exog_names] for row in item.get(EXOG) or []] or None
            out.append(run_forecast(fitted, spec, item[STEPS], exog_matrix(rows, len(spec.exog))))
        return out

    predictions = forecast_sample(model)
    outputs = [{"name": "index", "dtype": _index_dtype(spec), "shape": [-1]}]
    outputs += [{"name": o, "dtype": "float64", "shape": [-1]} for o in spec.outputs[1:]]
    signature = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "variable": variable,
        "framework": "statsmodels",
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "task": FORECAST,
        "input_kind": FORECAST,
        "inputs": [dict(STEPS_INPUT)],
        "outputs": outputs,
        "classes": None,
        FORECAST: section,
        "python_version": platform.python_version(),
        "runtime_version": __version__,
        "warnings": [],
    }
    return signature, {"inputs": instances, "predictions": predictions}, forecast_sample


def _index_dtype(spec: ForecastSpec) -> str:
    return "datetime" if spec.index_kind in ("datetime", "period") else "int64"
