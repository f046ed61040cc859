"""`nb2svc analyze`: everything nb2svc knows about the notebooks before any image exists.

Loads each notebook once, transforms each cell once, and hands the transformed
cells to the analyses (dependencies, parameters, model variable, data files,
network use). `Analysis.to_json()` is the documented `analyze --json` format.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nb2svc import __version__
from nb2svc.analysis.data_files import DataFileRef, find_data_files
from nb2svc.analysis.interactive import InteractiveCell, demo_cells, find_interactive
from nb2svc.analysis.model_var import ModelChoice, choose_model_variable
from nb2svc.analysis.network import NetworkUse, find_network_use
from nb2svc.config import ProjectConfig
from nb2svc.deps.infer import infer_dependencies
from nb2svc.deps.report import Dependency, DependencyReport, Site
from nb2svc.errors import CellRef, DependencyError, TrainingError
from nb2svc.hazards import explain, find_hazard
from nb2svc.notebook.load import Cell, Notebook, load_notebook
from nb2svc.notebook.params import Parameters, check_overrides, find_parameters, parse_overrides
from nb2svc.notebook.script import (
    DEFAULT_ARTIFACT_DIR,
    TrainingScript,
    render_training_script,
    syntax_error,
)
from nb2svc.notebook.transform import TransformedCell, Transforms, transform_cell

DEFAULT_PYTHON = "3.11"
JSON_FORMAT_VERSION = 1


@dataclass(frozen=True)
class NotebookAnalysis:
    notebook: Notebook
    rel_path: str
    cells: tuple[tuple[Cell, TransformedCell], ...]
    parameters: Parameters | None
    model: ModelChoice
    data_files: tuple[DataFileRef, ...]
    network: tuple[NetworkUse, ...]
    writes: tuple[str, ...] = ()  # literal paths the cells write (plots, CSVs, model files)
    demos: tuple[InteractiveCell, ...] = ()  # skipped: forms/prompts/apps after the model

    def cell(self, index: int) -> Cell | None:
        return next((c for c, _ in self.cells if c.index == index), None)

    @property
    def transforms(self) -> Transforms:
        """Each code cell as transformed once, by index (for every later stage)."""
        return {cell.index: transformed for cell, transformed in self.cells}


@dataclass(frozen=True)
class Analysis:
    root: Path
    notebooks: tuple[NotebookAnalysis, ...]
    dependencies: DependencyReport
    python_version: str
    python_source: str
    config: ProjectConfig
    overrides: Mapping[str, object]

    @property
    def last(self) -> NotebookAnalysis:
        return self.notebooks[-1]

    @property
    def model_name(self) -> str:
        return self.config.name or _dns_name(self.last.notebook.path.stem)

    @property
    def model_variable(self) -> str | None:
        return self.last.model.variable

    def requirements(self) -> list[tuple[str, str]]:
        """Requirement strings for the lock, each with where it came from."""
        return [(dep.requirement, origin(dep)) for dep in self.dependencies.required]

    def constraints(self) -> list[tuple[str, str]]:
        """Version ranges that limit the lock without adding a package, with their origin."""
        return list(self.dependencies.constraints)

    def raise_for_build(self) -> None:
        """Refuse to build what cannot work: cells that don't parse, unknown imports."""
        for nb in self.notebooks:
            for cell, transformed in nb.cells:
                if transformed.syntax_error is not None and not _skipped(cell):
                    raise syntax_error(nb.notebook.path, cell, transformed.syntax_error)
        unresolved = self.dependencies.unresolved
        if unresolved:
            first = unresolved[0]
            raise DependencyError(
                f"`import {first.module}` has no known package"
                + (f" (and {len(unresolved) - 1} more)" if len(unresolved) > 1 else ""),
                path=first.site.notebook or first.site.path,
                cell=self._cell_ref(first.site.notebook, first.site.cell),
                details=[f"{_site(u.site)}: {u.message}" for u in unresolved],
                fix=f"add the package that provides {first.module!r} to requirements.txt "
                "next to the notebook, or a `%pip install NAME` line in the notebook",
            )

    def _cell_ref(self, notebook: str | None, index: int | None) -> CellRef | None:
        if index is None:
            return None
        for nb in self.notebooks:
            if notebook in (None, nb.rel_path, str(nb.notebook.path), nb.notebook.path.name):
                cell = nb.cell(index)
                if cell is not None:
                    return cell.ref
        return CellRef(index)

    def training_error(
        self,
        error: Mapping[str, Any],
        *,
        exit_status: int | None,
        locked: Mapping[str, str] | None = None,
        image_python: str | None = None,
    ) -> TrainingError:
        """The error a person reads for a failed training run; a known API removal
        (nb2svc.hazards) is named as the version mismatch it is, with the pin to use."""
        index = error.get("cell")
        nb = self._notebook_for(str(error.get("notebook", "")))
        cell = nb.cell(int(index)) if isinstance(index, int) else None
        ref = cell.ref if cell else (CellRef(int(index)) if isinstance(index, int) else None)
        if ref:
            where = f"in {ref}"
        elif error.get("after_last_cell"):
            where = "after the last cell, while saving the model"
        else:
            where = "before the first cell"
        trace = [str(line) for line in error.get("traceback", [])][-15:]
        status = f"exit status {exit_status}" if exit_status is not None else "failed"
        message = f"training failed {where}: {error.get('ename')}: {error.get('evalue')}"
        fix = (
            "fix the cell in the notebook (run it top to bottom in Jupyter to reproduce), "
            "then build again"
        )
        hazard = find_hazard(str(error.get("ename")), str(error.get("evalue")))
        if hazard is not None:
            cause, fix = explain(hazard, locked or {}, image_python or self.python_version)
            message = f"{message.splitlines()[0]}: {cause}"
        return TrainingError(
            f"{message} ({status})", path=nb.notebook.path, cell=ref, details=trace, fix=fix
        )

    def explain_install_failure(self, lines: Sequence[str]) -> list[str]:
        text = "\n".join(lines)
        hits = []
        for dep in self.dependencies.required:
            if re.search(rf"\b{re.escape(dep.name)}\b", text, re.IGNORECASE):
                hits.append(f"{dep.name}: asked for by {origin(dep)}")
        return hits + list(lines[-15:])

    def warning_messages(self) -> list[str]:
        messages = [w.message for w in self.dependencies.warnings]
        for nb in self.notebooks:
            messages += [f"{nb.rel_path}: {u.describe()}" for u in nb.network]
            messages += [f"{nb.rel_path}: {d.describe()}" for d in nb.data_files if d.problem]
            messages += [f"{nb.rel_path}: {note}" for note in nb.model.notes]
            messages += [
                f"{nb.rel_path}: skipped {d.describe()}, which needs a person at a screen "
                "(it demonstrates the model after it is made; a headless build cannot run it)"
                for d in nb.demos
            ]
        return messages

    def training_script(self, artifact_dir: str | None = None) -> TrainingScript:
        """train.py for these notebooks, from the cells as analyzed (`nb2svc build` and S2I
        alike, through the plan), with paths relative to the source root."""
        repo_root = self.root
        return render_training_script(
            [n.notebook for n in self.notebooks],
            overrides=self.overrides,
            model_variable=self.model_variable,
            model_name=self.model_name,
            repo_root=repo_root,
            skip=self.skipped_cells(),
            transforms={n.notebook.path: n.transforms for n in self.notebooks},
            artifact_dir=artifact_dir or DEFAULT_ARTIFACT_DIR,
        )

    def skipped_cells(self) -> dict[Path, dict[int, str]]:
        """Cells train.py leaves out, per notebook path: index -> why."""
        return {
            nb.notebook.path: {
                d.cell.index: f"skipped: needs a person at a screen ({d.call})" for d in nb.demos
            }
            for nb in self.notebooks
        }

    def dependency_rows(self) -> list[dict[str, Any]]:
        return [dep.to_json() for dep in self.dependencies.dependencies]

    def _notebook_for(self, rel: str) -> NotebookAnalysis:
        return next((n for n in self.notebooks if n.rel_path == rel), self.last)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": JSON_FORMAT_VERSION,
            "nb2svc_version": __version__,
            "root": str(self.root),
            "python_version": self.python_version,
            "python_version_source": self.python_source,
            "model_name": self.model_name,
            "notebooks": [_notebook_json(n) for n in self.notebooks],
            **self.dependencies.to_json(),
            "model": self.last.model.to_json(),
            "parameters_overrides": {k: repr(v) for k, v in self.overrides.items()},
            "warnings": self.warning_messages(),
        }


def analyze(
    paths: Sequence[Path],
    *,
    root: Path,
    config: ProjectConfig,
    overrides: Sequence[str] = (),
) -> Analysis:
    written: set[str] = set()  # files the pipeline's notebooks write, in order
    notebooks = tuple(_analyze_notebook(load_notebook(p), root, config, written) for p in paths)
    values = {**config.parameters, **parse_overrides(list(overrides))}
    if values:
        check_overrides([n.parameters for n in notebooks if n.parameters], values)
    python, how = _python_version(config, notebooks)
    transforms = {n.notebook.path: n.transforms for n in notebooks}
    deps = infer_dependencies([n.notebook for n in notebooks], root, python, transforms)
    return Analysis(root, notebooks, deps, python, how, config, values)


def _analyze_notebook(
    nb: Notebook, root: Path, config: ProjectConfig, written: set[str]
) -> NotebookAnalysis:
    cells = tuple((c, transform_cell(c.source)) for c in nb.code_cells)  # the one transform
    rel = nb.path.resolve().relative_to(root.resolve()).as_posix()
    writes: list[str] = []
    reads = find_data_files(
        cells, notebook_dir=nb.path.parent, root=root, written=written, writes=writes
    )
    model = choose_model_variable(cells, configured=config.model)
    demos = demo_cells(find_interactive(cells), model.cell)
    skipped = {d.cell.index for d in demos}
    return NotebookAnalysis(
        notebook=nb,
        rel_path=rel,
        cells=cells,
        parameters=find_parameters(nb, {c.index: t for c, t in cells}),
        model=model,
        data_files=tuple(r for r in reads if r.cell.index not in skipped),
        network=tuple(u for u in find_network_use(cells) if u.cell.index not in skipped),
        writes=tuple(writes),
        demos=demos,
    )


def _python_version(
    config: ProjectConfig, notebooks: Sequence[NotebookAnalysis]
) -> tuple[str, str]:
    if config.python:
        return config.python, "config"
    minor = notebooks[-1].notebook.python_minor
    if minor:
        return minor, "language_info"
    return DEFAULT_PYTHON, "default"


def origin(dep: Dependency) -> str:
    """Where a dependency came from, for messages: the strongest piece of evidence."""
    if not dep.provenance:
        return dep.source
    first = dep.provenance[0]
    what = f"`{first.detail}`" if first.detail else first.source
    return f"{what} in {_site(first.site)}"


def _site(site: Site) -> str:
    parts = [site.notebook or site.path or "?"]
    if site.cell is not None:
        parts.append(f"cell {site.cell}")
    if site.line is not None:
        parts.append(f"line {site.line}")
    return " ".join(parts)


def _skipped(cell: Cell) -> bool:
    return "nb2svc:skip" in cell.tags


def _notebook_json(nb: NotebookAnalysis) -> dict[str, Any]:
    book = nb.notebook
    return {
        "path": nb.rel_path,
        "sha256": book.sha256,
        "nbformat": list(book.nbformat),
        "kernel": book.kernel_name,
        "language_info_version": book.python_version,
        "cells": len(book.cells),
        "code_cells": len(book.code_cells),
        "tags": {str(c.index): list(c.tags) for c in book.cells if c.tags},
        "parameters": nb.parameters.to_json() if nb.parameters else None,
        "model": nb.model.to_json(),
        "data_files": [d.to_json() for d in nb.data_files],
        "network": [u.to_json() for u in nb.network],
        "shell_commands": [
            {"cell": c.index, "line": s.line, "kind": s.kind, "text": s.text}
            for c, t in nb.cells
            for s in t.shell
        ],
    }


def _dns_name(stem: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", stem.lower()).strip("-")
    return (name or "model")[:50].rstrip("-")
