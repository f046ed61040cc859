"""Specification: every row of the failure table in reference/dependency-inference.md §2.

Each row is a notebook situation and what nb2svc must do: the distributions to install,
or the action (drop with a warning, mark optional, report unresolved).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from nb2svc.deps import DependencyReport, infer_dependencies
from nb2svc.notebook.load import load_notebook
from nbformat.v4 import new_code_cell, new_notebook


@dataclass(frozen=True)
class Row:
    number: int
    cells: tuple[str, ...]
    installs: frozenset[str]  # the required distributions, exactly
    python: str = "3.11"
    files: dict[str, str] = field(default_factory=dict)
    unresolved: tuple[str, ...] = ()  # modules reported unresolved
    warning: str | None = None  # a warning code that must be present
    optional: tuple[str, ...] = ()  # distributions marked optional
    pins: dict[str, str] = field(default_factory=dict)  # name -> specifier


def row(number: int, cells: str | tuple[str, ...], installs: set[str], **kw: object) -> Row:
    src = (cells,) if isinstance(cells, str) else cells
    return Row(number, src, frozenset(installs), **kw)  # type: ignore[arg-type]


ROWS = [
    row(1, "import sklearn", {"scikit-learn"}),
    row(2, "import skimage", {"scikit-image"}),
    row(3, "import cv2", {"opencv-python-headless"}),
    row(4, "from PIL import Image", {"pillow"}),
    row(5, "import yaml", {"pyyaml"}),
    row(6, "from bs4 import BeautifulSoup", {"beautifulsoup4"}),
    row(7, "import attr", {"attrs"}),
    row(8, "from google.cloud import storage", {"google-cloud-storage"}),
    row(9, "from google.colab import drive", set(), warning="runtime-only"),
    row(10, "from Crypto.Cipher import AES", {"pycryptodome"}),
    row(11, ("!pip install tensorflow==2.12.0", "import tensorflow as tf"), {"tensorflow"},
        pins={"tensorflow": "==2.12.0"}),
    row(12, "import keras", {"keras", "tensorflow"}, pins={"keras": ""}),  # plus its backend
    row(13, "from mpl_toolkits.mplot3d import Axes3D", {"matplotlib"}),
    row(14, "import pylab", {"matplotlib"}),
    row(15, "import pkg_resources", {"setuptools"}),
    row(16, "import distutils.version", {"setuptools"}, python="3.12", warning="stdlib-moved"),
    row(17, "import tomllib", set(), python="3.10", unresolved=("tomllib",)),
    row(18, "try:\n    import cPickle\nexcept ImportError:\n    import pickle\nimport ConfigParser",
        set(), warning="python2"),
    row(19, "import models", set(), unresolved=("models",)),
    row(20, "from .localmod import thing", set(), files={"localmod.py": "X = 1\n"}),
    row(21, "import flib", set(), unresolved=("flib",)),
    row(22, "import umap", {"umap-learn"}),
    row(23, "import docx", {"python-docx"}),
    row(24, "import fitz", {"pymupdf"}),
    row(25, "import kafka", {"kafka-python"}),
    row(26, "import MySQLdb", {"mysqlclient"}),
    row(27, "from jose import jwt", {"python-jose"}),
    row(28, "import snappy", {"python-snappy"}),
    row(29, "import imblearn", {"imbalanced-learn"}),
    row(30, "from Bio import SeqIO", {"biopython"}),
    row(31, "import faiss", {"faiss-cpu"}),
    row(32, "import pyro", {"pyro-ppl"}),
    row(33, "import hydra", {"hydra-core"}),
    row(34, "import jenkins", {"python-jenkins"}),
    row(35, "import ahocorasick\nimport github3", {"pyahocorasick", "github3-py"}),
    row(36, "import pandas_profiling", {"ydata-profiling"}),
    row(37, "import psycopg2", {"psycopg2-binary"}),
    row(38, "from IPython.display import display", set(), warning="runtime-only"),
    row(39, "%%time\nimport numpy", {"numpy"}),
    row(40, ("pip install keras_radam", "import keras_radam"), {"keras-radam"}),
    row(41, ("!pip install imbalanced-learn", "%pip install x==1.2", "%conda install shap"),
        {"imbalanced-learn", "x", "shap"}, pins={"x": "==1.2"}),
    row(42, "import importlib\nimportlib.import_module('catboost')\n__import__('xgboost')",
        {"catboost", "xgboost"}),
    row(43, "try:\n    import lightgbm\nexcept ImportError:\n    lightgbm = None", set(),
        optional=("lightgbm",)),
    row(44, ("import numpy", "print 'hello'\nimport scipy"), {"numpy", "scipy"},
        warning="syntax-fallback"),
    row(45, "import pandas", {"pandas"},
        files={"app.py": "import streamlit\nimport flask\n", "requirements.txt": "streamlit\n"}),
    row(46, ("!pip install pandas==1.5.3", "import pandas"), {"pandas"},
        pins={"pandas": "==1.5.3"}),
    row(47, "import nbformat_nonexistent_helper\nimport IPython", set(),
        unresolved=("nbformat_nonexistent_helper",)),
]  # fmt: skip


def infer(tmp_path: Path, case: Row) -> DependencyReport:
    cells = [new_code_cell(src) for src in case.cells]
    path = tmp_path / "repo" / "train.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(new_notebook(cells=cells), path)
    for name, content in case.files.items():
        (path.parent / name).write_text(content, encoding="utf-8")
    return infer_dependencies([load_notebook(path)], path.parent, case.python)


def test_the_table_has_all_47_rows() -> None:
    assert [r.number for r in ROWS] == list(range(1, 48))


@pytest.mark.parametrize("case", ROWS, ids=lambda r: f"row{r.number}")
def test_failure_table_row(tmp_path: Path, case: Row) -> None:
    report = infer(tmp_path, case)
    assert {d.name for d in report.required} == case.installs
    assert {u.module.split(".")[0] for u in report.unresolved} == set(case.unresolved)
    if case.warning:
        assert case.warning in {w.code for w in report.warnings}
    assert {d.name for d in report.dependencies if d.optional} == set(case.optional)
    specs = {d.name: d.specifier for d in report.dependencies}
    for name, specifier in case.pins.items():
        assert specs[name] == specifier


def test_row3_an_explicit_opencv_choice_wins_over_headless(tmp_path: Path) -> None:
    case = row(3, ("!pip install opencv-python==4.8.1.78", "import cv2"), {"opencv-python"})
    report = infer(tmp_path, case)
    assert [(d.name, d.version) for d in report.required] == [("opencv-python", "4.8.1.78")]


def test_row16_distutils_is_stdlib_before_312(tmp_path: Path) -> None:
    report = infer(tmp_path, row(16, "import distutils", set(), python="3.11"))
    assert report.required == ()
    assert [i.kind for i in report.imports] == ["stdlib"]


def test_row17_tomllib_before_311_says_to_use_tomli(tmp_path: Path) -> None:
    report = infer(tmp_path, row(17, "import tomllib", set(), python="3.10"))
    assert "tomli" in report.unresolved[0].message


def test_row43_optional_import_is_required_once_imported_unguarded(tmp_path: Path) -> None:
    cells = ("try:\n    import lightgbm\nexcept ImportError:\n    pass", "import lightgbm")
    report = infer(tmp_path, row(43, cells, {"lightgbm"}))
    assert [(d.name, d.optional) for d in report.dependencies] == [("lightgbm", False)]
