"""The `parameters` cell (papermill's convention) and `-p KEY=VALUE` overrides.

The parameters cell is read with `ast`, never executed. Overrides are parsed with
`ast.literal_eval` (so `-p epochs=10` is an int) and fall back to the string as
written (`-p path=data/train.csv`). train.py assigns them right after the cell.
"""

from __future__ import annotations

import ast
import keyword
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from nb2svc.errors import CellRef, NotebookError, UsageError, cell_fields
from nb2svc.notebook.load import Cell, Notebook
from nb2svc.notebook.transform import TransformedCell, Transforms, transformed

PARAMETERS_TAG = "parameters"
_NOT_LITERAL = object()


@dataclass(frozen=True)
class Parameter:
    """One `name = value` line of the parameters cell."""

    name: str
    source: str
    """The right-hand side as written (`0.1`, `os.environ.get("X", "a")`)."""
    line: int
    """1-based line within the cell."""
    value: object = None
    """The literal value, when `source` is a literal (see `is_literal`)."""
    is_literal: bool = True


@dataclass(frozen=True)
class Parameters:
    """The parameters cell of one notebook."""

    notebook: Path
    cell: CellRef
    values: Mapping[str, Parameter]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.values)

    def to_json(self) -> dict[str, object]:
        return {
            **cell_fields(self.cell),
            "values": {name: p.source for name, p in self.values.items()},
        }


def find_parameters(nb: Notebook, transforms: Transforms | None = None) -> Parameters | None:
    """The first code cell tagged `parameters`, read with `ast`; None if there is none.

    `transforms`: the analysis' transformed cells (transformed here only without them)."""
    cell = next((c for c in nb.code_cells if PARAMETERS_TAG in c.tags), None)
    if cell is None:
        return None
    code = transformed(cell, transforms)
    return Parameters(notebook=nb.path, cell=cell.ref, values=_read_cell(nb.path, cell, code))


def _read_cell(path: Path, cell: Cell, code: TransformedCell) -> dict[str, Parameter]:
    error = code.syntax_error
    if error is not None:
        raise NotebookError(
            f"the parameters cell does not parse: {error.msg} (line {error.lineno})",
            path=path,
            cell=cell.ref,
            fix="fix the cell in Jupyter; it should hold plain `name = value` lines",
        )
    values: dict[str, Parameter] = {}
    for node in ast.parse(code.code).body:
        for name, value in _assignments(node):
            values[name] = _parameter(code.code, name, value)
    return values


def _assignments(node: ast.stmt) -> Iterable[tuple[str, ast.expr]]:
    if isinstance(node, ast.Assign):
        for target in node.targets:
            if isinstance(target, ast.Name):
                yield target.id, node.value
    elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
        yield node.target.id, node.value


def _parameter(code: str, name: str, node: ast.expr) -> Parameter:
    source = ast.get_source_segment(code, node) or ast.unparse(node)
    value = _literal(node)
    if value is _NOT_LITERAL:
        return Parameter(name, source, node.lineno, None, is_literal=False)
    return Parameter(name, source, node.lineno, value)


def _literal(node: ast.expr | str) -> object:
    """The value of a Python literal (node or text), or `_NOT_LITERAL`."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOT_LITERAL


def parse_overrides(items: Sequence[str]) -> dict[str, object]:
    """`["epochs=10", "path=data/x.csv"]` -> `{"epochs": 10, "path": "data/x.csv"}`."""
    overrides: dict[str, object] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or keyword.iskeyword(name):
            raise UsageError(
                f"-p {item!r} is not KEY=VALUE with KEY a Python name",
                fix="write it as -p epochs=10 or -p path=data/train.csv",
            )
        overrides[name] = parse_value(text)
    return overrides


def parse_value(text: str) -> object:
    """A Python literal if `text` is one (`10`, `0.5`, `True`, `[1, 2]`), else `text` itself."""
    value = _literal(text.strip())
    return text if value is _NOT_LITERAL else value


def check_overrides(
    params: Parameters | Sequence[Parameters] | None, overrides: Mapping[str, object]
) -> None:
    """Raise `UsageError` if an override names no parameter of the notebook(s)."""
    if not overrides:
        return
    found = [params] if isinstance(params, Parameters) else list(params or ())
    known = sorted({name for p in found for name in p.names})
    if not found:
        raise UsageError(
            f"-p {', '.join(overrides)} given, but no notebook has a cell tagged 'parameters'",
            fix="tag the cell holding the parameters with 'parameters' in Jupyter "
            "(View > Cell Toolbar > Tags), or drop -p",
        )
    unknown = [name for name in overrides if name not in known]
    if unknown:
        raise UsageError(
            f"-p {', '.join(unknown)}: not in the parameters cell",
            fix=f"known parameters: {', '.join(known) or '(none)'}",
            details=[f"{p.notebook} {p.cell}: {', '.join(p.names) or '(none)'}" for p in found],
        )


def render_override(name: str, value: object) -> str:
    """`name = <repr>` for train.py; `UsageError` if the value cannot be written as a literal."""
    text = repr(value)
    if _literal(text) != value:
        raise UsageError(
            f"-p {name}: {type(value).__name__} value cannot be written as a Python literal",
            fix="use a number, string, bool, None, list, tuple or dict",
        )
    return f"{name} = {text}"
