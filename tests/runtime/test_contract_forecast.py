"""The forecast contract (USAGE.md, "Forecasting models") on every runtime and protocol.

A forecaster takes horizons: `{"instances": [{"steps": 3}]}` answers, for each instance, the
forecast with its dates and 95% intervals; a model fitted with exogenous columns takes one
exog row per step. Real statsmodels models (conftest.py) served by real servers.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from .server import ServerProcess
from .test_contract import assert_error
from .test_contract_openapi import assert_no_server_error

SERVED = ("sarimax", "sarimax-exog", "holt-winters")
EXOG_ROWS = [{"promo": 1, "price": 9.5}, {"promo": 0, "price": 10.25}, {"promo": 1, "price": 11.0}]


@pytest.fixture(scope="module")
def urls(
    runtime: str, forecaster_dirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """One server per forecaster for `runtime` (default, bentoml)."""
    with contextlib.ExitStack() as servers:
        served = {}
        for name in SERVED:
            server = ServerProcess(
                forecaster_dirs[name], tmp_path_factory.mktemp(f"{name}-{runtime}"), runtime=runtime
            )
            served[name] = servers.enter_context(server).url
        yield served


def predict(urls: dict[str, str], name: str, body: Any) -> httpx.Response:
    return httpx.post(f"{urls[name]}/v1/models/{name}:predict", json=body, timeout=30)


def live_forecast(results: Any, steps: int, exog: Any = None) -> dict[str, list[Any]]:
    frame = results.get_forecast(steps, exog=exog).summary_frame(alpha=0.05)
    return {
        "index": [t.isoformat() for t in frame.index],
        "mean": frame["mean"].tolist(),
        "lower": frame["mean_ci_lower"].tolist(),
        "upper": frame["mean_ci_upper"].tolist(),
    }


def assert_forecast(got: dict[str, Any], expected: dict[str, list[Any]]) -> None:
    assert got["index"] == expected["index"]
    for key in ("mean", "lower", "upper"):
        assert got[key] == pytest.approx(expected[key], rel=1e-12)


# --- KServe v1 --------------------------------------------------------------------------------


def test_v1_forecast_has_the_dates_the_mean_and_95_percent_intervals(
    urls: dict[str, str], forecasters: dict[str, dict[str, Any]]
) -> None:
    response = predict(urls, "sarimax", {"instances": [{"steps": 3}]})
    assert response.status_code == 200, response.text
    (forecast,) = response.json()["predictions"]
    assert forecast["index"] == [
        "2025-01-01T00:00:00",
        "2025-02-01T00:00:00",
        "2025-03-01T00:00:00",
    ]
    assert_forecast(forecast, live_forecast(forecasters["sarimax"]["results"], 3))


def test_each_instance_gets_its_own_horizon_and_a_bare_integer_is_a_horizon(
    urls: dict[str, str],
) -> None:
    body = {"instances": [{"steps": 1}, {"steps": 4}, 2]}
    forecasts = predict(urls, "sarimax", body).json()["predictions"]
    assert [len(f["mean"]) for f in forecasts] == [1, 4, 2]
    assert forecasts[1]["mean"][:2] == forecasts[2]["mean"], "the same model, the same start"


@pytest.mark.parametrize("name", SERVED)
def test_the_recorded_sample_request_answers_the_recorded_forecast(
    urls: dict[str, str], forecaster_dirs: dict[str, Path], name: str
) -> None:

    sample = json.loads((forecaster_dirs[name] / "sample.json").read_text())
    response = predict(urls, name, {"instances": sample["inputs"]})
    assert response.json()["predictions"] == sample["predictions"]


def test_exog_rows_as_objects_or_arrays_drive_the_forecast(
    urls: dict[str, str], forecasters: dict[str, dict[str, Any]]
) -> None:
    import pandas as pd

    expected = live_forecast(forecasters["sarimax-exog"]["results"], 3, pd.DataFrame(EXOG_ROWS))
    as_objects = {"instances": [{"steps": 3, "exog": EXOG_ROWS}]}
    as_arrays = {"instances": [{"exog": [[r["promo"], r["price"]] for r in EXOG_ROWS]}]}
    for body in (as_objects, as_arrays):
        response = predict(urls, "sarimax-exog", body)
        assert response.status_code == 200, response.text
        assert_forecast(response.json()["predictions"][0], expected)


def test_holt_winters_answers_point_forecasts_only(
    urls: dict[str, str], forecasters: dict[str, dict[str, Any]]
) -> None:
    (forecast,) = predict(urls, "holt-winters", {"instances": [{"steps": 2}]}).json()["predictions"]
    assert sorted(forecast) == ["index", "mean"]
    live = forecasters["holt-winters"]["model_fit"].forecast(2)
    assert forecast["mean"] == pytest.approx(live.tolist(), rel=1e-12)


# --- MLflow /invocations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_records": [{"steps": 3}]},
        {"dataframe_split": {"columns": ["steps"], "data": [[3]]}},
        {"instances": [{"steps": 3}]},
        {"inputs": {"steps": [3]}},
    ],
    ids=["dataframe_records", "dataframe_split", "instances", "inputs"],
)
def test_invocations_json_forms_answer_the_same_forecast(
    urls: dict[str, str], body: dict[str, Any]
) -> None:
    expected = predict(urls, "sarimax", {"instances": [{"steps": 3}]}).json()["predictions"]
    response = httpx.post(f"{urls['sarimax']}/invocations", json=body, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected}


def test_invocations_csv_has_a_steps_column(urls: dict[str, str]) -> None:
    response = httpx.post(
        f"{urls['sarimax']}/invocations",
        content=b"steps\n2\n5\n",
        headers={"Content-Type": "text/csv"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert [len(f["mean"]) for f in response.json()["predictions"]] == [2, 5]


def test_invocations_carry_exog_rows_in_records(urls: dict[str, str]) -> None:
    body = {"dataframe_records": [{"steps": 3, "exog": EXOG_ROWS}]}
    response = httpx.post(f"{urls['sarimax-exog']}/invocations", json=body, timeout=30)
    v1 = predict(urls, "sarimax-exog", {"instances": [{"steps": 3, "exog": EXOG_ROWS}]})
    assert response.json()["predictions"] == v1.json()["predictions"]


# --- Open Inference Protocol v2 ------------------------------------------------------------------


def test_v2_infer_answers_one_forecast_as_tensors(urls: dict[str, str]) -> None:
    body = {"inputs": [{"name": "steps", "shape": [1], "datatype": "INT64", "data": [3]}]}
    response = httpx.post(f"{urls['sarimax']}/v2/models/sarimax/infer", json=body, timeout=30)
    assert response.status_code == 200, response.text
    outputs = {t["name"]: t for t in response.json()["outputs"]}
    v1 = predict(urls, "sarimax", {"instances": [{"steps": 3}]}).json()["predictions"][0]
    assert list(outputs) == ["index", "mean", "lower", "upper"]
    assert (outputs["index"]["datatype"], outputs["mean"]["datatype"]) == ("BYTES", "FP64")
    assert {name: t["data"] for name, t in outputs.items()} == v1
    assert all(t["shape"] == [3] for t in outputs.values())


def test_v2_exog_columns_are_tensors_of_one_value_per_step(urls: dict[str, str]) -> None:
    body = {
        "inputs": [
            {
                "name": "promo",
                "shape": [3],
                "datatype": "INT64",
                "data": [r["promo"] for r in EXOG_ROWS],
            },
            {
                "name": "price",
                "shape": [3],
                "datatype": "FP64",
                "data": [r["price"] for r in EXOG_ROWS],
            },
        ],
        "outputs": [{"name": "mean"}],
    }
    url = f"{urls['sarimax-exog']}/v2/models/sarimax-exog/infer"
    outputs = httpx.post(url, json=body, timeout=30).json()["outputs"]
    v1 = predict(urls, "sarimax-exog", {"instances": [{"exog": EXOG_ROWS}]}).json()["predictions"]
    assert [(t["name"], t["data"]) for t in outputs] == [("mean", v1[0]["mean"])]


def test_v2_metadata_names_steps_the_exog_columns_and_the_forecast_outputs(
    urls: dict[str, str],
) -> None:
    meta = httpx.get(f"{urls['sarimax-exog']}/v2/models/sarimax-exog", timeout=30).json()
    assert [(t["name"], t["datatype"]) for t in meta["inputs"]] == [
        ("steps", "INT64"), ("promo", "INT64"), ("price", "FP64"),
    ]  # fmt: skip
    assert [t["name"] for t in meta["outputs"]] == ["index", "mean", "lower", "upper"]


# --- bad input: 4xx saying what is wrong and what to send -------------------------------------

SEND = '{\\"steps\\": 12}'  # the example instance, as the JSON error body spells it
EXOG = "sarimax-exog"


def instance(**fields: Any) -> dict[str, Any]:
    return {"instances": [fields]}


BAD_V1 = {
    "steps-missing": ("sarimax", instance(), ("'steps'", "missing", SEND)),
    "steps-negative": ("sarimax", instance(steps=-3), ("at least 1", "got -3")),
    "steps-zero": ("sarimax", instance(steps=0), ("at least 1",)),
    "steps-fraction": ("sarimax", instance(steps=2.5), ("whole number", "2.5")),
    "steps-string": ("sarimax", instance(steps="12"), ("whole number", "string '12'")),
    "steps-huge": ("sarimax", instance(steps=10**6), ("1000000 is more than", "MAX_ROWS")),
    "steps-total": ("sarimax", {"instances": [{"steps": 400}] * 3}, ("1200", "MAX_ROWS")),
    "no-instances": ("sarimax", {"instances": []}, ("no forecast asked for", SEND)),
    "not-an-object": ("sarimax", {"instances": [["x"]]}, ("must be an object", SEND)),
    "exog-not-fitted": ("sarimax", instance(steps=2, exog=EXOG_ROWS), ("'exog'", "unknown field")),
    "exog-missing": (
        EXOG,
        instance(steps=3),
        ("exogenous columns (promo, price)", '\\"exog\\": ['),
    ),
    "exog-count": (
        EXOG,
        instance(steps=3, exog=EXOG_ROWS[:2]),
        ("steps is 3 but exog has 2 rows",),
    ),
    "exog-unknown-column": (
        EXOG,
        instance(exog=[{"promo": 1, "prize": 9.5}]),
        ("exog[0].prize", "unknown exog column", "promo, price"),
    ),
    "exog-missing-column": (EXOG, instance(exog=[{"promo": 1}]), ("exog[0].price", "missing")),
    "exog-wrong-type": (
        EXOG,
        instance(exog=[{"promo": "yes", "price": 9.5}]),
        ("exog[0].promo", "expected an integer"),
    ),
    "exog-empty": (EXOG, instance(exog=[]), ("one row per step", "empty array")),
    "exog-row-width": (EXOG, instance(exog=[[1, 2, 3]]), ("must be an object with promo, price",)),
}


@pytest.mark.parametrize("case", BAD_V1.values(), ids=BAD_V1.keys())
def test_bad_forecast_requests_get_422_naming_the_problem_and_what_to_send(
    urls: dict[str, str], case: tuple[str, Any, tuple[str, ...]]
) -> None:
    name, body, words = case
    details = assert_error(predict(urls, name, body), 422, *words)["details"]
    if body["instances"] and "max_rows" not in details[0]:
        assert {"row", "field", "message"} <= set(details[0]), "details name instance and field"


def steps_tensor(name: str = "steps", data: tuple[int, ...] = (3,)) -> dict[str, Any]:
    return {"name": name, "shape": [len(data)], "datatype": "INT64", "data": list(data)}


BAD_V2 = {
    "two-horizons": ("sarimax", [steps_tensor(data=(3, 4))], ("shape [1]", "one forecast")),
    "unknown-tensor": ("sarimax", [steps_tensor("horizon")], ("unknown input", "expected steps")),
    "no-tensor": ("sarimax", [], ("missing input tensor", "steps")),
    "missing-exog-column": (EXOG, [steps_tensor("promo", (1,))], ("exog[0].price", "missing")),
}


@pytest.mark.parametrize("case", BAD_V2.values(), ids=BAD_V2.keys())
def test_bad_v2_forecast_requests_get_422(
    urls: dict[str, str], case: tuple[str, list[Any], tuple[str, ...]]
) -> None:
    name, inputs, words = case
    url = f"{urls[name]}/v2/models/{name}/infer"
    assert_error(httpx.post(url, json={"inputs": inputs}, timeout=30), 422, *words)


# --- OpenAPI -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SERVED)
def test_openapi_documents_the_forecast_request_and_answer(
    urls: dict[str, str], forecaster_dirs: dict[str, Path], name: str
) -> None:

    document = httpx.get(f"{urls[name]}/openapi.json", timeout=30).json()
    validate(document)
    schemas = document["components"]["schemas"]
    instance = json.dumps(schemas["Instance"])
    assert '"steps"' in instance
    assert ('"exog"' in instance) == (name == "sarimax-exog")
    forecast = schemas["Predictions"]["properties"]["predictions"]["items"]
    intervals = ["index", "mean", "lower", "upper"] if name != "holt-winters" else ["index", "mean"]
    assert forecast["required"] == intervals
    post = document["paths"][f"/v1/models/{name}:predict"]["post"]
    example = post["requestBody"]["content"]["application/json"]["example"]
    sample = json.loads((forecaster_dirs[name] / "sample.json").read_text())
    assert example == {"instances": sample["inputs"]}


@pytest.mark.parametrize("name", ["sarimax", "sarimax-exog"])
def test_schemathesis_finds_no_server_error_in_the_forecast_contract(
    urls: dict[str, str], name: str, tmp_path: Path
) -> None:
    assert_no_server_error(urls[name], tmp_path)
