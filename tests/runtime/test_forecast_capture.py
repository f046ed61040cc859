"""save_model on a fitted forecaster: the signature comes from the fitted model (endog,
index, exog, intervals), the sample is a forecast, and the saved model forecasts the same."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from nb2svc_runtime.artifact.format import load_artifact
from nb2svc_runtime.train.capture import save_model

from .models import monthly_sales

pytest.importorskip("statsmodels", reason="forecasting models need statsmodels")
from statsmodels.tsa.ar_model import AutoReg
from statsmodels.tsa.arima.model import ARIMA
from statsmodels.tsa.exponential_smoothing.ets import ETSModel
from statsmodels.tsa.statespace.sarimax import SARIMAX
from statsmodels.tsa.statespace.varmax import VARMAX

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # statsmodels fit notes


def read(directory: Path, name: str) -> Any:
    return json.loads((directory / name).read_text())


def saved(namespace: dict[str, Any], tmp_path: Path, variable: str | None = None) -> Path:
    out = tmp_path / "model"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' convergence chatter
        save_model(namespace, variable=variable, name="sales", out_dir=out)
    return out


def test_a_sarimax_signature_is_taken_from_the_fitted_model(
    forecaster_dirs: dict[str, Path],
) -> None:
    sig = read(forecaster_dirs["sarimax"], "signature.json")
    assert (sig["task"], sig["input_kind"], sig["framework"]) == (
        "forecast",
        "forecast",
        "statsmodels",
    )
    assert sig["variable"] == "results", "the fitted results, not the SARIMAX specification"
    assert sig["inputs"] == [
        {"name": "steps", "dtype": "int64", "pandas_dtype": "int64", "nullable": False}
    ]
    assert [o["name"] for o in sig["outputs"]] == ["index", "mean", "lower", "upper"]
    forecast = sig["forecast"]
    assert forecast["model"] == "statsmodels.tsa.statespace.sarimax.SARIMAX"
    assert forecast["endog"] == "sales"
    assert forecast["index"] == {
        "kind": "datetime", "freq": "MS", "last": "2024-12-01T00:00:00", "nobs": 72,
    }  # fmt: skip
    assert (forecast["exog"], forecast["method"], forecast["interval_level"]) == (
        [],
        "get_forecast",
        0.95,
    )


def test_the_sample_is_a_twelve_step_forecast_with_its_dates_and_intervals(
    forecaster_dirs: dict[str, Path], forecasters: dict[str, dict[str, Any]]
) -> None:
    sample = read(forecaster_dirs["sarimax"], "sample.json")
    assert sample["inputs"] == [{"steps": 12}]
    (forecast,) = sample["predictions"]
    live = forecasters["sarimax"]["results"].get_forecast(12).summary_frame(alpha=0.05)
    assert forecast["index"][:2] == ["2025-01-01T00:00:00", "2025-02-01T00:00:00"]
    assert forecast["mean"] == live["mean"].tolist()
    assert forecast["lower"] == live["mean_ci_lower"].tolist()
    assert forecast["upper"] == live["mean_ci_upper"].tolist()


def test_exog_columns_and_dtypes_come_from_the_fit_and_the_sample_carries_exog_rows(
    forecaster_dirs: dict[str, Path], forecasters: dict[str, dict[str, Any]]
) -> None:
    sig = read(forecaster_dirs["sarimax-exog"], "signature.json")
    assert [(f["name"], f["dtype"]) for f in sig["forecast"]["exog"]] == [
        ("promo", "int64"),
        ("price", "float64"),
    ]
    (instance,) = read(forecaster_dirs["sarimax-exog"], "sample.json")["inputs"]
    exog = forecasters["sarimax-exog"]["exog"]
    assert instance["steps"] == 12
    assert instance["exog"] == exog.tail(12).to_dict(orient="records"), "the last training rows"


def test_holt_winters_gives_point_forecasts_without_intervals(
    forecaster_dirs: dict[str, Path],
) -> None:
    sig = read(forecaster_dirs["holt-winters"], "signature.json")
    assert sig["variable"] == "model_fit"
    assert (sig["forecast"]["method"], sig["forecast"]["interval_level"]) == ("forecast", None)
    assert [o["name"] for o in sig["outputs"]] == ["index", "mean"]
    (forecast,) = read(forecaster_dirs["holt-winters"], "sample.json")["predictions"]
    assert sorted(forecast) == ["index", "mean"]


@pytest.mark.parametrize("name", ["sarimax", "sarimax-exog", "holt-winters"])
def test_the_saved_forecaster_loads_back_and_forecasts_the_same(
    name: str, forecaster_dirs: dict[str, Path], forecasters: dict[str, dict[str, Any]]
) -> None:
    artifact = load_artifact(forecaster_dirs[name])
    live = next(v for k, v in forecasters[name].items() if k in ("results", "model_fit"))
    extra = {"exog": forecasters[name]["exog"].tail(5)} if name == "sarimax-exog" else {}
    assert np.array_equal(artifact.model.forecast(5, **extra), live.forecast(5, **extra))


@pytest.mark.parametrize(
    ("make", "method", "level"),
    [
        (lambda y: ARIMA(y, order=(1, 1, 1)).fit(), "get_forecast", 0.95),
        (lambda y: ETSModel(y, error="add", trend="add").fit(disp=False), "get_prediction", 0.95),
        (lambda y: AutoReg(y, lags=2).fit(), "get_prediction", 0.95),
    ],
    ids=["arima", "ets", "autoreg"],
)
def test_other_statsmodels_forecasters_are_served_with_their_intervals(
    make: Any, method: str, level: float, tmp_path: Path
) -> None:
    out = saved({"model_fit": make(monthly_sales())}, tmp_path)
    forecast = read(out, "signature.json")["forecast"]
    assert (forecast["method"], forecast["interval_level"]) == (method, level)
    (answer,) = read(out, "sample.json")["predictions"]
    assert len(answer["lower"]) == 12
    bounds = zip(answer["lower"], answer["mean"], answer["upper"], strict=True)
    assert all(lo < m < up for lo, m, up in bounds)


def test_an_integer_index_continues_after_the_last_observation(tmp_path: Path) -> None:
    y = pd.Series(monthly_sales().to_numpy(), name="demand")  # RangeIndex 0..71
    out = saved({"results": SARIMAX(y, order=(1, 0, 0)).fit(disp=False)}, tmp_path)
    assert read(out, "signature.json")["forecast"]["index"]["kind"] == "integer"
    assert read(out, "sample.json")["predictions"][0]["index"][:3] == [72, 73, 74]


def test_an_array_without_index_is_numbered_by_position(tmp_path: Path) -> None:
    out = saved(
        {"results": SARIMAX(monthly_sales().to_numpy(), order=(1, 0, 0)).fit(disp=False)}, tmp_path
    )
    sig = read(out, "signature.json")["forecast"]
    assert (sig["endog"], sig["index"]["kind"]) == ("y", "position")
    assert read(out, "sample.json")["predictions"][0]["index"][:2] == [72, 73]


def test_a_variable_naming_the_specification_saves_the_results_of_its_fit(tmp_path: Path) -> None:
    model = SARIMAX(monthly_sales(), order=(1, 0, 0))
    out = saved({"model": model, "res": model.fit(disp=False)}, tmp_path, variable="model")
    assert any("saved `res`, its fit" in w for w in read(out, "signature.json")["warnings"])


def test_a_specification_never_fitted_is_refused_with_what_to_serve(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"never fitted; serve the results of its fit"):
        saved({"model": SARIMAX(monthly_sales(), order=(1, 0, 0))}, tmp_path, variable="model")


def test_a_multi_series_forecaster_is_refused(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": monthly_sales(), "b": monthly_sales().shift(1).bfill()})
    with pytest.raises(SystemExit, match="one-series forecasters"):
        saved({"results": VARMAX(frame, order=(1, 0)).fit(maxiter=5, disp=False)}, tmp_path)


def test_exog_is_refused_for_a_forecaster_that_cannot_forecast_with_it(tmp_path: Path) -> None:
    y = monthly_sales()
    exog = pd.DataFrame({"promo": np.arange(len(y)) % 2}, index=y.index)
    with pytest.raises(SystemExit, match="state-space models only"):
        saved({"results": AutoReg(y, lags=1, exog=exog).fit()}, tmp_path)
