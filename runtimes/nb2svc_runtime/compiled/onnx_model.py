"""Serve side of a compiled model: validated request columns in, ONNX Runtime's outputs as the
same JSON values the native adapter (serve/adapters.Adapter) gives.

Imports only numpy and onnxruntime (lazily), never pandas or scikit-learn: the point of a
compiled model is a server that starts in under a second without them.

`feeds` tells how each ONNX input is built from the request's values (the build side,
compiled/convert.py, chooses it per column from the signature and the model's preprocessing):

- `double`: (n, 1) float64 from a number column; null (nullable columns) becomes NaN;
  float32/float16 features are rounded to their dtype first, as the native adapter's are;
- `string`: (n, 1) string from a string or category column (never null);
- `int64`: (n, 1) int64 from an integer column a OneHotEncoder reads as categories;
- `bool_int64`: (n, 1) int64 from a bool column, 0/1 (a one-hot encoded bool);
- `bool_double`: (n, 1) float64 from a bool column, 0.0/1.0 (a bool read as a number);
- `bool_string`: (n, 1) string from a bool column, "True"/"False";
- `matrix_double`: (n, k) float64 of every feature in signature order (`input_kind` "array",
  features f0..fn); null becomes NaN.

An `array` model has the one input `{"X": "matrix_double"}`; a `dataframe` model has one input
per column the model reads, named like the column (columns it drops have none).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..artifact.format import Feature, Signature

ONNX_FILE = "model.onnx"
TOLERANCE_KEY = "nb2svc.tolerance"  # ONNX metadata: what compile_model proved it to
FEED_KINDS = (
    "double", "string", "int64", "bool_int64", "bool_double", "bool_string", "matrix_double",
)  # fmt: skip
MATRIX_KINDS = ("matrix_double",)
NARROW = ("float16", "float32")

Columns = dict[str, list[Any]]
Rows = list[list[Any]]
Builder = Callable[[Columns], np.ndarray]


class CompiledModelError(Exception):
    """The compiled model does not fit its signature (a build bug, not a request problem)."""


def _double_builder(feature: Feature) -> Builder:
    """float32 and float16 features are rounded to their dtype, as the native adapter's
    column is before scikit-learn widens it to float64. numpy reads None as NaN."""
    name = feature.name
    narrow = feature.dtype in ("float16", "float32")
    dtype = np.dtype(feature.dtype) if narrow else np.dtype("float64")

    def build(columns: Columns) -> np.ndarray:
        values = np.array(columns[name], dtype=dtype)
        return values.astype("float64", copy=False).reshape(-1, 1)

    return build


def _column_builder(feature: Feature, kind: str) -> Builder:
    """The function building one (n, 1) ONNX input from a validated column."""
    name = feature.name
    if kind == "double":
        return _double_builder(feature)
    if kind == "string":
        return lambda columns: np.array(columns[name], dtype=object).reshape(-1, 1)
    if kind in ("int64", "bool_int64"):
        return lambda columns: np.array(columns[name], dtype="int64").reshape(-1, 1)
    if kind == "bool_double":
        return lambda columns: np.array(columns[name], dtype="float64").reshape(-1, 1)
    if kind == "bool_string":
        return lambda columns: np.array(
            ["True" if v else "False" for v in columns[name]], dtype=object
        ).reshape(-1, 1)
    raise CompiledModelError(f"unknown feed kind {kind!r} for input {name!r}")


def _matrix_builder(features: tuple[Feature, ...]) -> Builder:
    """All features as one (n, k) float64 matrix, columns in signature order: one numpy
    call for the whole request (None reads as NaN, a bool as 0/1), then float32 and float16
    features rounded to their dtype as in `_double_builder`."""
    names = [f.name for f in features]
    narrow = [(i, np.dtype(f.dtype)) for i, f in enumerate(features) if f.dtype in NARROW]

    def build(columns: Columns | Rows) -> np.ndarray:
        if isinstance(columns, list):  # the validated rows themselves (OnnxModel.takes_rows)
            matrix = np.array(columns, dtype="float64")
        else:
            matrix = np.array([columns[name] for name in names], dtype="float64").T
        for i, dtype in narrow:
            matrix[:, i] = matrix[:, i].astype(dtype)
        return matrix

    return build


def _builders(signature: Signature, feeds: dict[str, str]) -> dict[str, Builder]:
    """One builder per ONNX input; every input must name a feature (or be the matrix)."""
    features = {f.name: f for f in signature.inputs}
    builders: dict[str, Builder] = {}
    for input_name, kind in feeds.items():
        if kind not in FEED_KINDS:
            known = ", ".join(FEED_KINDS)
            raise CompiledModelError(f"input {input_name!r}: unknown feed kind {kind!r} ({known})")
        if kind in MATRIX_KINDS:
            builders[input_name] = _matrix_builder(signature.inputs)
        elif input_name in features:
            builders[input_name] = _column_builder(features[input_name], kind)
        else:
            raise CompiledModelError(
                f"ONNX input {input_name!r} is not a feature of the signature; rebuild the image"
            )
    return builders


def _session(onnx_path: Path) -> Any:
    """One thread, sequential, CPU: the server scales with workers, and ORT's own thread
    pool would fight them for the cores. Severity 3 (errors only): some converted models
    make ORT log a shape warning on every call."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def _tolerance(session: Any) -> float | None:
    """The tolerance compile_model recorded in the model's metadata (None if absent)."""
    text = session.get_modelmeta().custom_metadata_map.get(TOLERANCE_KEY)
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _rejection(exc: Exception) -> str | None:
    """What a node said when it refused the input (ORT's Fail while running a node), or None
    for any other failure."""
    text = str(exc)
    marker = "Status Message:"
    if type(exc).__name__ != "Fail" or "while running" not in text or marker not in text:
        return None
    status = text.split(marker, 1)[1].strip()
    if "Unknown Category" in status:
        return "a category the model was not trained on (its OneHotEncoder refuses unknown ones)"
    return status.splitlines()[0][:300] if status else None


def _class_table(classes: tuple[Any, ...]) -> dict[Any, Any]:
    """ONNX label -> the signature's class value. skl2onnx emits int64 labels for int, float
    and bool classes (False/True as 0/1) and strings for string classes; Python's equal hashes
    of 0, 0.0 and False map each back to the class value itself, so ints stay ints, bools
    stay bools and strings stay strings."""
    table: dict[Any, Any] = {}
    for value in classes:
        table[value] = value
    for value in classes:
        table.setdefault(str(value), value)
    return table


class OnnxModel:
    """An ONNX model with the serving adapter's duck type: make_input, predict_both."""

    framework = "onnxruntime"

    def __init__(self, onnx_path: Path, signature: Signature, feeds: dict[str, str]) -> None:
        self.signature = signature
        self.feeds = dict(feeds)
        self.session = _session(onnx_path)
        declared = [i.name for i in self.session.get_inputs()]
        if sorted(declared) != sorted(feeds):
            raise CompiledModelError(
                f"{onnx_path.name} takes inputs {declared}, inference.json feeds "
                f"{sorted(feeds)}; rebuild the image"
            )
        self._builders = _builders(signature, feeds)
        # One (n, k) matrix of every feature: built from the rows as they were validated, with
        # no transpose into columns and back (serve/service.py passes them; docs/architecture.md,
        # "Request path").
        self.takes_rows = list(self.feeds.values()) == ["matrix_double"]
        self._outputs = [o.name for o in self.session.get_outputs()]
        self.is_classifier = signature.task == "classification" and signature.classes is not None
        self.has_proba = self.is_classifier and signature.has_proba and len(self._outputs) > 1
        self._classes = _class_table(signature.classes or ())
        self.tolerance = _tolerance(self.session)

    def make_input(self, columns: Columns | Rows) -> dict[str, np.ndarray]:
        """The ORT feed for validated columns (serve/schema.Validator.columns) or, when the
        model `takes_rows`, for the validated rows themselves (Validator.checked_rows)."""
        # Rows reach only a model that takes_rows: its one builder, the matrix's, reads them.
        return {name: build(columns) for name, build in self._builders.items()}  # type: ignore[arg-type]

    def predict_both(
        self, feed: dict[str, np.ndarray], want_proba: bool
    ) -> tuple[list[Any], list[list[float]] | None]:
        """Predictions and (if wanted and given) probabilities, columns in class order."""
        proba = want_proba and self.has_proba
        names = self._outputs[:2] if proba else self._outputs[:1]
        results = self._run(names, feed)
        if not self.is_classifier:
            return np.asarray(results[0], dtype="float64").ravel().tolist(), None
        labels = self._labels(results[0])
        if not proba:
            return labels, None
        return labels, np.asarray(results[1], dtype="float64").tolist()

    def predict(self, feed: dict[str, np.ndarray]) -> list[Any]:
        return self.predict_both(feed, False)[0]

    def predict_proba(self, feed: dict[str, np.ndarray]) -> list[list[float]] | None:
        return self.predict_both(feed, True)[1]

    def _run(self, names: list[str], feed: dict[str, np.ndarray]) -> list[Any]:
        """session.run; a node refusing the values (an unseen category where the model's
        OneHotEncoder has handle_unknown="error") is a ValueError, as scikit-learn's is, so
        the server answers 422 as it does for the native model."""
        try:
            return self.session.run(names, feed)  # type: ignore[no-any-return]
        except Exception as exc:
            reason = _rejection(exc)
            if reason is None:
                raise
            raise ValueError(reason) from None

    def _labels(self, raw: Any) -> list[Any]:
        values = np.asarray(raw).ravel().tolist()
        try:
            return [self._classes[v] for v in values]
        except KeyError as exc:
            classes = list(self._classes)[: len(self.signature.classes or ())]
            raise CompiledModelError(
                f"ONNX Runtime predicted label {exc.args[0]!r}, not one of the signature's "
                f"classes {classes}; rebuild the image"
            ) from None
