"""XGBoost, LightGBM and CatBoost models compile (compiled/boosters.py) and give the native
labels on every row: real models, trained on 400 seeded rows in the boosters' own pinned
venv (tests/python_peers.py BOOSTERS), converted with the compile stage's pinned tools and
proven with convert.prove on 600 rows plus rows placed exactly on every float column's split
thresholds (and one float32 step either side). tests/peers/booster_models.py does the work
and reports each case as JSON; the venv is made once per lock (~800 MB, a minute).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import python_peers
from nb2svc_runtime.compiled.convert import BOOSTER_TOLERANCE

pytestmark = pytest.mark.peers
SCRIPT = python_peers.PEERS / "booster_models.py"
RUNTIMES = Path(__file__).resolve().parents[2] / "runtimes"
COMPILED = [
    "xgb-binary", "xgb-multi", "xgb-regressor", "xgb-pipeline",
    "lgb-binary", "lgb-multi", "lgb-regressor", "lgb-pipeline",
    "cb-binary", "cb-multi", "cb-regressor",
]  # fmt: skip
REFUSED = {
    "cb-pipeline": "in a Pipeline is not compiled",
    "cb-categorical": "categorical or text features",
    "lgb-zero-as-missing": "zero_as_missing",
    "lgb-poisson": "objective 'poisson'",
    "xgb-missing-zero": "only NaN as missing",
}
LIBRARIES = {"xgb": "xgboost", "lgb": "lightgbm", "cb": "catboost"}


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    """Every case, run once in the boosters' venv."""
    python = python_peers.BOOSTERS.python()
    env = {**os.environ, "PYTHONPATH": str(RUNTIMES)}
    done = subprocess.run(
        [str(python), str(SCRIPT), *COMPILED, *REFUSED],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize("case", COMPILED)
def test_the_compiled_model_gives_the_native_labels_on_every_row(
    results: dict[str, Any], case: str
) -> None:
    result = results[case]
    assert "refused" not in result, result.get("refused")
    assert result["passed"], result["first_mismatch"]
    assert result["label_mismatches"] == 0
    assert result["checked_rows"] >= 600
    task = "regression" if case.endswith("regressor") else "classification"
    assert result["tolerance"] == BOOSTER_TOLERANCE[LIBRARIES[case.split("-")[0]], task]
    assert result["max_rel_diff"] <= result["tolerance"]
    assert result["compiled_row_ms"] < result["native_row_ms"]


@pytest.mark.parametrize("case", [c for c in COMPILED if not c.endswith("pipeline")])
def test_rows_on_the_split_thresholds_are_among_the_proven(
    results: dict[str, Any], case: str
) -> None:
    assert results[case]["threshold_rows"] >= 100


@pytest.mark.parametrize("case", ["lgb-binary", "lgb-multi"])
def test_lightgbm_needs_its_double_thresholds(results: dict[str, Any], case: str) -> None:
    """The same graph with onnxmltools' float32 thresholds flips labels of rows near a split:
    LightGBM compares double(x) <= its double threshold."""
    assert results[case]["label_mismatches"] == 0
    assert results[case]["float32_threshold_mismatches"] > 0


def test_a_bare_model_reads_one_double_matrix_and_a_pipeline_one_input_per_column(
    results: dict[str, Any],
) -> None:
    assert results["xgb-binary"]["feeds"] == {"nb2svc_features": "matrix_double"}
    assert results["cb-multi"]["feeds"] == {"nb2svc_features": "matrix_double"}
    assert results["lgb-pipeline"]["feeds"]["contract"] == "string"
    assert results["xgb-pipeline"]["feeds"]["tenure"] == "double"


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_cannot_be_made_exact_is_refused_with_its_reason(
    results: dict[str, Any], case: str
) -> None:
    assert REFUSED[case] in results[case].get("refused", ""), results[case]
