"""Follow the notebook into the local modules it imports or runs, and scan them too.

Only the notebook's import closure counts: a Streamlit app or a Flask server sitting next to
the notebook adds nothing unless the notebook imports or runs it.
"""

from __future__ import annotations

from pathlib import Path

from nb2svc.deps.collect import MAX_LOCAL_FILES, Found, NotebookEvidence, scan_source
from nb2svc.deps.evidence import read_text
from nb2svc.deps.local import LocalIndex, LocalModule, is_ignored_dir
from nb2svc.deps.report import DepWarning, Site


def local_closure(
    ev: NotebookEvidence, index: LocalIndex, notebook_dir: Path, repo_root: Path
) -> list[Found]:
    """Imports found in local modules reachable from the notebook's cells."""
    pending: list[LocalModule] = [m for f in ev.imports if (m := index.get(f.ref.top))]
    for script, _site in ev.runs:
        written = ev.written.get(script)
        pending.append(LocalModule(Path(script).stem, str(notebook_dir / script), written))
    seen: set[str] = set()
    found: list[Found] = []
    while pending and len(seen) < MAX_LOCAL_FILES:
        module = pending.pop()
        for label, source in _sources(module, repo_root, seen, ev.warnings):
            site = Site(ev.label, None, None, label)
            scan = scan_source(source, site, ev.warnings)
            for ref in scan.imports:
                found.append(Found(ref, Site(ev.label, None, ref.line, label)))
                local = index.get(ref.top)
                if local is not None and local.path not in seen:
                    pending.append(local)
    return found


def _sources(
    module: LocalModule, repo_root: Path, seen: set[str], warnings: list[DepWarning]
) -> list[tuple[str, str]]:
    if module.path in seen:
        return []
    seen.add(module.path)
    label = _relative(Path(module.path), repo_root)
    if module.source is not None:
        return [(label, module.source)]
    path = Path(module.path)
    files = _package_files(path) if path.is_dir() else [path]
    out: list[tuple[str, str]] = []
    problems: list[str] = []
    for file in files:
        if file.suffix != ".py" or not file.is_file():
            continue
        seen.add(str(file))
        text = read_text(file, problems)
        if text is not None:
            out.append((_relative(file, repo_root), text))
    warnings += [DepWarning("local-module", p) for p in problems]
    return out


def _package_files(directory: Path) -> list[Path]:
    files: list[Path] = []
    for path in sorted(directory.rglob("*.py")):
        if any(is_ignored_dir(parent) for parent in path.parents if directory in parent.parents):
            continue
        files.append(path)
        if len(files) >= MAX_LOCAL_FILES:
            break
    return files


def _relative(path: Path, repo_root: Path) -> str:
    try:
        return str(path.resolve().relative_to(repo_root.resolve()))
    except ValueError:
        return str(path)
