"""A model served the way a BentoML user writes it by hand (the benchmark baseline).

One API, rows as JSON objects turned into the DataFrame the pipeline was fitted on; one
worker per core. Nothing in it knows the model: any artifact's model.joblib whose model
takes a DataFrame of named columns serves. Body: {"instances": [{"tenure": 3, ...}]};
answer: the model's predictions as a JSON list.
"""

from __future__ import annotations

import os
from typing import Any

import bentoml
import joblib
import pandas as pd

MODEL_PATH = os.environ.get("MODEL_PATH", "/opt/nb2svc/model/model.joblib")


@bentoml.service(workers=os.cpu_count() or 1)
class Baseline:
    def __init__(self) -> None:
        self.model = joblib.load(MODEL_PATH)

    @bentoml.api  # type: ignore[untyped-decorator,unused-ignore]
    def predict(self, instances: list[dict[str, Any]]) -> list[Any]:
        frame = pd.DataFrame(instances)
        return list(self.model.predict(frame).tolist())
