"""The ast scan records guards, dynamic imports, sys.path additions and backend hints."""

from __future__ import annotations

from nb2svc.deps.imports import regex_scan, scan_code


def guards(code: str) -> list[tuple[str, str]]:
    return [(ref.path, ref.guard) for ref in scan_code(code).imports]


def test_from_imports_are_mapped_by_their_full_dotted_path() -> None:
    assert guards("from google.cloud import storage, bigquery") == [
        ("google.cloud.storage", "none"),
        ("google.cloud.bigquery", "none"),
    ]


def test_try_without_fallback_is_optional() -> None:
    code = "try:\n    import lightgbm\nexcept ImportError:\n    lightgbm = None"
    assert guards(code) == [("lightgbm", "try")]


def test_try_with_fallback_marks_main_branch_and_fallback() -> None:
    code = "try:\n    import ujson as json\nexcept (ImportError, AttributeError):\n    import json"
    assert guards(code) == [("ujson", "try-main"), ("json", "fallback")]


def test_environment_branches_are_optional_and_else_runs_in_the_build() -> None:
    code = "if IN_COLAB:\n    import colabtools\nelse:\n    import localtools\n"
    code += "if not 'google.colab' in sys.modules:\n    import buildtools"
    assert guards(code) == [("colabtools", "if"), ("localtools", "none"), ("buildtools", "none")]


def test_ordinary_if_and_function_imports_are_required() -> None:
    result = scan_code("if x > 1:\n    import a\ndef f():\n    import b")
    assert [(r.path, r.optional, r.in_function) for r in result.imports] == [
        ("a", False, False),
        ("b", False, True),
    ]


def test_relative_imports_keep_their_level() -> None:
    refs = scan_code("from . import sib\nfrom ..pkg.mod import x").imports
    assert [(r.level, r.top) for r in refs] == [(1, "sib"), (2, "pkg")]


def test_dynamic_imports_with_literal_names_are_seen() -> None:
    code = "importlib.import_module('catboost')\n__import__('xgboost')\nimport_module(name)"
    assert [(r.path, r.how) for r in scan_code(code).imports] == [
        ("catboost", "dynamic"),
        ("xgboost", "dynamic"),
    ]


def test_sys_path_additions_are_evaluated() -> None:
    code = (
        "sys.path.append('../src')\nsys.path.insert(0, os.path.join('..', 'lib'))\n"
        "sys.path.append(os.path.abspath(os.getcwd()))\nsys.path.append(some_var)"
    )
    assert scan_code(code).sys_paths == ["../src", "../lib", "."]


def test_attribute_calls_are_collected_for_implicit_backends() -> None:
    uses = scan_code("df = pd.read_excel('a.xls')\ndf.plot.bar()").attrs
    assert ("read_excel", "a.xls") in [(u.attr, u.literal) for u in uses]
    assert "plot" in [u.attr for u in uses]


def test_regex_fallback_reads_python2_cells() -> None:
    code = "print 'x'\nimport os, numpy as np\nfrom sklearn.svm import (SVC,\n    LinearSVC)"
    assert [r.path for r in regex_scan(code).imports] == ["os", "numpy", "sklearn.svm.SVC"]
