"""Install lines in cells are parsed like pip and conda would read them."""

from __future__ import annotations

import pytest
from nb2svc.deps.installs import parse_install_line


def names(text: str, kind: str = "pip") -> list[tuple[str, str]]:
    parsed = parse_install_line(text, "conda" if kind == "conda" else "pip")
    return [(s.name, s.specifier) for s in parsed.specs]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pip install -q xgboost==2.0.3", [("xgboost", "==2.0.3")]),
        ("pip install -U scikit-learn", [("scikit-learn", "")]),
        ("pip install --upgrade --quiet Pandas>=2.0", [("pandas", ">=2.0")]),
        ("pip3 install keras_radam", [("keras-radam", "")]),
        ("python -m pip install 'torch[cuda]==2.1.0'", [("torch", "==2.1.0")]),
        ("/usr/bin/python3.10 -m pip install shap", [("shap", "")]),
        ("pip install --index-url https://example.org/simple lightgbm", [("lightgbm", "")]),
        ("pip install --upgrade pip setuptools wheel", []),
        ("pip install a && pip install b==1; ls", [("a", ""), ("b", "==1")]),
        ("pip uninstall -y numpy", []),
        ("pip install sklearn", [("sklearn", "")]),  # rewritten later by the deny list
    ],
)
def test_pip_lines(text: str, expected: list[tuple[str, str]]) -> None:
    assert names(text) == expected


def test_extras_are_kept() -> None:
    spec = parse_install_line("pip install 'ray[tune]==2.9.0'").specs[0]
    assert (spec.extras, spec.version) == (("tune",), "2.9.0")


def test_a_requirements_file_is_returned_for_the_caller_to_read() -> None:
    parsed = parse_install_line("pip install -q -r requirements-train.txt")
    assert (parsed.specs, parsed.requirement_files) == ((), ("requirements-train.txt",))


def test_git_urls_are_reported_as_unpinnable() -> None:
    parsed = parse_install_line("pip install git+https://github.com/openai/CLIP.git#egg=clip")
    assert [(s.name, s.url is not None) for s in parsed.specs] == [("clip", True)]
    assert "cannot pin" in parsed.notes[0]


def test_editable_local_install_is_a_note_not_a_dependency() -> None:
    parsed = parse_install_line("pip install -e .")
    assert parsed.specs == ()
    assert "local project" in parsed.notes[0]


def test_variables_cannot_be_read() -> None:
    parsed = parse_install_line("pip install $PKG")
    assert parsed.specs == ()
    assert "variable" in parsed.notes[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("conda install -c conda-forge -y shap", [("shap", "")]),
        ("conda install pytorch cudatoolkit=11.3 -c pytorch", [("torch", "")]),
        ("mamba install py-xgboost=1.7.6", [("xgboost", "==1.7.6")]),
        ("conda install scikit-learn=1.3", [("scikit-learn", "==1.3.*")]),
    ],
)
def test_conda_lines(text: str, expected: list[tuple[str, str]]) -> None:
    assert names(text, "conda") == expected
