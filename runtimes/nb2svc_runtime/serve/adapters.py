"""Serve side: turn validated columns into the model's input and its outputs into JSON values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ..artifact.format import Feature, Signature
from ..artifact.signature import to_native

Columns = dict[str, list[Any]]
# pandas 2 parses a column in the format of its first value unless told "ISO8601"; pandas 1
# parses each ISO 8601 value on its own and knows no such format.
_ISO8601 = {"format": "ISO8601"} if int(pd.__version__.split(".")[0]) >= 2 else {}
ColumnBuilder = Callable[[list[Any]], Any]


def _string_builder(feature: Feature) -> ColumnBuilder:
    dtype = feature.pandas_dtype
    if dtype in ("str", "string"):
        try:
            pd.Series([], dtype=dtype)
        except TypeError:
            dtype = "object"
    if dtype in ("str", "string"):
        return lambda values: pd.Series(values, dtype=dtype)
    return lambda values: np.array([np.nan if v is None else v for v in values], dtype=object)


def _datetime_builder(feature: Feature) -> ColumnBuilder:
    """ISO 8601 strings as the datetime column the model was trained on. pandas 2 and later
    may parse into another unit than the training column's (microseconds for nanoseconds):
    a model that turns dates into numbers would see numbers 1000 times smaller, so the
    column is cast to the training dtype."""
    trained = feature.pandas_dtype if feature.pandas_dtype.startswith("datetime64[") else None

    def build(values: list[Any]) -> Any:
        parsed = pd.to_datetime(pd.Series(values), **_ISO8601)
        if trained is None or str(parsed.dtype) == trained:
            return parsed
        try:
            return parsed.astype(trained)
        except (TypeError, ValueError):  # naive values for a timezone-aware column
            return parsed

    return build


def column_builder(feature: Feature) -> ColumnBuilder:
    """A function building one typed column from validated Python values."""
    if feature.closed:
        categories = list(feature.categories or ())
        return lambda values: pd.Categorical(values, categories=categories)
    if feature.dtype == "datetime":
        return _datetime_builder(feature)
    if feature.dtype == "string":
        return _string_builder(feature)
    if feature.pandas_dtype[:1].isupper() or feature.pandas_dtype == "boolean":
        dtype = feature.pandas_dtype
        return lambda values: pd.array(values, dtype=dtype)
    np_dtype = np.dtype(feature.dtype)
    if feature.nullable and np_dtype.kind in "iub":
        return lambda values: np.array([np.nan if v is None else v for v in values])
    return lambda values: np.array(values, dtype=np_dtype)


class Adapter:
    """Calls a scikit-learn-style model: predict(X), predict_proba(X)."""

    framework = "sklearn"
    # False for a kind of model whose predictions come without probabilities, whatever
    # methods the object has.
    gives_proba = True

    def __init__(self, model: Any, signature: Signature) -> None:
        self.model = model
        self.signature = signature
        self.kind = signature.input_kind
        self.names = signature.names
        self.builders = [column_builder(f) for f in signature.inputs]
        proba = getattr(model, "predict_proba", None)
        self.has_proba = self.gives_proba and signature.has_proba and callable(proba)
        self._split = _split_pipeline(model) if self.has_proba else None
        final = self._split[1] if self._split else model
        self._argmax_classes = _argmax_classes(final) if self.has_proba else None

    def make_input(self, columns: Columns) -> Any:
        if self.kind == "series":
            return list(columns[self.names[0]])
        if self.kind == "array":
            n = len(columns[self.names[0]])
            matrix = np.empty((n, len(self.names)), dtype="float64")
            for i, name in enumerate(self.names):
                matrix[:, i] = np.array(columns[name], dtype="float64")
            return matrix
        data = {n: b(columns[n]) for n, b in zip(self.names, self.builders)}
        return pd.DataFrame(data, copy=False)

    def predict(self, data: Any) -> list[Any]:
        return json_values(self.model.predict(data))

    def predict_both(self, data: Any, want_proba: bool) -> tuple[list[Any], Any]:
        """Predictions and (if wanted) probabilities; a Pipeline transforms only once."""
        if not (want_proba and self.has_proba):
            return self.predict(data), None
        head, final = self._split or (None, self.model)
        transformed = data if head is None else head.transform(data)
        proba = np.asarray(final.predict_proba(transformed), dtype="float64")
        if self._argmax_classes is not None:  # predict() would run every tree again
            predictions = self._argmax_classes.take(np.argmax(proba, axis=1), axis=0)
        else:
            predictions = final.predict(transformed)
        return json_values(predictions), proba.tolist()

    def predict_proba(self, data: Any) -> list[list[float]] | None:
        if not self.has_proba:
            return None
        result = np.asarray(self.model.predict_proba(data), dtype="float64")
        return result.tolist()  # type: ignore[no-any-return]


class StatsmodelsAdapter(Adapter):
    """statsmodels results: predict(exog); no probabilities."""

    framework = "statsmodels"
    gives_proba = False

    def predict(self, data: Any) -> list[Any]:
        return json_values(self.model.predict(exog=data))


class XGBoostAdapter(Adapter):
    framework = "xgboost"


class LightGBMAdapter(Adapter):
    framework = "lightgbm"


class TorchAdapter(Adapter):
    """A TorchScript module: a float32 tensor of the features in, its outputs as lists."""

    framework = "pytorch"
    gives_proba = False

    def predict(self, data: Any) -> list[Any]:
        from ..frameworks.torch import forward

        return json_values(forward(self.model, data))


class KerasAdapter(TorchAdapter):
    """A Keras model, called directly (not predict()) on float32 features."""

    framework = "keras"

    def predict(self, data: Any) -> list[Any]:
        from ..frameworks.keras import call

        return json_values(call(self.model, data))


class GenericAdapter(Adapter):
    framework = "generic"


def json_values(result: Any) -> list[Any]:
    """Model output as a list of JSON-native values."""
    array = np.asarray(result)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.dtype.kind in "iufb":
        return array.tolist()  # type: ignore[no-any-return]
    return to_native(array.tolist())  # type: ignore[no-any-return]


def _split_pipeline(model: Any) -> tuple[Any, Any] | None:
    """(all steps but the last, final estimator) of a scikit-learn Pipeline, else None.

    Pipeline.predict and predict_proba both run every transform; sharing one transform
    gives the same outputs at half the cost.
    """
    steps = getattr(model, "steps", None)
    if type(model).__name__ != "Pipeline" or not isinstance(steps, list) or len(steps) < 2:
        return None
    final = steps[-1][1]
    if not (callable(getattr(final, "predict", None)) and hasattr(final, "predict_proba")):
        return None
    try:
        return model[:-1], final
    except (TypeError, IndexError, ValueError):
        return None


_ARGMAX_PREDICTORS = (
    "sklearn.ensemble._forest.ForestClassifier",
    "sklearn.ensemble._bagging.BaggingClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
)


def _argmax_classes(final: Any) -> Any:
    """`classes_` when `final.predict(X)` is by definition `classes_[argmax(predict_proba(X))]`.

    True of scikit-learn's forests, bagging and decision trees with one output (their
    predict() calls predict_proba() and takes the argmax), so both outputs cost one pass.
    """
    classes = getattr(final, "classes_", None)
    if getattr(final, "n_outputs_", 1) != 1 or not isinstance(classes, np.ndarray):
        return None
    lineage = {f"{k.__module__}.{k.__qualname__}" for k in type(final).__mro__}
    return classes if lineage & set(_ARGMAX_PREDICTORS) else None


ADAPTERS: dict[str, type[Adapter]] = {
    "sklearn": Adapter,
    "xgboost": XGBoostAdapter,
    "lightgbm": LightGBMAdapter,
    "statsmodels": StatsmodelsAdapter,
    "pytorch": TorchAdapter,
    "keras": KerasAdapter,
}


def make_adapter(model: Any, signature: Signature) -> Adapter:
    if signature.input_kind == "forecast":
        from .forecast_api import ForecastAdapter

        return ForecastAdapter(model, signature)
    return ADAPTERS.get(signature.framework, GenericAdapter)(model, signature)
