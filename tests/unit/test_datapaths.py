"""Data paths: where the notebook looks for its data, linked to the repository's file.

Each test builds a small repository (files + a notebook), analyzes it for real and
checks the links the train stage will make, or the error that stops the build.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat
import pytest
from nb2svc.analyze import analyze
from nb2svc.config import load_config
from nb2svc.datapaths import (
    DataLink,
    analysis_links,
    check_offline,
    link_commands,
    write_folders,
)
from nb2svc.errors import NotebookError
from nbformat import v4

SRC = "/opt/nb2svc/src"


def repo(tmp_path: Path, *files: str, notebook: str = "train.ipynb", code: str = "") -> Path:
    for name in files:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("a,b\n1,2\n")
    nb_path = tmp_path / notebook
    nb_path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(v4.new_notebook(cells=[v4.new_code_cell(code)]), nb_path)
    return nb_path


def links(nb_path: Path, root: Path) -> list[tuple[str, str, str]]:
    analysis = analyze([nb_path], root=root, config=load_config(root))
    files = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    found = analysis_links(analysis, src_dir=SRC, source_files=files)
    return [(link.link, link.target, link.how) for link in found]


def read(path: str) -> str:
    return f"import pandas as pd\ndf = pd.read_csv({path!r})\n"


def test_a_colab_path_is_linked_to_the_repository_file(tmp_path: Path) -> None:
    nb = repo(tmp_path, "data/churn.csv", code=read("/content/churn.csv"))
    assert links(nb, tmp_path) == [("/content/churn.csv", f"{SRC}/data/churn.csv", "colab")]


def test_a_kaggle_input_path_is_linked(tmp_path: Path) -> None:
    nb = repo(tmp_path, "churn.csv", code=read("/kaggle/input/telco/churn.csv"))
    assert links(nb, tmp_path) == [("/kaggle/input/telco/churn.csv", f"{SRC}/churn.csv", "kaggle")]


def test_a_windows_path_becomes_a_file_name_with_backslashes_in_the_notebook_folder(
    tmp_path: Path,
) -> None:
    nb = repo(tmp_path, "data/churn.csv", code=read("C:\\Users\\me\\churn.csv"))
    assert links(nb, tmp_path) == [
        (f"{SRC}/C:\\Users\\me\\churn.csv", f"{SRC}/data/churn.csv", "windows")
    ]


def test_a_case_mismatch_gets_a_link_with_the_notebooks_spelling(tmp_path: Path) -> None:
    nb = repo(tmp_path, "data/churn.csv", code=read("data/Churn.CSV"))
    assert links(nb, tmp_path) == [(f"{SRC}/data/Churn.CSV", f"{SRC}/data/churn.csv", "case")]


def test_a_path_relative_to_the_repo_root_is_linked_from_the_notebooks_folder(
    tmp_path: Path,
) -> None:
    nb = repo(tmp_path, "data/churn.csv", notebook="nbs/train.ipynb", code=read("data/churn.csv"))
    assert links(nb, tmp_path) == [
        (f"{SRC}/nbs/data/churn.csv", f"{SRC}/data/churn.csv", "repo-root")
    ]


def test_paths_that_already_work_need_no_link(tmp_path: Path) -> None:
    nb = repo(tmp_path, "nbs/data/x.csv", notebook="nbs/train.ipynb", code=read("data/x.csv"))
    assert links(nb, tmp_path) == []


def test_system_folders_are_never_linked_over() -> None:
    from nb2svc.analysis.data_files import DataFileRef
    from nb2svc.datapaths import plan_links
    from nb2svc.errors import CellRef

    ref = DataFileRef("/usr/lib/x.csv", CellRef(1), 1, "read_csv", "x.csv", "absolute")
    assert plan_links([("train.ipynb", ref)], src_dir=SRC) == ()


def test_an_ambiguous_file_stops_the_build_naming_the_cell_and_the_candidates(
    tmp_path: Path,
) -> None:
    nb = repo(tmp_path, "a/train.csv", "b/train.csv", code=read("/content/train.csv"))
    analysis = analyze([nb], root=tmp_path, config=load_config(tmp_path))
    with pytest.raises(NotebookError, match="matches several") as caught:
        check_offline(analysis, allow_network=False)
    assert caught.value.cell is not None
    assert "a/train.csv" in caught.value.message


def test_a_missing_file_stops_the_build_unless_shell_commands_may_create_it(
    tmp_path: Path,
) -> None:
    nb = repo(tmp_path, code=read("/kaggle/input/t/missing.csv"))
    analysis = analyze([nb], root=tmp_path, config=load_config(tmp_path))
    with pytest.raises(NotebookError, match="not in the repository"):
        check_offline(analysis, allow_network=False)
    nb = repo(tmp_path, code="!unzip data.zip\n" + read("missing.csv"))
    check_offline(analyze([nb], root=tmp_path, config=load_config(tmp_path)), allow_network=False)


def test_a_download_cell_fails_unless_the_network_is_allowed(tmp_path: Path) -> None:
    nb = repo(tmp_path, code="!wget https://example.com/x.csv")
    analysis = analyze([nb], root=tmp_path, config=load_config(tmp_path))
    with pytest.raises(NotebookError, match="needs the network") as caught:
        check_offline(analysis, allow_network=False)
    assert "--allow-network" in (caught.value.fix or "")
    check_offline(analysis, allow_network=True)


def test_link_commands_create_the_links_a_shell_can_run(tmp_path: Path) -> None:
    target = tmp_path / "data.csv"
    target.write_text("x\n")
    link = DataLink(str(tmp_path / "C:\\Users\\me\\d.csv"), str(target), "r", "nb", 1, "windows")
    script = " && ".join(link_commands([link]))
    subprocess.run(["sh", "-c", script], check=True)
    assert (tmp_path / "C:\\Users\\me\\d.csv").readlink() == target


def folders(nb_path: Path, root: Path) -> tuple[str, ...]:
    analysis = analyze([nb_path], root=root, config=load_config(root))
    files = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    return write_folders(analysis, src_dir=SRC, source_files=files)


def test_folders_the_notebook_writes_into_are_created_when_git_does_not_carry_them(
    tmp_path: Path,
) -> None:
    code = (
        "import matplotlib.pyplot as plt\nimport joblib\n"
        "plt.savefig('charts/attrition.png')\n"
        "df.to_csv('reports/2024/clean.csv')\n"
        "joblib.dump(model, 'models/churn.pkl')\n"
        "with open('notes/run.txt', 'w') as f:\n    f.write('x')\n"
        "df.to_csv('data/out.csv')\n"  # data/ is committed: nothing to make
        "plt.savefig('top.png')\n"  # the notebook's own folder
    )
    nb = repo(tmp_path, "nb/data/in.csv", notebook="nb/train.ipynb", code=code)
    assert folders(nb, tmp_path) == (
        f"{SRC}/nb/charts",
        f"{SRC}/nb/reports/2024",
        f"{SRC}/nb/models",
        f"{SRC}/nb/notes",
    )


def test_writes_outside_the_source_go_where_the_notebook_expects_except_system_folders(
    tmp_path: Path,
) -> None:
    code = (
        "df.to_csv('/kaggle/working/sub/out.csv')\n"
        "df.to_csv('~/results/out.csv')\n"
        "df.to_csv('/usr/lib/x/out.csv')\n"
        "df.to_csv('s3://bucket/out.csv')\n"
    )
    nb = repo(tmp_path, code=code)
    assert folders(nb, tmp_path) == ("/kaggle/working/sub", "/root/results")


def test_write_folders_are_made_before_the_links() -> None:
    link = DataLink("/content/x.csv", f"{SRC}/x.csv", "/content/x.csv", "t.ipynb", 1, "colab")
    assert link_commands([link], ["/opt/nb2svc/src/charts"]) == [
        "mkdir -p /opt/nb2svc/src/charts",
        "mkdir -p /content",
        f"ln -s {SRC}/x.csv /content/x.csv",
    ]


@pytest.mark.parametrize(
    ("evil", "says"),
    [
        ("data\rRUN touch pwned.csv", "a carriage return"),
        ("x\u2028y.csv", r"U\+2028 \(line separator\)"),
    ],
    ids=["carriage return", "line separator"],
)
def test_a_repository_file_whose_name_has_a_line_break_stops_the_build_naming_the_cell(
    tmp_path: Path, evil: str, says: str
) -> None:
    nb = repo(tmp_path, f"data/{evil}", code="x = 1\n" + read(f"/content/{evil}"))
    with pytest.raises(NotebookError, match=says) as caught:
        links(nb, tmp_path)
    assert caught.value.cell is not None
    assert caught.value.cell.index == 1
    assert caught.value.path == Path("train.ipynb")
    assert "rename the file" in (caught.value.fix or "")


def test_a_folder_the_notebook_writes_into_with_a_line_break_stops_the_build_naming_the_cell(
    tmp_path: Path,
) -> None:
    nb_path = tmp_path / "train.ipynb"
    cells = [v4.new_code_cell("x = 1"), v4.new_code_cell("df.to_csv('out\\rRUN evil/x.csv')")]
    nbformat.write(v4.new_notebook(cells=cells), nb_path)
    with pytest.raises(NotebookError, match=r"contains a carriage return \(U\+000D\)") as caught:
        folders(nb_path, tmp_path)
    assert str(caught.value.cell) == "cell 2"
    assert "fix the path" in (caught.value.fix or "")


def test_quoted_paths_with_shell_characters_are_made_as_they_are_written(tmp_path: Path) -> None:
    target = tmp_path / "data.csv"
    target.write_text("x\n")
    odd = tmp_path / "-rf $(touch pwned) 'q'"
    folder = tmp_path / "`id` ; x"
    link = DataLink(str(odd / "d.csv"), str(target), "r", "nb", 1, "basename")
    subprocess.run(["sh", "-c", " && ".join(link_commands([link], [str(folder)]))], check=True)
    assert (odd / "d.csv").readlink() == target
    assert folder.is_dir()
    assert not (tmp_path / "pwned").exists()
