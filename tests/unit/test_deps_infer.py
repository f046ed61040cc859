"""End-to-end inference: messy notebooks, provenance, local modules and the JSON contract."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nb2svc.deps import DependencyReport, detect_python_version, infer_dependencies
from nb2svc.notebook.load import load_notebook
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parents[2]
MESSY = ROOT / "tests" / "fixtures" / "messy"
TRUTH = json.loads((ROOT / "benchmarks" / "deps" / "ground_truth.json").read_text())


def make(tmp_path: Path, *cells: str, files: dict[str, str] | None = None) -> Path:
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    path = tmp_path / "repo" / "nb" / "train.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    for name, content in (files or {}).items():
        target = tmp_path / "repo" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    return path


def infer(path: Path, python: str = "3.11") -> DependencyReport:
    return infer_dependencies([load_notebook(path)], path.parents[1], python)


def required(report: DependencyReport) -> set[str]:
    return {d.name for d in report.required}


@pytest.mark.parametrize("case", sorted(TRUTH))
def test_messy_notebooks_match_their_ground_truth(case: str) -> None:
    notebook = load_notebook(MESSY / TRUTH[case]["notebook"])
    report = infer_dependencies([notebook], MESSY / case, detect_python_version([notebook]))
    assert required(report) == set(TRUTH[case]["expected"])


def test_there_are_at_least_25_messy_cases_each_in_its_own_folder() -> None:
    folders = {Path(entry["notebook"]).parts[0] for entry in TRUTH.values()}
    assert len(folders) == len(TRUTH) >= 25


def test_pip_line_provenance_and_version(tmp_path: Path) -> None:
    report = infer(make(tmp_path, "import numpy", "!pip install -q xgboost==2.0.3\nimport xgboost"))
    dep = next(d for d in report.dependencies if d.name == "xgboost")
    assert (dep.specifier, dep.version, dep.source, dep.confidence) == (
        "==2.0.3", "2.0.3", "pip-line", "explicit",
    )  # fmt: skip
    sources = [(p.source, p.site.cell, p.site.line) for p in dep.provenance]
    assert sources == [("pip-line", 2, 1), ("import", 2, 2)]
    assert dep.provenance[0].site.notebook == "nb/train.ipynb"


def test_pip_line_beats_requirements_and_app_scoped_entries_are_not_installed(
    tmp_path: Path,
) -> None:
    files = {"nb/requirements.txt": "pandas==1.5.3\nxgboost==1.7.0\nstreamlit\n"}
    path = make(tmp_path, "%pip install xgboost==2.0.3", "import pandas, xgboost", files=files)
    report = infer(path)
    specs = {d.name: (d.specifier, d.source) for d in report.dependencies}
    assert specs == {"pandas": ("==1.5.3", "requirements.txt"), "xgboost": ("==2.0.3", "pip-line")}
    assert "declared-unused" in {w.code for w in report.warnings}


def test_a_declared_range_for_a_package_not_imported_limits_the_lock_without_installing_it(
    tmp_path: Path,
) -> None:
    files = {"nb/requirements.txt": "pandas>=1.3.0,<2.0.0\nnumpy<2\nstreamlit\n"}
    report = infer(make(tmp_path, "import pandas as pd", files=files))
    assert [d.name for d in report.required] == ["pandas"]
    assert report.constraints == (
        ("numpy<2", "requirements.txt line 2 (a constraint: not imported)"),
    )
    (warning,) = [w for w in report.warnings if w.code == "declared-unused"]
    assert "their versions still limit what other packages pull in (numpy)" in warning.message


def test_unknown_imports_are_unresolved_with_cell_line_and_advice(tmp_path: Path) -> None:
    report = infer(make(tmp_path, "import os", "x = 1\nimport acme_features"))
    [unresolved] = report.unresolved
    assert (unresolved.module, unresolved.site.cell, unresolved.site.line) == (
        "acme_features",
        2,
        2,
    )
    assert "requirements.txt" in unresolved.message
    assert "%pip install" in unresolved.message
    assert report.dependencies == ()


def test_a_cell_that_does_not_parse_never_aborts(tmp_path: Path) -> None:
    path = make(
        tmp_path, "<<<<<<< HEAD\nimport numpy\n=======\nimport scipy\n>>>>>>> b", "df.head?"
    )
    report = infer(path)
    assert required(report) == {"numpy", "scipy"}
    assert [w.cell for w in report.warnings if w.code == "syntax-fallback"] == [1]


def test_local_modules_from_notebook_dir_repo_root_and_packages(tmp_path: Path) -> None:
    files = {
        "nb/helpers.py": "import lightgbm\n",
        "common/__init__.py": "from .io import load\n",
        "common/io.py": "import pyarrow\n",
        "nb/.ipynb_checkpoints/ghost.py": "",
        "venv/lib/site-packages/sneaky.py": "",
        "unused_app.py": "import streamlit\n",
    }
    report = infer(make(tmp_path, "import helpers, common, ghost, sneaky", files=files))
    assert required(report) == {"lightgbm", "pyarrow"}
    assert {u.module for u in report.unresolved} == {"ghost", "sneaky"}
    lgb = next(d for d in report.dependencies if d.name == "lightgbm")
    assert lgb.provenance[0].site.path == "nb/helpers.py"


def test_writefile_then_import_scans_the_written_module(tmp_path: Path) -> None:
    path = make(tmp_path, "%%writefile utils2.py\nimport catboost\n", "import utils2")
    assert required(infer(path)) == {"catboost"}


def test_a_writefile_app_that_is_never_imported_adds_nothing(tmp_path: Path) -> None:
    path = make(tmp_path, "%%writefile app.py\nimport streamlit as st\n", "import numpy")
    assert required(infer(path)) == {"numpy"}


def test_runtime_only_and_python2_imports_are_dropped_with_warnings(tmp_path: Path) -> None:
    path = make(tmp_path, "from google.colab import drive\nimport urllib2\nimport ipywidgets")
    report = infer(path)
    assert report.dependencies == ()
    kinds = [(i.module, i.kind) for i in report.imports]
    assert kinds == [
        ("google.colab", "runtime-only"),
        ("urllib2", "python2"),
        ("ipywidgets", "runtime-only"),
    ]
    assert {"runtime-only", "python2"} <= {w.code for w in report.warnings}


def test_implicit_backends_are_low_confidence(tmp_path: Path) -> None:
    report = infer(make(tmp_path, "import pandas as pd\ndf = pd.read_excel('old.xls')"))
    dep = next(d for d in report.dependencies if d.name == "xlrd")
    assert (dep.confidence, dep.source, dep.optional) == ("inferred", "implicit", False)


def test_implicit_backends_need_their_library(tmp_path: Path) -> None:
    assert required(infer(make(tmp_path, "obj.read_excel('x.xlsx')\nimport numpy"))) == {"numpy"}


@pytest.mark.parametrize(
    "code",
    [
        "from xgboost import XGBClassifier\nm = XGBClassifier()",
        "import xgboost as xgb\nm = xgb.XGBRegressor()",
        "from lightgbm import LGBMClassifier",
    ],
)
def test_the_boosting_libraries_sklearn_api_needs_scikit_learn(tmp_path: Path, code: str) -> None:
    assert "scikit-learn" in required(infer(make(tmp_path, code)))


def test_the_boosting_libraries_native_api_does_not(tmp_path: Path) -> None:
    code = "import xgboost as xgb\nbooster = xgb.train({}, xgb.DMatrix([[1]]))"
    assert required(infer(make(tmp_path, code))) == {"xgboost"}


def test_squatter_installs_are_rewritten(tmp_path: Path) -> None:
    report = infer(make(tmp_path, "!pip install sklearn", "import sklearn"))
    assert required(report) == {"scikit-learn"}
    assert "denied-name" in {w.code for w in report.warnings}


def test_python_version_comes_from_language_info(tmp_path: Path) -> None:
    notebook = load_notebook(make(tmp_path, "import numpy"))
    assert detect_python_version([notebook]) == "3.11"
    report = infer_dependencies([notebook], tmp_path, "3.9")
    assert report.notebook_python_version == "3.11.7"
    assert "python-version" in {w.code for w in report.warnings}


def test_to_json_has_the_contract_fields_and_is_serialisable(tmp_path: Path) -> None:
    report = infer(make(tmp_path, "!pip install shap==0.44.0", "import shap\nimport json"))
    data = json.loads(json.dumps(report.to_json()))
    assert set(data) >= {"python_version", "dependencies", "imports", "unresolved", "warnings"}
    dep = data["dependencies"][0]
    assert {"name", "version", "source", "imports", "specifier", "provenance", "optional"} <= set(
        dep
    )
    assert (dep["name"], dep["version"], dep["imports"]) == ("shap", "0.44.0", ["shap"])
    assert set(dep["provenance"][0]) == {"source", "notebook", "cell", "line", "path", "detail"}
    assert {"module", "kind", "cell", "line", "guarded"} <= set(data["imports"][0])
    assert report.requirement_lines() == ["shap==0.44.0"]


def test_a_pipeline_of_notebooks_shares_one_dependency_set(tmp_path: Path) -> None:
    first = make(tmp_path, "!pip install opencv-python==4.8.1.78")
    second = first.with_name("second.ipynb")
    nbformat.write(new_notebook(cells=[new_code_cell("import cv2")]), second)
    nbs = [load_notebook(first), load_notebook(second)]
    report = infer_dependencies(nbs, first.parents[1], "3.11")
    [dep] = report.dependencies
    assert (dep.name, dep.imports) == ("opencv-python", ("cv2",))
    assert {p.site.notebook for p in dep.provenance} == {"nb/train.ipynb", "nb/second.ipynb"}


@pytest.mark.parametrize(
    ("imports", "installed"),
    [
        ("import keras", ["keras", "tensorflow"]),
        ("from keras.layers import Dense", ["keras", "tensorflow"]),
        ("import keras\nimport torch", ["keras", "torch"]),
        ("import tensorflow as tf\nfrom tensorflow import keras", ["tensorflow"]),
    ],
    ids=["bare-keras-gets-tensorflow", "from-keras-gets-tensorflow",
         "keras-on-torch-keeps-torch", "tf-keras-is-tensorflow"],
)  # fmt: skip
def test_keras_without_a_backend_import_gets_its_default_backend(
    tmp_path: Path, imports: str, installed: list[str]
) -> None:
    report = infer(make(tmp_path, imports))
    assert sorted(d.name for d in report.required) == installed
