"""Declared files beside the notebook are read as evidence and never crash the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from nb2svc.deps.evidence import DeclaredSet, collect_declared


def collected(tmp_path: Path, name: str, content: str | bytes) -> DeclaredSet:
    """What `collect_declared` finds in `tmp_path` once `name` holds `content`."""
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return collect_declared([tmp_path], "3.11")


def declared(tmp_path: Path, name: str, content: str | bytes) -> list[tuple[str, str, str]]:
    found = collected(tmp_path, name, content)
    return [(d.spec.name, d.spec.specifier, d.source) for d in found.items]


def test_requirements_txt_with_comments_options_markers_and_includes(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("numpy==1.26.4\n", encoding="utf-8")
    text = (
        "# training\n-r base.txt\n--extra-index-url https://x\nPandas>=2 # df\n"
        "tomli; python_version < '3.11'\nscikit_learn==1.4.0\n"
    )
    assert declared(tmp_path, "requirements.txt", text) == [
        ("numpy", "==1.26.4", "requirements.txt"),
        ("pandas", ">=2", "requirements.txt"),
        ("scikit-learn", "==1.4.0", "requirements.txt"),
    ]


def test_pyproject_project_and_poetry_dependencies(tmp_path: Path) -> None:
    text = (
        '[project]\nname = "x"\ndependencies = ["xgboost==2.0.3", "requests"]\n'
        '[tool.poetry.dependencies]\npython = "^3.10"\nlightgbm = "4.1.0"\nshap = "^0.44"\n'
    )
    assert declared(tmp_path, "pyproject.toml", text) == [
        ("xgboost", "==2.0.3", "pyproject.toml"),
        ("requests", "", "pyproject.toml"),
        ("lightgbm", "==4.1.0", "pyproject.toml"),
        ("shap", "", "pyproject.toml"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "warning"),
    [
        pytest.param(
            "requirements.txt",
            b"PK\x03\x04\x00\x00word document",
            "not a text file",
            id="binary-requirements",
        ),
        pytest.param("pyproject.toml", "[project\n", "not valid TOML", id="invalid-toml"),
        pytest.param("environment.yml", "dependencies: [\n", "not valid YAML", id="broken-yaml"),
    ],
)
def test_a_file_that_cannot_be_read_is_ignored_with_a_warning(
    tmp_path: Path, name: str, content: str | bytes, warning: str
) -> None:
    found = collected(tmp_path, name, content)
    assert found.items == []
    assert warning in found.warnings[0]


def test_environment_yml_conda_and_pip_sections(tmp_path: Path) -> None:
    text = (
        "dependencies:\n  - python=3.9\n  - conda-forge::pandas=1.5.3\n  - pytorch\n"
        "  - cudatoolkit=11.3\n  - pip:\n    - pyyaml==6.0\n"
    )
    assert declared(tmp_path, "environment.yml", text) == [
        ("pandas", "==1.5.3", "environment.yml"),
        ("torch", "", "environment.yml"),
        ("pyyaml", "==6.0", "environment.yml"),
    ]
    assert collect_declared([tmp_path], "3.11").python_hint == "3.9"
