"""The `parameters` cell and `-p KEY=VALUE` overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from nb2svc.errors import EXIT_USAGE, CellRef, NotebookError, UsageError
from nb2svc.notebook.load import Notebook, load_notebook
from nb2svc.notebook.params import (
    check_overrides,
    find_parameters,
    parse_overrides,
    parse_value,
    render_override,
)
from nbformat import NotebookNode
from notebook_cells import code, markdown, write_notebook


def notebook(tmp_path: Path, *cells: NotebookNode, name: str = "nb.ipynb") -> Notebook:
    return load_notebook(write_notebook(tmp_path / name, cells))


def params_cell(source: str, count: int | None = 2) -> NotebookNode:
    return code(source, count, "parameters")


def test_parameters_cell_is_read_with_literal_values_and_source_text(tmp_path: Path) -> None:
    nb = notebook(
        tmp_path,
        markdown("# Train"),
        params_cell(
            "# knobs\nalpha = 0.1\nepochs: int = 10\n"
            "path = os.environ.get('DATA', 'data.csv')\nlayers = [64, 32]"
        ),
    )
    params = find_parameters(nb)
    assert params is not None
    assert params.cell == CellRef(2, 2)
    assert params.names == ("alpha", "epochs", "path", "layers")
    assert params.values["alpha"].value == 0.1
    assert params.values["epochs"].value == 10
    assert params.values["layers"].value == [64, 32]
    path = params.values["path"]
    assert (path.is_literal, path.source, path.line) == (
        False,
        "os.environ.get('DATA', 'data.csv')",
        4,
    )


def test_notebook_without_parameters_tag_has_no_parameters(tmp_path: Path) -> None:
    assert find_parameters(notebook(tmp_path, code("alpha = 1"))) is None


def test_only_the_first_parameters_cell_counts(tmp_path: Path) -> None:
    nb = notebook(tmp_path, params_cell("a = 1"), params_cell("b = 2"))
    params = find_parameters(nb)
    assert params is not None
    assert params.names == ("a",)


def test_parameters_cell_that_does_not_parse_names_the_cell(tmp_path: Path) -> None:
    nb = notebook(tmp_path, code("x = 1"), params_cell("alpha = (", count=5))
    with pytest.raises(NotebookError) as info:
        find_parameters(nb)
    assert info.value.cell == CellRef(2, 5)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("10", 10),
        ("0.5", 0.5),
        ("1e-3", 0.001),
        ("True", True),
        ("None", None),
        ("[1, 2]", [1, 2]),
        ("{'a': 1}", {"a": 1}),
        ("'quoted'", "quoted"),
        ("data/train.csv", "data/train.csv"),
        ("gbm", "gbm"),
        ("", ""),
    ],
)
def test_override_values_are_python_literals_or_else_strings(text: str, value: object) -> None:
    assert parse_value(text) == value


def test_overrides_split_at_the_first_equals_sign() -> None:
    assert parse_overrides(["epochs=10", "query=a=b", "name=churn"]) == {
        "epochs": 10,
        "query": "a=b",
        "name": "churn",
    }


@pytest.mark.parametrize("item", ["epochs", "=10", "2x=1", "class=1", "a b=1"])
def test_override_without_a_python_name_is_a_usage_error(item: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_overrides([item])
    assert info.value.exit_code == EXIT_USAGE


def test_override_for_an_unknown_name_lists_the_known_parameters(tmp_path: Path) -> None:
    params = find_parameters(notebook(tmp_path, params_cell("alpha = 1\nepochs = 3")))
    with pytest.raises(UsageError) as info:
        check_overrides(params, {"alpah": 0.5})
    assert "alpah" in info.value.message
    assert info.value.fix == "known parameters: alpha, epochs"


def test_override_on_a_notebook_without_parameters_cell_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as info:
        check_overrides(None, {"alpha": 0.5})
    assert "parameters" in info.value.message


def test_known_overrides_and_no_overrides_pass(tmp_path: Path) -> None:
    params = find_parameters(notebook(tmp_path, params_cell("alpha = 1")))
    check_overrides(params, {"alpha": 2})
    check_overrides(None, {})


def test_an_override_may_name_a_parameter_of_any_notebook_in_a_pipeline(tmp_path: Path) -> None:
    first = find_parameters(notebook(tmp_path, params_cell("rows = 100"), name="a.ipynb"))
    second = find_parameters(notebook(tmp_path, params_cell("alpha = 1"), name="b.ipynb"))
    assert first is not None
    assert second is not None
    check_overrides([first, second], {"rows": 10, "alpha": 0.5})


def test_overrides_render_as_literal_assignments() -> None:
    assert render_override("path", "data/x.csv") == "path = 'data/x.csv'"
    assert render_override("layers", [64, 32]) == "layers = [64, 32]"
    with pytest.raises(UsageError):
        render_override("fn", object())
