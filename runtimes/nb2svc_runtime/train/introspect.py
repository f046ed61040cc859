"""Train side: find the model in the notebook's globals and derive its signature and sample.

Runs in the training environment, so it only imports numpy/pandas/sklearn lazily and
only when the objects it inspects come from them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FunctionType, ModuleType
from typing import Any

from ..artifact.signature import MAX_CATEGORIES, logical_dtype, to_native
from ..frameworks.keras import call as keras_call
from ..frameworks.keras import is_keras_model
from ..frameworks.torch import forward, is_torch_module

MODEL_NAMES = (
    "model", "pipeline", "pipe", "clf", "estimator", "regressor", "classifier", "best_model",
)  # fmt: skip
DATA_NAMES = ("X_test", "X_val", "X_valid", "X_train", "X")
SAMPLE_ROWS = 5


class CaptureError(Exception):
    """A problem the notebook author has to fix; the message is shown as one line."""


@dataclass
class Inputs:
    """What the model takes: the kind, per-feature specs, a sample and the data for statistics."""

    kind: str
    specs: list[dict[str, Any]]
    sample: Any
    data: Any = None
    warnings: list[str] = field(default_factory=list)


def has_predict(value: Any) -> bool:
    if isinstance(value, (type, ModuleType, FunctionType)):
        return False
    return callable(getattr(value, "predict", None)) or is_torch_module(value)


def call_predict(model: Any, data: Any) -> Any:
    """model.predict(data); PyTorch and Keras models are called on float32 features instead."""
    if is_torch_module(model):
        return forward(model, data)
    if is_keras_model(model):
        return keras_call(model, data)
    return model.predict(data)


def _looks_fitted(value: Any) -> bool:
    if not hasattr(value, "get_params") or "sklearn" not in sys.modules:
        return True
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    steps = getattr(value, "steps", None)
    if isinstance(steps, list) and steps and isinstance(steps[-1], tuple):
        value = steps[-1][-1]  # a Pipeline is fitted when its final step is (scikit-learn 0.x
        # finds no fitted attribute on the Pipeline itself)
    try:
        check_is_fitted(value)
    except NotFittedError:
        return False
    except (TypeError, AttributeError, ValueError):
        return True
    return True


def find_model(namespace: dict[str, Any], variable: str | None) -> tuple[str, Any]:
    """The model object: `variable` if given, else the last fitted object with `predict`."""
    if variable is not None:
        if variable not in namespace:
            raise CaptureError(f"model variable {variable!r} is not defined in the notebook")
        value = namespace[variable]
        if not has_predict(value):
            kind = type(value).__name__
            raise CaptureError(f"model variable {variable!r} ({kind}) has no predict() method")
        return variable, value
    found = [
        (name, value)
        for name, value in namespace.items()
        if not name.startswith("_") and has_predict(value) and _looks_fitted(value)
    ]
    if not found:
        raise CaptureError(
            "no fitted object with a predict() method found in the notebook's globals; "
            "assign your model to a variable named `model` or pass the model variable"
        )
    preferred = [item for item in found if item[0] in MODEL_NAMES]
    return (preferred or found)[-1]


def is_frame(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "dtypes")


def ordered_data(namespace: dict[str, Any]) -> list[tuple[str, Any]]:
    named = [(n, namespace[n]) for n in DATA_NAMES if n in namespace]
    others = [(n, v) for n, v in reversed(namespace.items()) if n not in DATA_NAMES]
    return named + [(n, v) for n, v in others if not n.startswith("_")]


def _frames_with(namespace: dict[str, Any], columns: list[str]) -> list[Any]:
    return [v for _, v in ordered_data(namespace) if is_frame(v) and list(v.columns) == columns]


def column_spec(name: str, frames: list[Any]) -> dict[str, Any]:
    column = frames[0][name]
    dtype = column.dtype
    spec: dict[str, Any] = {
        "name": name,
        "dtype": logical_dtype(dtype),
        "pandas_dtype": str(dtype),
        "nullable": any(bool(f[name].isna().any()) for f in frames),
    }
    if str(dtype) == "category":
        spec["categories"] = to_native(list(dtype.categories))
    elif spec["dtype"] == "string":
        values = sorted({str(v) for f in frames for v in f[name].dropna().unique()})
        if 0 < len(values) <= MAX_CATEGORIES:
            spec["categories"] = values
    return spec


def frame_inputs(namespace: dict[str, Any], columns: list[str]) -> Inputs:
    """Inputs of a model fitted on a DataFrame with these columns."""
    frames = _frames_with(namespace, columns)
    if not frames:
        specs = [
            {"name": c, "dtype": "float64", "pandas_dtype": "float64", "nullable": True}
            for c in columns
        ]
        warning = "no DataFrame with the model's columns found; assuming float64 inputs"
        return Inputs("dataframe", specs, None, None, [warning])
    specs = [column_spec(c, frames) for c in columns]
    return Inputs("dataframe", specs, frames[0].head(SAMPLE_ROWS), frames[0])


def shape_of(value: Any) -> tuple[int, ...]:
    shape = getattr(value, "shape", None)
    return tuple(shape) if isinstance(shape, tuple) else ()


def array_inputs(namespace: dict[str, Any], n_features: int) -> Inputs:
    """Inputs of a model fitted on a 2-D array: float64 features f0..f{n-1}."""
    specs = [
        {"name": f"f{i}", "dtype": "float64", "pandas_dtype": "float64", "nullable": False}
        for i in range(n_features)
    ]
    for _, value in ordered_data(namespace):
        if len(shape_of(value)) == 2 and shape_of(value)[1] == n_features and not is_frame(value):
            import numpy as np

            data = np.asarray(value, dtype="float64")
            for i, spec in enumerate(specs):
                spec["nullable"] = bool(np.isnan(data[:, i]).any())
            return Inputs("array", specs, data[:SAMPLE_ROWS], data)
    import numpy as np

    warning = "no training array found; the sample input is a row of zeros"
    return Inputs("array", specs, np.zeros((1, n_features)), None, [warning])


def _text_candidates(namespace: dict[str, Any]) -> list[tuple[str, Sequence[Any]]]:
    found: list[tuple[str, Sequence[Any]]] = []
    for _name, value in ordered_data(namespace):
        if type(value).__name__ == "Series" or (len(shape_of(value)) == 1):
            values = list(value[:SAMPLE_ROWS])
        elif isinstance(value, list) and value:
            values = value[:SAMPLE_ROWS]
        else:
            continue
        if values and all(isinstance(v, str) for v in values):
            found.append((str(getattr(value, "name", None) or "text"), value))
    return found


def series_inputs(model: Any, namespace: dict[str, Any]) -> Inputs | None:
    """Inputs of a model over a 1-D sequence of texts (e.g. a TF-IDF pipeline)."""
    for name, value in _text_candidates(namespace):
        sample = list(value[:SAMPLE_ROWS])
        try:
            call_predict(model, sample)
        except Exception:
            continue
        spec = {"name": name, "dtype": "string", "pandas_dtype": "object", "nullable": False}
        return Inputs("series", [spec], sample, list(value))
    return None
