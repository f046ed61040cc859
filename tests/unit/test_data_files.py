"""Data files: what the notebook reads, and which repository file that is.

Each test builds a small repository in a temp dir: the files, and a notebook
in `notebooks/` (so notebook-relative and repo-relative paths differ).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nb2svc.analysis.data_files import DataFileRef, find_data_files
from nb2svc.analysis.repo_files import RepoFiles, classify
from nb2svc.notebook.load import load_notebook
from nb2svc.notebook.transform import transform_cell
from nbformat import v4


def repo(tmp_path: Path, *files: str) -> Path:
    for name in files:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("a,b\n1,2\n")
    return tmp_path


def reads(root: Path, *sources: str, folder: str = "notebooks") -> list[DataFileRef]:
    """Write a notebook with these code cells under `root/folder` and find its data files."""
    path = root / folder / "train.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = v4.new_notebook(cells=[v4.new_code_cell(s) for s in sources])
    nbformat.write(nb, path)
    cells = [(c, transform_cell(c.source)) for c in load_notebook(path).code_cells]
    return list(find_data_files(cells, notebook_dir=path.parent, root=root))


PD = "import pandas as pd\n"


def test_a_path_relative_to_the_notebook_is_an_exact_match(tmp_path: Path) -> None:
    root = repo(tmp_path, "notebooks/data/churn.csv")
    [ref] = reads(root, PD + "df = pd.read_csv('data/churn.csv')")
    assert (ref.resolved, ref.how, ref.problem) == ("notebooks/data/churn.csv", "exact", False)
    assert (ref.cell.index, ref.line, ref.function) == (1, 2, "pandas.read_csv")


def test_a_path_relative_to_the_repository_root_is_found_and_flagged(tmp_path: Path) -> None:
    root = repo(tmp_path, "data/churn.csv")
    [ref] = reads(root, PD + "df = pd.read_csv('data/churn.csv')")
    assert (ref.resolved, ref.how, ref.problem) == ("data/churn.csv", "repo-root", True)


def test_case_mismatch_is_resolved_and_named(tmp_path: Path) -> None:
    root = repo(tmp_path, "notebooks/diabetes.csv")
    [ref] = reads(root, PD + "df = pd.read_csv('Diabetes.csv')")
    assert (ref.resolved, ref.how) == ("notebooks/diabetes.csv", "case")
    assert "letter case" in ref.describe()


@pytest.mark.parametrize(
    ("files", "cells", "found"),
    [
        pytest.param(
            ["Data/x.csv"],
            [PD + "pd.read_csv('../Data/x.csv')"],
            [("Data/x.csv", "exact")],
            id="parent-folder-paths-resolve-within-the-repository",
        ),
        pytest.param(
            ["notebooks/x.csv"],
            [PD + "pd.read_csv('data/x.csv')"],
            [("notebooks/x.csv", "basename")],
            id="a-wrong-subfolder-is-resolved-by-file-name",
        ),
        pytest.param(
            ["notebooks/data/train.csv", "notebooks/sales.xlsx"],
            [
                PD + "a = pd.read_csv('/content/drive/MyDrive/project/data/train.csv')",
                "b = pd.read_excel('/content/sales.xlsx')",
            ],
            [("notebooks/data/train.csv", "colab"), ("notebooks/sales.xlsx", "colab")],
            id="colab-drive-and-content-paths-match-by-their-tail",
        ),
        pytest.param(
            ["input/train.csv"],
            [PD + "df = pd.read_csv('/kaggle/input/titanic/train.csv')"],
            [("input/train.csv", "kaggle")],
            id="kaggle-input-paths-drop-the-dataset-folder-when-needed",
        ),
        pytest.param(
            ["notebooks/data/x.csv", "notebooks/y.csv"],
            [
                PD + "a = pd.read_csv(r'C:\\Users\\ana\\Desktop\\proj\\data\\x.csv')",
                "b = pd.read_csv('F:/work/y.csv')",
            ],
            [("notebooks/data/x.csv", "windows"), ("notebooks/y.csv", "windows")],
            id="windows-paths-with-drive-letters-match-by-their-tail",
        ),
        pytest.param(
            ["notebooks/x.csv"],
            # "C:\Users" is a SyntaxError in Python 3 (\U escape): the regex fallback reads it.
            [PD + "df = pd.read_csv('C:\\Users\\ana\\x.csv')"],
            [("notebooks/x.csv", "windows")],
            id="a-windows-path-that-breaks-the-cell-is-still-found",
        ),
        pytest.param(
            ["notebooks/train.csv", "old/train.csv"],
            [PD + "df = pd.read_csv('/kaggle/input/x/train.csv')"],
            [("notebooks/train.csv", "kaggle")],
            id="the-file-in-the-notebook-folder-wins-over-others",
        ),
    ],
)
def test_a_read_path_resolves_to_the_repository_file(
    tmp_path: Path, files: list[str], cells: list[str], found: list[tuple[str, str]]
) -> None:
    refs = reads(repo(tmp_path, *files), *cells)
    assert [(r.resolved, r.how) for r in refs] == found


def test_several_files_with_the_name_are_ambiguous_with_candidates(tmp_path: Path) -> None:
    root = repo(tmp_path, "a/train.csv", "b/train.csv")
    [ref] = reads(root, PD + "df = pd.read_csv('/content/train.csv')")
    assert (ref.resolved, ref.how, ref.candidates) == (
        None,
        "ambiguous",
        ("a/train.csv", "b/train.csv"),
    )


def test_a_file_not_in_the_repository_is_missing(tmp_path: Path) -> None:
    [ref] = reads(repo(tmp_path), PD + "df = pd.read_csv('nowhere.csv')")
    assert (ref.resolved, ref.how, ref.problem) == (None, "missing", True)
    assert "not in the repository" in ref.describe()


def test_paths_built_from_constants_fstrings_and_joins_are_folded(tmp_path: Path) -> None:
    root = repo(tmp_path, "notebooks/data/a.csv", "notebooks/data/b.csv", "notebooks/data/c.csv")
    refs = reads(
        root,
        "import os\nfrom pathlib import Path\n" + PD + "DATA = 'data'",
        "a = pd.read_csv(f'{DATA}/a.csv')\nb = pd.read_csv(os.path.join(DATA, 'b.csv'))",
        "c = pd.read_csv(Path(DATA) / 'c.csv')",
    )
    assert [r.resolved for r in refs] == [f"notebooks/data/{n}.csv" for n in "abc"]


def test_a_path_computed_at_run_time_is_reported_as_dynamic(tmp_path: Path) -> None:
    [ref] = reads(repo(tmp_path), PD + "import sys\npath = sys.argv[1]\ndf = pd.read_csv(path)")
    assert (ref.reference, ref.how, ref.line) == ("path", "dynamic", 4)


def test_a_name_rebound_to_something_unknown_is_no_longer_folded(tmp_path: Path) -> None:
    refs = reads(repo(tmp_path), PD + "p = 'a.csv'\np = input()\ndf = pd.read_csv(p)")
    assert [r.how for r in refs] == ["dynamic"]


def test_other_readers_numpy_joblib_pillow_and_open(tmp_path: Path) -> None:
    root = repo(
        tmp_path, *(f"notebooks/{n}" for n in ("a.npy", "m.pkl", "i.png", "t.txt", "p.pkl"))
    )
    refs = reads(
        root,
        "import numpy as np, joblib, pickle\nfrom PIL import Image",
        "a = np.load('a.npy')\nm = joblib.load('m.pkl')\nimg = Image.open('i.png')",
        "with open('t.txt') as f:\n    text = f.read()\np = pickle.load(open('p.pkl', 'rb'))",
    )
    assert [(r.function, r.reference, r.how) for r in refs] == [
        ("numpy.load", "a.npy", "exact"),
        ("joblib.load", "m.pkl", "exact"),
        ("PIL.Image.open", "i.png", "exact"),
        ("open", "t.txt", "exact"),
        ("open", "p.pkl", "exact"),
    ]


def test_writes_are_not_reads_and_make_later_reads_generated(tmp_path: Path) -> None:
    refs = reads(
        repo(tmp_path, "notebooks/raw.csv"),
        PD + "df = pd.read_csv('raw.csv')\ndf.to_csv('clean.csv', index=False)",
        "with open('notes.txt', 'w') as f:\n    f.write('x')",
        "clean = pd.read_csv('clean.csv')",
    )
    assert [(r.reference, r.how, r.problem) for r in refs] == [
        ("raw.csv", "exact", False),
        ("clean.csv", "generated", False),
    ]


def test_a_writefile_cell_creates_a_file_the_notebook_can_read(tmp_path: Path) -> None:
    refs = reads(
        repo(tmp_path), "%%writefile cfg.json\n{}", "import json\ncfg = json.load(open('cfg.json'))"
    )
    assert [(r.reference, r.how) for r in refs] == [("cfg.json", "generated")]


def test_urls_and_buffers_are_not_data_files(tmp_path: Path) -> None:
    refs = reads(
        repo(tmp_path),
        PD + "import io\na = pd.read_csv('https://x.org/a.csv')",
        "b = pd.read_csv(io.StringIO('a\\n1'))",
        "c = pd.read_json('[{\"a\": 1}]')",
    )
    assert refs == []


def test_cloud_storage_is_remote(tmp_path: Path) -> None:
    [ref] = reads(repo(tmp_path), PD + "df = pd.read_parquet('s3://bucket/x.parquet')")
    assert (ref.how, ref.problem) == ("remote", True)


def test_virtualenvs_and_checkpoints_are_not_repository_files(tmp_path: Path) -> None:
    root = repo(tmp_path, ".ipynb_checkpoints/x.csv", "venv/lib/x.csv", "node_modules/x.csv")
    (root / "venv" / "pyvenv.cfg").write_text("")
    assert RepoFiles.scan(root).paths == frozenset()


def test_where_a_path_comes_from() -> None:
    assert classify("/content/drive/My Drive/a/b.csv") == ("colab", ["a", "b.csv"])
    assert classify("/kaggle/input/titanic/train.csv") == ("kaggle", ["titanic", "train.csv"])
    assert classify("D:\\data\\x.csv") == ("windows", ["data", "x.csv"])
    assert classify("/home/ana/x.csv") == ("absolute", ["home", "ana", "x.csv"])
    assert classify("./data/x.csv") == ("relative", ["data", "x.csv"])


def test_results_serialize_to_json(tmp_path: Path) -> None:
    [ref] = reads(repo(tmp_path, "notebooks/x.csv"), PD + "pd.read_csv('x.csv')")
    assert ref.to_json() == {
        "reference": "x.csv",
        "cell": 1,
        "execution_count": None,
        "line": 2,
        "function": "pandas.read_csv",
        "resolved": "notebooks/x.csv",
        "how": "exact",
        "candidates": [],
    }
