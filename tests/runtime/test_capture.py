"""save_model(globals(), ...) writes a complete, loadable artifact (ARTIFACT.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from nb2svc_runtime.artifact.format import load_artifact
from nb2svc_runtime.train.capture import save_model
from nb2svc_runtime.train.deps import pickle_globals
from sklearn.linear_model import LogisticRegression

from .server import RUNTIMES


def read(directory: Path, name: str) -> Any:
    return json.loads((directory / name).read_text())


def test_artifact_has_model_signature_sample_and_requirements(churn_dir: Path) -> None:
    assert sorted(p.name for p in churn_dir.iterdir()) == [
        "keep-modules.txt", "model.joblib", "requirements.txt", "sample.json", "signature.json",
    ]  # fmt: skip
    assert (churn_dir / "keep-modules.txt").read_text() == "", "no test module in a churn model"


def test_signature_describes_the_training_dataframe(churn_dir: Path) -> None:
    sig = read(churn_dir, "signature.json")
    assert sig["name"] == "churn"
    assert sig["variable"] == "model"
    assert sig["framework"] == "sklearn"
    assert sig["class"] == "sklearn.pipeline.Pipeline"
    assert sig["task"] == "classification"
    assert sig["classes"] == [0, 1]
    assert sig["input_kind"] == "dataframe"
    inputs = {f["name"]: f for f in sig["inputs"]}
    assert list(inputs) == ["tenure", "monthly_charges", "contract", "paperless"]
    assert inputs["tenure"]["dtype"] == "int64"
    assert not inputs["tenure"]["nullable"]
    assert inputs["monthly_charges"]["dtype"] == "float64"
    assert inputs["monthly_charges"]["nullable"]
    assert inputs["contract"]["dtype"] == "string"
    assert inputs["contract"]["categories"] == ["month", "one_year", "two_year"]
    assert inputs["paperless"]["dtype"] == "bool"
    assert sig["serialization"] == {"format": "joblib", "file": "model.joblib"}
    assert {"scikit-learn", "numpy", "joblib"} <= set(sig["libraries"])
    assert sig["python_version"].startswith("3.")


def test_sample_holds_rows_from_x_test_and_the_models_outputs(
    churn_dir: Path, churn: dict[str, Any]
) -> None:
    sample = read(churn_dir, "sample.json")
    expected_rows = churn["X_test"].head(5)
    assert [r["tenure"] for r in sample["inputs"]] == expected_rows["tenure"].tolist()
    assert sample["predictions"] == churn["model"].predict(expected_rows).tolist()
    assert np.allclose(sample["probabilities"], churn["model"].predict_proba(expected_rows))


def test_requirements_are_pinned_from_the_pickle(churn_dir: Path) -> None:
    lines = [
        line
        for line in (churn_dir / "requirements.txt").read_text().splitlines()
        if not line.startswith("#")
    ]
    names = {line.split("==")[0] for line in lines}
    assert {"scikit-learn", "numpy", "joblib"} <= names
    assert all("==" in line for line in lines)
    assert "pandas" not in names, "the fitted pipeline does not reference pandas"


def test_artifact_loads_back_and_predicts_the_same(churn_dir: Path, churn: dict[str, Any]) -> None:
    artifact = load_artifact(churn_dir)
    X = churn["X_test"]
    assert (artifact.model.predict(X) == churn["model"].predict(X)).all()


def test_regressor_is_found_by_name_with_quantiles(price_dir: Path) -> None:
    sig = read(price_dir, "signature.json")
    assert sig["variable"] == "regressor"
    assert sig["task"] == "regression"
    assert sig["classes"] is None
    assert len(sig["prediction_quantiles"]) >= 2


def test_text_pipeline_takes_one_string_feature(reviews_dir: Path) -> None:
    sig = read(reviews_dir, "signature.json")
    assert sig["input_kind"] == "series"
    assert sig["inputs"] == [
        {"name": "review", "dtype": "string", "pandas_dtype": "object", "nullable": False}
    ]
    assert sig["classes"] == ["neg", "pos"]


def test_array_model_gets_f0_to_fn_float_inputs(tmp_path: Path) -> None:
    X = np.random.default_rng(1).normal(size=(50, 3))
    clf = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    save_model({"X": X, "clf": clf}, variable=None, name="arr", out_dir=tmp_path / "m")
    sig = read(tmp_path / "m", "signature.json")
    assert sig["input_kind"] == "array"
    assert [f["name"] for f in sig["inputs"]] == ["f0", "f1", "f2"]
    assert read(tmp_path / "m", "sample.json")["inputs"][0]["f0"] == X[0, 0]


def test_saving_again_replaces_the_artifact(tmp_path: Path, price: dict[str, Any]) -> None:
    out = tmp_path / "m"
    save_model(price, variable="regressor", name="first", out_dir=out)
    save_model(price, variable="regressor", name="second", out_dir=out)
    assert read(out, "signature.json")["name"] == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["m"], "no temporary directories left behind"


def test_no_model_is_a_one_line_nb2svc_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"^nb2svc: no fitted object with a predict\(\) method"):
        save_model({"x": 1}, variable=None, name="m", out_dir=tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_named_variable_must_exist_and_predict(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="nb2svc: model variable 'mdl' is not defined"):
        save_model({}, variable="mdl", name="m", out_dir=tmp_path / "m")
    with pytest.raises(SystemExit, match="has no predict"):
        save_model({"mdl": 3}, variable="mdl", name="m", out_dir=tmp_path / "m")


def test_pickle_scan_finds_module_globals_without_unpickling() -> None:
    import pickle

    stream = pickle.dumps(LogisticRegression(), protocol=5)
    assert ("sklearn.linear_model._logistic", "LogisticRegression") in pickle_globals(stream)


NOTEBOOK_FUNCTION = """
import numpy as np, pandas as pd
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.linear_model import LinearRegression
from nb2svc_runtime.train.capture import save_model

def add_square(frame):
    return frame.assign(x2=frame["x"] ** 2)

X = pd.DataFrame({"x": np.arange(20.0)})
model = make_pipeline(FunctionTransformer(add_square), LinearRegression()).fit(X, X["x"] ** 2)
save_model(globals(), variable=None, name="sq", out_dir=OUT)
"""


def test_function_defined_in_the_notebook_is_stored_by_value(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(NOTEBOOK_FUNCTION.replace("OUT", repr(str(tmp_path / "m"))))
    env = {"PYTHONPATH": str(RUNTIMES), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, str(script)], check=True, env=env, capture_output=True)
    sig = read(tmp_path / "m", "signature.json")
    assert sig["serialization"]["format"] == "cloudpickle"
    assert any("add_square" in w for w in sig["warnings"])
    assert "cloudpickle==" in (tmp_path / "m" / "requirements.txt").read_text()
    check = [sys.executable, "-m", "nb2svc_runtime", "check"]
    result = subprocess.run(
        check, env={**env, "MODEL_DIR": str(tmp_path / "m")}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


REBOUND = """\
from nb2svc_runtime.train import support as _nb2svc
_nb2svc.begin_notebook("train.ipynb")
_nb2svc.cell(1, 1)
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
X = pd.DataFrame({{"a": [0, 1, 0, 1, 0, 1, 0, 1], "b": [1, 1, 0, 0, 1, 0, 1, 0]}})
y = [0, 1, 0, 1, 0, 1, 0, 1]
rf = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
_nb2svc.cell(2, 2)
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rf = plt.gca()  # the name reused for a plot after the fit
{last}
_nb2svc.save_model(globals(), variable="rf", name="train", out_dir={out!r})
"""


def run_training(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "train.py").write_text(script)
    env = {"PYTHONPATH": str(RUNTIMES), "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "train.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def test_a_model_variable_re_bound_after_its_fit_is_saved_as_the_fitted_model(
    tmp_path: Path,
) -> None:
    out = tmp_path / "model"
    proc = run_training(REBOUND.format(last="", out=str(out)), tmp_path)
    assert proc.returncode == 0, proc.stderr
    signature = read(out, "signature.json")
    assert signature["class"].endswith("RandomForestClassifier")
    assert any("`rf` was re-bound after its fit (it ends as a Axes)" in w
               for w in signature["warnings"])  # fmt: skip


def test_a_failure_while_saving_says_it_came_after_the_last_cell(tmp_path: Path) -> None:
    script = REBOUND.format(last="del rf", out=str(tmp_path / "model")).replace(
        'variable="rf"', 'variable="forest"'
    )
    proc = run_training(script, tmp_path)
    assert proc.returncode != 0
    record = json.loads(proc.stderr.split("NB2SVC-ERROR ", 1)[1].splitlines()[0])
    assert record["after_last_cell"] is True
    assert record["cell"] is None
