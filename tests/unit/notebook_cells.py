"""Notebooks as the unit tests write them: nbformat v4 cells, and files made of them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nbformat
from nb2svc.analyze import Analysis, analyze
from nb2svc.config import load_config
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


def analyzed(root: Path, *sources: str, name: str = "train.ipynb") -> Analysis:
    """The analysis of the repository `root` with the notebook `root/NAME` of these code
    cells (and no nb2svc.toml of its own unless the test wrote one)."""
    path = write_notebook(root / name, [code(source) for source in sources])
    return analyze([path], root=root, config=load_config(root))
