"""Compiled models answer as the notebook's: real scikit-learn models, converted with the real
skl2onnx (compiled/convert.py) and run by the real ONNX Runtime (compiled/onnx_model.py),
compared with the native server adapter on every row through the server's request path
(signature from the train side's describe(), rows through serve/schema.Validator).

Labels must be identical; probabilities within 1e-6 for trees (ORT sums them in float32)
and 1e-9 for linear models (double all the way), regression values relative to their size.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from nb2svc_runtime.artifact.format import Signature, parse_signature
from nb2svc_runtime.compiled.convert import (
    LINEAR_TOLERANCE,
    TREE_TOLERANCE,
    Compiled,
    Proof,
    compile_model,
    prove,
)
from nb2svc_runtime.compiled.onnx_model import ONNX_FILE, OnnxModel
from nb2svc_runtime.serve.adapters import make_adapter
from nb2svc_runtime.serve.batching import MicroBatcher, Result
from nb2svc_runtime.serve.schema import Validator
from nb2svc_runtime.train.describe import derive_inputs, describe
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

NUMERIC = ["tenure", "monthly_charges", "total_charges", "support_calls"]
CATEGORICAL = ["contract", "paperless"]  # a string column and a bool column
ROWS = 600  # the models are fitted on the first 400, checked on all 600


def churn_frame(rows: int = ROWS, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """A churn-like table: int and float numbers, a string category, a bool; y is bool."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "tenure": rng.integers(0, 72, rows),
        "monthly_charges": rng.normal(70, 20, rows).round(2),
        "total_charges": rng.normal(2000, 800, rows),
        "contract": rng.choice(["month", "one_year", "two_year"], rows),
        "paperless": rng.choice([True, False], rows),
        "support_calls": rng.integers(0, 6, rows),
    })  # fmt: skip
    month = frame["contract"] == "month"
    churned = (month & (frame["monthly_charges"] > 70)) | (rng.random(rows) < 0.2)
    return frame, pd.Series(churned, name="churn")


def churn_pipeline(model: Any, numeric: Any = None) -> Pipeline:
    """The churn notebook's shape: scale the numbers, one-hot encode the categories."""
    encode = OneHotEncoder(handle_unknown="ignore")
    columns = ColumnTransformer([
        ("num", numeric if numeric is not None else StandardScaler(), NUMERIC),
        ("cat", encode, CATEGORICAL),
    ])  # fmt: skip
    return Pipeline([("prep", columns), ("model", model)])


def signature_of(model: Any, data: Any) -> Signature:
    """The signature capture writes for `model` fitted on `data` (train/describe.py)."""
    raw, _ = describe(model, "model", "m", derive_inputs(model, {"X": data}))
    raw["serialization"] = {"format": "joblib", "file": "model.joblib"}
    return parse_signature(json.loads(json.dumps(raw)))


def request_rows(data: Any) -> list[list[Any]]:
    """The rows as a client sends them: JSON values, null for missing."""
    if isinstance(data, pd.DataFrame):
        rows: list[list[Any]] = data.astype(object).where(data.notna(), None).values.tolist()
        return rows
    return [[None if np.isnan(v) else float(v) for v in row] for row in np.asarray(data)]


class Served:
    """A model compiled and loaded as the server would, beside its native adapter."""

    def __init__(self, model: Any, data: Any, tmp_path: Path) -> None:
        self.signature = signature_of(model, data)
        self.compiled: Compiled = compile_model(model, self.signature)
        path = tmp_path / ONNX_FILE
        path.write_bytes(self.compiled.onnx_bytes)
        self.onnx = OnnxModel(path, self.signature, self.compiled.feeds)
        self.native = make_adapter(model, self.signature)
        self.columns = Validator(self.signature, 100_000).columns(request_rows(data))

    def proof(self) -> Proof:
        native_input = self.native.make_input(self.columns)
        return prove(self.native.predict_both, self.onnx, self.columns, native_input)

    def both(self) -> tuple[tuple[list[Any], Any], tuple[list[Any], Any]]:
        """(native, compiled) predictions and probabilities on every row."""
        native = self.native.predict_both(self.native.make_input(self.columns), True)
        compiled = self.onnx.predict_both(self.onnx.make_input(self.columns), True)
        return native, compiled


def fitted(model: Any, data: Any, y: Any) -> Any:
    return model.fit(data[:400], y[:400])


@pytest.fixture(scope="module")
def churn() -> tuple[pd.DataFrame, pd.Series]:
    return churn_frame()


def test_churn_forest_gives_the_native_labels_on_every_row(churn: Any, tmp_path: Path) -> None:
    frame, y = churn
    model = fitted(churn_pipeline(RandomForestClassifier(30, random_state=0)), frame, y)
    served = Served(model, frame, tmp_path)
    proof = served.proof()
    assert proof.passed, proof.first_mismatch
    assert proof.checked_rows == ROWS
    assert proof.label_mismatches == 0
    assert proof.max_abs_diff <= TREE_TOLERANCE
    assert served.compiled.tolerance == TREE_TOLERANCE
    assert served.compiled.feeds == {
        "tenure": "double", "monthly_charges": "double", "total_charges": "double",
        "support_calls": "double", "contract": "string", "paperless": "bool_int64",
    }  # fmt: skip


def test_forest_ties_go_to_the_first_class_as_in_scikit_learn(churn: Any, tmp_path: Path) -> None:
    """Fully grown trees vote 0 or 1: 15 of 30 each way is an exact tie, which scikit-learn's
    argmax gives to the first class; skl2onnx's own weights would give it to the second."""
    frame, y = churn
    model = fitted(churn_pipeline(RandomForestClassifier(30, random_state=0)), frame, y)
    (labels, proba), (onnx_labels, onnx_proba) = Served(model, frame, tmp_path).both()
    ties = [i for i, p in enumerate(proba) if p == [0.5, 0.5]]
    assert ties, "the data has no exact tie: the test shows nothing"
    assert [onnx_labels[i] for i in ties] == [labels[i] for i in ties] == [False] * len(ties)
    assert onnx_proba == proba  # whole votes sum exactly in float32


def test_gradient_boosting_classifier_is_exact(churn: Any, tmp_path: Path) -> None:
    """GBC's tree output is float32 where skl2onnx declared double (ORT refused to load it)."""
    frame, y = churn
    gbc = GradientBoostingClassifier(n_estimators=30, random_state=0)
    proof = Served(fitted(churn_pipeline(gbc), frame, y), frame, tmp_path).proof()
    assert proof.passed, proof.first_mismatch
    assert proof.max_abs_diff <= TREE_TOLERANCE


def test_extra_trees_random_thresholds_decide_as_scikit_learn(churn: Any, tmp_path: Path) -> None:
    frame, y = churn
    model = fitted(churn_pipeline(ExtraTreesClassifier(30, random_state=0)), frame, y)
    proof = Served(model, frame, tmp_path).proof()
    assert proof.passed, proof.first_mismatch


def test_logistic_regression_on_a_30_feature_array(tmp_path: Path) -> None:
    """input_kind "array": one (n, 30) double input; double all the way, so ~1e-16."""
    features, labels = make_classification(600, 30, shift=3, scale=10, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    model.fit(features[:400], labels[:400])
    served = Served(model, features, tmp_path)
    proof = served.proof()
    assert served.signature.input_kind == "array"
    assert served.compiled.feeds == {"X": "matrix_double"}
    assert served.compiled.tolerance == LINEAR_TOLERANCE
    assert proof.passed, proof.first_mismatch
    assert proof.checked_rows == 600
    assert proof.max_abs_diff < 1e-12


def test_forest_regressor_within_float32_of_each_value(churn: Any, tmp_path: Path) -> None:
    """A regressor's values are compared relative to their size: ORT returns float32."""
    frame, _ = churn
    target = frame["monthly_charges"] * 30 + frame["tenure"] * 7
    model = fitted(churn_pipeline(RandomForestRegressor(30, random_state=0)), frame, target)
    served = Served(model, frame, tmp_path)
    proof = served.proof()
    assert proof.passed, proof.first_mismatch
    (values, proba), (onnx_values, onnx_proba) = served.both()
    assert proba is None
    assert onnx_proba is None
    assert all(type(v) is float for v in onnx_values)
    assert np.allclose(onnx_values, values, rtol=TREE_TOLERANCE, atol=0)


def test_ridge_is_exact_to_double_precision(churn: Any, tmp_path: Path) -> None:
    frame, _ = churn
    model = fitted(churn_pipeline(Ridge()), frame, frame["total_charges"] * 2)
    served = Served(model, frame, tmp_path)
    proof = served.proof()
    assert served.compiled.tolerance == LINEAR_TOLERANCE
    assert proof.passed, proof.first_mismatch


@pytest.mark.parametrize("kind", [str, int, bool])
def test_labels_keep_their_json_type(churn: Any, tmp_path: Path, kind: type) -> None:
    """Strings stay strings, ints stay ints, bools stay bools: the response is the native one
    (ONNX labels are int64 for int and bool classes)."""
    frame, y = churn
    targets = {
        str: frame["contract"].map({"month": "basic", "one_year": "pro", "two_year": "team"}),
        int: frame["support_calls"].clip(0, 2),
        bool: y,
    }
    model = fitted(churn_pipeline(DecisionTreeClassifier(random_state=0)), frame, targets[kind])
    (labels, _), (onnx_labels, _) = Served(model, frame, tmp_path).both()
    assert onnx_labels == labels
    assert {type(label) for label in onnx_labels} == {kind}
    assert json.dumps(onnx_labels) == json.dumps(labels)


def test_a_null_in_an_imputed_float_column(churn: Any, tmp_path: Path) -> None:
    """null -> NaN -> the imputer's float64 median, as scikit-learn fills it."""
    frame, y = churn
    frame = frame.copy()
    frame.loc[::7, "monthly_charges"] = np.nan
    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    model = fitted(churn_pipeline(RandomForestClassifier(30, random_state=0), numeric), frame, y)
    served = Served(model, frame, tmp_path)
    assert [f.nullable for f in served.signature.inputs if f.name == "monthly_charges"] == [True]
    assert served.columns["monthly_charges"][0] is None
    proof = served.proof()
    assert proof.passed, proof.first_mismatch
    assert proof.max_abs_diff <= TREE_TOLERANCE


def test_a_pipeline_without_column_transformer_reads_all_columns_as_one_double_matrix(
    churn: Any, tmp_path: Path
) -> None:
    """skl2onnx would join several inputs in float32 (FeatureVectorizer, |dp| ~ 3e-8); the
    columns, a bool among them, go in as one double matrix built in one numpy call."""
    frame, y = churn
    numbers = frame[[*NUMERIC, "paperless"]]
    model = fitted(make_pipeline(StandardScaler(), LogisticRegression()), numbers, y)
    served = Served(model, numbers, tmp_path)
    assert served.compiled.feeds == {"nb2svc_features": "matrix_double"}
    proof = served.proof()
    assert proof.passed, proof.first_mismatch
    assert proof.max_abs_diff < 1e-12


def test_a_one_matrix_model_is_fed_the_validated_rows_alone_or_batched_as_its_columns(
    churn: Any, tmp_path: Path
) -> None:
    """A compiled model with one matrix input takes the rows as validated (no transpose into
    columns and back): alone, and merged by the micro-batcher, the answers are the columns'."""
    frame, y = churn
    numbers = frame[[*NUMERIC, "paperless"]]  # a bool among the floats: the row-by-row checks
    model = fitted(make_pipeline(StandardScaler(), LogisticRegression()), numbers, y)
    served = Served(model, numbers, tmp_path)
    rows = Validator(served.signature, 100_000).checked_rows(request_rows(numbers))
    assert served.onnx.takes_rows
    by_columns = served.onnx.predict_both(served.onnx.make_input(served.columns), True)
    assert served.onnx.predict_both(served.onnx.make_input(rows), True) == by_columns

    async def batched() -> list[Result]:
        adapter: Any = served.onnx
        batcher = MicroBatcher(adapter, max_batch=64, max_wait=0, max_queue=64, inline=True)
        batcher.start()
        parts = [rows[0:1], rows[1:4], rows[4:9]]
        answers = await asyncio.gather(*(batcher.predict(p, len(p), True) for p in parts))
        await batcher.stop()
        return list(answers)

    answers = asyncio.run(batched())
    labels, probabilities = by_columns
    assert probabilities is not None
    assert [p for a in answers for p in a.predictions] == labels[:9]
    assert [p for a in answers for p in a.probabilities or []] == probabilities[:9]
