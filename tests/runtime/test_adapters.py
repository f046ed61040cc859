"""The sklearn adapter computes predictions and probabilities in one pass where that is exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from nb2svc_runtime.artifact.format import load_artifact
from nb2svc_runtime.serve.adapters import make_adapter
from nb2svc_runtime.train.capture import save_model
from sklearn.ensemble import BaggingClassifier, ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from .models import churn_namespace

FINALS = {
    "forest": lambda: RandomForestClassifier(n_estimators=15, random_state=0),
    "extra-trees": lambda: ExtraTreesClassifier(n_estimators=15, random_state=0),
    "bagging": lambda: BaggingClassifier(n_estimators=5, random_state=0),
    "tree": lambda: DecisionTreeClassifier(max_depth=3, random_state=0),
    "logistic": lambda: LogisticRegression(),
}


def churn_with(final: Any, tmp_path: Path) -> tuple[Any, Any]:
    namespace = churn_namespace()
    model = namespace["model"]
    model.steps[-1] = ("clf", final)
    model.fit(namespace["X_train"], namespace["y"].iloc[:300])
    save_model(namespace, variable="model", name="churn", out_dir=tmp_path / "m")
    artifact = load_artifact(tmp_path / "m")
    return artifact, namespace["X_test"]


@pytest.mark.parametrize("name", sorted(FINALS))
def test_predictions_and_probabilities_equal_the_models_own(name: str, tmp_path: Path) -> None:
    artifact, X = churn_with(FINALS[name](), tmp_path)
    adapter = make_adapter(artifact.model, artifact.signature)
    predictions, proba = adapter.predict_both(X, want_proba=True)
    assert predictions == artifact.model.predict(X).tolist()
    assert np.allclose(proba, artifact.model.predict_proba(X))


def test_a_forest_runs_its_trees_once_for_both_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifact, X = churn_with(FINALS["forest"](), tmp_path)
    adapter = make_adapter(artifact.model, artifact.signature)
    final = artifact.model.steps[-1][1]
    monkeypatch.setattr(final, "predict", lambda _X: pytest.fail("predict() ran the trees again"))
    predictions, _ = adapter.predict_both(X, want_proba=True)
    assert len(predictions) == len(X)
