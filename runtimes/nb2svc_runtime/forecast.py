"""Forecasting models: statsmodels time-series results (SARIMAX, ARIMA, Holt-Winters, ETS...).

A forecaster takes a horizon, not a feature matrix: an instance is `{"steps": 12}` (plus
`"exog"` rows when the model was fitted with exogenous columns) and its answer is the
forecast with its index and, where the model gives them, 95% intervals (USAGE.md).

Shared by both sides, so only the standard library is imported eagerly: capture
(`describe_forecaster`, the signature's "forecast" section and the sample) and the server
(`forecast_spec`, `run_forecast`). Request decoding and the protocol shapes are in
forecast_api.py (server side only).
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from . import __version__
from .artifact import ArtifactError, Feature, Signature, _feature
from .introspect import CaptureError
from .signature import FORMAT_VERSION, logical_dtype, to_native

FORECAST = "forecast"  # the task and the input_kind of a forecaster
STEPS = "steps"
EXOG = "exog"
INTERVAL_LEVEL = 0.95
SAMPLE_STEPS = 12
# "legacy_forecast": statsmodels.tsa.arima_model (before 0.13), whose forecast(steps) gives
# (mean, stderr, conf_int) arrays without an index.
METHODS = ("get_forecast", "get_prediction", "forecast", "legacy_forecast")
INDEX_KINDS = ("datetime", "period", "integer", "position")
TIME_SERIES_MODEL = "statsmodels.tsa.base.tsa_model.TimeSeriesModel"
STATSMODELS_MODEL = "statsmodels.base.model.Model"
STEPS_INPUT = {"name": STEPS, "dtype": "int64", "pandas_dtype": "int64", "nullable": False}


def _lineage(value: Any) -> set[str]:
    return {f"{k.__module__}.{k.__qualname__}" for k in type(value).__mro__}


def _attr(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name)
    except Exception:
        return None


def is_forecaster(model: Any) -> bool:
    """Fitted statsmodels time-series results (they have `.model` and `.forecast`)."""
    inner = _attr(model, "model")
    return (
        inner is not None
        and TIME_SERIES_MODEL in _lineage(inner)
        and callable(_attr(model, "forecast"))
    )


def is_unfitted_statsmodels(value: Any) -> bool:
    """A statsmodels model specification (`SARIMAX(y, ...)`, `smf.ols(...)`) before `.fit()`:
    it has `predict(params, ...)` but no parameters of its own."""
    return STATSMODELS_MODEL in _lineage(value)


def fitted_results_of(namespace: dict[str, Any], spec: Any) -> tuple[str, Any] | None:
    """The notebook variable holding `spec.fit()`'s results (`results.model is spec`)."""
    for name, value in reversed(list(namespace.items())):
        if (
            not name.startswith("_")
            and _attr(value, "model") is spec
            and _attr(value, "params") is not None
        ):
            return name, value
    return None


# --- the signature's "forecast" section ------------------------------------------------------


@dataclass(frozen=True)
class ForecastSpec:
    """What signature.json says about a forecaster (see ARTIFACT.md)."""

    endog: str
    index_kind: str
    freq: str | None
    last: Any
    nobs: int
    exog: tuple[Feature, ...]
    method: str
    level: float | None  # the intervals' coverage, None without intervals

    @property
    def exog_names(self) -> list[str]:
        return [f.name for f in self.exog]

    @property
    def outputs(self) -> list[str]:
        return ["index", "mean", "lower", "upper"] if self.level else ["index", "mean"]


def forecast_spec(signature: Signature) -> ForecastSpec:
    """The checked "forecast" section of a forecaster's signature."""
    return parse_forecast(signature.raw.get(FORECAST))


def parse_forecast(raw: Any) -> ForecastSpec:
    if not isinstance(raw, dict):
        raise ArtifactError('signature.json: a forecaster needs a "forecast" object')
    try:
        index = raw["index"]
        spec = ForecastSpec(
            endog=str(raw["endog"]),
            index_kind=str(index["kind"]),
            freq=None if index.get("freq") is None else str(index["freq"]),
            last=index.get("last"),
            nobs=int(index["nobs"]),
            exog=tuple(_feature(item) for item in raw.get("exog") or ()),
            method=str(raw["method"]),
            level=None if raw.get("interval_level") is None else float(raw["interval_level"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ArtifactError(f'signature.json: bad "forecast" section ({exc!r})') from None
    if spec.method not in METHODS or spec.index_kind not in INDEX_KINDS:
        raise ArtifactError(f'signature.json: bad "forecast" section {raw!r}')
    return spec


# --- running a forecast ------------------------------------------------------------------------


def _frame_columns(frame: Any) -> tuple[Any, Any, Any]:
    """(mean, lower, upper) of a statsmodels summary_frame (mean_ci_* or pi_* columns)."""
    columns = [str(c) for c in frame.columns]
    lower = next((c for c in columns if c.endswith("lower")), None)
    upper = next((c for c in columns if c.endswith("upper")), None)
    if lower is None or upper is None:
        return frame["mean"], None, None
    return frame["mean"], frame[lower], frame[upper]


def _index(values: Any, spec: ForecastSpec, steps: int) -> list[Any]:
    """The forecast's index: ISO 8601 strings for dates (a period's start), else integers."""
    index = getattr(values, "index", None)
    if spec.index_kind == "period" and index is not None:
        index = index.to_timestamp()
    if spec.index_kind in ("datetime", "period") and index is not None:
        return [stamp.isoformat() for stamp in index]
    if spec.index_kind == "integer" and index is not None:
        return [int(i) for i in index]
    if spec.index_kind == "datetime" and spec.freq and spec.last is not None:  # no index given
        import pandas as pd

        dates = pd.date_range(pd.Timestamp(spec.last), periods=steps + 1, freq=spec.freq)[1:]
        return [stamp.isoformat() for stamp in dates]
    return list(range(spec.nobs, spec.nobs + steps))


def _floats(values: Any) -> list[Any]:
    import numpy as np

    return to_native(np.asarray(values, dtype="float64").tolist())  # type: ignore[no-any-return]


def run_forecast(model: Any, spec: ForecastSpec, steps: int, exog: Any = None) -> dict[str, Any]:
    """One forecast `steps` periods past the end of the training data, as JSON values."""
    extra = {} if exog is None else {"exog": exog}
    alpha = 1 - (spec.level or INTERVAL_LEVEL)
    if spec.method == "get_forecast":
        frame = model.get_forecast(steps, **extra).summary_frame(alpha=alpha)
    elif spec.method == "get_prediction":
        end = spec.nobs + steps - 1
        frame = model.get_prediction(start=spec.nobs, end=end).summary_frame(alpha=alpha)
    elif spec.method == "legacy_forecast":
        mean, _stderr, bounds = model.forecast(steps, alpha=alpha)
        answer = {"index": _index(None, spec, steps), "mean": _floats(mean)}
        if spec.level:
            answer.update(lower=_floats(bounds[:, 0]), upper=_floats(bounds[:, 1]))
        return answer
    else:
        values = model.forecast(steps)
        return {"index": _index(values, spec, steps), "mean": _floats(values)}
    mean, lower, upper = _frame_columns(frame)
    answer = {"index": _index(frame, spec, steps), "mean": _floats(mean)}
    if spec.level and lower is not None:
        answer.update(lower=_floats(lower), upper=_floats(upper))
    return answer


def exog_matrix(rows: Sequence[Sequence[Any]] | None, width: int) -> Any:
    """Validated exog rows (values in signature order) as the float array statsmodels takes."""
    if rows is None:
        return None
    import numpy as np

    return np.array(rows, dtype="float64").reshape(len(rows), width)


# --- capture: the signature and the sample -------------------------------------------------------


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
