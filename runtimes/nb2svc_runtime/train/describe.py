"""Train side: turn a model and its training data into signature.json and sample.json content."""

from __future__ import annotations

import platform
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from .. import __version__
from ..artifact.signature import FORMAT_VERSION, logical_dtype, to_native
from ..frameworks.forecast import attribute as _attr
from ..frameworks.keras import is_keras_model
from ..frameworks.torch import is_torch_module
from .introspect import (
    CaptureError,
    Inputs,
    array_inputs,
    call_predict,
    column_spec,
    frame_inputs,
    is_frame,
    ordered_data,
    series_inputs,
    shape_of,
)

STATS_ROWS = 10_000


def framework_of(model: Any) -> str:
    root = type(model).__module__.split(".")[0]
    known = {"sklearn", "xgboost", "lightgbm", "statsmodels", "catboost"}
    if is_torch_module(model):
        return "pytorch"
    if is_keras_model(model):
        return "keras"
    return root if root in known else "generic"


def _statsmodels_inputs(model: Any) -> Inputs:
    import numpy as np

    inner = model.model
    frame = _attr(_attr(inner, "data"), "frame")
    if _attr(inner, "formula") is not None and is_frame(frame):
        endog = str(inner.endog_names)
        columns = [str(c) for c in frame.columns if c != endog]
        data = frame[columns]
        specs = [column_spec(c, [data]) for c in columns]
        return Inputs("dataframe", specs, data.head(5), data)
    exog = np.asarray(inner.exog, dtype="float64")
    specs = [
        {"name": str(n), "dtype": "float64", "pandas_dtype": "float64", "nullable": False}
        for n in inner.exog_names
    ]
    return Inputs("array", specs, exog[:5], exog)


def _first_predictable(model: Any, candidates: Iterable[Inputs]) -> Inputs | None:
    """The first candidate whose sample the model predicts on without raising."""
    for candidate in candidates:
        try:
            call_predict(model, candidate.sample)
        except Exception:
            continue
        return candidate
    return None


def _generic_inputs(model: Any, namespace: dict[str, Any]) -> Inputs | None:
    """Inputs like the notebook's first DataFrame or 2-D array the model predicts on."""

    def candidates() -> Iterator[Inputs]:
        for _, value in ordered_data(namespace):
            if is_frame(value):
                yield frame_inputs(namespace, [str(c) for c in value.columns])
            elif len(shape_of(value)) == 2:
                yield array_inputs(namespace, shape_of(value)[1])

    return _first_predictable(model, candidates())


def _feature_names(model: Any) -> Any:
    """scikit-learn's `feature_names_in_`, or CatBoost's `feature_names_` when fitted on a
    DataFrame (CatBoost names array columns "0", "1", ...: those stay an array model)."""
    names = _attr(model, "feature_names_in_")
    if names is None and framework_of(model) == "catboost":
        names = _attr(model, "feature_names_")
        if not names or all(str(n).isdigit() for n in names):
            return None
    return names


def _records_no_names(model: Any) -> bool:
    """scikit-learn before 1.0 keeps no `feature_names_in_`: a model fitted on a DataFrame
    looks like one fitted on an array (a ColumnTransformer selecting columns by name then
    fails on the array sample)."""
    sklearn = sys.modules.get("sklearn")
    version = str(getattr(sklearn, "__version__", "1"))
    return framework_of(model) == "sklearn" and version.split(".")[0] == "0"


def _frame_inputs_of_width(model: Any, namespace: dict[str, Any], width: int) -> Inputs | None:
    """Inputs from the notebook's first DataFrame with `width` columns the model predicts on."""
    frames = (v for _, v in ordered_data(namespace) if is_frame(v) and len(v.columns) == width)
    return _first_predictable(
        model, (frame_inputs(namespace, [str(c) for c in frame.columns]) for frame in frames)
    )


def derive_inputs(model: Any, namespace: dict[str, Any]) -> Inputs:
    """Work out what the model takes, from fitted attributes and the notebook's data."""
    if framework_of(model) == "statsmodels" and _attr(model, "model") is not None:
        return _statsmodels_inputs(model)
    names = _feature_names(model)
    if names is not None:
        return frame_inputs(namespace, [str(n) for n in names])
    n_features = _attr(model, "n_features_in_")
    if n_features is not None and int(n_features) > 0:
        if _records_no_names(model):
            found = _frame_inputs_of_width(model, namespace, int(n_features))
            if found is not None:
                return found
        return array_inputs(namespace, int(n_features))
    found = series_inputs(model, namespace) or _generic_inputs(model, namespace)
    if found is None:
        raise CaptureError(
            "cannot tell what the model takes as input: keep the features in a DataFrame or "
            f"array named one of X_test, X_val, X_train, X ({type(model).__name__})"
        )
    return found


def detect_task(model: Any, predictions: Any) -> str:
    try:
        from sklearn.base import is_classifier, is_regressor

        if is_classifier(model):
            return "classification"
        if is_regressor(model):
            return "regression"
    except ImportError:
        pass
    if _attr(model, "classes_") is not None:
        return "classification"
    return "regression" if getattr(predictions.dtype, "kind", "O") == "f" else "classification"


def predict_outputs(model: Any, data: Any, task: str) -> tuple[Any, Any]:
    """Predictions (and class probabilities for classifiers, when the model has them)."""
    import numpy as np

    predictions = np.asarray(call_predict(model, data))
    proba = None
    if task == "classification" and callable(_attr(model, "predict_proba")):
        try:
            proba = np.asarray(model.predict_proba(data), dtype="float64")
        except Exception:
            proba = None
    return predictions, proba


def _head(data: Any, n: int) -> Any:
    return data.head(n) if hasattr(data, "head") else data[:n]


def _quantiles(model: Any, data: Any) -> list[float]:
    import numpy as np

    try:
        values = np.asarray(call_predict(model, _head(data, STATS_ROWS)), dtype="float64")
    except Exception:
        return []
    values = values[np.isfinite(values)]
    if values.size == 0:
        return []
    return sorted({float(q) for q in np.quantile(values, np.linspace(0, 1, 11))})


def sample_records(inputs: Inputs) -> list[dict[str, Any]]:
    names = [spec["name"] for spec in inputs.specs]
    sample = inputs.sample
    if is_frame(sample):
        rows = sample.astype(object).where(sample.notna(), None).values.tolist()
    elif inputs.kind == "series":
        rows = [[value] for value in sample]
    else:
        rows = to_native(sample)
    return [dict(zip(names, to_native(list(row)))) for row in rows]


def outputs_spec(predictions: Any, proba: Any, classes: list[Any] | None) -> list[dict[str, Any]]:
    outputs = [{"name": "predictions", "dtype": logical_dtype(predictions.dtype), "shape": [-1]}]
    if proba is not None:
        width = len(classes) if classes else int(proba.shape[1])
        outputs.append({"name": "probabilities", "dtype": "float64", "shape": [-1, width]})
    return outputs


def describe(
    model: Any, variable: str, name: str, inputs: Inputs
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The signature and sample documents for a model (before serialization details)."""
    predictions, _ = predict_outputs(model, inputs.sample, "regression")
    task = detect_task(model, predictions)
    predictions, proba = predict_outputs(model, inputs.sample, task)
    classes = (
        to_native(list(_attr(model, "classes_")))
        if task == "classification" and _attr(model, "classes_") is not None
        else None
    )
    signature: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "variable": variable,
        "framework": framework_of(model),
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "task": task,
        "input_kind": inputs.kind,
        "inputs": inputs.specs,
        "outputs": outputs_spec(predictions, proba, classes),
        "classes": classes,
        "python_version": platform.python_version(),
        "runtime_version": __version__,
        "warnings": inputs.warnings,
    }
    if task == "regression" and inputs.data is not None:
        signature["prediction_quantiles"] = _quantiles(model, inputs.data)
    sample: dict[str, Any] = {
        "inputs": sample_records(inputs),
        "predictions": to_native(predictions),
    }
    if proba is not None:
        sample["probabilities"] = to_native(proba)
    return signature, sample
