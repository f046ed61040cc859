"""Gather evidence from notebook cells and the local files they import or run.

Every cell goes through the IPython-aware `transform_cell`, then `ast`; a cell that still
does not parse (Python 2 `print x`, merge markers) is read with a line-based import scan
and a warning, never aborting the run.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from nb2svc.deps.imports import AttrUse, ImportRef, ScanResult, regex_scan, scan_code
from nb2svc.deps.installs import InstallSpec, parse_install_line
from nb2svc.deps.report import DepWarning, Site
from nb2svc.notebook.load import Cell, Notebook
from nb2svc.notebook.transform import ShellCommand, TransformedCell, Transforms, transform_cell

MAX_LOCAL_FILES = 500
PY_FILE = re.compile(r"^\S+\.py$")


@dataclass(frozen=True)
class Found:
    """An import with where it was found."""

    ref: ImportRef
    site: Site


@dataclass(frozen=True)
class Install:
    spec: InstallSpec
    site: Site
    command: str


@dataclass
class NotebookEvidence:
    """Everything one notebook says about its dependencies, before classification."""

    notebook: Notebook
    label: str  # notebook path relative to the repository root
    imports: list[Found] = field(default_factory=list)
    installs: list[Install] = field(default_factory=list)
    requirement_files: list[tuple[str, Site]] = field(default_factory=list)
    attrs: list[tuple[AttrUse, Site]] = field(default_factory=list)
    sys_paths: list[str] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)  # %%writefile target -> content
    runs: list[tuple[str, Site]] = field(default_factory=list)  # `%run x.py`, `!python x.py`
    warnings: list[DepWarning] = field(default_factory=list)


def notebook_label(path: Path, repo_root: Path) -> str:
    try:
        return str(path.resolve().relative_to(repo_root.resolve()))
    except ValueError:
        return str(path)


def collect_notebook(
    notebook: Notebook, repo_root: Path, transforms: Transforms | None = None
) -> NotebookEvidence:
    """Evidence from each code cell, as the analysis transformed it (`transforms`), else
    transformed here."""
    evidence = NotebookEvidence(notebook, notebook_label(notebook.path, repo_root))
    for cell in notebook.code_cells:
        given = transforms.get(cell.index) if transforms is not None else None
        _collect_cell(cell, given or _transform(cell, evidence), evidence)
    return evidence


def _transform(cell: Cell, ev: NotebookEvidence) -> TransformedCell:
    try:
        return transform_cell(cell.source)
    except Exception as exc:  # a transform bug must not stop dependency inference
        site = Site(ev.label, cell.index)
        ev.warnings.append(DepWarning("transform-failed", f"cell transform failed ({exc})", site))
        return TransformedCell(code=cell.source, syntax_error=SyntaxError(str(exc)))


def _collect_cell(cell: Cell, transformed: TransformedCell, ev: NotebookEvidence) -> None:
    for command in transformed.shell:
        _collect_shell(command, Site(ev.label, cell.index, command.line), ev)
    for written in transformed.written_files:
        previous = ev.written.get(written.path, "") if written.append else ""
        ev.written[written.path] = previous + written.content
    scan = scan_source(transformed.code, Site(ev.label, cell.index), ev.warnings)
    cell_site = Site(ev.label, cell.index)
    ev.imports += [Found(ref, _at(cell_site, ref.line)) for ref in scan.imports]
    ev.attrs += [(use, _at(cell_site, use.line)) for use in scan.attrs]
    ev.sys_paths += scan.sys_paths


def _at(site: Site, line: int) -> Site:
    return Site(site.notebook, site.cell, line, site.path)


def scan_source(code: str, site: Site, warnings: list[DepWarning]) -> ScanResult:
    """`ast` scan, or the line-based fallback (with a warning) when the code does not parse."""
    try:
        return scan_code(code)
    except (SyntaxError, ValueError, RecursionError) as exc:
        line = getattr(exc, "lineno", None)
        where = f"{site.path or f'cell {site.cell}'}"
        message = (
            f"{where} is not valid Python 3 ({getattr(exc, 'msg', exc)}, line {line}); "
            "its imports were found by a line scan"
        )
        warnings.append(DepWarning("syntax-fallback", message, _at(site, line or 0)))
        return regex_scan(code)


def _collect_shell(command: ShellCommand, site: Site, ev: NotebookEvidence) -> None:
    if command.kind in ("pip", "conda"):
        parsed = parse_install_line(command.text, command.kind)
        tool = "conda-line" if command.kind == "conda" else "pip-line"
        ev.installs += [Install(spec, site, command.text) for spec in parsed.specs]
        ev.requirement_files += [(f, site) for f in parsed.requirement_files]
        ev.warnings += [DepWarning(tool, note, site) for note in parsed.notes]
        return
    target = _run_target(command)
    if target:
        ev.runs.append((target, site))


def _run_target(command: ShellCommand) -> str | None:
    """`%run helpers.py` or `!python prepare.py --x` run a local script in the build."""
    try:
        words = shlex.split(command.text)
    except ValueError:
        return None
    is_run = command.kind == "magic" and command.name == "run"
    is_python = command.kind == "shell" and bool(words) and re.match(r"python[\d.]*$", words[0])
    if not (is_run or is_python):
        return None
    words = words[1:]
    scripts = [w for w in words if PY_FILE.match(w)]
    return scripts[0] if scripts else None
