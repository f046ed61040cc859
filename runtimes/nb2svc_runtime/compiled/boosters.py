"""XGBoost, LightGBM and CatBoost models as ONNX that decide every split as the library does.

How each library compares a feature with a split, and what the graph does to match it:

- XGBoost: float32(x) < float32 threshold. onnxmltools' converter (registered into skl2onnx,
  so a Pipeline converts too) writes BRANCH_LT with float32 thresholds; `xgboost_trees`
  checks every branch against the model's own JSON, and convert.py's Cast(FLOAT) ->
  Cast(DOUBLE) in front of the trees gives them float32(x).
- LightGBM: double(x) <= double threshold. A float32 threshold can put a double x between it
  and the true one, so `lightgbm_trees` replaces the thresholds by the model's doubles
  (`nodes_values_as_tensor`, ai.onnx.ml 3: ONNX Runtime then compares in double) and the
  trees read the double input as it is.
- CatBoost: float32(x) > float32 border, by CatBoost's own ONNX export
  (`save_model(format="onnx")`); the graph takes the double input, casts it to float32 and
  leaves the trees as exported. Only the bare model: the export is not a skl2onnx converter.

Every classifier's label is the first ArgMax of its probabilities, as each library's predict
takes it (XGBoost's p1 > 0.5 for two classes is the same rule), and the probabilities or
values are cast to double from the float32 the tree ensembles return.

Refused: categorical splits, LightGBM's zero-as-missing splits and linear trees, XGBoost
with a `missing` other than NaN, objectives whose output is not the identity or the
logistic/softmax of the trees' sum, several targets per row.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CLASSES = {
    "xgboost": frozenset({"XGBClassifier", "XGBRegressor"}),
    "lightgbm": frozenset({"LGBMClassifier", "LGBMRegressor"}),
    "catboost": frozenset({"CatBoostClassifier", "CatBoostRegressor"}),
}
# Objectives whose prediction is the trees' sum (regressors) or its logistic/softmax.
XGBOOST_OBJECTIVES = frozenset({
    "binary:logistic", "multi:softprob", "multi:softmax", "reg:squarederror",
    "reg:absoluteerror", "reg:pseudohubererror",
})  # fmt: skip
LIGHTGBM_OBJECTIVES = frozenset({
    "binary", "multiclass", "regression", "regression_l1", "huber", "fair", "quantile",
})  # fmt: skip
CATBOOST_LOSSES = frozenset({"Logloss", "CrossEntropy", "MultiClass", "RMSE", "MAE", "Quantile"})
SCOPE = "XGBoost, LightGBM and CatBoost classifiers and regressors on numeric features"


class BoosterUnsupported(Exception):
    """Raised as convert.Unsupported by the caller; one line a user can read."""


def library(obj: Any) -> str | None:
    """ "xgboost", "lightgbm" or "catboost" for one of their scikit-learn style models."""
    root = type(obj).__module__.split(".")[0]
    names = CLASSES.get(root)
    return root if names is not None and type(obj).__name__ in names else None


def is_classifier(obj: Any) -> bool:
    return type(obj).__name__.endswith("Classifier")


# ------------------------------------------------------------------------- what is refused


def check(final: Any, bare: bool) -> None:
    """BoosterUnsupported when the model has a part the graph would not decide exactly."""
    lib = library(final)
    name = type(final).__name__
    if lib == "xgboost":
        _check_xgboost(final, name)
    elif lib == "lightgbm":
        _check_lightgbm(final, name)
    elif lib == "catboost":
        if not bare:
            raise BoosterUnsupported(
                f"{name} in a Pipeline is not compiled (CatBoost's ONNX export covers the "
                "model alone); fit it on the prepared columns or serve natively"
            )
        _check_catboost(final, name)


def _check_xgboost(model: Any, name: str) -> None:
    booster = model.get_booster()
    if any(t == "c" for t in booster.feature_types or ()):
        raise BoosterUnsupported(f"{name} with categorical features is not compiled")
    missing = model.get_params().get("missing", math.nan)
    if not (isinstance(missing, float) and math.isnan(missing)):
        raise BoosterUnsupported(f"{name}(missing={missing!r}): only NaN as missing is compiled")
    config = json.loads(booster.save_config())
    learner = config["learner"]
    objective = learner["objective"]["name"]
    if objective not in XGBOOST_OBJECTIVES:
        raise BoosterUnsupported(f"{name}: objective {objective!r} is not compiled")
    booster_kind = learner["gradient_booster"]["name"]
    if booster_kind != "gbtree":
        raise BoosterUnsupported(f"{name}(booster={booster_kind!r}): only gbtree is compiled")
    if int(learner["learner_model_param"].get("num_target", "1")) > 1:
        raise BoosterUnsupported(f"{name}: several targets per row are not compiled")


def _check_lightgbm(model: Any, name: str) -> None:
    dump = model.booster_.dump_model()
    objective = str(dump.get("objective", "")).split(" ")[0]
    if objective not in LIGHTGBM_OBJECTIVES:
        raise BoosterUnsupported(f"{name}: objective {objective!r} is not compiled")
    if dump.get("average_output"):
        raise BoosterUnsupported(f"{name}: random-forest mode (boosting='rf') is not compiled")
    for info in dump["tree_info"]:
        if info.get("num_cat", 0):
            raise BoosterUnsupported(f"{name} with categorical splits is not compiled")
        for split in _lightgbm_splits(info["tree_structure"]):
            if split.get("missing_type") == "Zero":
                raise BoosterUnsupported(
                    f"{name}: a split that sends zeros the missing way (zero_as_missing) "
                    "is not compiled"
                )
            if split.get("decision_type") != "<=":
                raise BoosterUnsupported(f"{name}: a {split.get('decision_type')!r} split")
        if "leaf_coeff" in json.dumps(info["tree_structure"]):
            raise BoosterUnsupported(f"{name} with linear trees (linear_tree) is not compiled")


def _check_catboost(model: Any, name: str) -> None:
    if model.get_cat_feature_indices() or model.get_text_feature_indices():
        raise BoosterUnsupported(
            f"{name} with categorical or text features is not compiled (CatBoost's ONNX "
            "export covers numeric features only)"
        )
    loss = str(model.get_all_params().get("loss_function", "")).split(":")[0]
    if loss not in CATBOOST_LOSSES:
        raise BoosterUnsupported(f"{name}: loss {loss!r} is not compiled")
    if is_classifier(model) and len(model.classes_) < 2:
        raise BoosterUnsupported(f"{name}: fewer than two classes")


def _lightgbm_splits(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "split_index" in node:
        yield node
        yield from _lightgbm_splits(node["left_child"])
        yield from _lightgbm_splits(node["right_child"])


# -------------------------------------------------------------------------------- conversion


def register_converters() -> None:
    """onnxmltools' XGBoost and LightGBM converters, registered into skl2onnx, so a bare
    model and a Pipeline ending in one convert alike (skl2onnx's target opset, double
    inputs)."""
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    pairs: list[tuple[str, str, str, Any]] = [
        ("xgboost", "XGBClassifier", "XGBoostXGBClassifier", convert_xgboost),
        ("xgboost", "XGBRegressor", "XGBoostXGBRegressor", convert_xgboost),
        ("lightgbm", "LGBMClassifier", "LightGbmLGBMClassifier", convert_lightgbm),
        ("lightgbm", "LGBMRegressor", "LightGbmLGBMRegressor", convert_lightgbm),
    ]
    import importlib

    for module_name, class_name, alias, converter in pairs:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        classifier = class_name.endswith("Classifier")
        shapes = (
            calculate_linear_classifier_output_shapes
            if classifier
            else calculate_linear_regressor_output_shapes
        )
        update_registered_converter(
            getattr(module, class_name),
            alias,
            shapes,
            converter,
            options=options if classifier else None,
        )


def unnamed(model: Any) -> Any:
    """A copy of the model whose XGBoost booster has no feature names or types: onnxmltools
    reads the trees' dump, which must name features f0, f1, ... (not a DataFrame's names)
    and give every split its condition (the dump leaves it out for a bool column's "i")."""
    import copy

    final = model.steps[-1][1] if hasattr(model, "steps") else model
    booster = final.get_booster() if library(final) == "xgboost" else None
    if booster is None or (booster.feature_names is None and booster.feature_types is None):
        return model
    clone = copy.deepcopy(model)
    clone_final = clone.steps[-1][1] if hasattr(clone, "steps") else clone
    clone_final.get_booster().feature_names = None
    clone_final.get_booster().feature_types = None
    return clone


def catboost_onnx(model: Any, input_name: str, opsets: dict[str, int]) -> Any:
    """CatBoost's own ONNX export, its float32 input replaced by a double `input_name` cast
    to float32 (CatBoost compares float32 features with float32 borders), at `opsets`."""
    import onnx
    from onnx import TensorProto, helper

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        model.save_model(str(path), format="onnx")
        onx = onnx.load(str(path))
    graph = onx.graph
    if len(graph.input) != 1 or graph.input[0].type.tensor_type.elem_type != TensorProto.FLOAT:
        raise BoosterUnsupported(
            f"{type(model).__name__}: CatBoost's ONNX export is not one float input"
        )
    exported = graph.input[0]
    width = exported.type.tensor_type.shape.dim[1].dim_value
    if width != len(model.feature_names_):  # CatBoost 1.2.7: n_features_in_ != 3 for 3 columns
        raise BoosterUnsupported(f"{type(model).__name__}: the export reads {width} features")
    cast = helper.make_node("Cast", [input_name], [exported.name], to=TensorProto.FLOAT)
    nodes = [cast, *graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info(input_name, TensorProto.DOUBLE, [None, width]))
    del onx.opset_import[:]  # ai.onnx.ml 2 -> 3 keeps TreeEnsemble*'s attributes
    onx.opset_import.extend(helper.make_opsetid(domain, v) for domain, v in opsets.items())
    return onx


def class_values(model: Any) -> list[Any]:
    """The model's classes as the label table's values: strings, or whole numbers (bools
    as 0/1; OnnxModel maps them back to the signature's class values)."""
    values: list[Any] = np.asarray(model.classes_).tolist()
    if all(isinstance(v, str) for v in values):
        return values
    if all(isinstance(v, (bool, int)) or (isinstance(v, float) and v.is_integer()) for v in values):
        return [int(v) for v in values]
    raise BoosterUnsupported(f"{type(model).__name__}: classes {values[:5]} are not compiled")


# ------------------------------------------------------------------------- exact thresholds


@dataclass(frozen=True)
class Split:
    feature: int
    threshold: float  # XGBoost: a float32 value; LightGBM: the model's double
    low: Any  # the subtree for x below the threshold (XGBoost x < t, LightGBM x <= t)
    high: Any


Tree = Split | None  # None: a leaf


def xgboost_trees(model: Any) -> list[Tree]:
    """The booster's trees from its own JSON (float32 thresholds printed to round-trip)."""
    raw = json.loads(model.get_booster().save_raw(raw_format="json"))
    trees = raw["learner"]["gradient_booster"]["model"]["trees"]

    def build(tree: dict[str, Any], i: int) -> Tree:
        left, right = tree["left_children"][i], tree["right_children"][i]
        if left == -1:
            return None
        threshold = float(np.float32(tree["split_conditions"][i]))
        feature = int(tree["split_indices"][i])
        return Split(feature, threshold, build(tree, left), build(tree, right))

    return [build(tree, 0) for tree in trees]


def lightgbm_trees(model: Any) -> list[Tree]:
    """The booster's trees from dump_model() (thresholds as the doubles LightGBM compares)."""

    def build(node: dict[str, Any]) -> Tree:
        if "split_index" not in node:
            return None
        return Split(
            int(node["split_feature"]),
            float(node["threshold"]),
            build(node["left_child"]),
            build(node["right_child"]),
        )

    return [build(info["tree_structure"]) for info in model.booster_.dump_model()["tree_info"]]


def exact_booster_thresholds(node: Any, trees: list[Tree], double: bool) -> None:
    """Match every branch of the ONNX tree node to its split in the model, walking both from
    each root; BoosterUnsupported on any difference (mode, feature, threshold, shape). With
    `double`, the thresholds become the model's doubles in nodes_values_as_tensor."""
    from onnx import numpy_helper

    attrs = {a.name: a for a in node.attribute}
    if "nodes_values" not in attrs:
        raise BoosterUnsupported("the converted trees have no float thresholds to check")
    tree_ids = list(attrs["nodes_treeids"].ints)
    node_ids = list(attrs["nodes_nodeids"].ints)
    where = {(t, n): i for i, (t, n) in enumerate(zip(tree_ids, node_ids))}
    modes = list(attrs["nodes_modes"].strings)
    features = list(attrs["nodes_featureids"].ints)
    values = list(attrs["nodes_values"].floats)
    true_ids = list(attrs["nodes_truenodeids"].ints)
    false_ids = list(attrs["nodes_falsenodeids"].ints)
    mode = b"BRANCH_LEQ" if double else b"BRANCH_LT"
    exact = [float(v) for v in values]
    seen: set[int] = set()

    def walk(tree_id: int, node_id: int, truth: Tree) -> None:
        i = where.get((tree_id, node_id))
        if i is None or i in seen:
            raise BoosterUnsupported(f"tree {tree_id}: node {node_id} missing or shared")
        seen.add(i)
        if truth is None:
            if modes[i] != b"LEAF":
                raise BoosterUnsupported(f"tree {tree_id}: node {node_id} is not a leaf")
            return
        if (
            modes[i] != mode
            or features[i] != truth.feature
            or values[i] != float(np.float32(truth.threshold))
        ):
            raise BoosterUnsupported(
                f"tree {tree_id}: node {node_id} does not split as the model does"
            )
        exact[i] = truth.threshold
        walk(tree_id, true_ids[i], truth.low)
        walk(tree_id, false_ids[i], truth.high)

    roots = _roots(tree_ids, node_ids, true_ids, false_ids, modes)
    if sorted(roots) != list(range(len(trees))):
        raise BoosterUnsupported(f"{len(roots)} converted trees for the model's {len(trees)}")
    for tree_id, truth in enumerate(trees):
        walk(tree_id, roots[tree_id], truth)
    if len(seen) != len(modes):
        raise BoosterUnsupported("the converted trees have nodes the model has not")
    if double:
        del node.attribute[list(node.attribute).index(attrs["nodes_values"])]
        tensor = numpy_helper.from_array(np.asarray(exact, dtype="float64"))
        from onnx import helper

        node.attribute.append(helper.make_attribute("nodes_values_as_tensor", tensor))


def _roots(
    tree_ids: list[int], node_ids: list[int], true_ids: list[int], false_ids: list[int],
    modes: list[bytes],
) -> dict[int, int]:  # fmt: skip
    """Each tree's root: its one node no branch leads to."""
    children = {
        (t, child)
        for t, a, b, m in zip(tree_ids, true_ids, false_ids, modes)
        if m != b"LEAF"
        for child in (a, b)
    }
    roots: dict[int, int] = {}
    for t, n in zip(tree_ids, node_ids):
        if (t, n) not in children:
            if t in roots:
                raise BoosterUnsupported(f"tree {t} has two roots")
            roots[t] = n
    return roots


# ---------------------------------------------------------------------------------- outputs


def outputs_as_served(graph: Any, classifier: bool, classes: list[Any]) -> None:
    """The graph's outputs as OnnxModel reads them: a classifier's label (the first ArgMax of
    the probabilities, as each library's predict) and double probabilities; a regressor's
    double values. Nodes left without a reader are removed."""
    from onnx import TensorProto, helper

    outputs = list(graph.output)
    producer = {out: node for node in graph.node for out in node.output}
    fresh = _fresh(graph)
    if classifier:
        if len(outputs) < 2:
            raise BoosterUnsupported("the converted classifier gives no probabilities")
        scores = outputs[1].name
        source = producer.get(scores)
        if source is not None and source.op_type == "ZipMap":
            scores = source.input[0]
        wide, index, table = (
            fresh("booster_proba"),
            fresh("booster_argmax"),
            fresh("booster_classes"),
        )
        label = fresh("label")
        if all(isinstance(c, str) for c in classes):
            labels = helper.make_tensor(
                table, TensorProto.STRING, [len(classes)], [c.encode() for c in classes]
            )
            label_type = TensorProto.STRING
        else:
            labels = helper.make_tensor(
                table, TensorProto.INT64, [len(classes)], [int(c) for c in classes]
            )
            label_type = TensorProto.INT64
        graph.initializer.append(labels)
        graph.node.extend([
            helper.make_node("Cast", [scores], [wide], to=TensorProto.DOUBLE),
            helper.make_node("ArgMax", [wide], [index], axis=1, keepdims=0),
            helper.make_node("Gather", [table, index], [label], axis=0),
        ])  # fmt: skip
        kept = [
            helper.make_tensor_value_info(label, label_type, [None]),
            helper.make_tensor_value_info(wide, TensorProto.DOUBLE, [None, len(classes)]),
        ]
    else:
        wide = fresh("variable")
        graph.node.append(
            helper.make_node("Cast", [outputs[0].name], [wide], to=TensorProto.DOUBLE)
        )
        kept = [helper.make_tensor_value_info(wide, TensorProto.DOUBLE, [None, 1])]
    del graph.output[:]
    graph.output.extend(kept)
    _drop_dead_nodes(graph)


def _fresh(graph: Any) -> Any:
    taken = {name for node in graph.node for name in [*node.input, *node.output]}
    taken |= {v.name for v in [*graph.input, *graph.output, *graph.initializer]}

    def make(seed: str) -> str:
        name, i = seed, 0
        while name in taken:
            i += 1
            name = f"{seed}_{i}"
        taken.add(name)
        return name

    return make


def _drop_dead_nodes(graph: Any) -> None:
    """Nodes none of whose outputs are read (by a node or as a graph output), repeatedly;
    then initializers no node reads."""
    while True:
        read = {name for node in graph.node for name in node.input}
        read |= {v.name for v in graph.output}
        kept = [node for node in graph.node if any(o in read for o in node.output)]
        if len(kept) == len(graph.node):
            break
        del graph.node[:]
        graph.node.extend(kept)
    read = {name for node in graph.node for name in node.input}
    used = [t for t in graph.initializer if t.name in read]
    del graph.initializer[:]
    graph.initializer.extend(used)
