"""Era-aware versions: unpinned notebooks resolve as of their last commit, stepping forward.

The search is tested with a resolver that knows which dates work (the real resolver is
uv against PyPI, exercised by the corpus); the start rule with real git repositories.
"""

from __future__ import annotations

import os
import subprocess
from datetime import date
from pathlib import Path

import nbformat
import pytest
from nb2svc.era import (
    EraStart,
    choose_start,
    estimate_date,
    explain_python,
    has_pins,
    resolve_era,
)
from nb2svc.errors import DependencyError
from nb2svc.lock import Lock
from nb2svc.notebook.load import Notebook, load_notebook


def fake_lock(cutoff: str | None) -> Lock:
    return Lock("", {}, "uv", "3.11", "linux", "key", exclude_newer=cutoff)


def resolver_from(first_good: str, calls: list[str | None]):  # type: ignore[no-untyped-def]
    def resolve(cutoff: str | None) -> Lock:
        calls.append(cutoff)
        if cutoff is not None and cutoff < first_good:
            raise DependencyError(f"nothing as of {cutoff}")
        return fake_lock(cutoff)

    return resolve


def test_a_notebook_that_resolves_at_its_date_uses_that_date() -> None:
    calls: list[str | None] = []
    start = EraStart("2023-05-04", "git", "committed")
    choice = resolve_era(resolver_from("2023-01-01", calls), start, today=date(2026, 1, 1))
    assert choice.cutoff == "2023-05-04"
    assert calls == ["2023-05-04"]


def test_the_cutoff_steps_forward_to_the_earliest_month_that_resolves() -> None:
    calls: list[str | None] = []
    start = EraStart("2019-06-10", "git", "committed")
    choice = resolve_era(resolver_from("2023-10-01", calls), start, today=date(2026, 1, 15))
    assert choice.cutoff == "2023-10-01"
    assert len(calls) < 12  # bisection, not one resolution per month
    assert "stepped forward to 2023-10-01" in choice.reason


def test_nothing_resolving_even_today_raises_the_resolvers_error() -> None:
    calls: list[str | None] = []
    start = EraStart("2019-06-10", "git", "committed")
    with pytest.raises(DependencyError, match="nothing as of 2026-01-15"):
        resolve_era(resolver_from("2099-01-01", calls), start, today=date(2026, 1, 15))


def test_no_start_means_todays_versions_without_a_cutoff() -> None:
    calls: list[str | None] = []
    choice = resolve_era(resolver_from("2000-01-01", calls), EraStart(None, "pinned", "pins"))
    assert choice.cutoff is None
    assert calls == [None]


def test_pins_and_urls_count_as_the_notebook_choosing_versions() -> None:
    assert not has_pins(["pandas", "scikit-learn", "numpy[extra]"])
    assert has_pins(["pandas", "scikit-learn==1.2.2"])
    assert has_pins(["pkg @ git+https://example.com/pkg.git"])


def git_repo(tmp_path: Path, when: str) -> Path:
    (tmp_path / "train.ipynb").write_text("{}")
    env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for args in (["init", "-q"], ["add", "-A"], [*ident, "commit", "-q", "-m", "x"]):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, env=env)
    return tmp_path


def test_an_unpinned_committed_notebook_starts_at_its_commit_date(tmp_path: Path) -> None:
    root = git_repo(tmp_path, "2021-05-04T23:30:00-02:00")
    start = choose_start(None, root, ["train.ipynb"], ["pandas"])
    assert (start.start, start.source) == ("2021-05-05", "git")  # UTC


def test_modified_pinned_or_disabled_notebooks_resolve_todays_versions(tmp_path: Path) -> None:
    root = git_repo(tmp_path, "2021-05-04T10:00:00Z")
    assert choose_start(None, root, ["train.ipynb"], ["pandas==1.3.0"]).source == "pinned"
    assert choose_start("none", root, ["train.ipynb"], ["pandas"]).start is None
    assert choose_start("2020-01-02", root, ["train.ipynb"], ["pandas"]).start == "2020-01-02"
    (root / "train.ipynb").write_text('{"changed": true}')
    assert choose_start(None, root, ["train.ipynb"], ["pandas"]).source == "uncommitted"


def test_a_bad_date_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DependencyError, match="not a date"):
        choose_start("last tuesday", tmp_path, ["train.ipynb"], [])


def test_an_older_notebook_python_explains_which_flag_to_pass() -> None:
    error = DependencyError("cannot resolve", details=["no wheels for cp311"])
    explained = explain_python(error, notebook_python="3.6", image_python="3.11")
    assert "written for Python 3.6" in explained.message
    assert "--python 3.6" in (explained.fix or "")
    assert explain_python(error, notebook_python="3.11", image_python="3.11") is error


def saved_notebook(tmp_path: Path, name: str, python: str | None, minor: int) -> Notebook:
    nb = nbformat.v4.new_notebook()
    nb.nbformat_minor = minor
    if python:
        nb.metadata["language_info"] = {"name": "python", "version": python}
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    path = tmp_path / name
    nbformat.write(nb, path, version=nbformat.NO_CONVERT)
    return load_notebook(path)


def test_a_notebook_without_history_is_dated_by_its_kernel_and_its_format(tmp_path: Path) -> None:
    old = saved_notebook(tmp_path, "old.ipynb", "3.7.6", 4)
    assert estimate_date([old]) == (
        "2019-10-14",
        "estimated 2019-10-14 from the notebook: its kernel is Python 3.7, current until "
        "Python 3.8 came out on 2019-10-14",
    )
    resaved = saved_notebook(tmp_path, "resaved.ipynb", "3.7.6", 5)  # cell ids: 2021 or later
    assert estimate_date([resaved])[0] == "2021-01-13"
    assert estimate_date([saved_notebook(tmp_path, "bare.ipynb", None, 4)])[0] is None


def test_without_history_the_estimate_starts_the_era_unless_a_date_is_given(
    tmp_path: Path,
) -> None:
    old = saved_notebook(tmp_path, "old.ipynb", "3.8.10", 4)
    start = choose_start(None, tmp_path, ["old.ipynb"], ["pandas"], env={}, evidence=[old])
    assert (start.start, start.source) == ("2020-10-05", "estimate")
    dated = choose_start(
        None, tmp_path, ["old.ipynb"], ["pandas"], env={"SOURCE_DATE_EPOCH": "1600000000"},
        evidence=[old],
    )  # fmt: skip
    assert (dated.start, dated.source) == ("2020-09-13", "source-date-epoch")
    assert choose_start("2022-02-02", tmp_path, ["old.ipynb"], [], evidence=[old]).start == (
        "2022-02-02"
    )
