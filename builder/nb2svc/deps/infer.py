"""Infer the distributions a set of notebooks needs, with provenance for each.

    report = infer_dependencies([load_notebook(p)], repo_root, "3.11")
    report.required           # what to install
    report.to_json()          # embedded in `nb2svc analyze --json` and report.json

Evidence, strongest first: `%pip`/`!pip`/`%conda` install lines (with their versions),
requirements.txt / pyproject.toml / environment.yml beside the notebook (only where a declared
distribution provides an imported module), the curated import table, implicit backends.
An import nothing explains is `unresolved`, never guessed into a PyPI name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nb2svc.deps.classify import Verdict, classify
from nb2svc.deps.closure import local_closure
from nb2svc.deps.collect import Found, Install, NotebookEvidence, collect_notebook
from nb2svc.deps.evidence import Declared, DeclaredSet, collect_declared, read_requirements
from nb2svc.deps.imports import AttrUse
from nb2svc.deps.installs import InstallSpec
from nb2svc.deps.local import LocalIndex, import_roots
from nb2svc.deps.mapping import ImportMap, load_import_map
from nb2svc.deps.report import (
    DependencyReport,
    DepWarning,
    ImportRecord,
    Provenance,
    Site,
    Unresolved,
)
from nb2svc.deps.resolve import Resolution
from nb2svc.deps.stdlib import DEFAULT_VERSION, clamp_version, minor_version
from nb2svc.notebook.load import Notebook
from nb2svc.notebook.transform import Transforms


@dataclass
class _Context:
    """One notebook's evidence plus its repo-local view (local modules, declared files)."""

    ev: NotebookEvidence
    index: LocalIndex
    found: list[Found]
    declared: DeclaredSet
    installs: list[tuple[Install, str]] = field(default_factory=list)  # (install, source)

    def declared_names(self) -> set[str]:
        return {d.spec.name for d in self.declared.items}


@dataclass
class _State:
    target: str
    table: ImportMap
    res: Resolution = field(default_factory=Resolution)
    records: list[ImportRecord] = field(default_factory=list)
    unresolved: list[Unresolved] = field(default_factory=list)
    warnings: list[DepWarning] = field(default_factory=list)
    constraints: list[tuple[str, str]] = field(default_factory=list)
    warned: set[tuple[str | None, str, str]] = field(default_factory=set)

    def warn(self, code: str, message: str, site: Site, key: str | None = None) -> None:
        dedupe = (site.notebook, code, key or message)
        if dedupe not in self.warned:
            self.warned.add(dedupe)
            self.warnings.append(DepWarning(code, message, site))


def detect_python_version(notebooks: Sequence[Notebook], default: str = DEFAULT_VERSION) -> str:
    """Major.minor from the first notebook's `language_info.version`, else `default`."""
    for notebook in notebooks:
        if notebook.python_minor:
            return notebook.python_minor
    return default


def infer_dependencies(
    notebooks: Sequence[Notebook],
    repo_root: Path,
    python_version: str,
    transforms: Mapping[Path, Transforms] | None = None,
) -> DependencyReport:
    """Dependencies of `notebooks` (a pipeline shares one image) for the target Python;
    `transforms`: the analysis' transformed cells per notebook path."""
    state = _State(clamp_version(python_version), load_import_map())
    if minor_version(python_version) != state.target:
        message = f"no stdlib table for Python {python_version}; using {state.target}"
        state.warn("python-version", message, Site())
    given = transforms or {}
    contexts = [_prepare(nb, repo_root, state, given.get(nb.path)) for nb in notebooks]
    explicit = _add_installs(contexts, state)
    for ctx in contexts:
        _add_imports(ctx, state, explicit)
        _add_implicit(ctx, state)
        _warn_unused_declared(ctx, state)
    dependencies = state.res.freeze()
    for dep in dependencies:
        if dep.optional:
            site = dep.provenance[0].site
            message = (
                f"{dep.name} is only imported under a guard (try/except ImportError or an "
                "environment check); marked optional and not installed"
            )
            state.warn("optional", message, site, dep.name)
    return DependencyReport(
        python_version=state.target,
        dependencies=dependencies,
        imports=tuple(state.records),
        unresolved=tuple(state.unresolved),
        warnings=tuple(state.warnings),
        constraints=tuple(dict.fromkeys(state.constraints)),
        notebook_python_version=next(
            (n.python_version for n in notebooks if n.python_version), None
        ),
    )


def _prepare(
    notebook: Notebook, repo_root: Path, state: _State, transforms: Transforms | None
) -> _Context:
    ev = collect_notebook(notebook, repo_root, transforms)
    state.warnings += ev.warnings
    ev.warnings.clear()
    notebook_dir = notebook.path.parent.resolve()
    index = LocalIndex()
    for target, content in ev.written.items():
        index.add_written(notebook_dir, target, content)
    runs = [str(Path(script).parent) for script, _ in ev.runs]
    for root in import_roots(notebook_dir, repo_root.resolve(), [*ev.sys_paths, *runs]):
        index.add_root(root)
    found = ev.imports + local_closure(ev, index, notebook_dir, repo_root)
    state.warnings += ev.warnings
    declared = collect_declared([notebook_dir, repo_root], state.target)
    state.warnings += [DepWarning("declared-file", w, Site(ev.label)) for w in declared.warnings]
    ctx = _Context(ev, index, found, declared)
    ctx.installs = [(i, _install_source(i)) for i in ev.installs] + _pip_files(
        ctx, notebook_dir, state
    )
    _check_version(notebook, ev.label, state)
    return ctx


def _install_source(install: Install) -> str:
    return "conda-line" if install.spec.tool == "conda" else "pip-line"


def _pip_files(ctx: _Context, notebook_dir: Path, state: _State) -> list[tuple[Install, str]]:
    """`pip install -r FILE` in a cell: every requirement in FILE is an explicit install."""
    out: list[tuple[Install, str]] = []
    for name, site in ctx.ev.requirement_files:
        declared = DeclaredSet()
        path = notebook_dir / name
        if not path.is_file():
            state.warn("pip-line", f"`pip install -r {name}`: {path} does not exist", site)
            continue
        read_requirements(path, state.target, declared, depth=0)
        state.warnings += [DepWarning("pip-line", w, site) for w in declared.warnings]
        for item in declared.items:
            out.append((Install(item.spec, site, f"pip install -r {name}"), "pip-line"))
    return out


def _check_version(notebook: Notebook, label: str, state: _State) -> None:
    minor = notebook.python_minor
    if minor and minor != state.target:
        message = (
            f"the notebook was last run with Python {notebook.python_version}; dependencies "
            f"were inferred for Python {state.target}"
        )
        state.warn("python-version", message, Site(label))


def _add_installs(contexts: Sequence[_Context], state: _State) -> set[str]:
    names: set[str] = set()
    for ctx in contexts:
        for install, source in ctx.installs:
            spec = _undeny(install, state)
            dep = state.res.get(spec.name)
            clash = dep.add(source, Provenance(source, install.site, install.command), spec)
            if clash:
                state.warn("conflicting-pins", clash + "the later one is used", install.site)
            names.add(spec.name)
    return names


def _undeny(install: Install, state: _State) -> InstallSpec:
    spec = install.spec
    replacement = state.table.denied(spec.name)
    if replacement is None:
        return spec
    if not replacement:
        message = f"`{spec.name}` on PyPI is a placeholder or unrelated project; check this install"
        state.warn("denied-name", message, install.site, spec.name)
        return spec
    message = f"`{spec.name}` on PyPI is a placeholder or unrelated project; using {replacement}"
    state.warn("denied-name", message, install.site, spec.name)
    return InstallSpec(replacement, spec.specifier, spec.extras, spec.url, spec.raw, spec.tool)


def _add_imports(ctx: _Context, state: _State, explicit: set[str]) -> None:
    declared = ctx.declared_names()
    for found in ctx.found:
        ref, site = found.ref, found.site
        verdict = classify(ref, state.target, ctx.index, state.table, explicit | declared)
        dist = None
        if verdict.kind == "third-party":
            dist = _use(found, verdict, ctx, state, explicit)
        elif verdict.kind == "unresolved":
            _unresolved(found, verdict, state)
        elif verdict.message and verdict.warning:
            state.warn(verdict.warning, verdict.message, site, ref.top)
        module = "." * ref.level + _display(ref.module, ref.path, state.table)
        state.records.append(ImportRecord(module, verdict.kind, site, ref.guard, dist))


def _display(module: str, path: str, table: ImportMap) -> str:
    """`from google.cloud import storage` shows as `google.cloud.storage`; else the module."""
    if not module or table.modules.get(module) == ():
        return path
    return module


def _use(found: Found, verdict: Verdict, ctx: _Context, state: _State, explicit: set[str]) -> str:
    ref = found.ref
    dist = state.res.pick(verdict.dists, explicit, ctx.declared_names())
    dep = state.res.get(dist)
    source = "dynamic-import" if ref.how == "dynamic" else "import"
    dep.add(source, Provenance(source, found.site, f"import {ref.path}"))
    namespace = state.table.modules.get(ref.top) == ()
    dep.add_import(verdict.key if namespace else ref.top, ref.optional)
    for item in ctx.declared.items:
        if item.spec.name == dist:
            dep.add(item.source, _declared_provenance(item), item.spec)
    if verdict.warning and verdict.message:
        state.warn(verdict.warning, verdict.message, found.site, ref.top)
    return dist


def _declared_provenance(item: Declared) -> Provenance:
    return Provenance(item.source, Site(path=str(item.path), line=item.line), item.spec.raw)


def _unresolved(found: Found, verdict: Verdict, state: _State) -> None:
    ref, site = found.ref, found.site
    message = verdict.message or "unresolved"
    if ref.optional:
        state.warn("optional", f"optional import: {message}", site, ref.top)
        return
    key = (site.notebook, ref.top)
    if any((u.site.notebook, u.module.split(".")[0]) == key for u in state.unresolved):
        return
    state.unresolved.append(Unresolved(ref.path, site, message))


def _add_implicit(ctx: _Context, state: _State) -> None:
    """`df.read_excel(...)` needs openpyxl even though nothing imports it; likewise
    `from xgboost import XGBClassifier` needs scikit-learn (xgboost's sklearn API)."""
    imported = {f.ref.top for f in ctx.found}
    names = [(AttrUse(f.ref.name, f.ref.line, None), f.site) for f in ctx.found if f.ref.name]
    for use, site in [*ctx.ev.attrs, *names]:
        rule = state.table.implicit.get(use.attr)
        if rule is None or rule.requires not in imported:
            continue
        dist = rule.dist
        if use.attr == "read_excel" and (use.literal or "").lower().endswith(".xls"):
            dist = "xlrd"
        _add_implied(
            ctx, state, dist, Provenance("implicit", site, f".{use.attr}(): {rule.purpose}")
        )
    for top, backend in state.table.backends.items():  # `import keras` alone needs a backend
        first = next((f for f in ctx.found if f.ref.top == top and not f.ref.optional), None)
        if first is not None and imported.isdisjoint(backend.chosen):
            why = f"import {top}: {backend.purpose}"
            _add_implied(ctx, state, backend.dist, Provenance("implicit", first.site, why))


def _add_implied(ctx: _Context, state: _State, dist: str, provenance: Provenance) -> None:
    dep = state.res.get(dist)
    dep.add("implicit", provenance)
    dep.required = True
    for item in ctx.declared.items:
        if item.spec.name == dist:
            dep.add(item.source, _declared_provenance(item), item.spec)


def _warn_unused_declared(ctx: _Context, state: _State) -> None:
    """Declared but not imported: not installed; a version range still limits the package
    if something else pulls it in (`numpy<2` next to `pandas<2`), as a lock constraint."""
    used = set(state.res.deps)
    unused = sorted({d.spec.name for d in ctx.declared.items} - used)
    if unused:
        files = sorted({d.path.name for d in ctx.declared.items if d.spec.name in unused})
        ranged = [d for d in ctx.declared.items if d.spec.name in unused and d.spec.specifier]
        for item in ranged:
            origin = f"{item.path.name} line {item.line} (a constraint: not imported)"
            state.constraints.append((f"{item.spec.name}{item.spec.specifier}", origin))
        names = ", ".join(sorted({d.spec.name for d in ranged}))
        limits = f"; their versions still limit what other packages pull in ({names})"
        limits = limits if ranged else ""
        message = (
            f"{', '.join(files)} declares {', '.join(unused)}, which the notebook does not import "
            f"(the file may belong to an app); not installed{limits}"
        )
        state.warn("declared-unused", message, Site(ctx.ev.label))
