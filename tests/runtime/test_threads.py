"""Serving pins a model's library threads to one per worker (serve/threads.py)."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from nb2svc_runtime.serve.threads import pin_threads
from nb2svc_runtime.train.capture import save_model
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .server import ServerProcess


def forest_pipeline() -> tuple[Pipeline, np.ndarray[tuple[int, int], np.dtype[np.float64]]]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    scale = ColumnTransformer([("num", StandardScaler(), [0, 1, 2])], n_jobs=2)
    forest = RandomForestClassifier(n_estimators=20, max_depth=4, n_jobs=-1, random_state=0)
    return Pipeline([("pre", scale), ("rf", forest)]).fit(x, y), x


def test_every_thread_count_in_a_pipeline_is_set_to_one_and_the_predictions_stay() -> None:
    model, x = forest_pipeline()
    labels, before = model.predict(x), model.predict_proba(x)
    assert pin_threads(model) == {"pre__n_jobs": 2, "rf__n_jobs": -1}
    params = model.get_params(deep=True)
    assert (params["pre__n_jobs"], params["rf__n_jobs"]) == (1, 1)
    np.testing.assert_array_equal(model.predict(x), labels)
    # Threads add the trees' votes in no fixed order: the last bits may differ, no more.
    np.testing.assert_allclose(model.predict_proba(x), before, rtol=0, atol=1e-12)
    assert pin_threads(model) == {}  # nothing left to change


@pytest.mark.parametrize("model", [object(), lambda rows: rows, {"n_jobs": -1}])
def test_a_model_without_scikit_learn_parameters_is_left_as_it_is(model: object) -> None:
    assert pin_threads(model) == {}


def test_a_model_that_refuses_the_change_is_served_as_it_is() -> None:
    class Stubborn:
        def get_params(self, deep: bool = True) -> dict[str, int]:
            return {"n_jobs": -1}

        def set_params(self, **params: int) -> None:
            raise ValueError("read-only")

    assert pin_threads(Stubborn()) == {}


def test_a_served_forest_trained_with_all_cores_answers_with_one_thread(
    tmp_path: Path,
) -> None:
    model, x = forest_pipeline()
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    model = Pipeline(
        [("pre", ColumnTransformer([("num", StandardScaler(), ["a", "b", "c"])], n_jobs=2)),
         ("rf", RandomForestClassifier(n_estimators=20, max_depth=4, n_jobs=-1, random_state=0))]
    ).fit(frame, (x[:, 0] > 0).astype(int))  # fmt: skip
    namespace = {"X": frame, "model": model}
    save_model(namespace, variable="model", name="forest", out_dir=tmp_path / "model")
    rows = frame.head(20).to_dict(orient="records")
    with ServerProcess(tmp_path / "model", tmp_path / "logs") as server:
        body = httpx.post(f"{server.url}/v1/models/forest:predict", json={"instances": rows})
        log = server.stderr()
    assert body.status_code == 200, body.text
    assert body.json()["predictions"] == model.predict(frame.head(20)).tolist()
    assert "model threads pinned to one" in log
    assert '"rf__n_jobs": -1' in log
