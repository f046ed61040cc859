"""Choose the variable that holds the trained model (pure, `ast` only).

In order: (a) the cell tagged `nb2svc:model`: the variable last fitted, else last
assigned, in that cell; (b) the `model` setting of the project configuration;
(c) a heuristic over the whole notebook: fitted objects (`x.fit(...)`,
`x = Cls(...).fit(...)`, `x = grid.best_estimator_`, `x = lgb.train(...)`) beat
objects only built (`x = make_pipeline(...)`, `x = GridSearchCV(...)`); model-like
names (`model`, `pipeline`, `clf`, `best_model`...) beat other names, which beat
transformer-like names (`scaler`, `vectorizer`); among equals the last one wins.
statsmodels fits return the fitted results (`res = SARIMAX(y).fit()`, `results = mod.fit()`):
those names are the model whatever they are called; the specification `mod` is not.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from nb2svc.analysis.network import AnalyzedCell, import_aliases, parse_cells, qualified_name
from nb2svc.errors import CellRef, cell_fields

MODEL_TAG = "nb2svc:model"
Evidence = Literal["fit", "fit-result", "best-estimator", "train", "built"]
Source = Literal["tag", "config", "heuristic", "none"]

FIT_METHODS = frozenset({"fit", "partial_fit", "fit_generator"})
TRAIN_FUNCTIONS = frozenset({"train", "cv_train"})  # lgb.train, xgb.train return a booster
BUILDERS = re.compile(
    r"(make_pipeline|Pipeline|GridSearchCV|RandomizedSearchCV|HalvingGridSearchCV"
    r"|HalvingRandomSearchCV|Sequential|KMeans|Ridge|Lasso|ElasticNet|\w*NB|IsolationForest"
    r"|\w*(Classifier|Regressor|Regression|Estimator|Model|SVC|SVR|Net))"
)
MODEL_NAMES = re.compile(
    r"model|pipe|clf|classifier|regressor|estimator|predictor|learner|booster|bst|forest|tree|svm",
    re.IGNORECASE,
)
TRANSFORMER_NAMES = re.compile(
    r"scaler|encoder|vectori[sz]er|imputer|pca|preprocess|transformer|tokenizer|selector"
    r"|^(le|ohe|tfidf|vect|cv|sc|ss|mms|poly)$",
    re.IGNORECASE,
)
# `history = model.fit(...)` (Keras) holds a log, not the model; `_ = m.fit(...)` discards.
HISTORY_NAMES = re.compile(r"history|^(hist|h|logs?|results?|res|out|fit|_+)$", re.IGNORECASE)


@dataclass(frozen=True)
class ModelCandidate:
    """A variable that holds a fitted (or built) estimator at `line` of `cell`."""

    variable: str
    cell: CellRef
    line: int
    evidence: Evidence

    def to_json(self) -> dict[str, object]:
        return {
            "variable": self.variable,
            **cell_fields(self.cell),
            "line": self.line,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class ModelChoice:
    """The chosen model variable (None when there is none) and why; `candidates` are the others."""

    variable: str | None
    cell: CellRef | None
    reason: str
    source: Source
    candidates: tuple[ModelCandidate, ...] = ()
    notes: tuple[str, ...] = ()
    """Warnings for the report: a tag that assigns nothing, a configured name never assigned..."""

    def to_json(self) -> dict[str, object]:
        return {
            "variable": self.variable,
            **cell_fields(self.cell),
            "reason": self.reason,
            "source": self.source,
            "candidates": [c.to_json() for c in self.candidates],
            "notes": list(self.notes),
        }


def choose_model_variable(
    cells: Sequence[AnalyzedCell], configured: str | None = None
) -> ModelChoice:
    """Pick the model variable: tagged cell, then `configured`, then the heuristic."""
    found = find_candidates(cells)
    notes: list[str] = []
    tagged = [c for c, _ in cells if MODEL_TAG in c.tags]
    if tagged:
        cell = tagged[-1]
        name = _tagged_variable(cells, cell.index, found)
        if name is not None:
            reason = f"{cell.ref} is tagged {MODEL_TAG} and assigns `{name}`"
            return _choice(name, cell.ref, reason, "tag", found, notes)
        notes.append(f"{cell.ref} is tagged {MODEL_TAG} but assigns no variable; ignoring the tag")
    if configured:
        where = _last_cell_of(configured, found)
        if where is None:
            notes.append(f"the configured model variable `{configured}` is never fitted or built")
        reason = f"`model = {configured!r}` in the nb2svc configuration"
        return _choice(configured, where, reason, "config", found, notes)
    return _heuristic(found, notes)


def find_candidates(cells: Sequence[AnalyzedCell]) -> tuple[ModelCandidate, ...]:
    """Every fitted or built estimator variable, in cell and line order."""
    trees = parse_cells(cells)
    aliases = import_aliases(t for t in trees if t is not None)
    specs = _statsmodels_specs(trees, aliases)
    found: list[ModelCandidate] = []
    for (cell, _), tree in zip(cells, trees, strict=True):
        if tree is None:
            continue
        loop_names = _loop_names(tree)
        try:
            evidence = list(_evidence(tree, aliases, specs))
        except RecursionError:  # absurdly deep expressions: skip the cell
            continue
        found += [
            ModelCandidate(n, cell.ref, line, e) for n, line, e in evidence if n not in loop_names
        ]
    return tuple(sorted(found, key=lambda c: (c.cell.index, c.line)))


# ---------------------------------------------------------------- evidence


def _evidence(
    tree: ast.Module, aliases: dict[str, str], specs: set[str]
) -> Iterator[tuple[str, int, Evidence]]:
    for node in _top_level_nodes(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            evidence = _assigned_evidence(node.value, aliases)
            results = _statsmodels_fit(node.value, aliases, specs)
            if evidence is not None:
                for name in names:
                    if results or not (evidence == "fit-result" and HISTORY_NAMES.search(name)):
                        yield name, node.lineno, evidence
        if isinstance(node, ast.Call):
            fitted = _fitted_receiver(node)
            if fitted is not None and fitted not in specs:
                yield fitted, node.lineno, "fit"


def _is_statsmodels_call(node: ast.expr, aliases: dict[str, str]) -> bool:
    """`SARIMAX(y, ...)`, `sm.tsa.ARIMA(...)`, `smf.ols(...)`: a statsmodels specification."""
    if not isinstance(node, ast.Call):
        return False
    if isinstance(node.func, ast.Attribute) and node.func.attr in FIT_METHODS:
        return False
    return (qualified_name(node.func, aliases) or "").startswith("statsmodels.")


def _statsmodels_specs(trees: Sequence[ast.Module | None], aliases: dict[str, str]) -> set[str]:
    """Names bound to a statsmodels specification: their `.fit()` returns the model."""
    names: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, ast.Assign) and _is_statsmodels_call(node.value, aliases):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _statsmodels_fit(value: ast.expr, aliases: dict[str, str], specs: set[str]) -> bool:
    """`SARIMAX(...).fit(...)` or `mod.fit(...)` of a specification `mod`: fitted results."""
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)):
        return False
    if value.func.attr not in FIT_METHODS:
        return False
    receiver = value.func.value
    if isinstance(receiver, ast.Name):
        return receiver.id in specs
    return _is_statsmodels_call(receiver, aliases)


def _top_level_nodes(tree: ast.Module) -> Iterator[ast.AST]:
    """All nodes, without descending into function, lambda or class bodies."""
    stack: list[ast.AST] = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _assigned_evidence(value: ast.expr, aliases: dict[str, str]) -> Evidence | None:
    if isinstance(value, ast.Attribute) and value.attr == "best_estimator_":
        return "best-estimator"
    if not isinstance(value, ast.Call):
        return None
    func = value.func
    if isinstance(func, ast.Attribute) and func.attr in FIT_METHODS:
        return "fit-result"
    name = qualified_name(func, aliases) or ""
    last = name.rsplit(".", 1)[-1]
    if last in TRAIN_FUNCTIONS and name.split(".")[0] in ("lightgbm", "xgboost", "catboost"):
        return "train"
    if BUILDERS.fullmatch(last):
        return "built"
    return None


def _fitted_receiver(call: ast.Call) -> str | None:
    func = call.func
    fits = isinstance(func, ast.Attribute) and func.attr in FIT_METHODS
    if fits and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id
    return None


def _loop_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
            names.update(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
    return names


# ---------------------------------------------------------------- choosing


def _tagged_variable(
    cells: Sequence[AnalyzedCell], index: int, found: Sequence[ModelCandidate]
) -> str | None:
    in_cell = [c for c in found if c.cell.index == index]
    fitted = [c for c in in_cell if c.evidence != "built"]
    if fitted or in_cell:
        return (fitted or in_cell)[-1].variable
    trees = parse_cells([pair for pair in cells if pair[0].index == index])
    tree = trees[0] if trees else None
    if tree is None:
        return None
    names = [
        target.id
        for statement in tree.body
        if isinstance(statement, ast.Assign)
        for target in statement.targets
        if isinstance(target, ast.Name)
    ]
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Name):
        names.append(last.value.id)
    return names[-1] if names else None


def _heuristic(found: Sequence[ModelCandidate], notes: list[str]) -> ModelChoice:
    if not found:
        reason = "no fitted model found: no `x.fit(...)`, `x = ....fit(...)` or pipeline"
        hint = f"tag the cell that trains the model {MODEL_TAG}, or set `model` in [tool.nb2svc]"
        return ModelChoice(None, None, reason, "none", (), (*notes, f"{reason}; {hint}"))
    latest = {c.variable: c for c in found}  # last evidence per name, in order
    best = min(latest.values(), key=lambda c: (_rank(c), -found.index(c)))
    kind = "fitted" if best.evidence != "built" else "built (never fitted)"
    reason = f"the last {kind} {_name_kind(best.variable)} `{best.variable}`, in {best.cell}"
    if len(latest) > 1:
        others = ", ".join(f"`{n}`" for n in latest if n != best.variable)
        reason += f"; others: {others}. Tag its cell {MODEL_TAG} or set `model` to choose"
    if _rank(best) != (0, 0):
        notes.append(f"guessed the model variable `{best.variable}`: {reason}")
    return _choice(best.variable, best.cell, reason, "heuristic", found, notes)


def _rank(candidate: ModelCandidate) -> tuple[int, int]:
    built = 1 if candidate.evidence == "built" else 0
    name = candidate.variable
    if TRANSFORMER_NAMES.search(name):
        return built, 2
    return built, 0 if MODEL_NAMES.search(name) else 1


def _name_kind(name: str) -> str:
    if TRANSFORMER_NAMES.search(name):
        return "transformer-like variable"
    return "model-like variable" if MODEL_NAMES.search(name) else "variable"


def _last_cell_of(name: str, found: Sequence[ModelCandidate]) -> CellRef | None:
    return next((c.cell for c in reversed(found) if c.variable == name), None)


def _choice(
    name: str,
    cell: CellRef | None,
    reason: str,
    source: Source,
    found: Sequence[ModelCandidate],
    notes: Sequence[str],
) -> ModelChoice:
    latest = {c.variable: c for c in found}
    others = tuple(c for n, c in latest.items() if n != name)
    return ModelChoice(name, cell, reason, source, others, tuple(notes))
