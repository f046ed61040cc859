"""A regressor and a TF-IDF text pipeline served end to end, predictions as in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .server import ServerProcess


@pytest.fixture(scope="module")
def price_url(price_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with ServerProcess(price_dir, tmp_path_factory.mktemp("price-server")) as server:
        yield server.url


@pytest.fixture(scope="module")
def reviews_url(reviews_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with ServerProcess(reviews_dir, tmp_path_factory.mktemp("reviews-server")) as server:
        yield server.url


def test_regressor_predictions_equal_in_process(price_url: str, price: dict[str, Any]) -> None:
    X = price["X"].head(50)
    rows = X.to_dict(orient="records")
    body = httpx.post(f"{price_url}/v1/models/price:predict", json={"instances": rows}).json()
    assert body["predictions"] == pytest.approx(price["regressor"].predict(X).tolist(), rel=1e-12)
    assert "probabilities" not in body


def test_regressor_metrics_have_a_prediction_histogram(
    price_url: str, price: dict[str, Any]
) -> None:
    rows = price["X"].head(5).to_dict(orient="records")
    httpx.post(f"{price_url}/invocations", json={"dataframe_records": rows})
    text = httpx.get(f"{price_url}/metrics").text
    assert "nb2svc_prediction_value_bucket" in text
    count = next(
        line for line in text.splitlines() if line.startswith("nb2svc_prediction_value_count")
    )
    assert float(count.split()[-1]) >= 5


def test_text_pipeline_accepts_strings_objects_and_lists(
    reviews_url: str, reviews: dict[str, Any]
) -> None:
    texts = ["great value", "awful, broke after a day"]
    expected = reviews["clf"].predict(texts).tolist()
    url = f"{reviews_url}/v1/models/reviews:predict"
    assert httpx.post(url, json={"instances": texts}).json()["predictions"] == expected
    objects = [{"review": t} for t in texts]
    assert httpx.post(url, json={"instances": objects}).json()["predictions"] == expected
    assert (
        httpx.post(url, json={"instances": [[t] for t in texts]}).json()["predictions"] == expected
    )


def test_text_pipeline_rejects_a_number(reviews_url: str) -> None:
    response = httpx.post(f"{reviews_url}/v1/models/reviews:predict", json={"instances": [42]})
    assert response.status_code == 422
    assert response.json()["details"][0]["row"] == 0


def test_text_pipeline_v2_bytes_tensor(reviews_url: str, reviews: dict[str, Any]) -> None:
    body = {"inputs": [{"name": "review", "shape": [1], "datatype": "BYTES", "data": ["loved it"]}]}
    out = httpx.post(f"{reviews_url}/v2/models/reviews/infer", json=body).json()["outputs"]
    assert out[0]["data"] == reviews["clf"].predict(["loved it"]).tolist()
