"""The result of dependency inference: frozen values with provenance and `to_json()`.

JSON shape (keys are stable; add, never rename):

    {"python_version": "3.11", "notebook_python_version": "3.7.6" | null,
     "dependencies": [{"name", "specifier", "version", "source", "imports", "optional",
                       "confidence", "extras", "url", "provenance": [{"source", "notebook",
                       "cell", "line", "path", "detail"}]}],
     "imports": [{"module", "top", "kind", "notebook", "cell", "line", "path", "guarded",
                  "guard", "distribution"}],
     "unresolved": [{"module", "notebook", "cell", "line", "path", "message"}],
     "warnings": [{"code", "message", "notebook", "cell", "line"}]}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ImportKind = Literal["stdlib", "local", "runtime-only", "python2", "third-party", "unresolved"]
Confidence = Literal["explicit", "mapped", "inferred"]
JSON = dict[str, Any]


@dataclass(frozen=True)
class Site:
    """Where a piece of evidence was found: a notebook cell line, or a file line."""

    notebook: str | None = None
    cell: int | None = None
    line: int | None = None
    path: str | None = None  # a local module or a requirements file, when not the notebook

    def to_json(self) -> JSON:
        return {"notebook": self.notebook, "cell": self.cell, "line": self.line, "path": self.path}


@dataclass(frozen=True)
class Provenance:
    source: str  # pip-line | conda-line | import | dynamic-import | requirements.txt | ...
    site: Site
    detail: str = ""  # e.g. "pip install -q xgboost==2.0.3" or "import sklearn.ensemble"

    def to_json(self) -> JSON:
        return {"source": self.source, **self.site.to_json(), "detail": self.detail}


@dataclass(frozen=True)
class Dependency:
    """One distribution to install, with every piece of evidence for it."""

    name: str  # canonical PyPI name
    specifier: str  # "==2.0.3", ">=1.2", or ""
    version: str | None  # the pinned version when explicit, else None
    source: str  # strongest evidence: pip-line > conda-line > requirements files > import
    imports: tuple[str, ...]
    provenance: tuple[Provenance, ...]
    optional: bool = False  # only imported under try/except ImportError or an `if IN_COLAB:`
    confidence: Confidence = "mapped"
    extras: tuple[str, ...] = ()
    url: str | None = None  # VCS/URL installs: cannot be pinned

    @property
    def requirement(self) -> str:
        """A pip requirement line (`name[extra]==1.0`, or `name @ url`)."""
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        if self.url:
            return f"{self.name}{extras} @ {self.url}"
        return f"{self.name}{extras}{self.specifier}"

    def to_json(self) -> JSON:
        return {
            "name": self.name,
            "specifier": self.specifier,
            "version": self.version,
            "source": self.source,
            "imports": list(self.imports),
            "optional": self.optional,
            "confidence": self.confidence,
            "extras": list(self.extras),
            "url": self.url,
            "provenance": [p.to_json() for p in self.provenance],
        }


@dataclass(frozen=True)
class ImportRecord:
    module: str  # dotted path as mapped (`google.cloud.storage`, `.localmod` for relative)
    kind: ImportKind
    site: Site
    guard: str = "none"  # none | try | try-main | fallback | if
    distribution: str | None = None

    @property
    def top(self) -> str:
        return self.module.lstrip(".").split(".")[0]

    def to_json(self) -> JSON:
        return {
            "module": self.module,
            "top": self.top,
            "kind": self.kind,
            **self.site.to_json(),
            "guarded": self.guard != "none",
            "guard": self.guard,
            "distribution": self.distribution,
        }


@dataclass(frozen=True)
class Unresolved:
    module: str
    site: Site
    message: str

    def to_json(self) -> JSON:
        return {"module": self.module, **self.site.to_json(), "message": self.message}


@dataclass(frozen=True)
class DepWarning:
    code: str
    message: str
    site: Site = Site()

    @property
    def cell(self) -> int | None:
        return self.site.cell

    def to_json(self) -> JSON:
        s = self.site
        return {
            "code": self.code,
            "message": self.message,
            "notebook": s.notebook,
            "cell": s.cell,
            "line": s.line,
        }


@dataclass(frozen=True)
class DependencyReport:
    python_version: str
    dependencies: tuple[Dependency, ...]
    imports: tuple[ImportRecord, ...]
    unresolved: tuple[Unresolved, ...]
    warnings: tuple[DepWarning, ...]
    notebook_python_version: str | None = None
    # Declared version ranges of packages the notebook does not import: (requirement, origin)
    constraints: tuple[tuple[str, str], ...] = ()

    @property
    def required(self) -> tuple[Dependency, ...]:
        """The dependencies to install: everything not marked optional."""
        return tuple(d for d in self.dependencies if not d.optional)

    def requirement_lines(self) -> list[str]:
        return [d.requirement for d in self.required]

    def to_json(self) -> JSON:
        return {
            "python_version": self.python_version,
            "notebook_python_version": self.notebook_python_version,
            "dependencies": [d.to_json() for d in self.dependencies],
            "imports": [i.to_json() for i in self.imports],
            "unresolved": [u.to_json() for u in self.unresolved],
            "warnings": [w.to_json() for w in self.warnings],
        }
