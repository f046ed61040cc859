"""Load a notebook: the only place that calls nbformat.read.

Accepts nbformat v4 and v3 (upgraded to v4), checks that the kernel is Python,
and returns an immutable `Notebook` value. Every failure is a `NotebookError`
naming the path and what to do.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from nb2svc.errors import CellRef, NotebookError

PYTHON_KERNEL = re.compile(r"python|ipykernel|conda-.*py|py\d", re.IGNORECASE)


@dataclass(frozen=True)
class Cell:
    """One notebook cell. `index` is its 1-based position among all cells."""

    index: int
    cell_type: str
    source: str
    tags: tuple[str, ...] = ()
    execution_count: int | None = None

    @property
    def ref(self) -> CellRef:
        return CellRef(self.index, self.execution_count)

    @property
    def is_code(self) -> bool:
        return self.cell_type == "code"


@dataclass(frozen=True)
class Notebook:
    path: Path
    sha256: str
    nbformat: tuple[int, int]
    kernel_name: str | None
    language: str | None
    python_version: str | None
    """`language_info.version` as written (e.g. "3.7.6"), if present."""
    cells: tuple[Cell, ...]

    @property
    def code_cells(self) -> tuple[Cell, ...]:
        return tuple(c for c in self.cells if c.is_code)

    @property
    def python_minor(self) -> str | None:
        """Major.minor of `python_version` ("3.7"), or None."""
        if not self.python_version:
            return None
        match = re.match(r"(\d+)\.(\d+)", self.python_version)
        return f"{match[1]}.{match[2]}" if match else None


def load_notebook(path: Path | str) -> Notebook:
    """Read, upgrade and check a notebook; raise `NotebookError` on anything unusable."""
    path = Path(path)
    raw = _read_bytes(path)
    node = _parse(path, raw)
    notebook = _to_notebook(path, raw, node)
    _check_usable(notebook)
    return notebook


def _read_bytes(path: Path) -> bytes:
    if path.is_dir():
        raise NotebookError(
            "is a directory, not a notebook",
            path=path,
            fix="pass the .ipynb file, or use `nb2svc build DIR -n NOTEBOOK`",
        )
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotebookError(
            "notebook not found",
            path=path,
            fix="check the path (relative to the current directory)",
        ) from None
    except OSError as exc:
        raise NotebookError(f"cannot read the notebook: {exc.strerror}", path=path) from None


def _parse(path: Path, raw: bytes) -> Any:
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise NotebookError(
            "is not UTF-8 text; a notebook is a JSON file",
            path=path,
            fix="re-save the notebook from Jupyter",
        ) from None
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            path=path,
            fix="a merge conflict or a truncated save often causes this; "
            "open the file in Jupyter or restore it from git",
        ) from None
    if not isinstance(data, dict) or ("cells" not in data and "worksheets" not in data):
        raise NotebookError(
            "is JSON but not a Jupyter notebook (no 'cells')", path=path, fix="pass an .ipynb file"
        )
    major = data.get("nbformat")
    if major not in (3, 4):
        raise NotebookError(
            f"uses nbformat {major!r}; nb2svc reads versions 3 and 4",
            path=path,
            fix="open and re-save it with a current Jupyter",
        )
    try:
        node = nbformat.reads(json.dumps(data), as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types on bad input
        raise NotebookError(f"cannot be read as a notebook: {exc}", path=path) from None
    return node


def _to_notebook(path: Path, raw: bytes, node: Any) -> Notebook:
    meta = node.get("metadata", {}) or {}
    kernel = meta.get("kernelspec", {}) or {}
    lang_info = meta.get("language_info", {}) or {}
    cells = tuple(_to_cell(i, c) for i, c in enumerate(node.get("cells", []), start=1))
    version = lang_info.get("version")
    return Notebook(
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        nbformat=(int(node.get("nbformat", 4)), int(node.get("nbformat_minor", 0))),
        kernel_name=kernel.get("name"),
        language=lang_info.get("name") or kernel.get("language"),
        python_version=str(version) if version else None,
        cells=cells,
    )


def _to_cell(index: int, node: Any) -> Cell:
    source = node.get("source", "")
    if isinstance(source, list):
        source = "".join(source)
    tags = (node.get("metadata", {}) or {}).get("tags", []) or []
    count = node.get("execution_count")
    return Cell(
        index=index,
        cell_type=str(node.get("cell_type", "code")),
        source=str(source),
        tags=tuple(str(t) for t in tags),
        execution_count=count if isinstance(count, int) else None,
    )


def _check_usable(nb: Notebook) -> None:
    language = (nb.language or "").lower()
    kernel = nb.kernel_name or ""
    if language and language != "python":
        raise NotebookError(
            f"is a {nb.language} notebook (kernel {kernel or '?'}); nb2svc builds Python notebooks",
            path=nb.path,
            fix="use a notebook whose kernel is Python 3",
        )
    if not language and kernel and not PYTHON_KERNEL.search(kernel):
        raise NotebookError(
            f"uses the kernel {kernel!r}, which is not a Python kernel",
            path=nb.path,
            fix="use a notebook whose kernel is Python 3",
        )
    if not nb.cells:
        raise NotebookError(
            "is empty (no cells)", path=nb.path, fix="add the training code to the notebook"
        )
    if not any(c.source.strip() for c in nb.code_cells):
        raise NotebookError(
            "has no code cells with code in them; there is nothing to train",
            path=nb.path,
            fix="add the training code to the notebook",
        )
