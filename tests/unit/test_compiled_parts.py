"""The parts of a compiled model: how request values become ONNX inputs, what the graph passes
guarantee, what `prove` reports, and which models are refused, with the reason a user reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from nb2svc_runtime.artifact.format import Signature, parse_signature
from nb2svc_runtime.compiled.convert import (
    Unsupported,
    compile_model,
    exact_thresholds,
    floor32,
    prove,
)
from nb2svc_runtime.compiled.onnx_model import CompiledModelError, OnnxModel
from onnx import TensorProto, helper
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from test_compiled_models import (
    NUMERIC,
    Served,
    churn_frame,
    churn_pipeline,
    fitted,
    signature_of,
)


def hand_signature(inputs: list[dict[str, Any]], **fields: Any) -> Signature:
    raw: dict[str, Any] = {
        "input_kind": "dataframe", "framework": "sklearn", "task": "classification",
        "classes": [0, 1], "inputs": inputs,
        "outputs": [{"name": "predictions"}, {"name": "probabilities"}],
        "serialization": {"format": "joblib", "file": "model.joblib"},
    }  # fmt: skip
    return parse_signature({**raw, **fields})


def identity_model(path: Path, inputs: dict[str, Any]) -> Path:
    """An ONNX model passing each input through: enough to look at the feed OnnxModel builds."""
    values = [helper.make_tensor_value_info(n, t, [None, None]) for n, t in inputs.items()]
    outputs = [
        helper.make_tensor_value_info(f"{n}_out", t, [None, None]) for n, t in inputs.items()
    ]
    nodes = [helper.make_node("Identity", [n], [f"{n}_out"]) for n in inputs]
    graph = helper.make_graph(nodes, "identity", values, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


# ------------------------------------------------------------------ request values -> ONNX feed


def test_each_feed_kind_builds_an_n_by_1_column(tmp_path: Path) -> None:
    features: list[dict[str, Any]] = [
        {"name": "price", "dtype": "float32", "nullable": True},
        {"name": "plan", "dtype": "string"},
        {"name": "seats", "dtype": "int64"},
        {"name": "a", "dtype": "bool"},
        {"name": "b", "dtype": "bool"},
        {"name": "c", "dtype": "bool"},
    ]  # fmt: skip
    feeds = {
        "price": "double", "plan": "string", "seats": "int64",
        "a": "bool_int64", "b": "bool_double", "c": "bool_string",
    }  # fmt: skip
    double, string, int64 = TensorProto.DOUBLE, TensorProto.STRING, TensorProto.INT64
    types = {"price": double, "plan": string, "seats": int64, "a": int64, "b": double, "c": string}
    model = OnnxModel(identity_model(tmp_path / "m.onnx", types), hand_signature(features), feeds)
    columns: dict[str, list[Any]] = {
        "price": [0.1, None], "plan": ["pro", "basic"], "seats": [3, 4],
        "a": [True, False], "b": [True, False], "c": [True, False],
    }  # fmt: skip
    feed = model.make_input(columns)
    assert {name: array.shape for name, array in feed.items()} == dict.fromkeys(feeds, (2, 1))
    # a float32 feature is rounded as the native adapter's float32 column is
    assert feed["price"][0, 0] == float(np.float32(0.1))
    assert np.isnan(feed["price"][1, 0])
    assert feed["plan"].dtype == object
    assert feed["plan"][:, 0].tolist() == ["pro", "basic"]
    assert feed["seats"].dtype == np.int64
    assert feed["a"][:, 0].tolist() == [1, 0]
    assert feed["b"].dtype == np.float64
    assert feed["b"][:, 0].tolist() == [1.0, 0.0]
    assert feed["c"][:, 0].tolist() == ["True", "False"]


def test_an_array_model_takes_one_matrix_in_signature_order(tmp_path: Path) -> None:
    features = [{"name": f"f{i}", "dtype": "float64", "nullable": True} for i in range(3)]
    signature = hand_signature(features, input_kind="array")
    path = identity_model(tmp_path / "m.onnx", {"X": TensorProto.DOUBLE})
    model = OnnxModel(path, signature, {"X": "matrix_double"})
    feed = model.make_input({"f0": [1.0, 4.0], "f1": [2.0, None], "f2": [3.0, 6.0]})
    assert feed["X"].shape == (2, 3)
    assert feed["X"][0].tolist() == [1.0, 2.0, 3.0]
    assert np.isnan(feed["X"][1, 1])


def test_feeds_that_do_not_fit_the_model_are_a_build_error(tmp_path: Path) -> None:
    signature = hand_signature([{"name": "x", "dtype": "float64"}])
    path = identity_model(tmp_path / "m.onnx", {"x": TensorProto.DOUBLE})
    with pytest.raises(CompiledModelError, match="unknown feed kind 'float'"):
        OnnxModel(path, signature, {"x": "float"})
    with pytest.raises(CompiledModelError, match="rebuild the image"):
        OnnxModel(path, signature, {"y": "double"})


def test_the_session_runs_on_one_cpu_thread_and_logs_errors_only(tmp_path: Path) -> None:
    signature = hand_signature([{"name": "x", "dtype": "float64"}])
    model = OnnxModel(
        identity_model(tmp_path / "m.onnx", {"x": TensorProto.DOUBLE}), signature, {"x": "double"}
    )
    options = model.session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    assert options.execution_mode.name == "ORT_SEQUENTIAL"
    assert options.log_severity_level == 3
    assert model.session.get_providers() == ["CPUExecutionProvider"]
    assert model.framework == "onnxruntime"


def test_a_column_the_model_drops_has_no_onnx_input(tmp_path: Path) -> None:
    frame, y = churn_frame(200)
    frame["customer_id"] = [f"c{i}" for i in range(200)]
    keep = ColumnTransformer([("num", StandardScaler(), NUMERIC)])  # the rest is dropped
    model = Pipeline([("prep", keep), ("model", LogisticRegression())]).fit(frame, y)
    served = Served(model, frame, tmp_path)
    assert sorted(served.compiled.feeds) == sorted(NUMERIC)
    assert "customer_id" in served.columns
    assert served.proof().passed


SERVE_ONLY = """
import json, sys
from pathlib import Path
from nb2svc_runtime.artifact.format import parse_signature
from nb2svc_runtime.compiled.onnx_model import OnnxModel
case = json.loads(Path(sys.argv[1]).read_text())
model = OnnxModel(Path(case["onnx"]), parse_signature(case["signature"]), case["feeds"])
print(json.dumps(model.predict_both(model.make_input(case["columns"]), True)[0]))
loaded = {"pandas", "sklearn", "scipy", "skl2onnx", "onnx"} & set(sys.modules)
assert not loaded, loaded
"""


def test_an_unseen_category_is_refused_as_the_native_model_refuses_it(tmp_path: Path) -> None:
    """OneHotEncoder(handle_unknown="error"): both raise ValueError, which the server answers
    with 422 "the model rejected the input"."""
    frame, y = churn_frame(200)
    encode = ColumnTransformer(
        [("num", StandardScaler(), NUMERIC), ("cat", OneHotEncoder(), ["contract"])]
    )
    model = Pipeline([("prep", encode), ("model", LogisticRegression())]).fit(frame, y)
    served = Served(model, frame, tmp_path)
    columns = {name: values[:1] for name, values in served.columns.items()}
    columns["contract"] = ["weekly"]
    with pytest.raises(ValueError, match="unknown categories"):
        served.native.predict_both(served.native.make_input(columns), True)
    with pytest.raises(ValueError, match="a category the model was not trained on"):
        served.onnx.predict_both(served.onnx.make_input(columns), True)


def test_serving_imports_neither_pandas_nor_scikit_learn(tmp_path: Path) -> None:
    """The point of a compiled image: onnxruntime and numpy, nothing of the training stack."""
    frame, y = churn_frame(200)
    served = Served(fitted(churn_pipeline(LogisticRegression()), frame, y), frame, tmp_path)
    columns = {name: values[:3] for name, values in served.columns.items()}
    case = {
        "onnx": str(tmp_path / "model.onnx"), "signature": served.signature.raw,
        "feeds": served.compiled.feeds, "columns": columns,
    }  # fmt: skip
    (tmp_path / "case.json").write_text(json.dumps(case))
    command = [sys.executable, "-c", SERVE_ONLY, str(tmp_path / "case.json")]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    native, _ = served.native.predict_both(served.native.make_input(columns), False)
    assert json.loads(done.stdout) == native


# ----------------------------------------------------------------------------- graph passes


def tree_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if n.op_type.startswith("TreeEnsemble")]


def test_every_tree_ensemble_reads_float32_values_in_double(tmp_path: Path) -> None:
    """Cast(to FLOAT) -> Cast(to DOUBLE) in front of the trees: what scikit-learn compares."""
    frame, y = churn_frame(200)
    gbc = GradientBoostingClassifier(n_estimators=5, random_state=0)
    compiled = Served(fitted(churn_pipeline(gbc), frame, y), frame, tmp_path).compiled
    model = onnx.load_from_string(compiled.onnx_bytes)
    producer = {out: node for node in model.graph.node for out in node.output}
    assert tree_nodes(model)
    for tree in tree_nodes(model):
        wide = producer[tree.input[0]]
        narrow = producer[wide.input[0]]
        assert (wide.op_type, helper.get_attribute_value(wide.attribute[0])) == (
            "Cast",
            TensorProto.DOUBLE,
        )
        assert (narrow.op_type, helper.get_attribute_value(narrow.attribute[0])) == (
            "Cast",
            TensorProto.FLOAT,
        )
    assert "ZipMap" not in {n.op_type for n in model.graph.node}
    assert {o.domain: o.version for o in model.opset_import}["ai.onnx.ml"] <= 3


def test_floor32_decides_every_float32_as_the_float64_threshold() -> None:
    rng = np.random.default_rng(0)
    low = rng.uniform(-1e7, 1e7, 2000).astype(np.float32)
    high = np.nextafter(low, np.float32(np.inf))
    # midpoints of adjacent float32 values: where rounding to nearest goes wrong half the time
    for a, b in zip(low.tolist(), high.tolist(), strict=True):
        threshold = (a + b) / 2
        assert (a <= floor32(threshold)) == (a <= threshold)
        assert (b <= floor32(threshold)) == (b <= threshold)


def test_a_threshold_rounded_up_onto_a_value_is_put_back_below_it() -> None:
    """Two adjacent float32 values a < b: scikit-learn splits at their float64 midpoint, which
    rounds (to nearest) onto b, sending b left in float32; floor32 sends it right again."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType

    a = float(np.nextafter(np.float32(2**20), np.float32(2**21)))
    b = float(np.nextafter(np.float32(a), np.float32(2**21)))
    forest = RandomForestClassifier(1, bootstrap=False, random_state=0)
    forest.fit(np.array([[a], [b]] * 4), [0, 1] * 4)
    threshold = float(forest.estimators_[0].tree_.threshold[0])
    assert float(np.float32(threshold)) == b
    onx = convert_sklearn(forest, initial_types=[("X", DoubleTensorType([None, 1]))])
    node = tree_nodes(onx)[0]
    values = next(x for x in node.attribute if x.name == "nodes_values")
    values.floats[0] = b  # as a converter rounding to nearest writes it
    assert exact_thresholds(node, [forest.estimators_[0].tree_])
    assert values.floats[0] == a == floor32(threshold)


# ------------------------------------------------------------------------------------ proof


def test_prove_names_the_first_row_that_differs(tmp_path: Path) -> None:
    frame, y = churn_frame(200)
    served = Served(fitted(churn_pipeline(LogisticRegression()), frame, y), frame, tmp_path)

    def flipped(data: Any, want_proba: bool) -> tuple[list[Any], Any]:
        labels, proba = served.native.predict_both(data, want_proba)
        proba[3] = [p + 1e-3 for p in proba[3]]
        return [not labels[0], *labels[1:]], proba

    proof = prove(flipped, served.onnx, served.columns, served.native.make_input(served.columns))
    assert not proof.passed
    assert (proof.label_mismatches, proof.beyond_tolerance) == (1, 1)
    assert proof.first_mismatch is not None
    assert proof.first_mismatch.startswith("row 0: label")
    assert proof.max_abs_diff == pytest.approx(1e-3, rel=1e-6)


def test_a_label_of_another_json_type_is_a_mismatch(tmp_path: Path) -> None:
    """True == 1 in Python; a client reading the response sees two different answers."""
    frame, y = churn_frame(200)
    served = Served(fitted(churn_pipeline(LogisticRegression()), frame, y), frame, tmp_path)

    def as_ints(data: Any, want_proba: bool) -> tuple[list[Any], Any]:
        labels, proba = served.native.predict_both(data, want_proba)
        return [int(label) for label in labels], proba

    proof = prove(as_ints, served.onnx, served.columns, served.native.make_input(served.columns))
    assert proof.label_mismatches == 200


# ------------------------------------------------------------------------------ unsupported


def refusal(model: Any, signature: Signature) -> str:
    with pytest.raises(Unsupported) as info:
        compile_model(model, signature)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_lambda_in_a_function_transformer_is_refused() -> None:
    frame, y = churn_frame(100)
    numbers = frame[NUMERIC]
    model = make_pipeline(FunctionTransformer(lambda x: x * 2), LogisticRegression()).fit(
        numbers, y
    )
    message = refusal(model, signature_of(model, numbers))
    assert message.startswith("FunctionTransformer(<lambda>) runs notebook Python code")


class XGBClassifier:
    """Not a scikit-learn estimator: any other library's model is refused by its class."""

    classes_ = np.array([0, 1])

    def predict(self, data: Any) -> Any:
        return np.zeros(len(data), dtype=int)


def test_a_model_of_another_library_is_refused() -> None:
    signature = hand_signature([{"name": "x", "dtype": "float64"}], framework="generic")
    message = refusal(XGBClassifier(), signature)
    assert message.startswith("XGBClassifier: no exact ONNX converter is used for it yet")


def test_a_text_model_is_refused_by_its_vectorizer() -> None:
    texts = ["good service", "bad service", "good price", "bad price"] * 5
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, [1, 0, 1, 0] * 5)
    signature = hand_signature([{"name": "text", "dtype": "string"}], input_kind="series")
    assert refusal(model, signature).startswith("TfidfVectorizer: no exact ONNX converter")


def changed(signature: Signature, name: str, **fields: Any) -> Signature:
    """The signature with one input's fields changed (as another notebook's data gives)."""
    raw = dict(signature.raw)
    raw["inputs"] = [{**f, **fields} if f["name"] == name else f for f in raw["inputs"]]
    return parse_signature(raw)


@pytest.fixture(scope="module")
def churn_lr() -> tuple[Any, Signature]:
    frame, y = churn_frame(100)
    model = fitted(churn_pipeline(LogisticRegression()), frame, y)
    return model, signature_of(model, frame)


def test_a_nullable_column_needs_an_imputer_in_the_pipeline(churn_lr: Any) -> None:
    model, signature = churn_lr
    message = refusal(model, changed(signature, "total_charges", nullable=True))
    assert message.startswith("column 'total_charges' may be null and reaches LogisticRegression")


def test_a_nullable_string_column_is_refused(churn_lr: Any) -> None:
    model, signature = churn_lr
    message = refusal(model, changed(signature, "contract", nullable=True))
    assert message.startswith("string column 'contract' may be null")
    assert "fillna" in message


def test_a_datetime_column_is_refused(churn_lr: Any) -> None:
    model, signature = churn_lr
    message = refusal(model, changed(signature, "tenure", dtype="datetime"))
    assert message == "datetime column 'tenure': not compiled yet"


def test_a_converter_error_becomes_a_one_line_refusal_naming_the_model() -> None:
    frame, y = churn_frame(100)
    gbc = GradientBoostingClassifier(init=LogisticRegression(), n_estimators=3)
    model = fitted(churn_pipeline(gbc), frame, y)
    message = refusal(model, signature_of(model, frame))
    assert message.startswith(
        "Pipeline(ColumnTransformer, GradientBoostingClassifier): skl2onnx cannot convert it ("
    )
