"""Notebooks as the unit tests write them: nbformat v4 cells, and files made of them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

PY3 = {"name": "python3", "display_name": "Python 3", "language": "python"}


def code(source: str, count: int | None = None, *tags: str) -> NotebookNode:
    """A code cell with its `In [count]` label and cell tags."""
    meta = {"tags": list(tags)}
    cell: NotebookNode = new_code_cell(source, execution_count=count, metadata=meta)
    return cell


def markdown(source: str) -> NotebookNode:
    cell: NotebookNode = new_markdown_cell(source)
    return cell


def write_notebook(path: Path, cells: Sequence[NotebookNode] = (), **metadata: object) -> Path:
    """`path` as a notebook of `cells`, for a Python 3 kernel unless `kernelspec` says else."""
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata.setdefault("kernelspec", PY3)
    nbformat.write(new_notebook(cells=list(cells), metadata=metadata), path)
    return path
