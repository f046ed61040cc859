"""Train small XGBoost, LightGBM and CatBoost models, compile them (compiled/convert.py) and
prove them against the native model on every row; print one JSON object per case.

Runs in the boosters' own venv (tests/python_peers.py, tests/peers/boosters.txt) with
`runtimes` on PYTHONPATH: `python booster_models.py CASE...`. Each case fits on the first
400 of 600 seeded rows; the rows proven on are all 600 plus, for a bare model, rows placed
exactly on its split thresholds (and one float32 step either side). Prints
`{case: {"refused": reason} | {proof, feeds, tolerance, timings, threshold_rows}}`.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from nb2svc_runtime.artifact.format import Signature, parse_signature
from nb2svc_runtime.compiled import boosters
from nb2svc_runtime.compiled.convert import Unsupported, compile_model, prove
from nb2svc_runtime.compiled.onnx_model import ONNX_FILE, OnnxModel
from nb2svc_runtime.serve.adapters import make_adapter
from nb2svc_runtime.serve.schema import Validator
from nb2svc_runtime.train.describe import derive_inputs, describe

ROWS = 600
NUMERIC = ["tenure", "monthly_charges", "total_charges", "support_calls"]


def churn_frame(rows: int = ROWS, seed: int = 0) -> tuple[pd.DataFrame, dict[str, Any]]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "tenure": rng.integers(0, 72, rows),
        "monthly_charges": rng.normal(70, 20, rows).round(2),
        "total_charges": rng.normal(2000, 800, rows),
        "support_calls": rng.integers(0, 6, rows),
        "paperless": rng.choice([True, False], rows),
    })  # fmt: skip
    contract = rng.choice(["month", "one_year", "two_year"], rows)
    month = contract == "month"
    churned = (month & (frame["monthly_charges"] > 70)) | (rng.random(rows) < 0.2)
    targets = {
        "binary": churned.astype(int),
        "strings": np.where(churned, "Yes", "No"),
        "multi": np.clip(frame["support_calls"].to_numpy() + rng.integers(-1, 2, rows), 0, 3),
        "value": frame["monthly_charges"] * 30 + frame["tenure"] * 7 + rng.normal(0, 50, rows),
    }
    return frame.assign(contract=contract), targets


def signature_of(model: Any, data: Any) -> Signature:
    raw, _ = describe(model, "model", "m", derive_inputs(model, {"X": data}))
    raw["serialization"] = {"format": "joblib", "file": "model.joblib"}
    return parse_signature(json.loads(json.dumps(raw)))


def request_rows(data: pd.DataFrame) -> list[list[Any]]:
    rows: list[list[Any]] = data.astype(object).where(data.notna(), None).values.tolist()
    return rows


def thresholds(model: Any, features: list[str]) -> dict[str, list[float]]:
    """Every split value of a bare model, per feature, as the double a row would carry."""
    found: dict[str, set[float]] = {name: set() for name in features}
    lib = boosters.library(model)
    if lib in ("xgboost", "lightgbm"):
        trees = (
            boosters.xgboost_trees(model) if lib == "xgboost" else boosters.lightgbm_trees(model)
        )
        stack: list[Any] = list(trees)
        while stack:
            split = stack.pop()
            if split is not None:
                found[features[split.feature]].add(split.threshold)
                stack += [split.low, split.high]
    elif lib == "catboost":
        for index, borders in model.get_borders().items():
            found[features[int(index)]].update(float(np.float32(b)) for b in borders)
    return {name: sorted(values) for name, values in found.items()}


def on_thresholds(frame: pd.DataFrame, model: Any, numbers: list[str]) -> pd.DataFrame:
    """Copies of the first rows with one number set to a split value, or one float32 step
    below or above it (the values a float32 threshold would decide the other way)."""
    rows = []
    base = frame.iloc[0]
    for name, values in thresholds(model, list(frame.columns)).items():
        if name not in numbers:
            continue
        for value in values:
            narrow = np.float32(value)
            for v in (
                value,
                float(np.nextafter(narrow, -np.inf)),
                float(np.nextafter(narrow, np.inf)),
            ):
                row = base.copy()
                row[name] = v
                rows.append(row)
    if not rows:
        return frame.iloc[:0]
    extra = pd.DataFrame(rows).astype(frame.dtypes.to_dict())
    return extra.reset_index(drop=True)


def relative_diff(native: Any, onnx_model: OnnxModel, columns: dict[str, list[Any]]) -> float:
    """The largest |native - compiled| / max(1, |native|) over the outputs prove compares."""
    labels, proba = native.predict_both(native.make_input(columns), True)
    onnx_labels, onnx_proba = onnx_model.predict_both(onnx_model.make_input(columns), True)
    left = np.asarray(proba if onnx_model.is_classifier else labels, dtype="float64")
    right = np.asarray(onnx_proba if onnx_model.is_classifier else onnx_labels, dtype="float64")
    return float((np.abs(left - right) / np.maximum(1.0, np.abs(left))).max())


def float_thresholds(onnx_bytes: bytes) -> bytes:
    """The model with LightGBM's double thresholds rounded to float32 (nodes_values), as
    onnxmltools writes them: what the double thresholds are for."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(onnx_bytes)
    for node in model.graph.node:
        for attr in list(node.attribute):
            if attr.name == "nodes_values_as_tensor":
                values = numpy_helper.to_array(attr.t).astype("float32").tolist()
                node.attribute.remove(attr)
                node.attribute.append(helper.make_attribute("nodes_values", values))
    changed: bytes = model.SerializeToString()
    return changed


def per_row_ms(
    predict: Callable[[dict[str, list[Any]]], Any], columns: dict[str, list[Any]]
) -> float:
    times = []
    for i in range(min(50, len(next(iter(columns.values()))))):
        row = {name: values[i : i + 1] for name, values in columns.items()}
        start = time.perf_counter()
        predict(row)
        times.append(time.perf_counter() - start)
    times.sort()
    return round(times[len(times) // 2] * 1000, 4)


def run(model: Any, data: pd.DataFrame, y: Any, extra_rows: bool) -> dict[str, Any]:
    model.fit(data[:400], y[:400])
    signature = signature_of(model, data)
    checked = data
    if extra_rows:
        floats = [c for c in data.columns if data[c].dtype.kind == "f"]
        checked = pd.concat([data, on_thresholds(data, model, floats)], ignore_index=True)
    try:
        compiled = compile_model(model, signature)
    except Unsupported as exc:
        return {"refused": str(exc)}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ONNX_FILE
        path.write_bytes(compiled.onnx_bytes)
        onnx_model = OnnxModel(path, signature, compiled.feeds)
        native = make_adapter(model, signature)
        columns = Validator(signature, 100_000).columns(request_rows(checked))
        proof = prove(native, onnx_model, columns)
        relative = relative_diff(native, onnx_model, columns)
        path.write_bytes(float_thresholds(compiled.onnx_bytes))
        float32_proof = prove(native, OnnxModel(path, signature, compiled.feeds), columns)
        native_ms = per_row_ms(lambda c: native.predict_both(native.make_input(c), True), columns)
        compiled_ms = per_row_ms(
            lambda c: onnx_model.predict_both(onnx_model.make_input(c), True), columns
        )
    return {
        "passed": proof.passed,
        "checked_rows": proof.checked_rows,
        "threshold_rows": len(checked) - len(data),
        "label_mismatches": proof.label_mismatches,
        "beyond_tolerance": proof.beyond_tolerance,
        "max_abs_diff": proof.max_abs_diff,
        "first_mismatch": proof.first_mismatch,
        "max_rel_diff": relative,
        "float32_threshold_mismatches": float32_proof.label_mismatches,
        "tolerance": compiled.tolerance,
        "feeds": compiled.feeds,
        "native_row_ms": native_ms,
        "compiled_row_ms": compiled_ms,
    }


def pipeline(model: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = ColumnTransformer([
        ("num", StandardScaler(), NUMERIC),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["contract", "paperless"]),
    ])  # fmt: skip
    return Pipeline([("prep", prep), ("model", model)])


def cases() -> dict[str, Callable[[], dict[str, Any]]]:
    import catboost as cb
    import lightgbm as lgb
    import xgboost as xgb

    frame, y = churn_frame()
    numbers = frame[[*NUMERIC, "paperless"]]
    xgb_args: dict[str, Any] = {"n_estimators": 40, "max_depth": 4, "random_state": 0}
    lgb_args: dict[str, Any] = {"n_estimators": 40, "verbose": -1, "random_state": 0}
    cb_args: dict[str, Any] = {"iterations": 60, "depth": 4, "random_seed": 0, "verbose": 0}
    cb_args |= {"thread_count": 1, "allow_writing_files": False}
    return {
        "xgb-binary": lambda: run(xgb.XGBClassifier(**xgb_args), numbers, y["binary"], True),
        "xgb-multi": lambda: run(xgb.XGBClassifier(**xgb_args), numbers, y["multi"], True),
        "xgb-regressor": lambda: run(xgb.XGBRegressor(**xgb_args), numbers, y["value"], True),
        "xgb-pipeline": lambda: run(
            pipeline(xgb.XGBClassifier(**xgb_args)), frame, y["binary"], False
        ),
        "lgb-binary": lambda: run(lgb.LGBMClassifier(**lgb_args), numbers, y["strings"], True),
        "lgb-multi": lambda: run(lgb.LGBMClassifier(**lgb_args), numbers, y["multi"], True),
        "lgb-regressor": lambda: run(lgb.LGBMRegressor(**lgb_args), numbers, y["value"], True),
        "lgb-pipeline": lambda: run(
            pipeline(lgb.LGBMClassifier(**lgb_args)), frame, y["strings"], False
        ),
        "cb-binary": lambda: run(cb.CatBoostClassifier(**cb_args), numbers, y["strings"], True),
        "cb-multi": lambda: run(cb.CatBoostClassifier(**cb_args), numbers, y["multi"], True),
        "cb-regressor": lambda: run(cb.CatBoostRegressor(**cb_args), numbers, y["value"], True),
        # refused, each with its reason
        "cb-pipeline": lambda: run(
            pipeline(cb.CatBoostClassifier(**cb_args)), frame, y["strings"], False
        ),
        "cb-categorical": lambda: run(
            cb.CatBoostClassifier(**cb_args, cat_features=["contract"]),
            frame[[*NUMERIC, "contract"]],
            y["strings"],
            False,
        ),
        "lgb-zero-as-missing": lambda: run(
            lgb.LGBMClassifier(**lgb_args, zero_as_missing=True), numbers, y["binary"], False
        ),
        "lgb-poisson": lambda: run(
            lgb.LGBMRegressor(**lgb_args, objective="poisson"), numbers, y["value"].abs(), False
        ),
        "xgb-missing-zero": lambda: run(
            xgb.XGBClassifier(**xgb_args, missing=0.0), numbers, y["binary"], False
        ),
    }


def main(names: list[str]) -> None:
    warnings.simplefilter("ignore")
    known = cases()
    print(json.dumps({name: known[name]() for name in names or list(known)}))


if __name__ == "__main__":
    main(sys.argv[1:])
