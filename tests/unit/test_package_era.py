"""Per-package cut-offs: each package as of the notebook's date unless that has no wheel.

`package_cutoff` is tested on release histories written out here (what PyPI's JSON API
says, reduced to what matters); the whole path with real uv against PyPI, for the case the
issue reported: an unpinned April 2020 notebook on the Python 3.9 base.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from nb2svc.deps.releases import File, Release, releases
from nb2svc.era import EraStart, era_lock, resolve_era
from nb2svc.lock import Lock, LockInput
from nb2svc.lockfile import server_inputs
from nb2svc.package_era import PackageCutoff, named_in, package_cutoff
from packaging.specifiers import SpecifierSet
from packaging.version import Version


def release(version: str, day: str, *wheels: str, sdist: bool = True) -> Release:
    when = datetime.fromisoformat(day).replace(tzinfo=UTC)
    files = [File(f"pkg-{version}.tar.gz", when, None, False)] if sdist else []
    files += [File(f"pkg-{version}-{tag}.whl", when, None, False) for tag in wheels]
    return Release(Version(version), tuple(files))


LINUX = "manylinux2014_x86_64"
HISTORY = (
    release("1.18.3", "2020-04-19", f"cp37-cp37m-{LINUX}", f"cp38-cp38-{LINUX}"),
    release("1.19.0", "2020-06-20", f"cp38-cp38-{LINUX}"),
    release("1.19.3", "2020-10-29", f"cp38-cp38-{LINUX}", f"cp39-cp39-{LINUX}"),
    release("1.20.0", "2021-01-30", f"cp39-cp39-{LINUX}"),
)


def test_a_package_whose_release_of_the_day_has_a_wheel_keeps_the_day() -> None:
    assert package_cutoff("numpy", HISTORY, "2020-05-01", "3.8", SpecifierSet()) is None


def test_a_package_without_a_wheel_that_day_moves_to_the_oldest_release_that_has_one() -> None:
    moved = package_cutoff("numpy", HISTORY, "2020-05-01", "3.9", SpecifierSet())
    assert moved == PackageCutoff(
        "numpy",
        "2020-10-29T00:00:01Z",
        "numpy 1.18.3, current on 2020-05-01, has no wheel for Python 3.9; "
        "1.19.3 (2020-10-29) is the oldest that has one",
        "1.19.3",
    )


def test_a_requirement_floor_newer_than_the_day_moves_to_the_oldest_release_meeting_it() -> None:
    moved = package_cutoff("numpy", HISTORY, "2020-05-01", "3.8", SpecifierSet(">=1.19.3"))
    assert moved is not None
    assert moved.version == "1.19.3"
    assert moved.why.startswith("no release of numpy>=1.19.3 came out before 2020-05-01")


def test_a_floor_other_packages_need_moves_it_and_says_so() -> None:
    moved = package_cutoff(
        "numpy", HISTORY, "2020-05-01", "3.8", SpecifierSet(), SpecifierSet(">=1.19")
    )
    assert moved is not None
    assert moved.version == "1.19.0"
    assert "is older than the >=1.19 that the newer releases of other packages need" in moved.why


def test_a_package_only_ever_published_as_source_needs_no_cut_off() -> None:
    only_source = (release("0.1.0", "2019-01-01"), release("0.1.1", "2019-06-01"))
    assert package_cutoff("keras-radam", only_source, "2020-05-01", "3.9", SpecifierSet()) is None


def test_yanked_releases_and_pre_releases_are_never_chosen() -> None:
    when = datetime(2020, 7, 1, tzinfo=UTC)
    yanked = Release(
        Version("1.19.1"), (File(f"p-1.19.1-cp39-cp39-{LINUX}.whl", when, None, True),)
    )
    pre = release("1.19.2rc1", "2020-08-01", f"cp39-cp39-{LINUX}")
    moved = package_cutoff(
        "numpy", (*HISTORY[:2], yanked, pre, *HISTORY[2:]), "2020-05-01", "3.9", SpecifierSet()
    )
    assert moved is not None
    assert moved.version == "1.19.3"


def test_a_wheel_whose_requires_python_excludes_the_image_python_does_not_count() -> None:
    when = datetime(2020, 10, 1, tzinfo=UTC)
    pure = Release(Version("2.0"), (File("pkg-2.0-py3-none-any.whl", when, ">=3.10", False),))
    later = release("2.1", "2021-01-01", "py3-none-any")
    moved = package_cutoff("pkg", (pure, later), "2020-12-01", "3.9", SpecifierSet())
    assert moved is not None
    assert moved.version == "2.1"


def test_the_resolvers_explanation_names_the_packages_to_look_at() -> None:
    said = (
        "Because only typing-extensions{python_full_version < '3.10'}<=3.7.4.2 is available "
        "and starlette>=0.40.0 depends on typing-extensions>=3.10.0, we can conclude that "
        "all versions of matplotlib cannot be used."
    )
    assert named_in(said) == {"typing-extensions", "starlette", "matplotlib"}


def test_when_the_day_resolves_no_package_is_moved() -> None:
    def resolve(cutoff: str | None) -> Lock:
        return Lock("", {}, "uv", "3.9", "linux", "key", exclude_newer=cutoff)

    def never() -> tuple[PackageCutoff, ...] | None:
        raise AssertionError("per-package cut-offs are only for a day that does not resolve")

    choice = resolve_era(resolve, EraStart("2020-05-01", "git", "x"), per_package=never)
    assert choice.cutoff == "2020-05-01"
    assert choice.packages == ()


@pytest.mark.slow
def test_an_unpinned_2020_notebook_on_python_3_9_keeps_2020_versions_where_wheels_allow(
    tmp_path: Path,
) -> None:
    """Real uv and PyPI: before, one cut-off stepped forward to 2024-11 for every package
    (numpy 2.0, pandas 2.2, scikit-learn 1.5); now only what had no wheel moves, to the
    oldest release that has one."""
    inputs = [
        LockInput("pandas", "import pandas in train.ipynb cell 1"),
        LockInput("scikit-learn", "import sklearn in train.ipynb cell 1"),
        *server_inputs(),
    ]
    start = EraStart("2020-04-28", "git", "no pinned versions; committed on 2020-04-28")
    lock, choice = era_lock(inputs, start, python_version="3.9", cache_dir=tmp_path)
    assert choice.cutoff == "2020-04-28"
    assert {n: lock.packages[n] for n in ("numpy", "pandas", "scikit-learn", "scipy")} == {
        "numpy": "1.19.3",
        "pandas": "1.1.3",
        "scikit-learn": "0.24.0",
        "scipy": "1.5.4",
    }
    why = lock.reasons()
    assert why["scikit-learn"]["why"] == (
        "scikit-learn 0.22.2.post1, current on 2020-04-28, has no wheel for Python 3.9; "
        "0.24.0 (2020-12-22) is the oldest that has one"
    )
    assert "joblib" not in {p.name for p in choice.packages}  # its 2020 release is pure Python
    assert why["joblib"]["why"] == "the newest release before 2020-04-28 that fits the others"
    assert choice.to_json()["packages"]


def test_the_index_history_of_a_real_package_is_read_and_cached(tmp_path: Path) -> None:
    history = releases("keras-radam", tmp_path)
    assert history is not None
    assert not any(r.has_wheels for r in history)
    assert (tmp_path / "releases" / "keras-radam.json").exists()
    assert releases("no-such-package-nb2svc-xyz", tmp_path) is None
