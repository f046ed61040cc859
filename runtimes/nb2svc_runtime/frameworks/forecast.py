"""Forecasting models: statsmodels time-series results (SARIMAX, ARIMA, Holt-Winters, ETS...).

A forecaster takes a horizon, not a feature matrix: an instance is `{"steps": 12}` (plus
`"exog"` rows when the model was fitted with exogenous columns) and its answer is the
forecast with its index and, where the model gives them, 95% intervals (USAGE.md).

Shared by both sides, so only the standard library is imported eagerly: recognising a
forecaster, the signature's "forecast" section (`forecast_spec`) and running a forecast
(`run_forecast`). Capture's side (the section and the sample) is in
train/forecast_capture.py; request decoding and the protocol shapes are in
serve/forecast_api.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..artifact.format import ArtifactError, Feature, Signature, _feature
from ..artifact.signature import to_native

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


def attribute(obj: Any, name: str) -> Any:
    """`obj.name`, or None when it is missing or computing it raises."""
    try:
        return getattr(obj, name)
    except Exception:
        return None


def is_forecaster(model: Any) -> bool:
    """Fitted statsmodels time-series results (they have `.model` and `.forecast`)."""
    inner = attribute(model, "model")
    return (
        inner is not None
        and TIME_SERIES_MODEL in _lineage(inner)
        and callable(attribute(model, "forecast"))
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
            and attribute(value, "model") is spec
            and attribute(value, "params") is not None
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
