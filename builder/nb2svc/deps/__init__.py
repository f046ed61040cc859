"""Dependency inference: notebooks -> PyPI distributions with provenance.

Public API: `infer_dependencies`, `detect_python_version` and the report types.
"""

from nb2svc.deps.infer import detect_python_version, infer_dependencies
from nb2svc.deps.report import (
    Dependency,
    DependencyReport,
    DepWarning,
    ImportRecord,
    Provenance,
    Site,
    Unresolved,
)

__all__ = [
    "DepWarning",
    "Dependency",
    "DependencyReport",
    "ImportRecord",
    "Provenance",
    "Site",
    "Unresolved",
    "detect_python_version",
    "infer_dependencies",
]
