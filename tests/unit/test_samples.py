"""The sample notebooks: realistic, self-contained, and they really train.

The structural tests run the analyses on the committed notebooks. The training
tests run each notebook's code headless (magic and shell lines dropped,
MPLBACKEND=Agg) in a temp copy of its folder and check the model's test score.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from nb2svc.analysis.data_files import find_data_files
from nb2svc.analysis.model_var import MODEL_TAG, choose_model_variable
from nb2svc.analysis.network import AnalyzedCell, find_network_use
from nb2svc.notebook.load import Notebook, load_notebook
from nb2svc.notebook.transform import transform_cell

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample-notebooks"
# folder, notebook, data file, model variable, how it is chosen, minimum test score
CASES = [
    ("churn", "churn.ipynb", "churn.csv", "model", "heuristic", 0.75),
    ("regression", "house_prices.ipynb", "houses.csv", "gbr", "tag", 0.85),
    ("text-classification", "ticket_topics.ipynb", "tickets.csv", "best_model", "heuristic", 0.85),
]
IDS = [c[0] for c in CASES]


def analyzed(notebook: Notebook) -> list[AnalyzedCell]:
    return [(c, transform_cell(c.source)) for c in notebook.code_cells]


@pytest.mark.parametrize(("folder", "name", "data", "variable", "source", "score"), CASES, ids=IDS)
def test_the_sample_reads_like_a_real_training_notebook(
    folder: str, name: str, data: str, variable: str, source: str, score: float
) -> None:
    notebook = load_notebook(SAMPLES / folder / name)
    cells = analyzed(notebook)
    assert notebook.python_version == "3.11.2"
    assert notebook.kernel_name == "python3"
    assert all(c.execution_count is not None for c in notebook.code_cells)
    assert any("parameters" in c.tags for c in notebook.code_cells)
    kinds = {s.kind for _, t in cells for s in t.shell}
    assert {"pip", "magic"} <= kinds  # an install line and %matplotlib inline
    assert all(t.syntax_error is None for _, t in cells)


@pytest.mark.parametrize(("folder", "name", "data", "variable", "source", "score"), CASES, ids=IDS)
def test_the_analyses_find_the_model_and_the_data_and_no_network(
    folder: str, name: str, data: str, variable: str, source: str, score: float
) -> None:
    path = SAMPLES / folder / name
    cells = analyzed(load_notebook(path))
    choice = choose_model_variable(cells)
    assert (choice.variable, choice.source, choice.notes) == (variable, source, ())
    refs = find_data_files(cells, notebook_dir=path.parent, root=REPO)
    assert [(r.resolved, r.how) for r in refs] == [
        (f"sample-notebooks/{folder}/data/{data}", "exact")
    ]
    assert find_network_use(cells) == ()


def test_only_the_regression_sample_tags_its_model_cell() -> None:
    tagged = {
        folder: any(MODEL_TAG in c.tags for c in load_notebook(SAMPLES / folder / name).cells)
        for folder, name, *_ in CASES
    }
    assert tagged == {"churn": False, "regression": True, "text-classification": False}


@pytest.mark.parametrize(("folder", "name", "data", "variable", "source", "score"), CASES, ids=IDS)
def test_the_committed_data_is_small_and_what_make_data_generates(
    folder: str, name: str, data: str, variable: str, source: str, score: float
) -> None:
    csv = SAMPLES / folder / "data" / data
    assert csv.stat().st_size < 300_000
    assert (SAMPLES / folder / "README.md").read_text().count("CC0") >= 1
    script = _import(SAMPLES / folder / "make_data.py")
    out = csv.parent.parent / "regenerated" / data
    vars(script)["OUT"] = out  # the script writes to OUT; point it at a scratch copy
    try:
        script.main()
        assert out.read_bytes() == csv.read_bytes()
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize(("folder", "name", "data", "variable", "source", "score"), CASES, ids=IDS)
def test_the_sample_trains_headless(
    tmp_path: Path, folder: str, name: str, data: str, variable: str, source: str, score: float
) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("seaborn")
    work = tmp_path / folder
    shutil.copytree(SAMPLES / folder, work)
    code = _python_lines(load_notebook(work / name))
    code += f"\nimport json\nprint('NB2SVC', json.dumps(float({variable}.score(X_test, y_test))))\n"
    (work / "run.py").write_text(code)
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, "run.py"], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    marker = [line for line in done.stdout.splitlines() if line.startswith("NB2SVC ")]
    assert json.loads(marker[-1].split(" ", 1)[1]) >= score


def _python_lines(notebook: Notebook) -> str:
    """The code cells without `!`/`%` lines: enough for these samples, whose magics are simple."""
    lines = [
        line
        for cell in notebook.code_cells
        for line in cell.source.splitlines()
        if not line.lstrip().startswith(("!", "%"))
    ]
    return "\n".join(lines) + "\n"


def _import(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"make_data_{path.parent.name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
