"""load_notebook: what it accepts, and the NotebookError (with the path) for what it does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nb2svc.errors import EXIT_NOTEBOOK, CellRef, NotebookError
from nb2svc.notebook.load import load_notebook
from notebook_cells import code, markdown, write_notebook


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def load_error(path: Path) -> NotebookError:
    with pytest.raises(NotebookError) as info:
        load_notebook(path)
    assert info.value.path == path
    assert info.value.exit_code == EXIT_NOTEBOOK
    return info.value


def test_v4_cells_are_numbered_from_one_among_all_cells_with_tags_and_counts(
    tmp_path: Path,
) -> None:
    path = write_notebook(
        tmp_path / "churn.ipynb",
        [
            markdown("# Churn"),
            code("alpha = 0.1", 3, "parameters"),
            code("print(alpha)"),
        ],
        language_info={"name": "python", "version": "3.10.12"},
    )
    nb = load_notebook(path)
    assert [c.index for c in nb.cells] == [1, 2, 3]
    assert [c.index for c in nb.code_cells] == [2, 3]
    assert nb.cells[1].tags == ("parameters",)
    assert nb.cells[1].ref == CellRef(2, 3)
    assert nb.cells[2].execution_count is None
    assert nb.python_minor == "3.10"
    assert nb.nbformat[0] == 4
    assert len(nb.sha256) == 64


def test_v3_notebook_is_upgraded_and_keeps_its_prompt_numbers(tmp_path: Path) -> None:
    cell = {
        "cell_type": "code",
        "input": "import pandas as pd\nx = 1",
        "language": "python",
        "outputs": [],
        "prompt_number": 7,
        "metadata": {},
    }
    worksheet = {"cells": [{"cell_type": "markdown", "source": "hi", "metadata": {}}, cell]}
    data = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": ""}, "worksheets": [worksheet]}
    nb = load_notebook(write_json(tmp_path / "old.ipynb", data))
    assert nb.code_cells[0].source == "import pandas as pd\nx = 1"
    assert nb.code_cells[0].ref == CellRef(2, 7)


def test_invalid_json_is_a_notebook_error_naming_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text('{"cells": [\n<<<<<<< HEAD\n', encoding="utf-8")
    error = load_error(path)
    assert "not valid JSON (line 2" in error.message
    assert "merge conflict" in (error.fix or "")


def test_json_that_is_not_a_notebook_is_refused(tmp_path: Path) -> None:
    error = load_error(write_json(tmp_path / "data.ipynb", {"rows": [1, 2]}))
    assert "not a Jupyter notebook" in error.message


def test_r_notebook_is_refused_with_its_language(tmp_path: Path) -> None:
    kernel = {"name": "ir", "display_name": "R", "language": "R"}
    path = write_notebook(
        tmp_path / "model.ipynb",
        [code("library(ggplot2)")],
        kernelspec=kernel,
        language_info={"name": "R"},
    )
    error = load_error(path)
    assert "R notebook" in error.message
    assert "Python" in (error.fix or "")


def test_non_python_kernel_without_language_info_is_refused(tmp_path: Path) -> None:
    data = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "ir", "display_name": "R"}},
        "cells": [{"cell_type": "code", "id": "a1", "source": "x <- 1", "metadata": {},
                   "outputs": [], "execution_count": None}],
    }  # fmt: skip
    error = load_error(write_json(tmp_path / "r.ipynb", data))
    assert "'ir'" in error.message


def test_conda_python_kernel_is_accepted(tmp_path: Path) -> None:
    kernel = {"name": "conda-env-ml-py", "display_name": "ml"}
    nb = load_notebook(write_notebook(tmp_path / "a.ipynb", [code("x = 1")], kernelspec=kernel))
    assert nb.kernel_name == "conda-env-ml-py"


def test_empty_notebook_is_refused(tmp_path: Path) -> None:
    error = load_error(write_notebook(tmp_path / "empty.ipynb", []))
    assert "empty" in error.message


def test_notebook_without_code_is_refused(tmp_path: Path) -> None:
    cells = [markdown("# Notes"), code("   \n")]
    error = load_error(write_notebook(tmp_path / "notes.ipynb", cells))
    assert "no code" in error.message


def test_missing_file_and_directory_are_notebook_errors(tmp_path: Path) -> None:
    assert "not found" in load_error(tmp_path / "nope.ipynb").message
    assert "directory" in load_error(tmp_path).message


def test_unknown_nbformat_version_is_refused(tmp_path: Path) -> None:
    error = load_error(write_json(tmp_path / "future.ipynb", {"nbformat": 5, "cells": []}))
    assert "nbformat 5" in error.message


def test_error_renders_with_path_for_the_user(tmp_path: Path) -> None:
    error = load_error(write_notebook(tmp_path / "empty.ipynb", []))
    assert error.render().startswith(f"error [notebook] {tmp_path / 'empty.ipynb'}: ")
