"""Which variable holds the trained model: tag, then configuration, then the heuristic."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nbformat
import pytest
from nb2svc.analysis.model_var import (
    MODEL_TAG,
    ModelChoice,
    choose_model_variable,
    find_candidates,
)
from nb2svc.analysis.network import AnalyzedCell
from nb2svc.notebook.load import load_notebook
from nb2svc.notebook.transform import transform_cell
from nbformat import NotebookNode, v4

SETUP = """
import pandas as pd
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.linear_model import LogisticRegression
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV
"""


def cell(source: str, *tags: str) -> NotebookNode:
    node: NotebookNode = v4.new_code_cell(source)
    if tags:
        node.metadata["tags"] = list(tags)
    return node


def notebook(tmp_path: Path, *cells: str | NotebookNode) -> list[AnalyzedCell]:
    """A real notebook (markdown first, so cell indexes count it) with the setup cell first."""
    nodes: Sequence[NotebookNode] = [
        v4.new_markdown_cell("# Training"),
        cell(SETUP),
        *(cell(c) if isinstance(c, str) else c for c in cells),
    ]
    path = tmp_path / "train.ipynb"
    nbformat.write(v4.new_notebook(cells=list(nodes)), path)
    return [(c, transform_cell(c.source)) for c in load_notebook(path).code_cells]


def choose(
    tmp_path: Path, *cells: str | NotebookNode, configured: str | None = None
) -> ModelChoice:
    return choose_model_variable(notebook(tmp_path, *cells), configured=configured)


def test_a_fitted_variable_named_model_is_chosen(tmp_path: Path) -> None:
    choice = choose(tmp_path, "model = LogisticRegression()", "model.fit(X_train, y_train)")
    assert (choice.variable, choice.source, choice.cell and choice.cell.index) == (
        "model",
        "heuristic",
        4,
    )
    assert choice.notes == ()


def test_model_like_names_beat_other_fitted_names_even_when_earlier(tmp_path: Path) -> None:
    choice = choose(
        tmp_path,
        "clf = RandomForestClassifier().fit(X_train, y_train)",
        "baseline = LogisticRegression()\nbaseline.fit(X_train, y_train)",
    )
    assert choice.variable == "clf"
    assert [c.variable for c in choice.candidates] == ["baseline"]
    assert "`baseline`" in choice.reason


@pytest.mark.parametrize(
    ("cells", "variable"),
    [
        pytest.param(
            [
                "model = LogisticRegression().fit(X, y)",
                "final_model = RandomForestClassifier()\nfinal_model.fit(X, y)",
            ],
            "final_model",
            id="among-model-like-names-the-last-fitted-wins",
        ),
        pytest.param(
            [
                "estimator = LogisticRegression()\nestimator.fit(X, y)",
                "scaler = StandardScaler()\nX2 = scaler.fit_transform(X)\nscaler.fit(X)",
            ],
            "estimator",
            id="fitted-scalers-and-vectorizers-are-not-taken-for-the-model",
        ),
        pytest.param(
            ["%%time\nmodel = LogisticRegression()\nmodel.fit(X, y)", "def broken(:\n    pass"],
            "model",
            id="magics-and-broken-cells-do-not-stop-the-search",
        ),
        pytest.param(
            ["model = LogisticRegression()", "history = model.fit(X, y)"],
            "model",
            id="the-history-a-keras-fit-returns-is-not-the-model",
        ),
    ],
)
def test_the_model_is_the_variable(tmp_path: Path, cells: list[str], variable: str) -> None:
    assert choose(tmp_path, *cells).variable == variable


def test_without_model_like_names_the_last_fitted_object_wins(tmp_path: Path) -> None:
    choice = choose(
        tmp_path,
        "rf = RandomForestClassifier().fit(X, y)",
        "lr = LogisticRegression()\nlr.fit(X, y)",
    )
    assert choice.variable == "lr"
    assert choice.notes
    assert "guessed" in choice.notes[0]


def test_a_grid_searchs_best_estimator_counts_as_fitted(tmp_path: Path) -> None:
    choice = choose(
        tmp_path,
        "pipe = make_pipeline(StandardScaler(), LogisticRegression())",
        "grid = GridSearchCV(pipe, {'logisticregression__C': [1, 10]})\ngrid.fit(X, y)",
        "best_model = grid.best_estimator_",
    )
    assert choice.variable == "best_model"
    by_name = {c.variable: c.evidence for c in choice.candidates}
    assert by_name == {"pipe": "built", "grid": "fit"}


def test_a_pipeline_that_is_built_but_never_fitted_is_a_last_resort(tmp_path: Path) -> None:
    choice = choose(tmp_path, "pipeline = Pipeline([('lr', LogisticRegression())])")
    assert choice.variable == "pipeline"
    assert "never fitted" in choice.reason


def test_keras_history_is_not_the_model(tmp_path: Path) -> None:
    choice = choose(tmp_path, "history = net.fit(X, y, epochs=3)\n_ = other.fit(X, y)")
    assert choice.variable in ("net", "other")
    assert "history" not in {c.variable for c in choice.candidates} | {choice.variable}


def test_loop_variables_and_fits_inside_functions_are_ignored(tmp_path: Path) -> None:
    found = find_candidates(
        notebook(
            tmp_path,
            "for name, m in models.items():\n    m.fit(X, y)",
            "def train(est):\n    est.fit(X, y)\n    return est",
            "clf = train(LogisticRegression())",
        )
    )
    assert [c.variable for c in found] == []


def test_the_tagged_cell_decides_even_when_others_are_fitted_later(tmp_path: Path) -> None:
    choice = choose(
        tmp_path,
        cell("gbr = RandomForestClassifier()\ngbr.fit(X, y)", MODEL_TAG),
        "model = LogisticRegression().fit(X, y)",
    )
    assert (choice.variable, choice.source) == ("gbr", "tag")
    assert choice.cell is not None
    assert choice.cell.index == 3
    assert [c.variable for c in choice.candidates] == ["model"]


def test_a_tagged_cell_that_only_loads_a_model_names_its_variable(tmp_path: Path) -> None:
    choice = choose(tmp_path, cell("import joblib\npredictor = joblib.load('m.pkl')", MODEL_TAG))
    assert (choice.variable, choice.source) == ("predictor", "tag")


def test_a_tagged_cell_without_assignment_falls_back_with_a_note(tmp_path: Path) -> None:
    choice = choose(
        tmp_path, "model = LogisticRegression().fit(X, y)", cell("print('done')", MODEL_TAG)
    )
    assert (choice.variable, choice.source) == ("model", "heuristic")
    assert "assigns no variable" in choice.notes[0]


def test_the_configured_name_beats_the_heuristic(tmp_path: Path) -> None:
    choice = choose(
        tmp_path,
        "clf = LogisticRegression().fit(X, y)",
        "rf = RandomForestClassifier().fit(X, y)",
        configured="rf",
    )
    assert (choice.variable, choice.source, choice.notes) == ("rf", "config", ())
    assert choice.cell is not None
    assert choice.cell.index == 4


def test_a_configured_name_the_notebook_never_assigns_is_kept_with_a_note(tmp_path: Path) -> None:
    choice = choose(tmp_path, "clf = LogisticRegression().fit(X, y)", configured="missing")
    assert (choice.variable, choice.cell) == ("missing", None)
    assert "never fitted" in choice.notes[0]


def test_no_model_at_all_is_reported_not_raised(tmp_path: Path) -> None:
    choice = choose(tmp_path, "df = pd.read_csv('x.csv')\ndf.head()")
    assert (choice.variable, choice.cell, choice.source) == (None, None, "none")
    assert MODEL_TAG in choice.notes[0]


def test_statsmodels_and_boosting_train_calls_are_found(tmp_path: Path) -> None:
    found = find_candidates(
        notebook(
            tmp_path,
            "import lightgbm as lgb\nbooster = lgb.train(params, train_set)",
            "import statsmodels.api as sm\nols = sm.OLS(y, X).fit()",
        )
    )
    assert [(c.variable, c.evidence) for c in found] == [
        ("booster", "train"),
        ("ols", "fit-result"),
    ]


def test_the_choice_serializes_to_json(tmp_path: Path) -> None:
    choice = choose(tmp_path, "model = LogisticRegression()\nmodel.fit(X, y)")
    data = choice.to_json()
    assert (data["variable"], data["cell"], data["source"], data["candidates"]) == (
        "model",
        3,
        "heuristic",
        [],
    )


# ---------------------------------------------------------------- statsmodels forecasters
# The fitted results are the model, whatever their name; the specification is not.
SARIMAX_IMPORT = "from statsmodels.tsa.statespace.sarimax import SARIMAX\n"


@pytest.mark.parametrize("name", ["results", "res", "fit", "model_fit", "sarima"])
def test_the_results_of_a_chained_statsmodels_fit_are_the_model(tmp_path: Path, name: str) -> None:
    source = (
        f"{SARIMAX_IMPORT}{name} = SARIMAX(y, order=(1, 1, 1)).fit(disp=False)\n{name}.summary()"
    )
    assert choose(tmp_path, source).variable == name


def test_results_of_a_specification_fitted_in_a_later_cell_beat_the_specification(
    tmp_path: Path,
) -> None:
    choice = choose(
        tmp_path,
        f"{SARIMAX_IMPORT}model = SARIMAX(y, order=(1, 0, 0), seasonal_order=(0, 1, 1, 12))",
        "results = model.fit()",
        "results.plot_diagnostics()",
    )
    assert choice.variable == "results"
    assert [c.variable for c in choice.candidates] == []


@pytest.mark.parametrize(
    ("imports", "spec"),
    [
        ("from statsmodels.tsa.arima.model import ARIMA", "ARIMA(y, order=(2, 1, 0))"),
        ("import statsmodels.api as sm", "sm.tsa.statespace.SARIMAX(y, order=(1, 0, 0))"),
        (
            "from statsmodels.tsa.holtwinters import ExponentialSmoothing",
            "ExponentialSmoothing(y, trend='add', seasonal='add', seasonal_periods=12)",
        ),
        ("from statsmodels.tsa.api import ExponentialSmoothing as ES", "ES(y, trend='add')"),
    ],
)
def test_every_statsmodels_spelling_of_a_forecaster_is_recognised(
    tmp_path: Path, imports: str, spec: str
) -> None:
    found = find_candidates(notebook(tmp_path, f"{imports}\nmod = {spec}\nres = mod.fit()"))
    assert [(c.variable, c.evidence) for c in found] == [("res", "fit-result")]
