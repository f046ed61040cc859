"""Build side of a compiled model: a fitted scikit-learn model as ONNX that gives the native
model's labels, and the check that it does (`prove`).

The recipe is the one benchmarks/serving/compiled-backends-study.md measured exact:

- one input per DataFrame column, named like it: double for numbers (float32 inputs make a
  scaler land on the other side of a tree threshold), string for strings, int64 for the
  integer and bool columns a OneHotEncoder reads; `input_kind` "array": one (n, k) double "X";
- `target_opset={"": 17, "ai.onnx.ml": 3}`, `zipmap=False`;
- Cast(to FLOAT) -> Cast(to DOUBLE) in front of every TreeEnsemble* node: scikit-learn's trees
  compare float32(x) with float64 thresholds, and so does ONNX Runtime after the two casts;
- the trees' float32 outputs cast to the double the rest of the graph was built for (ORT
  refuses GradientBoosting and most forests without it).

Three passes go beyond the study:

- votes (forests and single trees): each leaf carries every class's fraction, the graph
  divides the sums by the number of trees in double and takes the first ArgMax, as
  scikit-learn does; skl2onnx's weights (fraction / trees in float32, one class of two)
  break exact ties the other way (15 of 30 fully grown trees each way);
- thresholds: every branch is matched to its scikit-learn node and given the largest float32
  <= the float64 threshold, so `float32(x) <= t` decides exactly as scikit-learn does.
  skl2onnx 1.20 already writes these values (its adjust_threshold_for_sklearn); the pass
  checks the mapping and keeps the guarantee if a converter version rounds otherwise;
- SimpleImputer: ONNX Runtime has no double kernel for ai.onnx.ml Imputer, so imputers are
  converted here to Where(IsNaN(x), statistics_, x) with the float64 statistics.

XGBoost, LightGBM and CatBoost models, bare or as a Pipeline's last step, go through
compiled/boosters.py (`_compile_booster`) with the same feeds and proof.

scikit-learn, skl2onnx and onnx are imported inside the functions: the serving image never
has them, and importing this module costs nothing where it is not used.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..artifact.format import Feature, Signature
from . import boosters
from .boosters import BoosterUnsupported, is_classifier
from .onnx_model import FEED_KINDS, TOLERANCE_KEY, OnnxModel

TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
# ORT's tree ensembles add up and return float32 (|dp| <= 1e-7 measured): 1e-6 absolute,
# and relative to the value for a regressor's predictions.
TREE_TOLERANCE = 1e-6
# Double all the way (|dp| <= 3.3e-16 measured): 1e-9 leaves room for another summation
# order in wide dot products and still catches any float32 step (>= 1e-8) in the graph.
LINEAR_TOLERANCE = 1e-9
# XGBoost, LightGBM and CatBoost (compiled/boosters.py), by (library, task), from
# tests/peers/booster_models.py: probabilities |dp| <= 4.5e-7 (float32 leaf weights and
# sums) for all three; LightGBM's values (summed in double, returned as float32) 1.2e-7 of
# the value; XGBoost's and CatBoost's regressors sum float32 terms far larger than a small
# result (base score ~2000, values near 0), 1.2e-5 and 8.8e-6 of max(1, |value|) measured.
BOOSTER_TOLERANCE = {
    ("xgboost", "classification"): 1e-6, ("xgboost", "regression"): 1e-4,
    ("lightgbm", "classification"): 1e-6, ("lightgbm", "regression"): 1e-6,
    ("catboost", "classification"): 1e-6, ("catboost", "regression"): 1e-4,
}  # fmt: skip
MATRIX_INPUT = "X"
FEATURES_TENSOR = "nb2svc_features"  # the concatenated columns of a model without ColumnTransformer

LINEAR = frozenset({
    "LogisticRegression", "LinearRegression", "Ridge", "Lasso", "ElasticNet",
})  # fmt: skip
TREES = frozenset({
    "DecisionTreeClassifier", "DecisionTreeRegressor", "RandomForestClassifier",
    "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor",
    "GradientBoostingClassifier", "GradientBoostingRegressor",
})  # fmt: skip
SCALERS = frozenset({"StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler"})
ENCODER = "OneHotEncoder"
IMPUTER = "SimpleImputer"
COMPOSITES = frozenset({"Pipeline", "ColumnTransformer"})
TRANSFORMERS = SCALERS | {ENCODER, IMPUTER}
SCOPE = "scikit-learn scalers, one-hot encoders, numeric imputers, linear models and trees"


class Unsupported(Exception):
    """The model cannot be compiled exactly; the message is one line a user can read."""


@dataclass(frozen=True)
class Compiled:
    onnx_bytes: bytes
    feeds: dict[str, str]  # ONNX input -> feed kind (compiled/onnx_model.py)
    # |native - onnx| <= tolerance * max(1, |native|) for probabilities and regression
    # values; class labels must be equal.
    tolerance: float


@dataclass(frozen=True)
class Proof:
    """What `prove` found: labels compared exactly, numbers within `tolerance`."""

    checked_rows: int
    max_abs_diff: float  # largest |native - onnx| over probabilities or regression values
    label_mismatches: int  # rows whose labels differ (value or JSON type); 0 for regressors
    first_mismatch: str | None
    tolerance: float = 0.0
    beyond_tolerance: int = 0  # rows with a number further off than the tolerance allows

    @property
    def passed(self) -> bool:
        return self.checked_rows > 0 and self.label_mismatches == 0 and self.beyond_tolerance == 0


# ---------------------------------------------------------------------------- the model's parts


def _class_name(obj: Any) -> str:
    return type(obj).__name__


def _is_sklearn(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "sklearn"


def describe_model(model: Any) -> str:
    """The model as its class names, e.g. "Pipeline(ColumnTransformer, RandomForestClassifier)"."""
    steps = getattr(model, "steps", None)
    if _class_name(model) == "Pipeline" and isinstance(steps, list):
        inner = ", ".join(_class_name(step) for _, step in steps if not isinstance(step, str))
        return f"Pipeline({inner})"
    return _class_name(model)


def _flat_steps(model: Any) -> list[Any]:
    """A Pipeline's steps with nested Pipelines spliced in and "passthrough" steps left out;
    a bare estimator is a one-step list."""
    if _class_name(model) != "Pipeline" or not _is_sklearn(model):
        return [model]
    steps: list[Any] = []
    for _, step in model.steps:
        if step is None or isinstance(step, str):
            continue
        steps.extend(_flat_steps(step))
    return steps


def _branches(ct: Any) -> list[tuple[Any, Any]]:
    """(transformer, columns) of a fitted ColumnTransformer, remainder included."""
    return [(trans, cols) for _, trans, cols in ct.transformers_]


def _is_identity(obj: Any) -> bool:
    """ "passthrough" as a fitted ColumnTransformer holds it: a FunctionTransformer without
    a function (scikit-learn replaces the string with one)."""
    return (
        _class_name(obj) == "FunctionTransformer"
        and _is_sklearn(obj)
        and getattr(obj, "func", None) is None
        and getattr(obj, "inverse_func", None) is None
    )


def _components(obj: Any) -> Iterator[Any]:
    """Every estimator object inside the model, the model first."""
    yield obj
    if _class_name(obj) == "Pipeline" and _is_sklearn(obj):
        for _, step in obj.steps:
            if step is not None and not isinstance(step, str):
                yield from _components(step)
    elif _class_name(obj) == "ColumnTransformer" and _is_sklearn(obj):
        for trans, _ in _branches(obj):
            if not isinstance(trans, str) and not _is_identity(trans):
                yield from _components(trans)


def _unsupported_part(obj: Any) -> Unsupported:
    name = _class_name(obj)
    if name == "FunctionTransformer" and _is_sklearn(obj):
        func = getattr(getattr(obj, "func", None), "__name__", "a function")
        return Unsupported(
            f"FunctionTransformer({func}) runs notebook Python code, which has no ONNX form; "
            "serve the model natively or express the step with scikit-learn transformers"
        )
    return Unsupported(f"{name}: no exact ONNX converter is used for it yet (compiled: {SCOPE})")


def _check_imputer(imputer: Any) -> None:
    """Only what Where(IsNaN(x), statistics_, x) computes: NaN markers, no indicator columns,
    no column dropped for having no statistic."""
    missing = imputer.missing_values
    if not (isinstance(missing, float) and math.isnan(missing)):
        raise Unsupported(
            f"SimpleImputer(missing_values={missing!r}): only NaN as the missing marker "
            "is compiled; use missing_values=np.nan"
        )
    if getattr(imputer, "add_indicator", False):
        raise Unsupported("SimpleImputer(add_indicator=True) is not compiled yet")
    statistics = np.asarray(imputer.statistics_)
    if statistics.dtype.kind not in "iuf" or np.isnan(statistics.astype("float64")).any():
        raise Unsupported(
            "SimpleImputer: only numeric columns with a statistic for each are compiled "
            "(string imputing, or a column that was all missing in training)"
        )


def _check_parts(model: Any, signature: Signature, booster: Any = None) -> None:
    """Every part in scope; the last step a model of the signature's task (`booster`: the
    final XGBoost, LightGBM or CatBoost model, checked by compiled/boosters.py)."""
    for part in _components(model):
        name = _class_name(part)
        if part is booster:
            continue
        if not _is_sklearn(part) or name not in LINEAR | TREES | TRANSFORMERS | COMPOSITES:
            raise _unsupported_part(part)
        if name == IMPUTER:
            _check_imputer(part)
    steps = _flat_steps(model)
    final = steps[-1]
    if final is not booster and _class_name(final) not in LINEAR | TREES:
        raise Unsupported(f"{describe_model(model)}: the last step is not a model ({SCOPE})")
    transformers = [p for p in _components(model) if _class_name(p) == "ColumnTransformer"]
    if any(ct is not steps[0] for ct in transformers):
        raise Unsupported(
            f"{describe_model(model)}: a ColumnTransformer is compiled only as the first step"
        )
    if _outputs_per_row(final) > 1:
        raise Unsupported(f"{_class_name(final)}: several outputs per row are not compiled yet")
    classifier = hasattr(final, "classes_") if booster is None else is_classifier(final)
    if classifier != (signature.task == "classification") or (
        classifier and signature.classes is None
    ):
        raise Unsupported(f"{_class_name(final)}: the signature's task is {signature.task}")


def _outputs_per_row(final: Any) -> int:
    if hasattr(final, "n_outputs_"):
        return int(final.n_outputs_)
    coef = getattr(final, "coef_", None)
    if coef is not None and not hasattr(final, "classes_") and np.ndim(coef) == 2:
        return int(np.shape(coef)[0])
    return 1


# ------------------------------------------------------------------- how each column is read


@dataclass(frozen=True)
class Route:
    """What the steps before the final model do with one input column."""

    encoded: bool = False  # a OneHotEncoder reads it as categories
    numeric: bool = False  # it reaches the model as a number
    imputed: bool = False  # a SimpleImputer fills its NaN on the way

    def merged(self, other: Route) -> Route:
        """A column several transformers select: imputed only if each branch imputes it."""
        return Route(
            self.encoded or other.encoded,
            self.numeric or other.numeric,
            (self.imputed and other.imputed) if self.used else other.imputed,
        )

    @property
    def used(self) -> bool:
        return self.encoded or self.numeric


def _branch_route(trans: Any) -> Route:
    if isinstance(trans, str) or _is_identity(trans):
        return Route(numeric=True) if trans != "drop" else Route()
    names = {_class_name(step) for step in _flat_steps(trans)}
    encoded = ENCODER in names
    return Route(encoded=encoded, numeric=not encoded, imputed=IMPUTER in names)


def _selected(columns: Any, names: list[str]) -> list[str]:
    """The column names a fitted ColumnTransformer branch selects (names, indices or a mask)."""
    if isinstance(columns, str):
        return [columns]
    if isinstance(columns, slice):
        if isinstance(columns.start, str) or isinstance(columns.stop, str):
            raise Unsupported("ColumnTransformer: column slices by name are not compiled yet")
        return names[columns]
    selection = np.asarray(columns)
    if selection.size == 0:
        return []
    if selection.dtype.kind == "b":
        return [name for name, keep in zip(names, selection.tolist()) if keep]
    if selection.dtype.kind in "iu":
        return [names[i] for i in selection.tolist()]
    return [str(c) for c in selection.tolist()]


def column_routes(model: Any, names: list[str]) -> dict[str, Route]:
    """Route of every signature column: through the leading ColumnTransformer's branches, or,
    without one, through all the steps before the model."""
    steps = _flat_steps(model)
    head = steps[:-1]
    if not head or _class_name(head[0]) != "ColumnTransformer":
        found = {_class_name(step) for step in head}
        if ENCODER in found:
            raise Unsupported(
                "OneHotEncoder outside a ColumnTransformer is not compiled: select its columns "
                "with a ColumnTransformer"
            )
        route = Route(numeric=True, imputed=IMPUTER in found)
        return {name: route for name in names}
    routes = {name: Route() for name in names}
    for trans, columns in _branches(head[0]):
        branch = _branch_route(trans)
        if not branch.used:
            continue
        for name in _selected(columns, names):
            if name not in routes:
                raise Unsupported(f"ColumnTransformer selects {name!r}, not a signature input")
            routes[name] = routes[name].merged(branch)
    imputed_after = any(_class_name(step) == IMPUTER for step in head[1:])
    if imputed_after:
        routes = {n: Route(r.encoded, r.numeric, True) for n, r in routes.items()}
    return routes


def _number_feed(feature: Feature, route: Route, final: str) -> str:
    if route.encoded and route.numeric:
        raise Unsupported(
            f"column {feature.name!r} is both one-hot encoded and read as a number; "
            "ONNX gives a column one input type"
        )
    if feature.nullable and not route.imputed:
        raise Unsupported(
            f"column {feature.name!r} may be null and reaches {final} without a SimpleImputer; "
            "impute it in the pipeline (ONNX and scikit-learn treat NaN differently)"
        )
    if not route.encoded:
        return "double"
    if feature.dtype.startswith("float"):
        raise Unsupported(f"float column {feature.name!r} is one-hot encoded; not compiled yet")
    if feature.nullable:
        raise Unsupported(f"one-hot encoded column {feature.name!r} may be null; not compiled")
    return "int64"


def feed_kind(feature: Feature, route: Route, final: str) -> str:
    """The ONNX input kind of one column (compiled/onnx_model.py lists the kinds)."""
    if not route.used:  # the model drops it: no ONNX input (pruned after conversion)
        return "string" if feature.dtype in ("string", "datetime") else "double"
    if feature.dtype == "datetime":
        raise Unsupported(f"datetime column {feature.name!r}: not compiled yet")
    if feature.dtype == "string":
        if not route.encoded or route.numeric:
            raise Unsupported(f"string column {feature.name!r} reaches {final} unencoded")
        if feature.nullable:
            raise Unsupported(
                f"string column {feature.name!r} may be null; a missing category has no exact "
                "ONNX form here (fill it in the notebook, e.g. fillna('missing'))"
            )
        return "string"
    if feature.dtype == "bool":
        if feature.nullable:
            raise Unsupported(f"bool column {feature.name!r} may be null; not compiled")
        if route.encoded and route.numeric:
            raise Unsupported(f"bool column {feature.name!r} is both encoded and a number")
        return "bool_int64" if route.encoded else "bool_double"
    return _number_feed(feature, route, final)


def plan_feeds(model: Any, signature: Signature) -> dict[str, str]:
    """Feed kind of every signature column, before unused ones are pruned."""
    final = _class_name(_flat_steps(model)[-1])
    if signature.input_kind == "array":
        routes = column_routes(model, signature.names)
        for feature in signature.inputs:
            if feature.nullable and not routes[feature.name].imputed:
                raise Unsupported(
                    f"feature {feature.name} may be NaN and reaches {final} without a "
                    "SimpleImputer; impute it in the pipeline"
                )
        return {MATRIX_INPUT: "matrix_double"}
    if signature.input_kind != "dataframe":
        raise Unsupported(f"input_kind {signature.input_kind!r} is not compiled yet")
    routes = column_routes(model, signature.names)
    return {f.name: feed_kind(f, routes[f.name], final) for f in signature.inputs}


# ------------------------------------------------------------------------------- conversion


def _tensor_type(kind: str, width: int) -> Any:
    from skl2onnx.common.data_types import DoubleTensorType, Int64TensorType, StringTensorType

    if kind in ("string", "bool_string"):
        return StringTensorType([None, 1])
    if kind in ("int64", "bool_int64"):
        return Int64TensorType([None, 1])
    return DoubleTensorType([None, width])


def _has_column_transformer(model: Any) -> bool:
    steps = _flat_steps(model)
    return len(steps) > 1 and _class_name(steps[0]) == "ColumnTransformer"


def _initial_types(model: Any, signature: Signature, plan: dict[str, str]) -> list[Any]:
    """skl2onnx's inputs: one per column for a ColumnTransformer (it selects by name), else
    one double matrix of every column (`_as_matrix`)."""
    if signature.input_kind == "array":
        return [(MATRIX_INPUT, _tensor_type("matrix_double", len(signature.names)))]
    if _has_column_transformer(model):
        return [(name, _tensor_type(kind, 1)) for name, kind in plan.items()]
    if FEATURES_TENSOR in plan:
        raise Unsupported(f"a column named {FEATURES_TENSOR!r} is not compiled")
    return [(FEATURES_TENSOR, _tensor_type("double", len(plan)))]


def _imputer_shape(operator: Any) -> None:
    """skl2onnx shape calculator of `_convert_imputer`: double in, double out, same width."""
    from skl2onnx.common.data_types import DoubleTensorType

    inputs = operator.inputs
    if not all(isinstance(v.type, DoubleTensorType) for v in inputs):
        raise Unsupported("SimpleImputer: only numeric (double) columns are compiled")
    widths: list[int | None] = [v.type.shape[1] if len(v.type.shape) > 1 else None for v in inputs]
    known = [w for w in widths if w is not None]
    width = sum(known) if len(known) == len(widths) else None
    operator.outputs[0].type = DoubleTensorType([inputs[0].get_first_dimension(), width])


def _convert_imputer(scope: Any, operator: Any, container: Any) -> None:
    """Where(IsNaN(x), statistics_, x) in double: ORT has no double Imputer kernel, and the
    ai.onnx.ml Imputer would round the fill values to float32."""
    from onnx import TensorProto

    fills = np.asarray(operator.raw_operator.statistics_, dtype="float64").reshape(1, -1)
    source = operator.inputs[0].full_name
    if len(operator.inputs) > 1:
        source = scope.get_unique_variable_name("imputer_columns")
        names = [v.full_name for v in operator.inputs]
        container.add_node(
            "Concat", names, [source], axis=1, name=scope.get_unique_operator_name("Concat")
        )
    fill = scope.get_unique_variable_name("imputer_fill")
    container.add_initializer(fill, TensorProto.DOUBLE, list(fills.shape), fills.ravel().tolist())
    missing = scope.get_unique_variable_name("imputer_missing")
    container.add_node("IsNaN", [source], [missing], name=scope.get_unique_operator_name("IsNaN"))
    container.add_node(
        "Where",
        [missing, fill, source],
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("Where"),
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def _convert(model: Any, initial_types: list[Any], classifier: bool) -> Any:
    """skl2onnx's conversion with the study's options; its errors become Unsupported."""
    from skl2onnx import convert_sklearn
    from sklearn.impute import SimpleImputer

    options = {id(model): {"zipmap": False}} if classifier else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return convert_sklearn(
                model,
                initial_types=initial_types,
                target_opset=TARGET_OPSET,
                options=options,
                custom_conversion_functions={SimpleImputer: _convert_imputer},
                custom_shape_calculators={SimpleImputer: _imputer_shape},
            )
    except Unsupported:
        raise
    except Exception as exc:
        raise Unsupported(
            f"{describe_model(model)}: skl2onnx cannot convert it ({_first_line(exc)})"
        ) from None


# ------------------------------------------------------------------------------ graph passes


def _is_tree(node: Any) -> bool:
    return node.domain == "ai.onnx.ml" and str(node.op_type).startswith("TreeEnsemble")


class _Names:
    """Fresh tensor names that collide with none in the graph."""

    def __init__(self, graph: Any) -> None:
        self.taken = {name for node in graph.node for name in [*node.input, *node.output]}
        self.taken |= {v.name for v in [*graph.input, *graph.output, *graph.initializer]}

    def __call__(self, seed: str) -> str:
        name, i = seed, 0
        while name in self.taken:
            i += 1
            name = f"{seed}_{i}"
        self.taken.add(name)
        return name


def _replace_nodes(graph: Any, nodes: list[Any]) -> None:
    del graph.node[:]
    graph.node.extend(nodes)


def cast_before_trees(graph: Any) -> int:
    """Cast(to FLOAT) -> Cast(to DOUBLE) in front of every TreeEnsemble* node: the trees then
    see float32(x), as scikit-learn's do, in the double input ORT compares exactly."""
    from onnx import TensorProto, helper

    fresh, nodes, count = _Names(graph), [], 0
    for node in graph.node:
        if _is_tree(node):
            narrow, wide = fresh(f"{node.input[0]}_f32"), fresh(f"{node.input[0]}_f32_f64")
            nodes.append(helper.make_node("Cast", [node.input[0]], [narrow], to=TensorProto.FLOAT))
            nodes.append(helper.make_node("Cast", [narrow], [wide], to=TensorProto.DOUBLE))
            node.input[0] = wide
            count += 1
        nodes.append(node)
    _replace_nodes(graph, nodes)
    return count


def tree_outputs_as_declared(graph: Any) -> None:
    """ORT's tree ensembles output float32 whatever skl2onnx declared; cast each tree's scores
    to the type the graph declares for them (double when undeclared: skl2onnx typed them
    like the double input)."""
    from onnx import TensorProto, helper

    declared = {v.name: v.type.tensor_type.elem_type for v in [*graph.output, *graph.value_info]}
    fresh, nodes = _Names(graph), []
    for node in graph.node:
        nodes.append(node)
        if not _is_tree(node):
            continue
        index = 1 if "Classifier" in node.op_type else 0
        name = node.output[index]
        wanted = declared.get(name, TensorProto.DOUBLE)
        if wanted == TensorProto.FLOAT:
            continue
        raw = fresh(f"{name}_float32")
        node.output[index] = raw
        nodes.append(helper.make_node("Cast", [raw], [name], to=wanted))
    _replace_nodes(graph, nodes)


def _sklearn_trees(final: Any) -> list[Any]:
    """The final model's `tree_` objects in skl2onnx's tree-id order (stage * K + class for
    gradient boosting, estimator order for forests)."""
    if hasattr(final, "tree_"):
        return [final.tree_]
    estimators = getattr(final, "estimators_", None)
    if isinstance(estimators, np.ndarray) and estimators.ndim == 2:
        return [tree.tree_ for stage in estimators for tree in stage]
    return [tree.tree_ for tree in estimators or ()]


def floor32(threshold: float) -> float:
    """The largest float32 <= threshold: for every float32 x, x <= floor32(t) iff x <= t."""
    narrow = np.float32(threshold)
    if float(narrow) > threshold:
        narrow = np.nextafter(narrow, np.float32(-np.inf))
    return float(narrow)


def exact_thresholds(node: Any, trees: list[Any]) -> bool:
    """Rewrite a tree node's float32 thresholds with `floor32` of scikit-learn's float64 ones.

    Each branch is matched to its scikit-learn node (tree id, node id, feature and the float32
    threshold, rounded to nearest as skl2onnx's forests write it or down as its single trees
    do, must agree); when any does not, the node is left as skl2onnx wrote it.
    """
    attrs = {a.name: a for a in node.attribute}
    needed = ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes")
    if any(name not in attrs for name in needed):
        return False
    rows = zip(*(attrs[n].ints if n != "nodes_values" else attrs[n].floats for n in needed[:4]))
    modes = list(attrs["nodes_modes"].strings)
    values: list[float] = []
    for (tree_id, node_id, feature, value), mode in zip(rows, modes):
        if mode != b"BRANCH_LEQ":
            values.append(value)
            continue
        if not 0 <= tree_id < len(trees) or not 0 <= node_id < trees[tree_id].node_count:
            return False
        tree = trees[tree_id]
        threshold = float(tree.threshold[node_id])
        exact = floor32(threshold)
        if int(tree.feature[node_id]) != feature or value not in (
            exact,
            float(np.float32(threshold)),
        ):
            return False
        values.append(exact)
    del attrs["nodes_values"].floats[:]
    attrs["nodes_values"].floats.extend(values)
    return True


# scikit-learn's predict() of these is classes_[argmax(mean of the trees' leaf fractions)].
VOTING = frozenset({"DecisionTreeClassifier", "RandomForestClassifier", "ExtraTreesClassifier"})


def _leaf_fractions(trees: list[Any]) -> Iterator[tuple[int, int, list[float]]]:
    """(tree id, leaf node id, class fractions) of every leaf, as the tree's predict_proba."""
    for tree_id, tree in enumerate(trees):
        values = np.asarray(tree.value)[:, 0, :]
        for node_id in np.flatnonzero(np.asarray(tree.children_left) == -1).tolist():
            row = values[node_id]
            yield tree_id, node_id, (row / row.sum()).tolist()


def _leaves(node: Any) -> set[tuple[int, int]]:
    attrs = {a.name: a for a in node.attribute}
    ids = zip(
        attrs["nodes_treeids"].ints, attrs["nodes_nodeids"].ints, attrs["nodes_modes"].strings
    )
    return {(t, n) for t, n, mode in ids if mode == b"LEAF"}


def _class_labels(node: Any) -> Any:
    from onnx import TensorProto, helper

    attrs = {a.name: a for a in node.attribute}
    if "classlabels_int64s" in attrs:
        labels: list[Any] = list(attrs["classlabels_int64s"].ints)
        return helper.make_tensor("", TensorProto.INT64, [len(labels)], labels)
    labels = list(attrs["classlabels_strings"].strings)
    return helper.make_tensor("", TensorProto.STRING, [len(labels)], labels)


def exact_votes(graph: Any, node: Any, final: Any) -> bool:
    """Votes summed as scikit-learn does, and its argmax for the label.

    skl2onnx stores each leaf's fraction divided by the number of trees in float32 (and for
    two classes only the second one's, ORT deriving p0 = 1 - p1), so ORT's sums miss exact
    ties that scikit-learn resolves to the first class (15 of 30 pure trees each way) and its
    label goes the other way. Here each leaf carries every class's fraction, whole numbers
    for pure leaves that float32 sums exactly; the graph divides by the number of trees in
    double and takes ArgMax (first maximum, as numpy's) over the classes.
    """
    from onnx import TensorProto, helper

    attrs = {a.name: a for a in node.attribute}
    outputs = {v.name: v for v in graph.output}
    label, scores = node.output[0], node.output[1]
    post = attrs.get("post_transform")
    if label not in outputs or scores not in outputs or (post is not None and post.s != b"NONE"):
        return False
    trees = _sklearn_trees(final)
    leaves = list(_leaf_fractions(trees))
    if {(t, n) for t, n, _ in leaves} != _leaves(node) or "class_weights" not in attrs:
        return False
    columns: dict[str, list[Any]] = {"class_treeids": [], "class_nodeids": [], "class_ids": []}
    weights: list[float] = []
    for tree_id, node_id, fractions in leaves:
        for class_id, fraction in enumerate(fractions):
            columns["class_treeids"].append(tree_id)
            columns["class_nodeids"].append(node_id)
            columns["class_ids"].append(class_id)
            weights.append(fraction)
    for name, ints in columns.items():
        del attrs[name].ints[:]
        attrs[name].ints.extend(ints)
    del attrs["class_weights"].floats[:]
    attrs["class_weights"].floats.extend(weights)
    fresh = _Names(graph)
    votes, wide, index = fresh("tree_votes"), fresh("tree_votes_double"), fresh("tree_argmax")
    count, classes = fresh("tree_count"), fresh("tree_classes")
    node.output[0], node.output[1] = fresh("tree_label_unused"), votes
    graph.initializer.append(helper.make_tensor(count, TensorProto.DOUBLE, [], [len(trees)]))
    class_tensor = _class_labels(node)
    class_tensor.name = classes
    graph.initializer.append(class_tensor)
    after = [
        helper.make_node("Cast", [votes], [wide], to=TensorProto.DOUBLE),
        helper.make_node("Div", [wide, count], [scores]),
        helper.make_node("ArgMax", [scores], [index], axis=1, keepdims=0),
        helper.make_node("Gather", [classes, index], [label], axis=0),
    ]
    outputs[scores].type.tensor_type.elem_type = TensorProto.DOUBLE
    position = list(graph.node).index(node) + 1
    _replace_nodes(graph, [*graph.node[:position], *after, *graph.node[position:]])
    return True


def drop_unused_inputs(graph: Any) -> None:
    """skl2onnx keeps an input for a column the ColumnTransformer drops; ORT would then want
    it fed. Inputs no node reads are removed."""
    read = {name for node in graph.node for name in node.input}
    kept = [v for v in graph.input if v.name in read]
    del graph.input[:]
    graph.input.extend(kept)


def _tree_nodes(graph: Any) -> list[Any]:
    return [node for node in graph.node if _is_tree(node)]


def _as_matrix(model: Any, plan: dict[str, str]) -> dict[str, str]:
    """The feed of a DataFrame model without a ColumnTransformer: the one (n, k) double input
    skl2onnx converts it with, built in one numpy call, instead of a Concat of k (n, 1)
    inputs (a 30-column request: ~50 us of array building and a Concat per call, measured).
    Every column must reach the model as a number."""
    if not all(kind in ("double", "bool_double") for kind in plan.values()):
        raise Unsupported(
            f"{describe_model(model)}: without a ColumnTransformer every column must "
            "reach the model as a number"
        )
    return {FEATURES_TENSOR: "matrix_double"}


def _passes(onx: Any, model: Any, signature: Signature, plan: dict[str, str]) -> bool:
    """The graph passes; True when the model has trees."""
    graph = onx.graph
    drop_unused_inputs(graph)
    trees = _tree_nodes(graph)
    if trees:
        final = _flat_steps(model)[-1]
        voted = False
        if len(trees) == 1:
            exact_thresholds(trees[0], _sklearn_trees(final))
            voted = _class_name(final) in VOTING and exact_votes(graph, trees[0], final)
        if not voted:
            tree_outputs_as_declared(graph)
        cast_before_trees(graph)
    return bool(trees)


def _check_loads(onnx_bytes: bytes, model: Any) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise Unsupported(
            f"{describe_model(model)}: ONNX Runtime cannot load the converted model "
            f"({_first_line(exc)})"
        ) from None


def compile_model(model: Any, signature: Signature) -> Compiled:
    """The model as ONNX with the study's exact recipe, or Unsupported saying why not."""
    final = _flat_steps(model)[-1]
    if boosters.library(final) is not None:
        try:
            return _compile_booster(model, signature, final)
        except BoosterUnsupported as exc:
            raise Unsupported(str(exc)) from None
    if signature.framework != "sklearn" or not _is_sklearn(model):
        raise _unsupported_part(model)
    _check_parts(model, signature)
    plan = plan_feeds(model, signature)
    classifier = signature.task == "classification"
    matrix = signature.input_kind == "dataframe" and not _has_column_transformer(model)
    input_kinds = _as_matrix(model, plan) if matrix else plan  # refused before converting
    onx = _convert(model, _initial_types(model, signature, plan), classifier)
    has_trees = _passes(onx, model, signature, plan)
    feeds: dict[str, str] = {}
    for value in onx.graph.input:
        if value.name not in input_kinds:
            raise Unsupported(f"{describe_model(model)}: unexpected ONNX input {value.name!r}")
        feeds[value.name] = input_kinds[value.name]
    tolerance = TREE_TOLERANCE if has_trees else LINEAR_TOLERANCE
    onnx_set_tolerance(onx, tolerance)
    onnx_bytes = onx.SerializeToString()
    _check_loads(onnx_bytes, model)
    assert all(kind in FEED_KINDS for kind in feeds.values())
    return Compiled(onnx_bytes, feeds, tolerance)


def _compile_booster(model: Any, signature: Signature, final: Any) -> Compiled:
    """An XGBoost, LightGBM or CatBoost model, bare or the last step of a Pipeline of the
    transformers above, with its splits matched to the model's (compiled/boosters.py)."""
    library = boosters.library(final)
    boosters.check(final, bare=model is final)
    _check_parts(model, signature, booster=final)
    plan = plan_feeds(model, signature)
    classifier = signature.task == "classification"
    matrix = signature.input_kind == "dataframe" and not _has_column_transformer(model)
    input_kinds = _as_matrix(model, plan) if matrix else plan
    if library == "catboost":
        onx = boosters.catboost_onnx(final, next(iter(input_kinds)), TARGET_OPSET)
    else:
        boosters.register_converters()
        onx = _convert(boosters.unnamed(model), _initial_types(model, signature, plan), classifier)
    graph = onx.graph
    drop_unused_inputs(graph)
    trees = _tree_nodes(graph)
    if len(trees) != 1:
        raise Unsupported(f"{describe_model(model)}: {len(trees)} tree ensembles after converting")
    if library == "xgboost":
        boosters.exact_booster_thresholds(trees[0], boosters.xgboost_trees(final), double=False)
        cast_before_trees(graph)
    elif library == "lightgbm":
        boosters.exact_booster_thresholds(trees[0], boosters.lightgbm_trees(final), double=True)
    classes = boosters.class_values(final) if classifier else []
    boosters.outputs_as_served(graph, classifier, classes)
    feeds: dict[str, str] = {}
    for value in graph.input:
        if value.name not in input_kinds:
            raise Unsupported(f"{describe_model(model)}: unexpected ONNX input {value.name!r}")
        feeds[value.name] = input_kinds[value.name]
    tolerance = BOOSTER_TOLERANCE[str(library), "classification" if classifier else "regression"]
    onnx_set_tolerance(onx, tolerance)
    onnx_bytes = onx.SerializeToString()
    _check_loads(onnx_bytes, model)
    return Compiled(onnx_bytes, feeds, tolerance)


def onnx_set_tolerance(onx: Any, tolerance: float) -> None:
    """The tolerance in the model's metadata, so OnnxModel knows what it was proven to."""
    from onnx import helper

    props = {p.key: p.value for p in onx.metadata_props}
    props[TOLERANCE_KEY] = repr(tolerance)
    del onx.metadata_props[:]
    helper.set_model_props(onx, props)


# ------------------------------------------------------------------------------------ proof

NativePredictBoth = Callable[[Any, bool], tuple[list[Any], Any]]


def _same_label(a: Any, b: Any) -> bool:
    """Equal and of the same JSON type: True == 1 in Python, not in a response."""
    return type(a) is type(b) and bool(a == b)


def _row_diff(native: Any, compiled: Any) -> tuple[float, float]:
    """(largest |difference|, largest |difference| / max(1, |native|)) of one row's numbers."""
    left = np.atleast_1d(np.asarray(native, dtype="float64"))
    right = np.atleast_1d(np.asarray(compiled, dtype="float64"))
    if left.shape != right.shape:
        return math.inf, math.inf
    diff = np.abs(left - right)
    both_nan = np.isnan(left) & np.isnan(right)
    diff = np.where(both_nan, 0.0, np.where(np.isnan(diff), np.inf, diff))
    if diff.size == 0:
        return 0.0, 0.0
    return float(diff.max()), float((diff / np.maximum(1.0, np.abs(left))).max())


def _near_tie(proba: Any, tolerance: float) -> bool:
    """The native top two probabilities within the tolerance: float32 may order them either way."""
    top = sorted(np.asarray(proba, dtype="float64").tolist(), reverse=True)
    return len(top) > 1 and top[0] - top[1] <= 2 * tolerance


def prove(
    native: Any,
    compiled: OnnxModel,
    columns: dict[str, list[Any]],
    native_input: Any = None,
    tolerance: float | None = None,
) -> Proof:
    """Compare the native model and the compiled one on the same rows.

    `native` is the native adapter (serve/adapters.Adapter) or its bound predict_both;
    `native_input` its make_input(columns), built from the adapter when not given; `columns`
    are the rows as serve/schema.Validator.columns returns them. Labels must be equal in value
    and JSON type; probabilities and regression values within `tolerance` (by default the one
    compile_model wrote into the ONNX model: Compiled.tolerance) * max(1, |native|)
    (`Proof.passed`; `max_abs_diff` is absolute, so a regressor's may exceed the tolerance).
    A label mismatch on a near tie is still a mismatch (the native model should serve), but
    its message says so.
    """
    predict_both: NativePredictBoth = getattr(native, "predict_both", native)
    if native_input is None:
        native_input = native.make_input(columns)
    if tolerance is None:
        tolerance = compiled.tolerance
    if tolerance is None:
        raise ValueError("prove: pass tolerance= (the model.onnx was not made by compile_model)")
    want = compiled.has_proba
    native_labels, native_proba = predict_both(native_input, want)
    labels, proba = compiled.predict_both(compiled.make_input(columns), want)
    if len(native_labels) != len(labels):
        message = f"{len(labels)} predictions from ONNX Runtime, {len(native_labels)} native"
        return Proof(len(native_labels), math.inf, len(native_labels), message, tolerance, 0)
    numbers = (native_proba, proba) if compiled.is_classifier else (native_labels, labels)
    mismatches = beyond = 0
    max_diff = 0.0
    first: str | None = None
    for i in range(len(labels)):
        problem = None
        if compiled.is_classifier and not _same_label(native_labels[i], labels[i]):
            mismatches += 1
            tie = native_proba is not None and _near_tie(native_proba[i], tolerance)
            problem = (
                f"row {i}: label {labels[i]!r} from ONNX Runtime, {native_labels[i]!r} native"
                + (" (a near tie of the top two probabilities)" if tie else "")
            )
        if numbers[0] is not None and numbers[1] is not None:
            absolute, relative = _row_diff(numbers[0][i], numbers[1][i])
            max_diff = max(max_diff, absolute)
            if relative > tolerance:
                beyond += 1
                problem = (
                    problem or f"row {i}: |difference| {absolute:.3g} > tolerance {tolerance:g}"
                )
        first = first or problem
    return Proof(len(labels), max_diff, mismatches, first, tolerance, beyond)
